//! Knowledge Base 2.0 (REST 3.0 only): `note.collection.*`, `note.document.*` — Markdown
//! documents (≤ 1,048,576 bytes) in a native parent/child tree within a collection — and
//! `note.file.*`, files attached to a document (shown once their `assetMarkdown` is put in
//! the document's Markdown).

use crate::b24::context::{Ctx, Reply};
use crate::b24::errors::{ApiError, ApiResult};
use crate::b24::params::{get, get_int, get_str, is_yes};
use crate::b24::state::{Collection, Document, NoteFile, now_iso};
use base64::Engine;
use serde_json::{Value, json};

pub const MAX_MARKDOWN: usize = 1_048_576;

fn note_error(code: &str, msg: &str) -> ApiError {
    ApiError::bad(code, msg)
}

/// `fields` with only `allowed` keys (others: UNKNOWNDTOPROPERTYEXCEPTION).
fn fields(p: &Value, allowed: &[&str]) -> ApiResult<Value> {
    let f = get(p, "fields").cloned().unwrap_or(json!({}));
    let unknown = f
        .as_object()
        .and_then(|m| m.keys().find(|k| !allowed.contains(&k.as_str())));
    if let Some(k) = unknown {
        return Err(ApiError::bad(
            "BITRIX_REST_V3_EXCEPTION_UNKNOWNDTOPROPERTYEXCEPTION",
            format!("Unknown property '{k}'"),
        ));
    }
    Ok(f)
}

fn title_ok(field: &str, s: &str) -> ApiResult<()> {
    if s.trim().is_empty() {
        return Err(ApiError::validation(field, "Required field"));
    }
    if s.chars().count() > 255 {
        return Err(ApiError::validation(
            field,
            "Must be at most 255 characters",
        ));
    }
    Ok(())
}

fn id(p: &Value) -> ApiResult<u64> {
    get_int(p, "id")
        .and_then(|i| u64::try_from(i).ok())
        .ok_or_else(|| ApiError::validation("id", "Required field"))
}

fn collection_json(c: &Collection) -> Value {
    json!({"id": c.id, "name": c.name, "position": c.position, "policyLevel": "edit",
           "createdBy": c.created_by, "createdAt": c.created_at, "updatedBy": c.updated_by, "updatedAt": c.updated_at})
}

fn document_json(d: &Document, with_markdown: bool) -> Value {
    let mut j = json!({"id": d.id, "collectionId": d.collection_id, "parentId": d.parent_id, "title": d.title,
                       "position": d.position, "createdBy": d.created_by, "createdAt": d.created_at,
                       "updatedBy": d.updated_by, "updatedAt": d.updated_at});
    if with_markdown {
        j["markdown"] = json!(d.markdown);
    }
    j
}

fn item(v: Value) -> ApiResult<Reply> {
    Ok(Reply::of(json!({"item": v})))
}

fn ok() -> ApiResult<Reply> {
    Ok(Reply::of(json!({"result": true})))
}

fn collection(ctx: &Ctx, id: u64) -> ApiResult<Collection> {
    ctx.portal
        .collections
        .get(&id)
        .cloned()
        .ok_or_else(|| ApiError::entity_not_found("Collection"))
}

pub fn collection_add(ctx: &mut Ctx, p: &Value) -> ApiResult<Reply> {
    let f = fields(p, &["name", "position"])?;
    let name = get_str(&f, "name").unwrap_or_default();
    title_ok("name", &name)?;
    let id = ctx.portal.next("collection");
    let now = now_iso();
    let c = Collection {
        id,
        name,
        position: get_int(&f, "position").unwrap_or(i64::try_from(id).unwrap_or(0) * 100),
        created_by: ctx.caller.user_id,
        created_at: now.clone(),
        updated_by: ctx.caller.user_id,
        updated_at: now,
        archived: false,
    };
    let j = collection_json(&c);
    ctx.portal.collections.insert(id, c);
    item(j)
}

pub fn collection_list(ctx: &mut Ctx, p: &Value) -> ApiResult<Reply> {
    let pag = get(p, "pagination").cloned().unwrap_or(json!({}));
    let limit = get_int(&pag, "limit").unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::validation(
            "pagination.limit",
            "Must be between 1 and 200",
        ));
    }
    let after = get(&pag, "afterCursor").map(|c| {
        (
            get_int(c, "position").unwrap_or(0),
            get_int(c, "id").unwrap_or(0),
        )
    });
    let mut all: Vec<&Collection> = ctx
        .portal
        .collections
        .values()
        .filter(|c| !c.archived)
        .collect();
    all.sort_by_key(|c| (c.position, c.id));
    let rest: Vec<&&Collection> = all
        .iter()
        .filter(|c| {
            after.is_none_or(|(pos, id)| (c.position, i64::try_from(c.id).unwrap_or(0)) > (pos, id))
        })
        .collect();
    let n = usize::try_from(limit).unwrap_or(50);
    let page: Vec<Value> = rest.iter().take(n).map(|c| collection_json(c)).collect();
    let next = (rest.len() > n)
        .then(|| rest[n - 1])
        .map(|c| json!({"position": c.position, "id": c.id}));
    Ok(Reply::of(json!({"items": page, "nextCursor": next})))
}

pub fn collection_get(ctx: &mut Ctx, p: &Value) -> ApiResult<Reply> {
    let c = collection(ctx, id(p)?)?;
    item(collection_json(&c))
}

pub fn collection_update(ctx: &mut Ctx, p: &Value) -> ApiResult<Reply> {
    let cid = id(p)?;
    collection(ctx, cid)?;
    let f = fields(p, &["name", "position"])?;
    let name = get_str(&f, "name");
    if let Some(n) = &name {
        title_ok("name", n)?;
    }
    let user = ctx.caller.user_id;
    let c = ctx
        .portal
        .collections
        .get_mut(&cid)
        .ok_or_else(|| ApiError::entity_not_found("Collection"))?;
    if let Some(n) = name {
        c.name = n;
    }
    if let Some(pos) = get_int(&f, "position") {
        c.position = pos;
    }
    c.updated_by = user;
    c.updated_at = now_iso();
    item(collection_json(c))
}

pub fn collection_archive(ctx: &mut Ctx, p: &Value) -> ApiResult<Reply> {
    let cid = id(p)?;
    collection(ctx, cid)?;
    if let Some(c) = ctx.portal.collections.get_mut(&cid) {
        c.archived = true;
    }
    ok()
}

pub fn collection_delete(ctx: &mut Ctx, p: &Value) -> ApiResult<Reply> {
    let cid = id(p)?;
    collection(ctx, cid)?;
    ctx.portal.collections.remove(&cid);
    ctx.portal.documents.retain(|_, d| d.collection_id != cid);
    ok()
}

fn markdown_ok(md: &str) -> ApiResult<()> {
    if md.len() > MAX_MARKDOWN {
        return Err(note_error(
            "NOTE_MARKDOWN_TOO_LARGE",
            "Markdown is larger than 1048576 bytes",
        ));
    }
    Ok(())
}

pub fn document_add(ctx: &mut Ctx, p: &Value) -> ApiResult<Reply> {
    let f = fields(p, &["collectionId", "title", "parentId", "markdown"])?;
    let Some(cid) = get_int(&f, "collectionId").and_then(|i| u64::try_from(i).ok()) else {
        return Err(ApiError::validation("collectionId", "Required field"));
    };
    let title = get_str(&f, "title").unwrap_or_default();
    title_ok("title", &title)?;
    collection(ctx, cid)?;
    let parent = get_int(&f, "parentId")
        .and_then(|i| u64::try_from(i).ok())
        .filter(|x| *x > 0);
    let parent_ok = |pid: u64| {
        ctx.portal
            .documents
            .get(&pid)
            .is_some_and(|d| d.collection_id == cid && !d.archived)
    };
    if parent.is_some_and(|pid| !parent_ok(pid)) {
        return Err(note_error(
            "NOTE_INVALID_PARENT",
            "Parent document must exist in the same collection",
        ));
    }
    let markdown = get_str(&f, "markdown").unwrap_or_default();
    markdown_ok(&markdown)?;
    let position = ctx
        .portal
        .documents
        .values()
        .filter(|d| d.collection_id == cid && d.parent_id == parent)
        .count();
    let id = ctx.portal.next("document");
    let now = now_iso();
    let d = Document {
        id,
        collection_id: cid,
        parent_id: parent,
        title,
        markdown,
        position: i64::try_from(position).unwrap_or(0),
        created_by: ctx.caller.user_id,
        created_at: now.clone(),
        updated_by: ctx.caller.user_id,
        updated_at: now,
        archived: false,
        being_edited: false,
    };
    let j = document_json(&d, true);
    ctx.portal.documents.insert(id, d);
    item(j)
}

fn document(ctx: &Ctx, id: u64) -> ApiResult<Document> {
    ctx.portal
        .documents
        .get(&id)
        .filter(|d| !d.archived)
        .cloned()
        .ok_or_else(|| ApiError::entity_not_found("Document"))
}

pub fn document_get(ctx: &mut Ctx, p: &Value) -> ApiResult<Reply> {
    let d = document(ctx, id(p)?)?;
    item(document_json(&d, true))
}

pub fn document_update(ctx: &mut Ctx, p: &Value) -> ApiResult<Reply> {
    let did = id(p)?;
    let editing = document(ctx, did)?.being_edited;
    let f = fields(p, &["title", "markdown"])?;
    let title = get_str(&f, "title");
    let markdown = get_str(&f, "markdown");
    if title.is_none() && markdown.is_none() {
        return Err(note_error("NOTE_EMPTY_UPDATE", "Nothing to update"));
    }
    if let Some(t) = &title {
        title_ok("title", t)?;
    }
    if let Some(m) = &markdown {
        markdown_ok(m)?;
    }
    if editing && !is_yes(get(p, "overwrite")) {
        return Err(note_error(
            "NOTE_DOCUMENT_HAS_UNSAVED_CHANGES",
            "The document has unsaved changes; repeat with overwrite=true",
        ));
    }
    let user = ctx.caller.user_id;
    let d = ctx
        .portal
        .documents
        .get_mut(&did)
        .ok_or_else(|| ApiError::entity_not_found("Document"))?;
    if let Some(t) = title {
        d.title = t;
    }
    if let Some(m) = markdown {
        d.markdown = m;
    }
    d.being_edited = false;
    d.updated_by = user;
    d.updated_at = now_iso();
    item(document_json(d, true))
}

fn subtree(ctx: &Ctx, root: u64) -> Vec<u64> {
    let mut out = vec![root];
    let mut i = 0;
    while i < out.len() {
        let cur = out[i];
        out.extend(
            ctx.portal
                .documents
                .values()
                .filter(|d| d.parent_id == Some(cur))
                .map(|d| d.id),
        );
        i += 1;
    }
    out
}

fn tree(ctx: &Ctx, cid: u64, parent: Option<u64>, budget: &mut usize) -> Vec<Value> {
    let mut kids: Vec<&Document> = ctx
        .portal
        .documents
        .values()
        .filter(|d| d.collection_id == cid && d.parent_id == parent && !d.archived)
        .collect();
    kids.sort_by_key(|d| (d.position, d.id));
    let mut out = Vec::new();
    for d in kids {
        if *budget == 0 {
            break;
        }
        *budget -= 1;
        let mut j = document_json(d, false);
        j["children"] = Value::Array(tree(ctx, cid, Some(d.id), budget));
        out.push(j);
    }
    out
}

pub fn document_tree_list(ctx: &mut Ctx, p: &Value) -> ApiResult<Reply> {
    let Some(cid) = get_int(p, "collectionId").and_then(|i| u64::try_from(i).ok()) else {
        return Err(ApiError::validation("collectionId", "Required field"));
    };
    collection(ctx, cid)?;
    let mut budget = 5000;
    let items = tree(ctx, cid, None, &mut budget);
    Ok(Reply::of(json!({"items": items, "truncated": budget == 0})))
}

pub fn document_search_list(ctx: &mut Ctx, p: &Value) -> ApiResult<Reply> {
    let query = get_str(p, "query").unwrap_or_default();
    let n = query.chars().count();
    if !(3..=200).contains(&n) {
        return Err(ApiError::validation("query", "Must be 3 to 200 characters"));
    }
    let limit = get(p, "pagination")
        .and_then(|x| get_int(x, "limit"))
        .unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::validation(
            "pagination.limit",
            "Must be between 1 and 200",
        ));
    }
    let q = query.to_lowercase();
    let hits: Vec<Value> = ctx
        .portal
        .documents
        .values()
        .filter(|d| {
            !d.archived
                && (d.title.to_lowercase().contains(&q) || d.markdown.to_lowercase().contains(&q))
        })
        .map(|d| document_json(d, false))
        .collect();
    let n = usize::try_from(limit).unwrap_or(50);
    Ok(Reply::of(
        json!({"items": hits.iter().take(n).collect::<Vec<_>>(), "hasMore": hits.len() > n}),
    ))
}

pub fn document_archive(ctx: &mut Ctx, p: &Value) -> ApiResult<Reply> {
    let did = id(p)?;
    document(ctx, did)?;
    for x in subtree(ctx, did) {
        if let Some(d) = ctx.portal.documents.get_mut(&x) {
            d.archived = true;
        }
    }
    ok()
}

pub fn document_delete(ctx: &mut Ctx, p: &Value) -> ApiResult<Reply> {
    let did = id(p)?;
    ctx.portal
        .documents
        .get(&did)
        .ok_or_else(|| ApiError::entity_not_found("Document"))?;
    for x in subtree(ctx, did) {
        ctx.portal.documents.remove(&x);
        ctx.portal.note_files.retain(|_, f| f.document_id != x);
    }
    ok()
}

/// The extensions `note.file.add` takes, with the MIME type the fake stores them as.
const FILE_TYPES: &[(&str, &str)] = &[
    ("png", "image/png"),
    ("jpg", "image/jpeg"),
    ("jpeg", "image/jpeg"),
    ("gif", "image/gif"),
    ("webp", "image/webp"),
    ("svg", "image/svg+xml"),
    ("pdf", "application/pdf"),
    ("txt", "text/plain"),
    ("md", "text/markdown"),
    ("csv", "text/csv"),
    ("doc", "application/msword"),
    (
        "docx",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ),
    ("xls", "application/vnd.ms-excel"),
    (
        "xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ),
    ("ppt", "application/vnd.ms-powerpoint"),
    (
        "pptx",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ),
    ("mp4", "video/mp4"),
    ("webm", "video/webm"),
    ("mov", "video/quicktime"),
];

fn file_json(f: &NoteFile) -> Value {
    json!({"id": f.id, "documentId": f.document_id, "name": f.name, "size": f.size,
           "mimeType": f.mime_type, "assetType": f.asset_type, "assetMarkdown": f.asset_markdown()})
}

fn required_id(p: &Value, field: &str) -> ApiResult<u64> {
    get_int(p, field)
        .and_then(|i| u64::try_from(i).ok())
        .ok_or_else(|| {
            ApiError::validation(field, &format!("Required field `{field}` is not specified"))
        })
}

pub fn file_add(ctx: &mut Ctx, p: &Value) -> ApiResult<Reply> {
    let did = required_id(p, "documentId")?;
    let name = get_str(p, "fileName")
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| {
            ApiError::validation("fileName", "Required field `fileName` is not specified")
        })?;
    let content = get_str(p, "fileContent")
        .filter(|c| !c.is_empty())
        .ok_or_else(|| {
            ApiError::validation(
                "fileContent",
                "Required field `fileContent` is not specified",
            )
        })?;
    document(ctx, did)?;
    let mime = name
        .rsplit_once('.')
        .filter(|(stem, _)| !stem.is_empty())
        .and_then(|(_, ext)| FILE_TYPES.iter().find(|(e, _)| e.eq_ignore_ascii_case(ext)))
        .map(|(_, m)| *m);
    let Some(mime) = mime else {
        let mut e = ApiError::bad("NOTE_FILE_TYPE_NOT_ALLOWED", "File type is not supported");
        e.validation
            .push(("fileName".into(), "File type is not supported".into()));
        return Err(e);
    };
    // Plain base64, no `data:` prefix; the limit applies to the decoded bytes.
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(content.trim())
        .ok()
        .filter(|b| !b.is_empty())
        .ok_or_else(|| ApiError::validation("fileContent", "Incorrect Base64 content provided"))?;
    if bytes.len() as u64 > ctx.world.knobs.note_max_file_size {
        let mut e = ApiError::bad("NOTE_FILE_TOO_LARGE", "File size exceeds the allowed value");
        e.validation.push((
            "fileContent".into(),
            "File size exceeds the allowed value".into(),
        ));
        return Err(e);
    }
    let asset_type = match mime.split('/').next() {
        Some("image") => "image",
        Some("video") => "video",
        _ => "file",
    };
    let id = ctx.portal.next("note_file");
    let f = NoteFile {
        id,
        document_id: did,
        name,
        size: bytes.len(),
        mime_type: mime.to_owned(),
        asset_type: asset_type.to_owned(),
        created_by: ctx.caller.user_id,
        bytes,
    };
    let j = file_json(&f);
    ctx.portal.note_files.insert(id, f);
    item(j)
}

pub fn file_get(ctx: &mut Ctx, p: &Value) -> ApiResult<Reply> {
    let fid = required_id(p, "id")?;
    let did = required_id(p, "documentId")?;
    document(ctx, did)?;
    let f = ctx
        .portal
        .note_files
        .get(&fid)
        .filter(|f| f.document_id == did)
        .ok_or_else(|| ApiError::entity_not_found("File"))?;
    item(file_json(f))
}
