//! The event envelope: the one message type that travels through RabbitMQ.
//!
//! # API boundary: compatibility rule
//!
//! Envelopes outlive releases (they sit in retry and dead-letter queues for hours), so a
//! worker one release older must still read what a newer release writes:
//!
//! - never rename or remove a field, never change a field's type or meaning;
//! - new envelope or payload fields are optional (`#[serde(default)]`), and readers ignore
//!   fields they do not know (no `deny_unknown_fields` anywhere in this module);
//! - a new kind of event is a new [`Payload`] variant with a new `kind` string. An older
//!   reader decodes it as [`Payload::Unknown`], keeping the raw data, and parks it in the
//!   dead-letter queue with a reason instead of losing it; after the upgrade it is replayed;
//! - a new value of an action enum (`PageAction`, …) is a break for older readers too: they
//!   cannot decode the envelope and park it as undecodable, to be replayed after upgrading;
//!   prefer a new payload kind;
//! - code that only forwards an envelope (retries, replays) edits the raw JSON rather than
//!   re-serialising the typed value, so fields it does not know survive;
//! - [`ENVELOPE_SCHEMA`] goes up only for a change that breaks this rule, and then readers
//!   must accept both numbers for one release; a reader parks envelopes of a newer schema.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;
use uuid::Uuid;

/// The envelope schema this release writes.
pub const ENVELOPE_SCHEMA: u16 = 1;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    pub schema: u16,
    /// Unique per accepted event, kept across retries and dead-letter replays so
    /// idempotent handlers can recognise a second delivery.
    pub id: Uuid,
    pub source: Source,
    pub occurred_at: DateTime<Utc>,
    /// 0 on the first delivery, +1 for every delayed retry.
    pub attempt: u32,
    /// W3C trace context of the span that created the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<TraceContext>,
    /// Same for two deliveries of the same change (source, event, content id, version), so
    /// duplicates from a vendor's webhook and from reconciliation collapse downstream.
    pub dedupe_key: String,
    pub payload: Payload,
}

impl Envelope {
    /// A new envelope with a fresh time-ordered id and the dedupe key derived from the
    /// payload.
    pub fn new(source: Source, occurred_at: DateTime<Utc>, payload: Payload) -> Self {
        let id = Uuid::now_v7();
        let dedupe_key = format!("{source}|{}", payload.dedupe_part(id, occurred_at));
        Self {
            schema: ENVELOPE_SCHEMA,
            id,
            source,
            occurred_at,
            attempt: 0,
            trace: None,
            dedupe_key,
            payload,
        }
    }

    pub fn routing_key(&self) -> String {
        self.payload.routing_key()
    }

    pub fn to_json(&self) -> Vec<u8> {
        // Serialising plain data with string keys cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub fn from_json(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

/// Who sent the event.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Source {
    /// A Confluence site, by its base URL.
    Confluence { site: String },
    /// A B24 portal, by its `member_id`.
    B24 { portal: String },
    /// The bridge itself (reconciliation, ops, schedules).
    Bridge { component: String },
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Confluence { site } => write!(f, "confluence:{site}"),
            Self::B24 { portal } => write!(f, "b24:{portal}"),
            Self::Bridge { component } => write!(f, "bridge:{component}"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceContext {
    pub traceparent: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracestate: Option<String>,
}

/// What happened. On the wire: `{"kind": "...", "data": {...}}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawPayload", into = "RawPayload")]
pub enum Payload {
    ConfluencePage(PageEvent),
    ConfluenceComment(CommentEvent),
    ConfluenceAttachment(AttachmentEvent),
    B24Task(TaskEvent),
    B24TaskComment(TaskCommentEvent),
    B24App(AppEvent),
    B24Bot(BotEvent),
    MigrationRequested(MigrationRequested),
    /// Mirror a whole space (every page) or one page into a portal's knowledge base now
    /// (an admin switched the space to mirror mode, or asked for a re-sync).
    MirrorRequested(MirrorRequested),
    /// The fan-out of a page's pending edits is due (published delayed by the fanout worker
    /// itself, straight to its own queue, when the coalescing window has passed).
    FanoutFlush(FanoutFlush),
    /// A liveness probe travelling the whole path (health checks, tests).
    Probe(Probe),
    /// A kind this release does not know (written by a newer release). Kept verbatim.
    Unknown {
        kind: String,
        data: Value,
    },
}

impl Payload {
    /// The `kind` string on the wire.
    pub fn kind(&self) -> &str {
        match self {
            Self::ConfluencePage(_) => "confluence.page",
            Self::ConfluenceComment(_) => "confluence.comment",
            Self::ConfluenceAttachment(_) => "confluence.attachment",
            Self::B24Task(_) => "b24.task",
            Self::B24TaskComment(_) => "b24.task-comment",
            Self::B24App(_) => "b24.app",
            Self::B24Bot(_) => "b24.bot",
            Self::MigrationRequested(_) => "bridge.migration",
            Self::MirrorRequested(_) => "bridge.mirror",
            Self::FanoutFlush(_) => "bridge.fanout",
            Self::Probe(_) => "bridge.probe",
            Self::Unknown { kind, .. } => kind,
        }
    }

    /// Topic routing key: `{kind}.{action}`, matched by [`crate::WorkerKind::bindings`].
    pub fn routing_key(&self) -> String {
        let action = match self {
            Self::ConfluencePage(p) => match (p.content_type, p.action) {
                (ContentType::BlogPost, a) => return format!("confluence.blogpost.{}", a.as_str()),
                (ContentType::Page, a) => a.as_str(),
            },
            Self::ConfluenceComment(c) => c.action.as_str(),
            Self::ConfluenceAttachment(a) => a.action.as_str(),
            Self::B24Task(t) => t.action.as_str(),
            Self::B24TaskComment(_) => "added",
            Self::B24App(a) => a.action.as_str(),
            Self::B24Bot(b) => {
                if b.command.is_some() {
                    "command"
                } else {
                    "message"
                }
            }
            Self::MigrationRequested(_) => "requested",
            Self::MirrorRequested(m) => {
                if m.content_id.is_some() {
                    "page"
                } else {
                    "space"
                }
            }
            Self::FanoutFlush(_) => "flush",
            Self::Probe(_) => "ping",
            Self::Unknown { .. } => "unknown",
        };
        format!("{}.{action}", self.kind())
    }

    /// The part of the dedupe key that names the change: event, content id and version.
    ///
    /// Two deliveries may share a key only when they certainly report the same change. When
    /// the vendor gave no version (or timestamp) to tell changes apart, the event's own id
    /// stands in: such events are never collapsed, only redeliveries of the same envelope.
    fn dedupe_part(&self, id: Uuid, occurred_at: DateTime<Utc>) -> String {
        let rk = self.routing_key();
        let or_id = |v: Option<u64>| v.map_or_else(|| format!("id:{id}"), |v| v.to_string());
        match self {
            // A page is trashed, restored or moved again without a new version: the vendor's
            // event time tells those changes apart (a duplicate delivery repeats it).
            Self::ConfluencePage(p)
                if matches!(
                    p.action,
                    PageAction::Trashed
                        | PageAction::Restored
                        | PageAction::Removed
                        | PageAction::Moved
                ) =>
            {
                format!(
                    "{rk}|{}|{}|at:{}",
                    p.content_id,
                    or_id(p.version.map(u64::from)),
                    occurred_at.timestamp_millis()
                )
            }
            Self::ConfluencePage(p) => {
                format!("{rk}|{}|{}", p.content_id, or_id(p.version.map(u64::from)))
            }
            Self::ConfluenceComment(c) => {
                format!("{rk}|{}|{}", c.comment_id, or_id(c.version.map(u64::from)))
            }
            // Trash and restore keep the version, like pages: the event time tells them apart.
            Self::ConfluenceAttachment(a) => format!(
                "{rk}|{}|{}|at:{}",
                a.attachment_id,
                or_id(a.version.map(u64::from)),
                occurred_at.timestamp_millis()
            ),
            Self::B24Task(t) => format!("{rk}|{}|{}", t.task_id, or_id(t.changed_at_ts)),
            Self::B24TaskComment(c) => format!("{rk}|{}|{}", c.task_id, c.comment_id),
            // An app is installed, updated and reinstalled many times: the time tells apart.
            Self::B24App(a) => format!("{rk}|{}|{}", a.member_id, occurred_at.timestamp_millis()),
            Self::B24Bot(b) => format!("{rk}|{}|{}", b.dialog_id, b.message_id),
            Self::MigrationRequested(m) => format!("{rk}|{}", m.job_id),
            // Every request runs; mirroring a version already mirrored is a no-op anyway.
            Self::MirrorRequested(_) => format!("{rk}|id:{id}"),
            // One flush per edit is scheduled; each must run (it decides whether the window
            // has passed), so they are never collapsed.
            Self::FanoutFlush(_) => format!("{rk}|id:{id}"),
            Self::Probe(_) | Self::Unknown { .. } => format!("{rk}|id:{id}"),
        }
    }
}

#[derive(Serialize, Deserialize)]
struct RawPayload {
    kind: String,
    #[serde(default)]
    data: Value,
}

impl TryFrom<RawPayload> for Payload {
    type Error = serde_json::Error;
    fn try_from(raw: RawPayload) -> Result<Self, Self::Error> {
        use serde_json::from_value as v;
        Ok(match raw.kind.as_str() {
            "confluence.page" => Self::ConfluencePage(v(raw.data)?),
            "confluence.comment" => Self::ConfluenceComment(v(raw.data)?),
            "b24.task" => Self::B24Task(v(raw.data)?),
            "b24.task-comment" => Self::B24TaskComment(v(raw.data)?),
            "confluence.attachment" => Self::ConfluenceAttachment(v(raw.data)?),
            "b24.app" => Self::B24App(v(raw.data)?),
            "b24.bot" => Self::B24Bot(v(raw.data)?),
            "bridge.migration" => Self::MigrationRequested(v(raw.data)?),
            "bridge.mirror" => Self::MirrorRequested(v(raw.data)?),
            "bridge.fanout" => Self::FanoutFlush(v(raw.data)?),
            "bridge.probe" => Self::Probe(v(raw.data)?),
            _ => Self::Unknown {
                kind: raw.kind,
                data: raw.data,
            },
        })
    }
}

impl From<Payload> for RawPayload {
    fn from(p: Payload) -> Self {
        let kind = p.kind().to_owned();
        let data = match p {
            Payload::ConfluencePage(x) => serde_json::to_value(x),
            Payload::ConfluenceComment(x) => serde_json::to_value(x),
            Payload::ConfluenceAttachment(x) => serde_json::to_value(x),
            Payload::B24Task(x) => serde_json::to_value(x),
            Payload::B24TaskComment(x) => serde_json::to_value(x),
            Payload::B24App(x) => serde_json::to_value(x),
            Payload::B24Bot(x) => serde_json::to_value(x),
            Payload::MigrationRequested(x) => serde_json::to_value(x),
            Payload::MirrorRequested(x) => serde_json::to_value(x),
            Payload::FanoutFlush(x) => serde_json::to_value(x),
            Payload::Probe(x) => serde_json::to_value(x),
            Payload::Unknown { data, .. } => Ok(data),
        };
        // Plain structs with string keys always serialise.
        RawPayload {
            kind,
            data: data.unwrap_or(Value::Null),
        }
    }
}

macro_rules! actions {
    ($(#[$m:meta])* $name:ident { $($variant:ident => $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "kebab-case")]
        pub enum $name { $($variant),+ }
        impl $name {
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $s),+ }
            }
        }
    };
}

actions!(
    /// What happened to a page or blog post.
    PageAction {
        Created => "created",
        Updated => "updated",
        Trashed => "trashed",
        Restored => "restored",
        Removed => "removed",
        Moved => "moved",
    }
);
actions!(CommentAction { Created => "created", Updated => "updated", Removed => "removed" });
actions!(
    /// What happened to an attachment.
    AttachmentAction {
        Created => "created",
        Updated => "updated",
        Trashed => "trashed",
        Restored => "restored",
        Removed => "removed",
    }
);
actions!(TaskAction { Added => "added", Updated => "updated", Deleted => "deleted" });
actions!(AppAction { Installed => "installed", Updated => "updated", Uninstalled => "uninstalled" });

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum ContentType {
    #[default]
    Page,
    BlogPost,
}

/// A Confluence page or blog post changed. Ids exceed 2^32 on Cloud, hence `u64`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PageEvent {
    pub content_id: u64,
    #[serde(default)]
    pub content_type: ContentType,
    pub action: PageAction,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub space_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    /// Cloud `accountId` or Data Center `userKey` of whoever made the change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// The editor suppressed notifications (a "minor edit").
    #[serde(default)]
    pub minor_edit: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CommentEvent {
    pub comment_id: u64,
    pub action: CommentAction,
    /// The page the comment is on; replies may arrive without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_comment_id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
}

/// A file attached to a page or blog post changed. Attachments often change without a new
/// page version, so a mirror needs this to copy the new file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttachmentEvent {
    pub attachment_id: u64,
    pub action: AttachmentAction,
    /// The page or blog post holding it, when the payload names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskEvent {
    pub task_id: u64,
    pub action: TaskAction,
    /// B24's event `ts`, which tells two updates of one task apart for deduplication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_at_ts: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskCommentEvent {
    pub task_id: u64,
    pub comment_id: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AppEvent {
    pub action: AppAction,
    pub member_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BotEvent {
    pub bot_id: u64,
    pub dialog_id: String,
    pub message_id: u64,
    pub from_user_id: u64,
    pub text: String,
    /// Set for a registered command such as `/wiki`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MigrationRequested {
    pub job_id: Uuid,
}

/// Mirror a space, or one page of it, into a portal's knowledge base.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MirrorRequested {
    /// The Confluence site as envelopes name it (`Source::Confluence { site }`).
    pub site: String,
    pub space_key: String,
    /// The portal's `member_id`.
    pub member_id: String,
    /// One page; none for every page of the space.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_id: Option<u64>,
    /// Write pages even when their version is already mirrored (links to pages mirrored
    /// since, a changed conversion).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force: bool,
}

/// Fan out the pending edits of one page (see the fanout worker).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FanoutFlush {
    /// The Confluence site as envelopes name it (`Source::Confluence { site }`).
    pub site: String,
    pub content_id: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Probe {
    pub note: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page_event() -> Envelope {
        Envelope::new(
            Source::Confluence {
                site: "https://x.atlassian.net/wiki".into(),
            },
            Utc::now(),
            Payload::ConfluencePage(PageEvent {
                content_id: 5_000_000_001,
                content_type: ContentType::Page,
                action: PageAction::Updated,
                space_key: Some("DOC".into()),
                title: Some("Ünïcode".into()),
                version: Some(7),
                actor: Some("557058:abc".into()),
                minor_edit: false,
            }),
        )
    }

    #[test]
    fn round_trips_and_routes() {
        let e = page_event();
        assert_eq!(e.routing_key(), "confluence.page.updated");
        assert_eq!(
            e.dedupe_key,
            "confluence:https://x.atlassian.net/wiki|confluence.page.updated|5000000001|7"
        );
        let back = Envelope::from_json(&e.to_json()).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn mirror_requests_route_by_scope_and_never_collapse() {
        let request = |content_id| {
            Envelope::new(
                Source::Bridge {
                    component: "bridgectl".into(),
                },
                Utc::now(),
                Payload::MirrorRequested(MirrorRequested {
                    site: "https://x.atlassian.net/wiki".into(),
                    space_key: "DOC".into(),
                    member_id: "m1".into(),
                    content_id,
                    force: false,
                }),
            )
        };
        let space = request(None);
        assert_eq!(space.routing_key(), "bridge.mirror.space");
        assert_eq!(request(Some(5)).routing_key(), "bridge.mirror.page");
        assert_ne!(space.dedupe_key, request(None).dedupe_key);
        assert_eq!(Envelope::from_json(&space.to_json()).unwrap(), space);
    }

    #[test]
    fn unknown_kind_and_fields_are_kept_not_rejected() {
        let mut v: Value = serde_json::from_slice(&page_event().to_json()).unwrap();
        v["payload"] = serde_json::json!({"kind": "confluence.space", "data": {"key": "X"}});
        v["added_in_a_later_release"] = serde_json::json!(true);
        let e = Envelope::from_json(v.to_string().as_bytes()).unwrap();
        assert_eq!(e.payload.kind(), "confluence.space");
        let again: Value = serde_json::from_slice(&e.to_json()).unwrap();
        assert_eq!(again["payload"]["data"]["key"], "X");
    }

    #[test]
    fn known_kind_with_bad_data_is_an_error() {
        let mut v: Value = serde_json::from_slice(&page_event().to_json()).unwrap();
        v["payload"]["data"]["content_id"] = serde_json::json!("not a number");
        assert!(Envelope::from_json(v.to_string().as_bytes()).is_err());
    }

    #[test]
    fn changes_without_a_version_are_never_collapsed() {
        let moved = || {
            Envelope::new(
                Source::Confluence { site: "s".into() },
                Utc::now(),
                Payload::ConfluencePage(PageEvent {
                    content_id: 1,
                    content_type: ContentType::Page,
                    action: PageAction::Moved,
                    space_key: None,
                    title: None,
                    version: None,
                    actor: None,
                    minor_edit: false,
                }),
            )
        };
        assert_ne!(moved().dedupe_key, moved().dedupe_key);
        let task = |ts| {
            Envelope::new(
                Source::B24 { portal: "m".into() },
                Utc::now(),
                Payload::B24Task(TaskEvent {
                    task_id: 5,
                    action: TaskAction::Updated,
                    changed_at_ts: ts,
                }),
            )
        };
        assert_eq!(task(Some(7)).dedupe_key, task(Some(7)).dedupe_key);
        assert_ne!(task(None).dedupe_key, task(None).dedupe_key);
    }

    #[test]
    fn blog_posts_route_apart_from_pages() {
        let mut e = page_event();
        if let Payload::ConfluencePage(p) = &mut e.payload {
            p.content_type = ContentType::BlogPost;
        }
        assert_eq!(e.routing_key(), "confluence.blogpost.updated");
    }
}
