//! Authentication of API requests (docs §5). Cloud site: Basic `email:api_token` only (OAuth
//! Bearer tokens are rejected there). Cloud gateway (`/ex/confluence/{cloudId}/wiki`): Bearer
//! OAuth access tokens. DC: Bearer PAT, or Basic `username:password` (a PAT is not a Basic
//! password). Anything else: 401.

use super::{Flavor, S, errors};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mount {
    Site,
    Gateway,
}

pub fn basic(user: &str, secret: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{user}:{secret}")))
}

fn decode_basic(value: &str) -> Option<(String, String)> {
    let raw = STANDARD.decode(value.trim()).ok()?;
    let s = String::from_utf8(raw).ok()?;
    let (u, p) = s.split_once(':')?;
    Some((u.to_owned(), p.to_owned()))
}

fn authorized(shared: &S, mount: Mount, header: Option<&str>) -> bool {
    let Some(h) = header else { return false };
    let (scheme, value) = h.split_once(' ').unwrap_or((h, ""));
    let c = &shared.creds;
    match (shared.flavor, mount, scheme.to_ascii_lowercase().as_str()) {
        (Flavor::Cloud, Mount::Site, "basic") => {
            decode_basic(value).is_some_and(|(u, p)| u == c.cloud_email && p == c.cloud_api_token)
        }
        (Flavor::Cloud, Mount::Gateway, "bearer") => shared
            .oauth
            .lock()
            .map(|o| o.access_valid(value.trim()))
            .unwrap_or(false),
        (Flavor::DataCenter, _, "bearer") => value.trim() == c.dc_pat,
        (Flavor::DataCenter, _, "basic") => {
            decode_basic(value).is_some_and(|(u, p)| u == c.dc_username && p == c.dc_password)
        }
        _ => false,
    }
}

pub async fn require(
    State((shared, mount)): State<(S, Mount)>,
    request: Request<Body>,
    next: Next,
) -> Response {
    let header = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok());
    if authorized(&shared, mount, header) {
        return next.run(request).await;
    }
    let v2 = request.uri().path().contains("/api/v2/");
    errors::unauthorized(v2)
}
