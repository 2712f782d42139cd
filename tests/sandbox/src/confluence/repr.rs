//! REST v1 representations (docs §1.2): content, space, user, version, with `expand` and
//! `_expandable`, and the web links (`webui`, `tinyui`, `download`) per flavour.

use super::Flavor;
use super::state::{Content, Kind, State, Status, Version, tiny_code};
use chrono::{DateTime, FixedOffset, Utc};
use serde_json::{Map, Value, json};
use std::collections::BTreeSet;

pub struct Ctx<'a> {
    pub st: &'a State,
    pub flavor: Flavor,
    /// `_links.base`.
    pub base: String,
}

/// The `expand` list as a set of dotted paths.
#[derive(Clone, Debug, Default)]
pub struct Expand(BTreeSet<String>);

impl Expand {
    pub fn parse(raw: Option<&str>) -> Expand {
        Expand(
            raw.unwrap_or("")
                .split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect(),
        )
    }

    pub fn of(keys: &[&str]) -> Expand {
        Expand(keys.iter().map(|s| (*s).to_owned()).collect())
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// `key` itself or anything below it was asked for.
    pub fn has(&self, key: &str) -> bool {
        let dotted = format!("{key}.");
        self.0.iter().any(|k| k == key || k.starts_with(&dotted))
    }

    /// The expansions below `prefix`, with the prefix removed.
    pub fn sub(&self, prefix: &str) -> Expand {
        let dotted = format!("{prefix}.");
        Expand(
            self.0
                .iter()
                .filter_map(|k| k.strip_prefix(&dotted).map(str::to_owned))
                .collect(),
        )
    }
}

pub fn when(flavor: Flavor, t: DateTime<Utc>) -> String {
    match flavor {
        Flavor::Cloud => t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        // DC answers in the server's zone with an offset (docs §1.2).
        Flavor::DataCenter => match FixedOffset::east_opt(2 * 3600) {
            Some(tz) => t
                .with_timezone(&tz)
                .format("%Y-%m-%dT%H:%M:%S%.3f%:z")
                .to_string(),
            None => t.to_rfc3339(),
        },
    }
}

fn title_slug(title: &str) -> String {
    form_urlencoded::byte_serialize(title.as_bytes()).collect()
}

fn plain_title(title: &str) -> bool {
    title.chars().all(|c| c.is_ascii_alphanumeric() || c == ' ')
}

/// `_links.webui` (relative to `_links.base`).
pub fn webui(cx_st: &State, flavor: Flavor, c: &Content) -> String {
    let key = cx_st.space(c.space_id).map_or("", |s| s.key.as_str());
    let container = c.container_id.and_then(|id| cx_st.get(id));
    match (flavor, c.kind) {
        (Flavor::Cloud, Kind::Page) => {
            format!("/spaces/{key}/pages/{}/{}", c.id, title_slug(c.title()))
        }
        (Flavor::Cloud, Kind::BlogPost) => format!(
            "/spaces/{key}/blog/{}/{}/{}",
            c.created_at.format("%Y/%m/%d"),
            c.id,
            title_slug(c.title())
        ),
        (Flavor::Cloud, Kind::Comment) => {
            let (pid, pt) = container.map_or((0, ""), |p| (p.id, p.title()));
            format!(
                "/spaces/{key}/pages/{pid}/{}?focusedCommentId={}#comment-{}",
                title_slug(pt),
                c.id,
                c.id
            )
        }
        (Flavor::Cloud, Kind::Attachment) => {
            let (pid, pt) = container.map_or((0, ""), |p| (p.id, p.title()));
            format!(
                "/spaces/{key}/pages/{pid}/{}?preview=%2F{pid}%2F{}%2F{}",
                title_slug(pt),
                c.id,
                title_slug(c.title())
            )
        }
        (Flavor::DataCenter, Kind::Page) if plain_title(c.title()) => {
            format!("/display/{key}/{}", title_slug(c.title()))
        }
        (Flavor::DataCenter, Kind::Page) => format!("/pages/viewpage.action?pageId={}", c.id),
        (Flavor::DataCenter, Kind::BlogPost) => format!(
            "/display/{key}/{}/{}",
            c.created_at.format("%Y/%m/%d"),
            title_slug(c.title())
        ),
        (Flavor::DataCenter, Kind::Comment) => format!(
            "/pages/viewpage.action?pageId={}&focusedCommentId={}#comment-{}",
            c.container_id.unwrap_or(0),
            c.id,
            c.id
        ),
        (Flavor::DataCenter, Kind::Attachment) => format!(
            "/pages/viewpageattachments.action?pageId={}&preview=%2F{}%2F{}%2F{}",
            c.container_id.unwrap_or(0),
            c.container_id.unwrap_or(0),
            c.id,
            title_slug(c.title())
        ),
    }
}

/// `_links.download` of an attachment (relative to `_links.base`).
pub fn download(flavor: Flavor, c: &Content, v: &Version) -> String {
    let enc: String = url::form_urlencoded::byte_serialize(c.title().as_bytes())
        .collect::<String>()
        .replace('+', "%20");
    let api = if flavor == Flavor::Cloud {
        "&api=v2"
    } else {
        ""
    };
    format!(
        "/download/attachments/{}/{enc}?version={}&modificationDate={}{api}",
        c.container_id.unwrap_or(0),
        v.number,
        v.when.timestamp_millis()
    )
}

pub fn user(cx: &Ctx, idx: usize) -> Value {
    let Some(u) = cx.st.users.get(idx) else {
        return json!({"type": "anonymous"});
    };
    let picture = json!({"path": "/wiki/aa-avatar/default.png", "width": 48, "height": 48, "isDefault": true});
    match cx.flavor {
        Flavor::Cloud => json!({
            "type": "known",
            "accountId": u.account_id,
            "accountType": "atlassian",
            "email": u.email,
            "publicName": u.display_name,
            "displayName": u.display_name,
            "profilePicture": picture,
            "isExternalCollaborator": false,
            "_links": {"self": format!("{}/rest/api/user?accountId={}", cx.base, u.account_id)},
        }),
        Flavor::DataCenter => json!({
            "type": "known",
            "username": u.username,
            "userKey": u.user_key,
            "displayName": u.display_name,
            "profilePicture": picture,
            "_links": {"self": format!("{}/rest/api/user?key={}", cx.base, u.user_key)},
        }),
    }
}

pub fn space(cx: &Ctx, space_id: u64) -> Value {
    let Some(s) = cx.st.space(space_id) else {
        return Value::Null;
    };
    let webui = match cx.flavor {
        Flavor::Cloud => format!("/spaces/{}", s.key),
        Flavor::DataCenter => format!("/display/{}", s.key),
    };
    json!({
        "id": s.id,
        "key": s.key,
        "name": s.name,
        "type": s.kind,
        "status": "current",
        "_links": {"webui": webui, "self": format!("{}/rest/api/space/{}", cx.base, s.key)},
        "_expandable": {
            "homepage": s.homepage_id.map(|h| format!("/rest/api/content/{h}")).unwrap_or_default(),
            "description": "",
            "metadata": "",
            "icon": "",
        },
    })
}

pub fn version(cx: &Ctx, c: &Content, v: &Version, ex: &Expand) -> Value {
    let mut o = json!({
        "by": user(cx, v.by),
        "when": when(cx.flavor, v.when),
        "friendlyWhen": v.when.format("%b %d, %Y").to_string(),
        "message": v.message,
        "number": v.number,
        "minorEdit": v.minor_edit,
        "contentTypeModified": false,
        "_links": {"self": format!("{}/rest/api/content/{}/version/{}", cx.base, c.id, v.number)},
    });
    if ex.has("content") {
        o["content"] = content(cx, c, Some(v), &ex.sub("content"), false);
    } else {
        o["_expandable"] = json!({"content": format!("/rest/api/content/{}", c.id)});
    }
    o
}

/// Strips tags and a few entities: the text CQL `text ~` and excerpts see.
pub fn plain_text(storage: &str) -> String {
    let mut out = String::with_capacity(storage.len());
    let mut in_tag = false;
    for ch in storage.chars() {
        match ch {
            '<' => {
                in_tag = true;
                out.push(' ');
            }
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    let s = out
        .replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn body(cx: &Ctx, storage: &str, ex: &Expand) -> Value {
    let mut o = Map::new();
    let mut expandable = Map::new();
    for rep in [
        "storage",
        "view",
        "export_view",
        "styled_view",
        "editor",
        "atlas_doc_format",
        "anonymous_export_view",
    ] {
        if !ex.has(rep) {
            expandable.insert(rep.into(), Value::String(String::new()));
            continue;
        }
        let value = match rep {
            "storage" | "editor" => storage.to_owned(),
            "atlas_doc_format" => adf(storage),
            // Rendering is out of scope: the view is the storage markup.
            _ => storage.to_owned(),
        };
        let mut b = json!({"value": value, "representation": rep, "_expandable": {"content": ""}});
        if rep == "storage" {
            b["embeddedContent"] = json!([]);
        }
        o.insert(rep.into(), b);
    }
    let _ = cx;
    o.insert("_expandable".into(), Value::Object(expandable));
    Value::Object(o)
}

/// A minimal ADF document carrying the plain text (for `atlas_doc_format` requests).
pub fn adf(storage: &str) -> String {
    json!({
        "type": "doc",
        "version": 1,
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": plain_text(storage)}]}]
    })
    .to_string()
}

/// Chain of ancestors highest first: pages for pages, parent comments for comments.
pub fn ancestor_ids(st: &State, c: &Content) -> Vec<u64> {
    match c.kind {
        Kind::Page => st.ancestors(c.id).iter().map(|a| a.id).collect(),
        Kind::Comment => {
            let mut v = Vec::new();
            let mut cur = c.parent_id;
            while let Some(p) = cur.and_then(|id| st.get(id)) {
                v.push(p.id);
                cur = p.parent_id;
            }
            v.reverse();
            v
        }
        _ => Vec::new(),
    }
}

/// Current child content of `c` of one kind: pages (by position), comments (top-level ones
/// for a page, replies for a comment), attachments.
pub fn children<'a>(st: &'a State, c: &Content, kind: Kind) -> Vec<&'a Content> {
    match kind {
        Kind::Page => st.children_of(Some(c.id), c.space_id),
        Kind::Comment => st
            .contents
            .values()
            .filter(|x| x.kind == Kind::Comment && x.status == Status::Current)
            .filter(|x| match c.kind {
                Kind::Comment => x.parent_id == Some(c.id),
                _ => x.container_id == Some(c.id) && x.parent_id.is_none(),
            })
            .collect(),
        Kind::Attachment => st
            .contents
            .values()
            .filter(|x| {
                x.kind == Kind::Attachment
                    && x.status == Status::Current
                    && x.container_id == Some(c.id)
            })
            .collect(),
        Kind::BlogPost => Vec::new(),
    }
}

fn child_array(cx: &Ctx, c: &Content, kind: Kind, ex: &Expand) -> Value {
    let items = children(cx.st, c, kind);
    let results: Vec<Value> = items
        .iter()
        .take(25)
        .map(|x| content(cx, x, None, ex, false))
        .collect();
    json!({
        "results": results,
        "start": 0,
        "limit": 25,
        "size": results.len(),
        "_links": {"self": format!("{}/rest/api/content/{}/child/{}", cx.base, c.id, kind.as_str())},
    })
}

/// The v1 Content object. `at` = an older version (status `historical`). `site_links` adds
/// `base`/`context`/`collection` to `_links` (single-object answers).
pub fn content(
    cx: &Ctx,
    c: &Content,
    at: Option<&Version>,
    ex: &Expand,
    site_links: bool,
) -> Value {
    let v = at.unwrap_or_else(|| c.latest());
    let historical = v.number != c.latest().number;
    let mut o = Map::new();
    let mut expandable = Map::new();
    o.insert("id".into(), json!(c.id.to_string()));
    o.insert("type".into(), json!(c.kind.as_str()));
    o.insert(
        "status".into(),
        json!(if historical {
            "historical"
        } else {
            c.status.as_str()
        }),
    );
    o.insert("title".into(), json!(v.title));
    let mut put = |key: &str, wanted: bool, value: &dyn Fn() -> Value, path: String| {
        if wanted {
            o.insert(key.into(), value());
        } else {
            expandable.insert(key.into(), Value::String(path));
        }
    };
    let id = c.id;
    put("space", ex.has("space"), &|| space(cx, c.space_id), {
        let key = cx
            .st
            .space(c.space_id)
            .map_or(String::new(), |s| s.key.clone());
        format!("/rest/api/space/{key}")
    });
    put(
        "history",
        ex.has("history"),
        &|| {
            let h = ex.sub("history");
            let mut o = json!({
                "latest": !historical,
                "createdBy": user(cx, c.created_by),
                "createdDate": when(cx.flavor, c.created_at),
                "_links": {"self": format!("{}/rest/api/content/{id}/history", cx.base)},
            });
            if h.has("lastUpdated") {
                o["lastUpdated"] = version(cx, c, c.latest(), &Expand::default());
            }
            if h.has("previousVersion")
                && let Some(p) = c.version(v.number.saturating_sub(1))
            {
                o["previousVersion"] = version(cx, c, p, &Expand::default());
            }
            if h.has("contributors") {
                let mut by: Vec<usize> = c.versions.iter().map(|x| x.by).collect();
                by.sort_unstable();
                by.dedup();
                let users: Vec<Value> = by.iter().map(|u| user(cx, *u)).collect();
                o["contributors"] = json!({"publishers": {"users": users, "userKeys": []}});
            }
            o
        },
        format!("/rest/api/content/{id}/history"),
    );
    put(
        "version",
        ex.has("version"),
        &|| version(cx, c, v, &ex.sub("version")),
        String::new(),
    );
    put(
        "ancestors",
        ex.has("ancestors"),
        &|| {
            let a: Vec<Value> = ancestor_ids(cx.st, c)
                .into_iter()
                .filter_map(|aid| cx.st.get(aid))
                .map(|a| content(cx, a, None, &ex.sub("ancestors"), false))
                .collect();
            Value::Array(a)
        },
        String::new(),
    );
    put(
        "container",
        ex.has("container"),
        &|| match c.container_id.and_then(|cid| cx.st.get(cid)) {
            Some(p) => content(cx, p, None, &ex.sub("container"), false),
            None => space(cx, c.space_id),
        },
        String::new(),
    );
    put(
        "body",
        ex.has("body"),
        &|| body(cx, &v.body, &ex.sub("body")),
        String::new(),
    );
    put(
        "children",
        ex.has("children"),
        &|| {
            let ch = ex.sub("children");
            let mut o = Map::new();
            let mut exp = Map::new();
            for kind in [Kind::Page, Kind::Comment, Kind::Attachment] {
                if ch.has(kind.as_str()) {
                    o.insert(
                        kind.as_str().into(),
                        child_array(cx, c, kind, &ch.sub(kind.as_str())),
                    );
                } else {
                    exp.insert(
                        kind.as_str().into(),
                        json!(format!("/rest/api/content/{id}/child/{}", kind.as_str())),
                    );
                }
            }
            o.insert("_expandable".into(), Value::Object(exp));
            Value::Object(o)
        },
        format!("/rest/api/content/{id}/child"),
    );
    put(
        "metadata",
        ex.has("metadata") || c.kind == Kind::Attachment,
        &|| {
            let labels: Vec<Value> = c
                .labels
                .iter()
                .enumerate()
                .map(|(i, l)| json!({"prefix": "global", "name": l, "id": (1000 + i).to_string(), "label": l}))
                .collect();
            let mut m = json!({"_expandable": {"properties": ""}});
            if ex.has("metadata.labels") {
                m["labels"] =
                    json!({"results": labels, "start": 0, "limit": 200, "size": labels.len()});
            }
            if let Some(a) = &c.attachment {
                m["mediaType"] = json!(a.media_type);
                m["comment"] = json!(a.comment);
            }
            m
        },
        String::new(),
    );
    let tiny = format!("/x/{}", tiny_code(c.id));
    let extensions = match (c.kind, &c.attachment) {
        (Kind::Comment, _) => json!({"location": "footer", "_expandable": {"resolution": ""}}),
        (Kind::Attachment, Some(a)) => {
            json!({"mediaType": a.media_type, "fileSize": a.size, "comment": a.comment})
        }
        _ => json!({"position": c.position}),
    };
    o.insert("extensions".into(), extensions);
    let mut links = json!({
        "webui": webui(cx.st, cx.flavor, c),
        "tinyui": tiny,
        "self": format!("{}/rest/api/content/{id}", cx.base),
    });
    match cx.flavor {
        Flavor::Cloud => {
            links["editui"] = json!(format!("/pages/resumedraft.action?draftId={id}"));
            let key = cx.st.space(c.space_id).map_or("", |s| s.key.as_str());
            links["edituiv2"] = json!(format!("/spaces/{key}/pages/edit-v2/{id}"));
        }
        Flavor::DataCenter => {
            links["edit"] = json!(format!("/pages/resumedraft.action?draftId={id}"));
        }
    }
    if c.kind == Kind::Attachment {
        links["download"] = json!(download(cx.flavor, c, v));
    }
    if site_links {
        links["base"] = json!(cx.base);
        links["context"] = json!(context_of(&cx.base));
        links["collection"] = json!("/rest/api/content");
    }
    o.insert("_links".into(), links);
    o.insert("_expandable".into(), Value::Object(expandable));
    Value::Object(o)
}

/// The context path of a base URL (`/wiki`, `/confluence`).
pub fn context_of(base: &str) -> String {
    url::Url::parse(base)
        .map(|u| u.path().trim_end_matches('/').to_owned())
        .unwrap_or_default()
}
