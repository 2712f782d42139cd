//! Everything the fake Bitrix24 knows: portals with their users, tasks, chats, apps, event
//! bindings, disk, knowledge bases; the OAuth server's apps and tokens; the knobs.

use super::limits::{Bucket, LimitsConfig};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

/// Knobs of the fake beyond the common fault knobs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Knobs {
    /// Lifetime of access tokens (3600 on Bitrix24).
    pub token_ttl_secs: u64,
    pub limits: LimitsConfig,
    /// Methods answering 429 `OPERATION_TIME_LIMIT` (their time budget is used up).
    pub operation_time_limited: Vec<String>,
    /// `main.max_file_size` as `note.file.add` applies it, in bytes (25 MiB when unset).
    pub note_max_file_size: u64,
}

/// `note.file.add`'s limit when the portal sets none.
pub const NOTE_DEFAULT_MAX_FILE_SIZE: u64 = 26_214_400;

impl Default for Knobs {
    fn default() -> Self {
        Knobs {
            token_ttl_secs: 3600,
            limits: LimitsConfig::default(),
            operation_time_limited: Vec::new(),
            note_max_file_size: NOTE_DEFAULT_MAX_FILE_SIZE,
        }
    }
}

#[derive(Debug, Default)]
pub struct World {
    pub base_url: String,
    pub portals: BTreeMap<String, Portal>,
    /// OAuth applications by `client_id`.
    pub apps: BTreeMap<String, AppReg>,
    pub access: HashMap<String, AccessToken>,
    pub refresh: HashMap<String, RefreshToken>,
    pub codes: HashMap<String, AuthCode>,
    pub knobs: Knobs,
    pub portal_seq: u64,
}

impl World {
    pub fn portal(&self, member_id: &str) -> Option<&Portal> {
        self.portals.get(member_id)
    }

    pub fn portal_mut(&mut self, member_id: &str) -> Option<&mut Portal> {
        self.portals.get_mut(member_id)
    }

    /// The first portal (the one created at start).
    pub fn default_member_id(&self) -> Option<String> {
        self.portals
            .values()
            .min_by_key(|p| p.seq_no)
            .map(|p| p.member_id.clone())
    }

    pub fn client_endpoint(&self) -> String {
        format!("{}/rest/", self.base_url)
    }

    pub fn server_endpoint(&self) -> String {
        format!("{}/rest/", self.base_url)
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct AppReg {
    pub client_id: String,
    pub client_secret: String,
    pub redirect_uri: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct AccessToken {
    pub token: String,
    pub member_id: String,
    pub client_id: String,
    pub user_id: u64,
    pub scopes: Vec<String>,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Clone, Debug, Serialize)]
pub struct RefreshToken {
    pub token: String,
    pub member_id: String,
    pub client_id: String,
    pub user_id: u64,
    pub scopes: Vec<String>,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Clone, Debug, Serialize)]
pub struct AuthCode {
    pub member_id: String,
    pub client_id: String,
    pub user_id: u64,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Clone, Debug, Serialize)]
pub struct User {
    pub id: u64,
    pub name: String,
    pub last_name: String,
    pub email: String,
    pub admin: bool,
    pub active: bool,
    pub work_position: String,
    pub user_type: String,
}

impl User {
    pub fn full_name(&self) -> String {
        format!("{} {}", self.name, self.last_name)
            .trim()
            .to_owned()
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Group {
    pub id: u64,
    pub name: String,
    pub chat_id: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Task {
    pub id: u64,
    pub title: String,
    pub description: String,
    pub created_by: u64,
    pub responsible_id: u64,
    pub accomplices: Vec<u64>,
    pub auditors: Vec<u64>,
    pub group_id: u64,
    /// 2 pending, 3 in progress, 4 awaiting control, 5 completed, 6 deferred.
    pub status: u64,
    pub priority: u64,
    pub deadline: Option<String>,
    pub created_date: String,
    pub changed_date: String,
    pub chat_id: u64,
    /// Custom fields by their `UF_...` name.
    pub uf: BTreeMap<String, Value>,
}

/// A comment of the old (forum-based) task card.
#[derive(Clone, Debug, Serialize)]
pub struct Comment {
    pub id: u64,
    pub task_id: u64,
    pub author_id: u64,
    pub message: String,
    pub date: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Chat {
    pub id: u64,
    /// `task`, `group`, `private` or `chat`.
    pub kind: String,
    pub name: String,
    pub entity_type: String,
    pub entity_id: String,
    pub members: Vec<u64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Message {
    pub id: u64,
    pub chat_id: u64,
    pub author_id: u64,
    pub text: String,
    pub attach: Option<Value>,
    pub keyboard: Option<Value>,
    pub system: bool,
    pub date: String,
    /// The method (or user action) that posted it.
    pub via: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Notification {
    pub id: u64,
    pub kind: String,
    pub user_id: u64,
    pub from_user_id: u64,
    pub message: String,
    pub tag: Option<String>,
    pub date: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct UserField {
    pub id: u64,
    pub field_name: String,
    pub user_type_id: String,
    pub xml_id: String,
    pub sort: i64,
    pub multiple: String,
    pub mandatory: String,
    pub label: Value,
    pub settings: Value,
}

#[derive(Clone, Debug, Serialize)]
pub struct Install {
    pub client_id: String,
    pub application_token: String,
    pub scopes: Vec<String>,
    pub installer_id: u64,
    pub install_url: Option<String>,
    pub version: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Webhook {
    pub user_id: u64,
    pub secret: String,
    pub scopes: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Binding {
    pub id: u64,
    pub client_id: String,
    pub event: String,
    pub handler: String,
    /// 0: the user who triggered the event.
    pub auth_type: u64,
    pub offline: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct OfflineEvent {
    pub id: u64,
    pub message_id: String,
    pub client_id: String,
    pub event: String,
    pub data: Value,
    pub timestamp: String,
    pub process_id: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct PlacementBinding {
    pub id: u64,
    pub client_id: String,
    pub placement: String,
    pub handler: String,
    pub title: String,
    pub description: String,
    pub options: Value,
}

#[derive(Clone, Debug, Serialize)]
pub struct Bot {
    pub id: u64,
    pub client_id: String,
    pub code: String,
    pub name: String,
    pub message_add_handler: String,
    pub welcome_handler: String,
    pub delete_handler: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct BotCommand {
    pub id: u64,
    pub bot_id: u64,
    pub client_id: String,
    pub command: String,
    pub handler: String,
    pub common: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct Storage {
    pub id: u64,
    pub name: String,
    pub code: Option<String>,
    /// `user`, `common`, `group`, or `restapp` (an application's own storage).
    pub entity_type: String,
    /// For `restapp`: the app's `client_id`.
    pub entity_id: String,
    pub root_object_id: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct DiskObject {
    pub id: u64,
    pub storage_id: u64,
    pub parent_id: Option<u64>,
    pub name: String,
    pub is_folder: bool,
    #[serde(skip)]
    pub bytes: Vec<u8>,
    pub size: usize,
    pub created_by: u64,
    pub created: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Site {
    pub id: u64,
    pub title: String,
    /// Without the slashes `landing.site.getList` shows it with (`/code/`).
    pub code: String,
    pub site_type: String,
    pub description: String,
    pub active: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct Folder {
    pub id: u64,
    pub site_id: u64,
    pub parent_id: Option<u64>,
    pub title: String,
    pub code: String,
    pub active: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct Landing {
    pub id: u64,
    pub site_id: u64,
    pub folder_id: Option<u64>,
    pub title: String,
    pub code: String,
    pub active: bool,
    pub xml_id: String,
    pub description: String,
}

/// A block of a page. `id` and `content` are the draft's (what edits change); publishing
/// copies the draft to a public block with an id of its own.
#[derive(Clone, Debug, Serialize)]
pub struct Block {
    pub id: u64,
    pub lid: u64,
    pub code: String,
    pub content: String,
    pub nodes: Value,
    pub active: bool,
    pub sort: u64,
    /// The id of the published copy, once the page was published.
    pub public_id: Option<u64>,
    /// What readers see (the draft as of the last publication).
    pub public_content: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Collection {
    pub id: u64,
    pub name: String,
    pub position: i64,
    pub created_by: u64,
    pub created_at: String,
    pub updated_by: u64,
    pub updated_at: String,
    pub archived: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct Document {
    pub id: u64,
    pub collection_id: u64,
    pub parent_id: Option<u64>,
    pub title: String,
    pub markdown: String,
    pub position: i64,
    pub created_by: u64,
    pub created_at: String,
    pub updated_by: u64,
    pub updated_at: String,
    pub archived: bool,
    /// Someone has unsaved changes open (update needs `overwrite=true`).
    pub being_edited: bool,
}

/// A file attached to a KB 2.0 document (`note.file.add`).
#[derive(Clone, Debug, Serialize)]
pub struct NoteFile {
    pub id: u64,
    pub document_id: u64,
    pub name: String,
    pub size: usize,
    pub mime_type: String,
    /// `image`, `video` or `file`.
    pub asset_type: String,
    pub created_by: u64,
    #[serde(skip)]
    pub bytes: Vec<u8>,
}

impl NoteFile {
    /// The block that shows the file in a document: `[[<assetType> fileId=<id>]]`.
    pub fn asset_markdown(&self) -> String {
        format!("[[{} fileId={}]]", self.asset_type, self.id)
    }
}

#[derive(Debug, Default, Serialize)]
pub struct Portal {
    pub member_id: String,
    pub domain: String,
    #[serde(skip)]
    pub seq_no: u64,
    /// Tasks ≥ 25.700: comments are task-chat messages.
    pub new_task_card: bool,
    pub users: BTreeMap<u64, User>,
    pub groups: BTreeMap<u64, Group>,
    pub tasks: BTreeMap<u64, Task>,
    pub comments: Vec<Comment>,
    pub chats: BTreeMap<u64, Chat>,
    pub messages: Vec<Message>,
    pub notifications: Vec<Notification>,
    pub task_userfields: Vec<UserField>,
    pub installs: BTreeMap<String, Install>,
    pub webhooks: Vec<Webhook>,
    pub bindings: Vec<Binding>,
    pub offline_events: Vec<OfflineEvent>,
    pub placements: Vec<PlacementBinding>,
    pub bots: BTreeMap<u64, Bot>,
    pub commands: Vec<BotCommand>,
    pub storages: Vec<Storage>,
    pub disk: BTreeMap<u64, DiskObject>,
    pub sites: BTreeMap<u64, Site>,
    pub folders: BTreeMap<u64, Folder>,
    pub landings: BTreeMap<u64, Landing>,
    pub blocks: BTreeMap<u64, Block>,
    pub collections: BTreeMap<u64, Collection>,
    pub documents: BTreeMap<u64, Document>,
    pub note_files: BTreeMap<u64, NoteFile>,
    /// The portal has no Knowledge Base 2.0: `note.*` are unknown methods.
    pub kb2_disabled: bool,
    #[serde(skip)]
    pub bucket: Bucket,
    #[serde(skip)]
    seq: HashMap<&'static str, u64>,
}

pub fn now_iso() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S+00:00")
        .to_string()
}

pub fn random_token(len: usize) -> String {
    use rand::Rng;
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..len)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect()
}

impl Portal {
    /// A portal with three employees (user 1 is the admin), a shared drive, one workgroup.
    pub fn new(member_id: String, domain: String, seq_no: u64) -> Portal {
        let mut p = Portal {
            member_id,
            domain,
            seq_no,
            new_task_card: true,
            ..Portal::default()
        };
        let root = p.next("disk");
        let storage_id = p.next("storage");
        p.storages.push(Storage {
            id: storage_id,
            name: "Shared drive".into(),
            code: None,
            entity_type: "common".into(),
            entity_id: "shared_files_s1".into(),
            root_object_id: root,
        });
        p.disk.insert(
            root,
            DiskObject {
                id: root,
                storage_id: 1,
                parent_id: None,
                name: "Shared drive".into(),
                is_folder: true,
                bytes: Vec::new(),
                size: 0,
                created_by: 1,
                created: now_iso(),
            },
        );
        for (name, last, email, admin, pos) in [
            ("Anna", "Admin", "admin@example.com", true, "Administrator"),
            (
                "Ivan",
                "Petrov",
                "ivan.petrov@example.com",
                false,
                "Engineer",
            ),
            (
                "Olga",
                "Smirnova",
                "olga.smirnova@example.com",
                false,
                "Writer",
            ),
        ] {
            p.add_user(name, last, email, admin, pos, "employee");
        }
        p.add_group("Bridge project");
        p
    }

    /// The next id of a kind of entity (each kind counts from 1).
    pub fn next(&mut self, kind: &'static str) -> u64 {
        let n = self.seq.entry(kind).or_insert(0);
        *n += 1;
        *n
    }

    pub fn add_user(
        &mut self,
        name: &str,
        last_name: &str,
        email: &str,
        admin: bool,
        work_position: &str,
        user_type: &str,
    ) -> u64 {
        let id = self.next("user");
        self.users.insert(
            id,
            User {
                id,
                name: name.into(),
                last_name: last_name.into(),
                email: email.into(),
                admin,
                active: true,
                work_position: work_position.into(),
                user_type: user_type.into(),
            },
        );
        if user_type == "employee" {
            let root = self.next("disk");
            let sid = self.next("storage");
            self.storages.push(Storage {
                id: sid,
                name: format!("{name} {last_name}"),
                code: None,
                entity_type: "user".into(),
                entity_id: id.to_string(),
                root_object_id: root,
            });
            self.disk.insert(
                root,
                DiskObject {
                    id: root,
                    storage_id: sid,
                    parent_id: None,
                    name: format!("{name} {last_name}"),
                    is_folder: true,
                    bytes: Vec::new(),
                    size: 0,
                    created_by: id,
                    created: now_iso(),
                },
            );
        }
        id
    }

    pub fn add_group(&mut self, name: &str) -> u64 {
        let id = self.next("group");
        let chat_id = self.add_chat("group", name, "SONET_GROUP", &id.to_string(), vec![1]);
        self.groups.insert(
            id,
            Group {
                id,
                name: name.into(),
                chat_id,
            },
        );
        id
    }

    pub fn add_chat(
        &mut self,
        kind: &str,
        name: &str,
        entity_type: &str,
        entity_id: &str,
        members: Vec<u64>,
    ) -> u64 {
        let id = self.next("chat");
        self.chats.insert(
            id,
            Chat {
                id,
                kind: kind.into(),
                name: name.into(),
                entity_type: entity_type.into(),
                entity_id: entity_id.into(),
                members,
            },
        );
        id
    }

    /// The private chat between two users, created on first use.
    pub fn private_chat(&mut self, a: u64, b: u64) -> u64 {
        let found = self
            .chats
            .values()
            .find(|c| c.kind == "private" && c.members.contains(&a) && c.members.contains(&b));
        match found {
            Some(c) => c.id,
            None => self.add_chat("private", "", "", "", vec![a, b]),
        }
    }

    pub fn add_message(
        &mut self,
        chat_id: u64,
        author_id: u64,
        text: &str,
        extra: (Option<Value>, Option<Value>, bool),
        via: &str,
    ) -> u64 {
        let id = self.next("message");
        self.messages.push(Message {
            id,
            chat_id,
            author_id,
            text: text.into(),
            attach: extra.0,
            keyboard: extra.1,
            system: extra.2,
            date: now_iso(),
            via: via.into(),
        });
        id
    }

    pub fn is_admin(&self, user_id: u64) -> bool {
        self.users.get(&user_id).is_some_and(|u| u.admin)
    }
}
