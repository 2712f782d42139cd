//! `/b24/install`: the install page Bitrix24 opens (POST, in an iframe) when an admin installs
//! the app. It only finishes the installation in the browser (`BX24.installFinish()`); the
//! portal and its tokens are stored from the `ONAPPINSTALL` event that follows, which carries
//! the `application_token` that proves later events. The page's own POST carries no such
//! proof, so nothing it says is stored.

use axum::http::header;
use axum::response::{IntoResponse, Response};

const PAGE: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>Confluence bridge</title>
<script src="https://api.bitrix24.com/api/v1/"></script></head>
<body><p>Installing the Confluence bridge…</p>
<script>BX24.init(function () { BX24.installFinish(); });</script>
</body></html>"#;

pub async fn page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            // Bitrix24 shows the page in an iframe: no X-Frame-Options.
            (header::CACHE_CONTROL, "no-store"),
        ],
        PAGE,
    )
        .into_response()
}
