//! OAuth 2.0 (3LO) as auth.atlassian.com does it (docs §5): `GET /authorize` (consents at
//! once and redirects with `code` and `state`), `POST /oauth/token` (JSON, or a form) with
//! `authorization_code` and `refresh_token` grants. Refresh tokens rotate: each refresh
//! returns a new one and the old one answers 403 `unauthorized_client`. Wrong client secret:
//! 401 `access_denied`. `GET /oauth/token/accessible-resources` lists the site; the access
//! token works on the gateway `/ex/confluence/{cloudId}/wiki/...`.

use super::{CLOUD_ID, S};
use axum::body::Bytes;
use axum::extract::{RawQuery, State as Ax};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};

const SCOPES: &str = "read:confluence-content.all read:confluence-space.summary search:confluence read:page:confluence read:space:confluence offline_access";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OAuthTokens {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: u64,
    pub scope: String,
    pub token_type: String,
}

#[derive(Default)]
pub struct OAuthServer {
    codes: HashMap<String, String>,
    access: HashMap<String, DateTime<Utc>>,
    refresh: HashSet<String>,
}

fn token(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::new_v4().simple())
}

impl OAuthServer {
    pub fn issue_code(&mut self, redirect_uri: &str) -> String {
        let code = token("code-");
        self.codes.insert(code.clone(), redirect_uri.to_owned());
        code
    }

    pub fn access_valid(&self, access: &str) -> bool {
        self.access.get(access).is_some_and(|exp| *exp > Utc::now())
    }

    fn issue(&mut self, ttl: u64) -> OAuthTokens {
        let access = token("eyJsandbox-access-");
        let refresh = token("eyJsandbox-refresh-");
        self.access.insert(
            access.clone(),
            Utc::now() + Duration::seconds(i64::try_from(ttl).unwrap_or(3600)),
        );
        self.refresh.insert(refresh.clone());
        OAuthTokens {
            access_token: access,
            refresh_token: refresh,
            expires_in: ttl,
            scope: SCOPES.into(),
            token_type: "Bearer".into(),
        }
    }
}

pub fn router() -> Router<S> {
    Router::new()
        .route("/authorize", get(authorize))
        .route("/oauth/token", post(token_endpoint))
        .route("/oauth/token/accessible-resources", get(resources))
        .route("/_edge/tenant_info", get(tenant_info))
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

async fn authorize(Ax(sh): Ax<S>, RawQuery(raw): RawQuery) -> Response {
    let q = super::paging::Query::parse(raw.as_deref());
    if q.get("client_id") != Some(sh.creds.oauth_client_id.as_str())
        || q.get("response_type") != Some("code")
    {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "unknown client_id or response_type",
        );
    }
    let Some(redirect) = q.get("redirect_uri") else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "redirect_uri is required",
        );
    };
    let code = match sh.oauth.lock() {
        Ok(mut o) => o.issue_code(redirect),
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    let mut to = url::Url::parse(redirect).map_or_else(|_| redirect.to_owned(), |u| u.to_string());
    to.push(if to.contains('?') { '&' } else { '?' });
    let mut s = form_urlencoded::Serializer::new(String::new());
    s.append_pair("code", &code);
    if let Some(state) = q.get("state") {
        s.append_pair("state", state);
    }
    to.push_str(&s.finish());
    (StatusCode::FOUND, [(header::LOCATION, to)]).into_response()
}

fn parse_body(headers: &HeaderMap, body: &Bytes) -> Value {
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if form {
        let m: serde_json::Map<String, Value> = form_urlencoded::parse(body)
            .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
            .collect();
        Value::Object(m)
    } else {
        serde_json::from_slice(body).unwrap_or(Value::Null)
    }
}

async fn token_endpoint(Ax(sh): Ax<S>, headers: HeaderMap, body: Bytes) -> Response {
    let b = parse_body(&headers, &body);
    let field = |k: &str| b[k].as_str().unwrap_or("").to_owned();
    if field("client_id") != sh.creds.oauth_client_id
        || field("client_secret") != sh.creds.oauth_client_secret
    {
        return oauth_error(StatusCode::UNAUTHORIZED, "access_denied", "Unauthorized");
    }
    let ttl = sh.knobs().oauth_access_ttl_secs;
    let Ok(mut o) = sh.oauth.lock() else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    match field("grant_type").as_str() {
        "authorization_code" => match o.codes.remove(&field("code")) {
            Some(redirect) if redirect == field("redirect_uri") => {
                Json(o.issue(ttl)).into_response()
            }
            _ => oauth_error(
                StatusCode::FORBIDDEN,
                "invalid_grant",
                "Invalid authorization code",
            ),
        },
        "refresh_token" => {
            if o.refresh.remove(&field("refresh_token")) {
                Json(o.issue(ttl)).into_response()
            } else {
                oauth_error(
                    StatusCode::FORBIDDEN,
                    "unauthorized_client",
                    "refresh_token is invalid",
                )
            }
        }
        other => oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            &format!("grant type {other:?} is not supported"),
        ),
    }
}

async fn resources(Ax(sh): Ax<S>, headers: HeaderMap) -> Response {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let valid = sh
        .oauth
        .lock()
        .map(|o| o.access_valid(bearer))
        .unwrap_or(false);
    if !valid {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"code": 401, "message": "Unauthorized"})),
        )
            .into_response();
    }
    Json(json!([{
        "id": CLOUD_ID,
        "name": "sandbox",
        "url": sh.root(),
        "scopes": SCOPES.split(' ').collect::<Vec<_>>(),
        "avatarUrl": "https://site-admin-avatar-cdn.prod.public.atl-paas.net/avatars/240/site.png",
    }]))
    .into_response()
}

async fn tenant_info() -> Response {
    Json(json!({"cloudId": CLOUD_ID})).into_response()
}
