//! Knowledge Base 2.0 (`note.*`, REST 3.0 only, OAuth scope `note`): collections of Markdown
//! documents with a native parent/child tree, and files attached to documents.

use super::B24Client;
use super::codes;
use super::error::B24Error;
use super::http::{number, text};
use super::v3::{item, items};
use base64::Engine;
use bridge_core::ErrorClass;
use serde_json::{Value, json};

/// What `note.file.add` accepts (case-insensitive); anything else is `NOTE_FILE_TYPE_NOT_ALLOWED`.
pub const NOTE_FILE_EXTENSIONS: &[&str] = &[
    "png", "jpg", "jpeg", "gif", "webp", "svg", "pdf", "txt", "md", "csv", "doc", "docx", "xls",
    "xlsx", "ppt", "pptx", "mp4", "webm", "mov",
];

/// Collections per `note.collection.list` page (the documented maximum).
const COLLECTION_PAGE: u32 = 200;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteDocument {
    pub id: u64,
    pub collection_id: u64,
    pub parent_id: Option<u64>,
    pub title: String,
}

/// A file attached to a document. It shows in the document only once `asset_markdown` is
/// put on a line of its own in the document's Markdown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteFile {
    pub id: u64,
    pub name: String,
    /// `[[image fileId=N]]`, `[[video fileId=N]]` or `[[file fileId=N]]`.
    pub asset_markdown: String,
}

fn document(method: &str, v: Option<&Value>) -> Result<NoteDocument, B24Error> {
    let v = v.ok_or_else(|| decode(method, "no result.item"))?;
    Ok(NoteDocument {
        id: v
            .get("id")
            .and_then(number)
            .ok_or_else(|| decode(method, "no item id"))?,
        // Null for a document outside any collection (direct access).
        collection_id: v.get("collectionId").and_then(number).unwrap_or(0),
        parent_id: v.get("parentId").and_then(number).filter(|p| *p > 0),
        title: v.get("title").map(text).unwrap_or_default(),
    })
}

fn decode(method: &str, reason: &str) -> B24Error {
    B24Error::Decode {
        method: method.to_owned(),
        status: 200,
        reason: reason.to_owned(),
    }
}

fn is_not_found(e: &B24Error) -> bool {
    e.is_code(codes::V3_ENTITY_NOT_FOUND)
}

/// Whether `file_name` has an extension `note.file.add` takes.
pub fn note_file_allowed(file_name: &str) -> bool {
    file_name
        .rsplit_once('.')
        .filter(|(stem, _)| !stem.is_empty())
        .is_some_and(|(_, ext)| {
            NOTE_FILE_EXTENSIONS
                .iter()
                .any(|a| a.eq_ignore_ascii_case(ext))
        })
}

impl B24Client {
    /// Whether this portal has Knowledge Base 2.0 and lets this app use it.
    ///
    /// Asks `rest.documentation.openapi` whether `note.document.add` is served (the documented
    /// probe), then confirms with a one-item `note.collection.list`: a portal without REST 3.0
    /// or without `note.*` answers `ERROR_METHOD_NOT_FOUND` (404), and an app without the
    /// `note` scope or a user without access to the module gets a 403 — all "not available"
    /// (the mirror then uses the classic KB). Other failures are errors (retry later).
    pub async fn kb2_available(&self) -> Result<bool, B24Error> {
        let not_available = |e: &B24Error| {
            e.is_code(codes::METHOD_NOT_FOUND)
                || matches!(e.status(), Some(403 | 404))
                || e.is_code(codes::V3_INSUFFICIENT_SCOPE)
                || e.is_code(codes::V3_ACCESS_DENIED)
                || e.is_code("insufficient_scope")
        };
        match self
            .call_v3("rest.documentation.openapi", json!({}), None)
            .await
        {
            Ok(doc) => {
                if let Some(paths) = doc.get("paths").and_then(Value::as_object) {
                    let listed = paths.keys().any(|p| {
                        p.trim_start_matches('/')
                            .eq_ignore_ascii_case("note.document.add")
                    });
                    if !listed {
                        return Ok(false);
                    }
                }
            }
            // No OpenAPI on this portal: the method probe alone decides.
            Err(e) if e.class() == ErrorClass::Permanent => {}
            Err(e) => return Err(e),
        }
        match self
            .call_v3(
                "note.collection.list",
                json!({"pagination": {"limit": 1}}),
                None,
            )
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if not_available(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The id of the (non-archived) collection named `name`, created when there is none.
    /// Concurrent callers passing one `idempotency_key` get the same collection (the second
    /// add is replayed) instead of two of the same name.
    pub async fn kb2_ensure_collection(
        &self,
        name: &str,
        idempotency_key: Option<&str>,
    ) -> Result<u64, B24Error> {
        let mut cursor: Option<Value> = None;
        for _ in 0..10_000 {
            let mut pagination = json!({"limit": COLLECTION_PAGE});
            if let Some(c) = &cursor {
                pagination["afterCursor"] = c.clone();
            }
            let page = self
                .call_v3(
                    "note.collection.list",
                    json!({"pagination": pagination}),
                    None,
                )
                .await?;
            if let Some(id) = items(&page)
                .iter()
                .find(|c| c.get("name").map(text).as_deref() == Some(name))
                .and_then(|c| c.get("id").and_then(number))
            {
                return Ok(id);
            }
            match page.get("nextCursor").filter(|c| c.is_object()) {
                Some(next) if Some(next) != cursor.as_ref() => cursor = Some(next.clone()),
                _ => break,
            }
        }
        let added = self
            .call_v3(
                "note.collection.add",
                json!({"fields": {"name": name}}),
                idempotency_key,
            )
            .await?;
        item(&added)
            .and_then(|c| c.get("id").and_then(number))
            .ok_or_else(|| decode("note.collection.add", "no item id"))
    }

    /// A new document in `collection` (under `parent`, or at the top). `idempotency_key`
    /// makes a repeat of the same add (lost answer, crash, redelivery) return the first
    /// document instead of creating a second one.
    pub async fn kb2_add_document(
        &self,
        collection: u64,
        parent: Option<u64>,
        title: &str,
        markdown: &str,
        idempotency_key: &str,
    ) -> Result<NoteDocument, B24Error> {
        let mut fields = json!({"collectionId": collection, "title": title, "markdown": markdown});
        if let Some(p) = parent {
            fields["parentId"] = json!(p);
        }
        let r = self
            .call_v3(
                "note.document.add",
                json!({"fields": fields}),
                Some(idempotency_key),
            )
            .await?;
        let mut doc = document("note.document.add", item(&r))?;
        if doc.collection_id == 0 {
            doc.collection_id = collection;
        }
        Ok(doc)
    }

    /// Changes the title and/or the Markdown (nothing given: nothing to do). Someone's unsaved
    /// edits in the B24 editor are overwritten: the mirror is the source of truth.
    pub async fn kb2_update_document(
        &self,
        id: u64,
        title: Option<&str>,
        markdown: Option<&str>,
    ) -> Result<(), B24Error> {
        let mut fields = serde_json::Map::new();
        if let Some(t) = title {
            fields.insert("title".into(), json!(t));
        }
        if let Some(m) = markdown {
            fields.insert("markdown".into(), json!(m));
        }
        if fields.is_empty() {
            return Ok(());
        }
        let params = json!({"id": id, "fields": fields});
        match self
            .call_v3("note.document.update", params.clone(), None)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.is_code(codes::NOTE_DOCUMENT_HAS_UNSAVED_CHANGES) => {
                let mut forced = params;
                forced["overwrite"] = json!(true);
                self.call_v3("note.document.update", forced, None).await?;
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// The document, or `None` when it does not exist (or is archived or in the trash).
    pub async fn kb2_get_document(&self, id: u64) -> Result<Option<NoteDocument>, B24Error> {
        match self
            .call_v3("note.document.get", json!({"id": id}), None)
            .await
        {
            Ok(r) => {
                let gone = |k: &str| item(&r).and_then(|i| i.get(k)) == Some(&json!(true));
                if gone("isArchived") || gone("isTrashed") {
                    return Ok(None);
                }
                document("note.document.get", item(&r)).map(Some)
            }
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Archives the document and its subtree; one already gone counts as archived.
    pub async fn kb2_archive_document(&self, id: u64) -> Result<(), B24Error> {
        match self
            .call_v3("note.document.archive", json!({"id": id}), None)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Deletes (to the trash) the document and its subtree; one already gone counts as
    /// deleted, so a replayed delete does no harm.
    pub async fn kb2_delete_document(&self, id: u64) -> Result<(), B24Error> {
        match self
            .call_v3("note.document.delete", json!({"id": id}), None)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Attaches a file to `document`. Names without an allowed extension
    /// ([`NOTE_FILE_EXTENSIONS`]) and empty files are refused before any request (B24 would
    /// refuse them for good). The size limit is the portal's setting (25 MiB by default) and
    /// is left to B24 (`NOTE_FILE_TOO_LARGE`, permanent).
    pub async fn kb2_add_file(
        &self,
        document: u64,
        file_name: &str,
        bytes: &[u8],
    ) -> Result<NoteFile, B24Error> {
        if !note_file_allowed(file_name) {
            return Err(B24Error::Invalid(format!(
                "note.file.add: {file_name:?} has no extension Knowledge Base 2.0 accepts ({})",
                NOTE_FILE_EXTENSIONS.join(", ")
            )));
        }
        if bytes.is_empty() {
            return Err(B24Error::Invalid(format!(
                "note.file.add: {file_name:?} is empty"
            )));
        }
        let content = base64::engine::general_purpose::STANDARD.encode(bytes);
        let r = self
            .call_v3(
                "note.file.add",
                json!({"documentId": document, "fileName": file_name, "fileContent": content}),
                None,
            )
            .await?;
        let f = item(&r).ok_or_else(|| decode("note.file.add", "no result.item"))?;
        let id = f
            .get("id")
            .and_then(number)
            .ok_or_else(|| decode("note.file.add", "no item id"))?;
        let asset_markdown = f
            .get("assetMarkdown")
            .map(text)
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| {
                // The documented `[[<assetType> fileId=<id>]]`.
                let kind = f
                    .get("assetType")
                    .map(text)
                    .filter(|k| !k.is_empty())
                    .unwrap_or_else(|| "file".into());
                format!("[[{kind} fileId={id}]]")
            });
        Ok(NoteFile {
            id,
            name: f
                .get("name")
                .map(text)
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| file_name.to_owned()),
            asset_markdown,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions() {
        for ok in ["a.png", "A.PNG", "report.final.docx", "clip.MoV"] {
            assert!(note_file_allowed(ok), "{ok}");
        }
        for bad in ["a.exe", "png", ".png", "a.", "a.tar.gz", ""] {
            assert!(!note_file_allowed(bad), "{bad}");
        }
    }
}
