//! The fake's data: users, spaces and content (pages, blog posts, comments, attachments) with
//! version history, a parent-child tree, statuses and watchers. Ids start above 2^32 (Cloud
//! ids already do, docs §0). Every mutation returns the webhook events it causes.

use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// First content id handed out: a real Cloud id seen in the docs (> 2^32).
pub const FIRST_CONTENT_ID: u64 = 4_819_617_065;
/// First space id (also > 2^32, v1 gives it as an int64).
pub const FIRST_SPACE_ID: u64 = 5_000_000_001;

#[derive(Clone, Debug, Serialize)]
pub struct User {
    /// Cloud `accountId`.
    pub account_id: String,
    /// DC `userKey`.
    pub user_key: String,
    /// DC `username`.
    pub username: String,
    pub email: String,
    pub display_name: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Space {
    pub id: u64,
    pub key: String,
    pub name: String,
    /// `global` or `personal`.
    pub kind: String,
    pub homepage_id: Option<u64>,
    pub created_at: DateTime<Utc>,
    pub watchers: BTreeSet<usize>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Page,
    #[serde(rename = "blogpost")]
    BlogPost,
    Comment,
    Attachment,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Page => "page",
            Kind::BlogPost => "blogpost",
            Kind::Comment => "comment",
            Kind::Attachment => "attachment",
        }
    }
}

/// `deleted` = purged from the trash: kept for inspection, answered 404 by the APIs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Current,
    Trashed,
    Deleted,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Current => "current",
            Status::Trashed => "trashed",
            Status::Deleted => "deleted",
        }
    }
}

/// One saved version: the title, body and place as they were when it was saved.
#[derive(Clone, Debug, Serialize)]
pub struct Version {
    pub number: u32,
    pub title: String,
    pub body: String,
    pub by: usize,
    pub when: DateTime<Utc>,
    pub message: String,
    pub minor_edit: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct AttachmentData {
    pub media_type: String,
    pub comment: String,
    pub file_id: String,
    #[serde(skip)]
    pub bytes: Vec<u8>,
    pub size: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct Content {
    pub id: u64,
    pub kind: Kind,
    pub status: Status,
    pub space_id: u64,
    /// Page: parent page. Comment: parent comment (replies). Attachment: none.
    pub parent_id: Option<u64>,
    /// Comment/attachment: the page or blog post holding it.
    pub container_id: Option<u64>,
    pub position: u32,
    pub created_at: DateTime<Utc>,
    pub created_by: usize,
    pub versions: Vec<Version>,
    pub labels: Vec<String>,
    pub watchers: BTreeSet<usize>,
    pub attachment: Option<AttachmentData>,
}

impl Content {
    pub fn latest(&self) -> &Version {
        // Invariant: every content is created with one version.
        &self.versions[self.versions.len() - 1]
    }
    pub fn title(&self) -> &str {
        &self.latest().title
    }
    pub fn body(&self) -> &str {
        &self.latest().body
    }
    pub fn version(&self, n: u32) -> Option<&Version> {
        self.versions.iter().find(|v| v.number == n)
    }
    pub fn modified(&self) -> DateTime<Utc> {
        self.latest().when
    }
}

/// A webhook-worthy change (the event name is the Confluence one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub event: &'static str,
    pub content_id: u64,
    pub by: usize,
    pub update_trigger: Option<&'static str>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StateError {
    #[error("no content with id {0}")]
    NoContent(u64),
    #[error("no space {0}")]
    NoSpace(String),
    #[error("space {0} exists")]
    SpaceExists(String),
    #[error("a page titled {0:?} already exists in this space")]
    TitleTaken(String),
    #[error("{0}")]
    Invalid(String),
}

#[derive(Clone, Debug, Serialize)]
pub struct State {
    pub users: Vec<User>,
    pub spaces: Vec<Space>,
    pub contents: BTreeMap<u64, Content>,
    next_id: u64,
    next_space_id: u64,
}

/// The user the API credentials act as.
pub const API_USER: usize = 0;

impl State {
    /// Users and one demo space with a home page.
    pub fn seeded() -> State {
        let mut s = State {
            users: vec![
                user(
                    "557058:0b5c4d1e-sandbox-api-user",
                    "sandbox@example.com",
                    "Sandbox API User",
                    "sandbox",
                ),
                user(
                    "557058:1f2e3d4c-alice",
                    "alice@example.com",
                    "Alice Adams",
                    "alice",
                ),
                user(
                    "5b10ac8d82e05b22cc7d4ef5",
                    "bob@example.com",
                    "Bob Brown",
                    "bob",
                ),
            ],
            spaces: Vec::new(),
            contents: BTreeMap::new(),
            next_id: FIRST_CONTENT_ID,
            next_space_id: FIRST_SPACE_ID,
        };
        let _ = s.create_space("DEMO", "Demo space", API_USER);
        s
    }

    pub fn user_by_account(&self, account_id: &str) -> Option<usize> {
        self.users.iter().position(|u| u.account_id == account_id)
    }

    pub fn user_by_key_or_name(&self, key: &str) -> Option<usize> {
        self.users
            .iter()
            .position(|u| u.user_key == key || u.username == key)
    }

    pub fn space(&self, id: u64) -> Option<&Space> {
        self.spaces.iter().find(|s| s.id == id)
    }

    pub fn space_by_key(&self, key: &str) -> Option<&Space> {
        self.spaces.iter().find(|s| s.key == key)
    }

    pub fn get(&self, id: u64) -> Option<&Content> {
        self.contents.get(&id)
    }

    fn get_mut(&mut self, id: u64) -> Result<&mut Content, StateError> {
        self.contents.get_mut(&id).ok_or(StateError::NoContent(id))
    }

    fn alloc(&mut self) -> u64 {
        let id = self.next_id;
        // Gaps like real ids, still increasing.
        self.next_id += 3;
        id
    }

    /// Creates a space with a home page; returns the space id.
    pub fn create_space(&mut self, key: &str, name: &str, by: usize) -> Result<u64, StateError> {
        if self.space_by_key(key).is_some() {
            return Err(StateError::SpaceExists(key.into()));
        }
        let id = self.next_space_id;
        self.next_space_id += 7;
        self.spaces.push(Space {
            id,
            key: key.into(),
            name: name.into(),
            kind: if key.starts_with('~') {
                "personal"
            } else {
                "global"
            }
            .into(),
            homepage_id: None,
            created_at: Utc::now(),
            watchers: BTreeSet::new(),
        });
        let (home, _) =
            self.create_page(key, &format!("{name} Home"), "<p>Welcome.</p>", None, by)?;
        if let Some(s) = self.spaces.iter_mut().find(|s| s.id == id) {
            s.homepage_id = Some(home.0);
        }
        Ok(id)
    }

    fn new_content(
        &mut self,
        kind: Kind,
        space_id: u64,
        title: &str,
        body: &str,
        by: usize,
    ) -> u64 {
        let id = self.alloc();
        let now = Utc::now();
        self.contents.insert(
            id,
            Content {
                id,
                kind,
                status: Status::Current,
                space_id,
                parent_id: None,
                container_id: None,
                position: 0,
                created_at: now,
                created_by: by,
                versions: vec![Version {
                    number: 1,
                    title: title.into(),
                    body: body.into(),
                    by,
                    when: now,
                    message: String::new(),
                    minor_edit: false,
                }],
                labels: Vec::new(),
                // Creators watch their content, as Confluence does by default.
                watchers: BTreeSet::from([by]),
                attachment: None,
            },
        );
        id
    }

    fn title_taken(&self, space_id: u64, title: &str, except: Option<u64>) -> bool {
        self.contents.values().any(|c| {
            c.kind == Kind::Page
                && c.space_id == space_id
                && c.status != Status::Deleted
                && Some(c.id) != except
                && c.title() == title
        })
    }

    /// Returns `((id, version), changes)`.
    pub fn create_page(
        &mut self,
        space_key: &str,
        title: &str,
        body: &str,
        parent_id: Option<u64>,
        by: usize,
    ) -> Result<((u64, u32), Vec<Change>), StateError> {
        let space_id = self
            .space_by_key(space_key)
            .ok_or_else(|| StateError::NoSpace(space_key.into()))?
            .id;
        if self.title_taken(space_id, title, None) {
            return Err(StateError::TitleTaken(title.into()));
        }
        let parent = match parent_id {
            Some(p) => Some(self.checked_parent(p, space_id)?),
            None => self.space(space_id).and_then(|s| s.homepage_id),
        };
        let position = self.children_of(parent, space_id).len() as u32;
        let id = self.new_content(Kind::Page, space_id, title, body, by);
        let c = self.get_mut(id)?;
        c.parent_id = parent;
        c.position = position;
        Ok(((id, 1), vec![change("page_created", id, by, None)]))
    }

    fn checked_parent(&self, p: u64, space_id: u64) -> Result<u64, StateError> {
        let pc = self.get(p).ok_or(StateError::NoContent(p))?;
        if pc.kind != Kind::Page || pc.status != Status::Current || pc.space_id != space_id {
            return Err(StateError::Invalid(format!("{p} cannot be a parent here")));
        }
        Ok(p)
    }

    pub fn create_blogpost(
        &mut self,
        space_key: &str,
        title: &str,
        body: &str,
        by: usize,
    ) -> Result<((u64, u32), Vec<Change>), StateError> {
        let space_id = self
            .space_by_key(space_key)
            .ok_or_else(|| StateError::NoSpace(space_key.into()))?
            .id;
        let id = self.new_content(Kind::BlogPost, space_id, title, body, by);
        Ok(((id, 1), vec![change("blog_created", id, by, None)]))
    }

    /// Direct child pages of `parent` (or the space's top level), current ones, by position.
    pub fn children_of(&self, parent: Option<u64>, space_id: u64) -> Vec<&Content> {
        let mut v: Vec<&Content> = self
            .contents
            .values()
            .filter(|c| {
                c.kind == Kind::Page
                    && c.status == Status::Current
                    && c.parent_id == parent
                    && (parent.is_some() || c.space_id == space_id)
            })
            .collect();
        v.sort_by_key(|c| (c.position, c.id));
        v
    }

    /// Ancestors of a page, highest first.
    pub fn ancestors(&self, id: u64) -> Vec<&Content> {
        let mut out = Vec::new();
        let mut cur = self.get(id).and_then(|c| c.parent_id);
        while let Some(p) = cur {
            match self.get(p) {
                Some(c) if out.len() < 100 => {
                    out.push(c);
                    cur = c.parent_id;
                }
                _ => break,
            }
        }
        out.reverse();
        out
    }

    /// A new version with a new body (and optionally a new title).
    pub fn edit(
        &mut self,
        id: u64,
        title: Option<&str>,
        body: &str,
        message: &str,
        by: usize,
    ) -> Result<((u64, u32), Vec<Change>), StateError> {
        let c = self.get(id).ok_or(StateError::NoContent(id))?;
        if c.status != Status::Current {
            return Err(StateError::Invalid(format!(
                "{id} is {}",
                c.status.as_str()
            )));
        }
        if let Some(t) = title
            && c.kind == Kind::Page
            && self.title_taken(c.space_id, t, Some(id))
        {
            return Err(StateError::TitleTaken(t.into()));
        }
        let c = self.get_mut(id)?;
        let number = c.latest().number + 1;
        let v = Version {
            number,
            title: title.map_or_else(|| c.title().to_owned(), str::to_owned),
            body: body.into(),
            by,
            when: Utc::now(),
            message: message.into(),
            minor_edit: false,
        };
        c.versions.push(v);
        let event = match c.kind {
            Kind::Page => "page_updated",
            Kind::BlogPost => "blog_updated",
            Kind::Comment => "comment_updated",
            Kind::Attachment => "attachment_updated",
        };
        Ok(((id, number), vec![change(event, id, by, Some("edit_page"))]))
    }

    /// A rename is an edit that keeps the body.
    pub fn rename(
        &mut self,
        id: u64,
        title: &str,
        by: usize,
    ) -> Result<((u64, u32), Vec<Change>), StateError> {
        let body = self
            .get(id)
            .ok_or(StateError::NoContent(id))?
            .body()
            .to_owned();
        self.edit(id, Some(title), &body, "", by)
    }

    /// Moves a page under another parent (or the top of `space_key`), possibly across spaces,
    /// with its descendants. No new version.
    pub fn move_page(
        &mut self,
        id: u64,
        new_parent: Option<u64>,
        space_key: Option<&str>,
        by: usize,
    ) -> Result<Vec<Change>, StateError> {
        let c = self.get(id).ok_or(StateError::NoContent(id))?;
        if c.kind != Kind::Page || c.status != Status::Current {
            return Err(StateError::Invalid(format!("{id} cannot be moved")));
        }
        let space_id = match (new_parent, space_key) {
            (Some(p), _) => self.get(p).ok_or(StateError::NoContent(p))?.space_id,
            (None, Some(k)) => {
                self.space_by_key(k)
                    .ok_or_else(|| StateError::NoSpace(k.into()))?
                    .id
            }
            (None, None) => c.space_id,
        };
        if let Some(p) = new_parent {
            self.checked_parent(p, space_id)?;
            if p == id || self.ancestors(p).iter().any(|a| a.id == id) {
                return Err(StateError::Invalid(
                    "cannot move a page below itself".into(),
                ));
            }
        }
        if space_id != c.space_id && self.title_taken(space_id, c.title(), Some(id)) {
            return Err(StateError::TitleTaken(c.title().to_owned()));
        }
        let position = self.children_of(new_parent, space_id).len() as u32;
        let moved = self.descendants(id);
        let c = self.get_mut(id)?;
        c.parent_id = new_parent;
        c.position = position;
        c.space_id = space_id;
        for d in moved {
            if let Ok(dc) = self.get_mut(d) {
                dc.space_id = space_id;
            }
        }
        Ok(vec![change("page_moved", id, by, None)])
    }

    /// Every content below `id` (pages, comments, attachments), any status.
    pub fn descendants(&self, id: u64) -> Vec<u64> {
        let mut out = Vec::new();
        let mut stack = vec![id];
        while let Some(cur) = stack.pop() {
            for c in self.contents.values() {
                if c.id != id
                    && (c.parent_id == Some(cur) || c.container_id == Some(cur))
                    && !out.contains(&c.id)
                {
                    out.push(c.id);
                    stack.push(c.id);
                }
            }
        }
        out
    }

    fn set_status(&mut self, id: u64, from: Status, to: Status) -> Result<Kind, StateError> {
        let c = self.get_mut(id)?;
        if c.status != from {
            return Err(StateError::Invalid(format!(
                "{id} is {}",
                c.status.as_str()
            )));
        }
        c.status = to;
        Ok(c.kind)
    }

    /// Moves content to the trash. Child pages move up to the trashed page's parent, as in
    /// Confluence.
    pub fn trash(&mut self, id: u64, by: usize) -> Result<Vec<Change>, StateError> {
        let kind = self.set_status(id, Status::Current, Status::Trashed)?;
        let parent = self.get(id).and_then(|c| c.parent_id);
        if kind == Kind::Page {
            for c in self.contents.values_mut() {
                if c.kind == Kind::Page && c.parent_id == Some(id) {
                    c.parent_id = parent;
                }
            }
        }
        Ok(vec![change(event_for(kind, "trashed"), id, by, None)])
    }

    pub fn restore(&mut self, id: u64, by: usize) -> Result<Vec<Change>, StateError> {
        let kind = self.set_status(id, Status::Trashed, Status::Current)?;
        if let Some(p) = self.get(id).and_then(|c| c.parent_id)
            && self.get(p).is_none_or(|pc| pc.status != Status::Current)
            && let Ok(c) = self.get_mut(id)
        {
            c.parent_id = None;
        }
        Ok(vec![change(event_for(kind, "restored"), id, by, None)])
    }

    /// Purges trashed content ("page_removed"); the APIs answer 404 afterwards.
    pub fn purge(&mut self, id: u64, by: usize) -> Result<Vec<Change>, StateError> {
        let kind = self.set_status(id, Status::Trashed, Status::Deleted)?;
        Ok(vec![change(event_for(kind, "removed"), id, by, None)])
    }

    /// A footer comment on a page/blog post, or a reply to another comment.
    pub fn add_comment(
        &mut self,
        container_or_comment: u64,
        body: &str,
        by: usize,
    ) -> Result<((u64, u32), Vec<Change>), StateError> {
        let target = self
            .get(container_or_comment)
            .ok_or(StateError::NoContent(container_or_comment))?;
        if target.status != Status::Current {
            return Err(StateError::Invalid(format!(
                "{container_or_comment} is not current"
            )));
        }
        let (container, parent) = match target.kind {
            Kind::Page | Kind::BlogPost => (target.id, None),
            Kind::Comment => (target.container_id.unwrap_or(target.id), Some(target.id)),
            Kind::Attachment => {
                return Err(StateError::Invalid(
                    "cannot comment on an attachment".into(),
                ));
            }
        };
        let space_id = target.space_id;
        let title = format!("Re: {}", self.get(container).map_or("", |c| c.title()));
        let id = self.new_content(Kind::Comment, space_id, &title, body, by);
        let c = self.get_mut(id)?;
        c.container_id = Some(container);
        c.parent_id = parent;
        Ok(((id, 1), vec![change("comment_created", id, by, None)]))
    }

    pub fn add_attachment(
        &mut self,
        container: u64,
        filename: &str,
        media_type: &str,
        bytes: Vec<u8>,
        by: usize,
    ) -> Result<((u64, u32), Vec<Change>), StateError> {
        let target = self
            .get(container)
            .ok_or(StateError::NoContent(container))?;
        if !matches!(target.kind, Kind::Page | Kind::BlogPost) {
            return Err(StateError::Invalid(
                "attachments go on pages and blog posts".into(),
            ));
        }
        let space_id = target.space_id;
        // A second upload of the same file name is a new version of that attachment.
        if let Some(existing) = self
            .contents
            .values()
            .find(|c| {
                c.kind == Kind::Attachment
                    && c.container_id == Some(container)
                    && c.title() == filename
            })
            .map(|c| c.id)
        {
            let ((id, n), _) = self.edit(existing, None, "", "", by)?;
            let c = self.get_mut(id)?;
            c.attachment = Some(attachment_data(media_type, bytes));
            return Ok(((id, n), vec![change("attachment_updated", id, by, None)]));
        }
        let id = self.new_content(Kind::Attachment, space_id, filename, "", by);
        let c = self.get_mut(id)?;
        c.container_id = Some(container);
        c.attachment = Some(attachment_data(media_type, bytes));
        Ok(((id, 1), vec![change("attachment_created", id, by, None)]))
    }

    pub fn set_watch(&mut self, id: u64, user: usize, watching: bool) -> Result<(), StateError> {
        let c = self.get_mut(id)?;
        if watching {
            c.watchers.insert(user);
        } else {
            c.watchers.remove(&user);
        }
        Ok(())
    }

    pub fn add_label(&mut self, id: u64, label: &str) -> Result<(), StateError> {
        let c = self.get_mut(id)?;
        if !c.labels.iter().any(|l| l == label) {
            c.labels.push(label.into());
        }
        Ok(())
    }

    pub fn add_user(
        &mut self,
        account_id: &str,
        email: &str,
        display_name: &str,
        username: &str,
    ) -> usize {
        self.users
            .push(user(account_id, email, display_name, username));
        self.users.len() - 1
    }
}

fn attachment_data(media_type: &str, bytes: Vec<u8>) -> AttachmentData {
    AttachmentData {
        media_type: media_type.into(),
        comment: String::new(),
        file_id: uuid::Uuid::new_v4().to_string(),
        size: bytes.len(),
        bytes,
    }
}

fn event_for(kind: Kind, what: &str) -> &'static str {
    match (kind, what) {
        (Kind::Page, "trashed") => "page_trashed",
        (Kind::Page, "restored") => "page_restored",
        (Kind::Page, _) => "page_removed",
        (Kind::BlogPost, "trashed") => "blog_trashed",
        (Kind::BlogPost, "restored") => "blog_restored",
        (Kind::BlogPost, _) => "blog_removed",
        (Kind::Comment, _) => "comment_removed",
        (Kind::Attachment, "trashed") => "attachment_trashed",
        (Kind::Attachment, "restored") => "attachment_restored",
        (Kind::Attachment, _) => "attachment_removed",
    }
}

fn change(
    event: &'static str,
    content_id: u64,
    by: usize,
    update_trigger: Option<&'static str>,
) -> Change {
    Change {
        event,
        content_id,
        by,
        update_trigger,
    }
}

fn user(account_id: &str, email: &str, display_name: &str, username: &str) -> User {
    // DC user keys look like `ff8080817b0c…` (32 hex chars).
    let digest = {
        use sha2::Digest;
        let d = sha2::Sha256::digest(account_id.as_bytes());
        d.iter()
            .take(12)
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    User {
        account_id: account_id.into(),
        user_key: format!("ff808081{digest}"),
        username: username.into(),
        email: email.into(),
        display_name: display_name.into(),
    }
}

/// The tiny link code of an id (docs §7): 8-byte little-endian, standard base64 without `=`,
/// `/`→`-`, `+`→`_`, trailing `A`s stripped.
pub fn tiny_code(id: u64) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD_NO_PAD.encode(id.to_le_bytes());
    let mapped: String = b64
        .chars()
        .map(|c| match c {
            '/' => '-',
            '+' => '_',
            c => c,
        })
        .collect();
    mapped.trim_end_matches('A').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiny_codes_match_the_documented_pairs() {
        for (id, code) in [
            (137_986_525, "3YE5C"),
            (158_598_137, "_QN0CQ"),
            (283_246_728, "iADiE"),
            (33363, "U4I"),
            (1_041_694_742, "FgAXPg"),
            (16_711_835, "mwD-"),
        ] {
            assert_eq!(tiny_code(id), code, "{id}");
        }
    }

    #[test]
    fn tree_trash_restore_purge() {
        let mut s = State::seeded();
        let ((a, _), _) = s.create_page("DEMO", "A", "<p>a</p>", None, 0).unwrap();
        let ((b, _), _) = s.create_page("DEMO", "B", "<p>b</p>", Some(a), 0).unwrap();
        assert!(a > u64::from(u32::MAX));
        assert_eq!(s.ancestors(b).last().map(|c| c.id), Some(a));
        assert_eq!(
            s.create_page("DEMO", "A", "", None, 0).unwrap_err(),
            StateError::TitleTaken("A".into())
        );
        let ((_, v), ch) = s.rename(b, "B2", 0).unwrap();
        assert_eq!((v, ch[0].event), (2, "page_updated"));
        s.trash(a, 0).unwrap();
        assert_eq!(s.get(b).unwrap().parent_id, s.spaces[0].homepage_id);
        assert_eq!(s.purge(a, 0).unwrap()[0].event, "page_removed");
        assert!(s.restore(a, 0).is_err());
    }
}
