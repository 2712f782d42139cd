//! Vendor error codes the typed helpers and their callers branch on, for
//! [`B24Error::is_code`](super::B24Error::is_code). Spelled as Bitrix24 sends them.

/// Unknown method (classic and REST 3.0, HTTP 404); a REST 3.0-only method called on a
/// portal that does not have it.
pub const METHOD_NOT_FOUND: &str = "ERROR_METHOD_NOT_FOUND";

/// REST 3.0: a required field missing or of the wrong type (400).
pub const V3_VALIDATION: &str = "BITRIX_REST_V3_EXCEPTION_VALIDATION_REQUESTVALIDATIONEXCEPTION";
/// REST 3.0: no object with that id — answered with 400, not 404.
pub const V3_ENTITY_NOT_FOUND: &str = "BITRIX_REST_V3_EXCEPTION_ENTITYNOTFOUNDEXCEPTION";
/// REST 3.0: the user may not touch the object (403).
pub const V3_ACCESS_DENIED: &str = "BITRIX_REST_V3_EXCEPTION_ACCESSDENIEDEXCEPTION";
/// REST 3.0: the app or webhook lacks the method's scope (403).
pub const V3_INSUFFICIENT_SCOPE: &str = "BITRIX_REST_V3_EXCEPTION_INSUFFICIENTSCOPEEXCEPTION";
/// REST 3.0: an `Idempotency-Key` reused with another body (422).
pub const V3_IDEMPOTENCY_KEY_REUSED: &str =
    "BITRIX_REST_V3_EXCEPTION_IDEMPOTENCYKEYREUSEDEXCEPTION";
/// REST 3.0: an `Idempotency-Key` that is not 1–255 printable ASCII characters (400).
pub const V3_INVALID_IDEMPOTENCY_KEY: &str =
    "BITRIX_REST_V3_EXCEPTION_INVALIDIDEMPOTENCYKEYEXCEPTION";

/// KB 2.0: someone has the document open with unsaved edits; repeat with `overwrite=true`.
pub const NOTE_DOCUMENT_HAS_UNSAVED_CHANGES: &str = "NOTE_DOCUMENT_HAS_UNSAVED_CHANGES";
pub const NOTE_INVALID_PARENT: &str = "NOTE_INVALID_PARENT";
pub const NOTE_MARKDOWN_TOO_LARGE: &str = "NOTE_MARKDOWN_TOO_LARGE";
pub const NOTE_EMPTY_UPDATE: &str = "NOTE_EMPTY_UPDATE";
pub const NOTE_FILE_TOO_LARGE: &str = "NOTE_FILE_TOO_LARGE";
pub const NOTE_FILE_TYPE_NOT_ALLOWED: &str = "NOTE_FILE_TYPE_NOT_ALLOWED";

/// Classic KB: a folder with that CODE already exists under the same parent.
pub const FOLDER_IS_NOT_UNIQUE: &str = "FOLDER_IS_NOT_UNIQUE";
/// Classic KB: the target folder of a move is missing or on another site.
pub const FOLDER_NOT_FOUND: &str = "FOLDER_NOT_FOUND";
pub const LANDING_NOT_EXIST: &str = "LANDING_NOT_EXIST";

/// Disk: an object with that name already exists in the folder.
pub const DISK_NON_UNIQUE_NAME: &str = "DISK_OBJ_22000";
