//! Chat: `im.message.add` (`chat{N}`, `sg{N}`, `{userId}` dialogs), notifications (same TAG
//! replaces), `im.chat.get` by entity, `im.dialog.messages.get`.

use super::tasks;
use crate::b24::context::{Ctx, Reply};
use crate::b24::errors::{ApiError, ApiResult};
use crate::b24::params::{get, get_int, get_str, is_yes};
use crate::b24::state::{Message, Notification, Portal, now_iso};
use serde_json::{Value, json};

/// The chat a `DIALOG_ID` names, from `from`'s point of view.
pub fn dialog_chat(portal: &mut Portal, dialog: &str, from: u64) -> ApiResult<u64> {
    let bad = || ApiError::bad("DIALOG_ID_EMPTY", "Dialog ID can't be empty or is wrong");
    let dialog = dialog.trim();
    if let Some(n) = dialog.strip_prefix("chat") {
        let id: u64 = n.parse().map_err(|_| bad())?;
        return if portal.chats.contains_key(&id) {
            Ok(id)
        } else {
            Err(ApiError::bad(
                "ACCESS_ERROR",
                "You do not have access to the specified dialog",
            ))
        };
    }
    if let Some(n) = dialog.strip_prefix("sg") {
        let gid: u64 = n.parse().map_err(|_| bad())?;
        return portal.groups.get(&gid).map(|g| g.chat_id).ok_or_else(|| {
            ApiError::bad(
                "ACCESS_ERROR",
                "You do not have access to the specified dialog",
            )
        });
    }
    let uid: u64 = dialog.parse().map_err(|_| bad())?;
    if !portal.users.contains_key(&uid) {
        return Err(ApiError::bad("USER_ID_EMPTY", "User not found"));
    }
    Ok(portal.private_chat(from, uid))
}

pub fn message_add(ctx: &mut Ctx, p: &Value) -> ApiResult<Reply> {
    let dialog = get_str(p, "DIALOG_ID").unwrap_or_default();
    let text = get_str(p, "MESSAGE").unwrap_or_default();
    let attach = get(p, "ATTACH").cloned();
    if text.trim().is_empty() && attach.is_none() {
        return Err(ApiError::bad("MESSAGE_EMPTY", "Message can't be empty"));
    }
    let from = ctx.caller.user_id;
    let chat = dialog_chat(ctx.portal, &dialog, from)?;
    let extra = (
        attach,
        get(p, "KEYBOARD").cloned(),
        is_yes(get(p, "SYSTEM")),
    );
    let id = ctx
        .portal
        .add_message(chat, from, &text, extra, "im.message.add");
    tasks::after_task_chat_message(ctx, chat, id, from);
    Ok(Reply::of(json!(id)))
}

fn notify(ctx: &mut Ctx, p: &Value, kind: &str) -> ApiResult<Reply> {
    let user_id = get_int(p, "USER_ID")
        .and_then(|u| u64::try_from(u).ok())
        .filter(|u| ctx.portal.users.contains_key(u))
        .ok_or_else(|| ApiError::bad("USER_ID_EMPTY", "Recipient user not found"))?;
    let message = get_str(p, "MESSAGE").unwrap_or_default();
    if message.trim().is_empty() {
        return Err(ApiError::bad("MESSAGE_EMPTY", "Message can't be empty"));
    }
    let tag = get_str(p, "TAG").filter(|t| !t.is_empty());
    if let Some(tag) = &tag {
        ctx.portal
            .notifications
            .retain(|n| !(n.user_id == user_id && n.tag.as_ref() == Some(tag)));
    }
    let id = ctx.portal.next("notification");
    ctx.portal.notifications.push(Notification {
        id,
        kind: kind.into(),
        user_id,
        from_user_id: if kind == "system" {
            0
        } else {
            ctx.caller.user_id
        },
        message,
        tag,
        date: now_iso(),
    });
    Ok(Reply::of(json!(id)))
}

pub fn notify_personal(ctx: &mut Ctx, p: &Value) -> ApiResult<Reply> {
    notify(ctx, p, "personal")
}

pub fn notify_system(ctx: &mut Ctx, p: &Value) -> ApiResult<Reply> {
    notify(ctx, p, "system")
}

pub fn chat_get(ctx: &mut Ctx, p: &Value) -> ApiResult<Reply> {
    if let Some(id) = get_int(p, "CHAT_ID") {
        let c = u64::try_from(id)
            .ok()
            .and_then(|id| ctx.portal.chats.get(&id));
        return Ok(Reply::of(c.map_or(Value::Null, |c| {
            json!({"id": c.id, "name": c.name, "type": if c.kind == "private" { "private" } else { "chat" },
                   "entity_type": c.entity_type, "entity_id": c.entity_id, "owner": c.members.first()})
        })));
    }
    let et = get_str(p, "ENTITY_TYPE")
        .unwrap_or_default()
        .to_ascii_uppercase();
    let eid = get_str(p, "ENTITY_ID").unwrap_or_default();
    let et = if et == "TASKS" {
        "TASKS_TASK".to_owned()
    } else {
        et
    };
    let found = ctx
        .portal
        .chats
        .values()
        .find(|c| c.entity_type == et && c.entity_id == eid);
    Ok(Reply::of(
        found.map_or(Value::Null, |c| json!({"ID": c.id})),
    ))
}

pub fn message_json(m: &Message) -> Value {
    json!({"id": m.id, "chat_id": m.chat_id, "author_id": m.author_id, "date": m.date,
           "text": m.text, "params": {"ATTACH": m.attach, "KEYBOARD": m.keyboard}})
}

pub fn dialog_messages_get(ctx: &mut Ctx, p: &Value) -> ApiResult<Reply> {
    let dialog = get_str(p, "DIALOG_ID").unwrap_or_default();
    let from = ctx.caller.user_id;
    let chat = dialog_chat(ctx.portal, &dialog, from)?;
    let limit = usize::try_from(get_int(p, "LIMIT").unwrap_or(20).clamp(1, 50)).unwrap_or(20);
    let last = get_int(p, "LAST_ID").and_then(|i| u64::try_from(i).ok());
    let first = get_int(p, "FIRST_ID").and_then(|i| u64::try_from(i).ok());
    let mut msgs: Vec<&Message> = ctx
        .portal
        .messages
        .iter()
        .filter(|m| m.chat_id == chat)
        .filter(|m| last.is_none_or(|l| m.id < l) && first.is_none_or(|f| m.id > f))
        .collect();
    msgs.sort_by_key(|m| std::cmp::Reverse(m.id));
    let messages: Vec<Value> = msgs.into_iter().take(limit).map(message_json).collect();
    Ok(Reply::of(
        json!({"chat_id": chat, "messages": messages, "users": []}),
    ))
}
