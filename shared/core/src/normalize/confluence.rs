//! Confluence webhook payloads (Data Center and Cloud) → events.

use crate::Payload;
use crate::envelope::{
    AttachmentAction, AttachmentEvent, CommentAction, CommentEvent, ContentType, PageAction,
    PageEvent,
};
use serde_json::Value;

/// What an event name means for the bridge; `None` for events it does not use.
pub fn classify(event: &str) -> Option<Kind> {
    let (family, action) = event.split_once('_')?;
    let page_action = || match action {
        "created" => Some(PageAction::Created),
        "updated" => Some(PageAction::Updated),
        "trashed" => Some(PageAction::Trashed),
        "restored" => Some(PageAction::Restored),
        "removed" => Some(PageAction::Removed),
        "moved" => Some(PageAction::Moved),
        _ => None,
    };
    match family {
        "page" => page_action().map(|a| Kind::Content(ContentType::Page, a)),
        "blog" | "blogpost" => page_action().map(|a| Kind::Content(ContentType::BlogPost, a)),
        "comment" => match action {
            "created" => Some(Kind::Comment(CommentAction::Created)),
            "updated" => Some(Kind::Comment(CommentAction::Updated)),
            "removed" => Some(Kind::Comment(CommentAction::Removed)),
            _ => None,
        },
        "attachment" => match action {
            "created" => Some(Kind::Attachment(AttachmentAction::Created)),
            "updated" => Some(Kind::Attachment(AttachmentAction::Updated)),
            "trashed" => Some(Kind::Attachment(AttachmentAction::Trashed)),
            "restored" => Some(Kind::Attachment(AttachmentAction::Restored)),
            "removed" => Some(Kind::Attachment(AttachmentAction::Removed)),
            _ => None,
        },
        _ => None,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Content(ContentType, PageAction),
    Comment(CommentAction),
    Attachment(AttachmentAction),
}

/// The payload for `kind` from a webhook body (either flavour). `actor` is the body's user
/// (DC `userKey`, Cloud `userAccountId`).
pub fn payload(kind: Kind, body: &Value) -> Result<Payload, String> {
    let actor = str_field(body, "userAccountId").or_else(|| str_field(body, "userKey"));
    match kind {
        Kind::Content(content_type, action) => {
            let key = match content_type {
                ContentType::Page => "page",
                ContentType::BlogPost => {
                    if body.get("blog").is_some() {
                        "blog"
                    } else {
                        "blogpost"
                    }
                }
            };
            let content = body
                .get(key)
                .ok_or_else(|| format!("the body has no `{key}` object"))?;
            let content_id =
                content_id(content).ok_or_else(|| format!("`{key}.id` is not a content id"))?;
            Ok(Payload::ConfluencePage(PageEvent {
                content_id,
                content_type,
                action,
                space_key: str_field(content, "spaceKey"),
                title: str_field(content, "title"),
                version: content
                    .get("version")
                    .and_then(as_u64)
                    .and_then(|v| u32::try_from(v).ok()),
                actor,
                minor_edit: body
                    .get("suppressNotifications")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            }))
        }
        Kind::Comment(action) => {
            let comment = body
                .get("comment")
                .ok_or("the body has no `comment` object")?;
            let comment_id = content_id(comment).ok_or("`comment.id` is not a content id")?;
            let parent = comment.get("parent");
            Ok(Payload::ConfluenceComment(CommentEvent {
                comment_id,
                action,
                page_id: page_of_comment(comment),
                parent_comment_id: parent
                    .filter(|p| str_field(p, "contentType").as_deref() == Some("comment"))
                    .and_then(content_id),
                version: comment
                    .get("version")
                    .and_then(as_u64)
                    .and_then(|v| u32::try_from(v).ok()),
                actor,
            }))
        }
        Kind::Attachment(action) => {
            let attachment = body
                .get("attachment")
                .ok_or("the body has no `attachment` object")?;
            let attachment_id =
                attachment_id(attachment).ok_or("`attachment.id` is not an attachment id")?;
            Ok(Payload::ConfluenceAttachment(AttachmentEvent {
                attachment_id,
                action,
                page_id: container_of(attachment),
                version: attachment
                    .get("version")
                    .and_then(as_u64)
                    .and_then(|v| u32::try_from(v).ok()),
                actor,
            }))
        }
    }
}

/// An attachment id, with or without the `att` prefix Cloud may put on it (UNCONFIRMED in
/// the docs: both accepted).
fn attachment_id(v: &Value) -> Option<u64> {
    let strip = |s: &str| s.trim().trim_start_matches("att").parse().ok();
    v.get("idAsString")
        .and_then(Value::as_str)
        .and_then(strip)
        .or_else(|| {
            v.get("id")
                .and_then(|id| id.as_u64().or_else(|| id.as_str().and_then(strip)))
        })
}

/// The page or blog post an attachment is on: `parent` (a content object, Cloud), or
/// `container` / `containerId` (shapes the docs leave open; each accepted).
fn container_of(attachment: &Value) -> Option<u64> {
    ["parent", "container"]
        .iter()
        .filter_map(|k| attachment.get(*k))
        .find_map(content_id)
        .or_else(|| attachment.get("containerId").and_then(as_u64))
}

/// The page (or blog post) a comment is on: the nearest non-comment parent, else the
/// `/pages/{id}/` segment of its `self` link (replies may come without their page).
fn page_of_comment(comment: &Value) -> Option<u64> {
    let mut parent = comment.get("parent");
    let mut depth = 0;
    while let Some(p) = parent {
        match str_field(p, "contentType").as_deref() {
            Some("comment") => parent = p.get("parent"),
            _ => return content_id(p),
        }
        depth += 1;
        if depth > 32 {
            break;
        }
    }
    let link = str_field(comment, "self")?;
    let rest = link.split("/pages/").nth(1)?;
    rest.split(['/', '?', '#']).next()?.parse().ok()
}

/// `idAsString` when present, else `id` as a number or a numeric string.
fn content_id(v: &Value) -> Option<u64> {
    v.get("idAsString")
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
        .or_else(|| v.get("id").and_then(as_u64))
}

fn as_u64(v: &Value) -> Option<u64> {
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}

fn str_field(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// When the vendor says the change happened (epoch milliseconds), if it says.
pub fn timestamp(body: &Value) -> Option<chrono::DateTime<chrono::Utc>> {
    let ms = body.get("timestamp").and_then(as_u64)?;
    chrono::DateTime::from_timestamp_millis(i64::try_from(ms).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dc_thin_page_payload() {
        let body = json!({"timestamp": 1_700_000_000_000u64, "event": "page_updated", "userKey": "ff80", "page": {"id": 5_000_000_001u64}, "updateTrigger": "edit_page"});
        let kind = classify("page_updated").unwrap();
        let Payload::ConfluencePage(p) = payload(kind, &body).unwrap() else {
            panic!()
        };
        assert_eq!(p.content_id, 5_000_000_001);
        assert_eq!(p.actor.as_deref(), Some("ff80"));
        assert_eq!(p.version, None);
        assert!(timestamp(&body).is_some());
    }

    #[test]
    fn cloud_ids_as_numbers_strings_or_id_as_string() {
        for page in [
            json!({"id": 42, "version": 3}),
            json!({"id": "42", "version": 3}),
            json!({"id": 1, "idAsString": "42", "version": "3"}),
        ] {
            let body =
                json!({"userAccountId": "557058:x", "suppressNotifications": true, "page": page});
            let Payload::ConfluencePage(p) =
                payload(classify("page_updated").unwrap(), &body).unwrap()
            else {
                panic!()
            };
            assert_eq!((p.content_id, p.version, p.minor_edit), (42, Some(3), true));
        }
        assert!(
            payload(
                classify("page_updated").unwrap(),
                &json!({"page": {"id": "x"}})
            )
            .is_err()
        );
        assert!(payload(classify("page_updated").unwrap(), &json!({})).is_err());
        assert_eq!(classify("label_added"), None);
        assert_eq!(
            classify("blog_created"),
            Some(Kind::Content(ContentType::BlogPost, PageAction::Created))
        );
    }

    #[test]
    fn attachment_events_name_their_page_in_any_documented_shape() {
        let kind = classify("attachment_updated").unwrap();
        for (body, page) in [
            (
                json!({"attachment": {"id": 77, "version": 2, "parent": {"id": 5, "contentType": "page"}}}),
                Some(5),
            ),
            (
                json!({"attachment": {"id": "att77", "version": 2, "container": {"idAsString": "5"}}}),
                Some(5),
            ),
            (
                json!({"attachment": {"idAsString": "77", "version": 2, "containerId": "5"}}),
                Some(5),
            ),
            (json!({"attachment": {"id": 77, "version": 2}}), None),
        ] {
            let Payload::ConfluenceAttachment(a) = payload(kind, &body).unwrap() else {
                panic!("not an attachment event");
            };
            assert_eq!((a.attachment_id, a.page_id, a.version), (77, page, Some(2)));
        }
        assert!(payload(kind, &json!({"attachment": {"id": "x"}})).is_err());
        assert_eq!(classify("attachment_viewed"), None);
    }

    #[test]
    fn comment_replies_find_their_page() {
        let reply = json!({"comment": {"id": 9, "self": "https://x/wiki/spaces/D/pages/77/T?focusedCommentId=9",
            "parent": {"id": 8, "contentType": "comment"}}});
        let Payload::ConfluenceComment(c) =
            payload(classify("comment_created").unwrap(), &reply).unwrap()
        else {
            panic!()
        };
        assert_eq!(
            (c.comment_id, c.page_id, c.parent_comment_id),
            (9, Some(77), Some(8))
        );
        let top = json!({"comment": {"id": 10, "parent": {"id": 77, "contentType": "page"}}});
        let Payload::ConfluenceComment(c) =
            payload(classify("comment_created").unwrap(), &top).unwrap()
        else {
            panic!()
        };
        assert_eq!(c.page_id, Some(77));
    }
}
