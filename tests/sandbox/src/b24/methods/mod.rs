//! The method table: which handler serves a method, and which OAuth scopes it needs.

pub mod app;
pub mod disk;
pub mod events;
pub mod im;
pub mod imbot;
pub mod landing;
pub mod note;
pub mod placement;
pub mod tasks;
pub mod user;

use super::context::{Ctx, Reply};
use super::errors::ApiResult;
use serde_json::Value;

pub type Handler = fn(&mut Ctx, &Value) -> ApiResult<Reply>;

#[derive(Clone, Copy)]
pub struct MethodDef {
    /// Any of these scopes grants the method; empty = `basic` (always granted).
    pub scopes: &'static [&'static str],
    pub handler: Handler,
    /// Not allowed inside `batch` (file uploads).
    pub no_batch: bool,
}

const TASK: &[&str] = &["task"];
const TASKS_V3: &[&str] = &["tasks", "task"];
const IM: &[&str] = &["im"];
const IMBOT: &[&str] = &["imbot"];
const PLACEMENT: &[&str] = &["placement"];
const USER: &[&str] = &["user", "user_brief", "user_basic"];
const DISK: &[&str] = &["disk"];
const LANDING: &[&str] = &["landing"];
const NOTE: &[&str] = &["note"];
const BASIC: &[&str] = &[];

fn def(scopes: &'static [&'static str], handler: Handler) -> Option<MethodDef> {
    Some(MethodDef {
        scopes,
        handler,
        no_batch: false,
    })
}

/// Classic REST (`/rest/{method}`), by lower-cased name.
pub fn classic(name: &str) -> Option<MethodDef> {
    match name {
        "tasks.task.get" => def(TASK, tasks::task_get),
        "tasks.task.list" => def(TASK, tasks::task_list),
        "tasks.task.add" => def(TASK, tasks::task_add),
        "tasks.task.update" => def(TASK, tasks::task_update),
        "tasks.task.delete" => def(TASK, tasks::task_delete),
        "task.item.userfield.add" => def(TASK, tasks::userfield_add),
        "task.item.userfield.getlist" => def(TASK, tasks::userfield_getlist),
        "task.item.userfield.get" => def(TASK, tasks::userfield_get),
        "task.item.userfield.delete" => def(TASK, tasks::userfield_delete),
        "task.item.userfield.gettypes" => def(TASK, tasks::userfield_gettypes),
        "task.commentitem.add" => def(TASK, tasks::comment_add),
        "task.commentitem.getlist" => def(TASK, tasks::comment_getlist),
        "task.commentitem.get" => def(TASK, tasks::comment_get),
        "im.message.add" => def(IM, im::message_add),
        "im.notify.personal.add" | "im.notify" => def(IM, im::notify_personal),
        "im.notify.system.add" => def(IM, im::notify_system),
        "im.chat.get" => def(IM, im::chat_get),
        "im.dialog.messages.get" => def(IM, im::dialog_messages_get),
        "imbot.register" => def(IMBOT, imbot::register),
        "imbot.unregister" => def(IMBOT, imbot::unregister),
        "imbot.bot.list" => def(IMBOT, imbot::bot_list),
        "imbot.command.register" => def(IMBOT, imbot::command_register),
        "imbot.command.answer" => def(IMBOT, imbot::command_answer),
        "imbot.message.add" => def(IMBOT, imbot::message_add),
        "event.bind" => def(BASIC, events::bind),
        "event.unbind" => def(BASIC, events::unbind),
        "event.get" => def(BASIC, events::get_bindings),
        "events" => def(BASIC, events::list_available),
        "event.offline.get" => def(BASIC, events::offline_get),
        "event.offline.list" => def(BASIC, events::offline_list),
        "event.offline.clear" => def(BASIC, events::offline_clear),
        "placement.bind" => def(PLACEMENT, placement::bind),
        "placement.unbind" => def(PLACEMENT, placement::unbind),
        "placement.get" => def(PLACEMENT, placement::get_bound),
        "placement.list" => def(PLACEMENT, placement::list),
        "user.get" => def(USER, user::get_users),
        "user.current" => def(USER, user::current),
        "user.search" => def(USER, user::search),
        "disk.storage.getlist" => def(DISK, disk::storage_getlist),
        "disk.storage.getforapp" => def(DISK, disk::storage_getforapp),
        "disk.folder.addsubfolder" => def(DISK, disk::folder_addsubfolder),
        "disk.folder.getchildren" => def(DISK, disk::folder_getchildren),
        "disk.file.get" => def(DISK, disk::file_get),
        "disk.folder.uploadfile" => Some(MethodDef {
            scopes: DISK,
            handler: disk::folder_uploadfile,
            no_batch: true,
        }),
        "landing.site.add" => def(LANDING, landing::site_add),
        "landing.site.getlist" => def(LANDING, landing::site_getlist),
        "landing.site.addfolder" => def(LANDING, landing::site_addfolder),
        "landing.site.getfolders" => def(LANDING, landing::site_getfolders),
        "landing.site.publication" => def(LANDING, landing::site_publication),
        "landing.landing.add" => def(LANDING, landing::landing_add),
        "landing.landing.getlist" => def(LANDING, landing::landing_getlist),
        "landing.landing.update" => def(LANDING, landing::landing_update),
        "landing.landing.delete" => def(LANDING, landing::landing_delete),
        "landing.landing.addblock" => def(LANDING, landing::landing_addblock),
        "landing.landing.publication" => def(LANDING, landing::landing_publication),
        "landing.landing.unpublic" => def(LANDING, landing::landing_unpublic),
        "landing.landing.move" => def(LANDING, landing::landing_move),
        "landing.landing.getpublicurl" => def(LANDING, landing::landing_getpublicurl),
        "landing.block.getlist" => def(LANDING, landing::block_getlist),
        "landing.block.updatecontent" => def(LANDING, landing::block_updatecontent),
        "landing.block.updatenodes" => def(LANDING, landing::block_updatenodes),
        "app.info" => def(BASIC, app::info),
        "scope" => def(BASIC, app::scope),
        "server.time" => def(BASIC, app::server_time),
        "profile" => def(BASIC, app::profile),
        _ => None,
    }
}

/// Every REST 3.0 method the fake serves (what `rest.documentation.openapi` lists).
pub const V3_METHODS: &[&str] = &[
    "tasks.task.chat.message.send",
    "note.collection.add",
    "note.collection.list",
    "note.collection.get",
    "note.collection.update",
    "note.collection.archive",
    "note.collection.delete",
    "note.document.add",
    "note.document.get",
    "note.document.update",
    "note.document.tree.list",
    "note.document.search.list",
    "note.document.archive",
    "note.document.delete",
    "note.file.add",
    "note.file.get",
    "rest.documentation.openapi",
];

/// REST 3.0 (`/rest/api/{method}`), by lower-cased name.
pub fn v3(name: &str) -> Option<MethodDef> {
    match name {
        "rest.documentation.openapi" | "documentation" => def(BASIC, app::openapi),
        "tasks.task.chat.message.send" => def(TASKS_V3, tasks::chat_message_send),
        "note.collection.add" => def(NOTE, note::collection_add),
        "note.collection.list" => def(NOTE, note::collection_list),
        "note.collection.get" => def(NOTE, note::collection_get),
        "note.collection.update" => def(NOTE, note::collection_update),
        "note.collection.archive" => def(NOTE, note::collection_archive),
        "note.collection.delete" => def(NOTE, note::collection_delete),
        "note.document.add" => def(NOTE, note::document_add),
        "note.document.get" => def(NOTE, note::document_get),
        "note.document.update" => def(NOTE, note::document_update),
        "note.document.tree.list" => def(NOTE, note::document_tree_list),
        "note.document.search.list" => def(NOTE, note::document_search_list),
        "note.document.archive" => def(NOTE, note::document_archive),
        "note.document.delete" => def(NOTE, note::document_delete),
        "note.file.add" => def(NOTE, note::file_add),
        "note.file.get" => def(NOTE, note::file_get),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_listed_v3_method_is_served() {
        for m in super::V3_METHODS {
            assert!(super::v3(m).is_some(), "{m}");
        }
    }
}
