//! The OAuth server (what oauth.bitrix.info does): `/oauth/authorize/` and `/oauth/token/`
//! with the authorization_code and refresh_token grants. Access tokens expire after the
//! `token_ttl_secs` knob (3600); refresh tokens live 180 days and are single-use: a refresh
//! returns a new pair and the used refresh token is gone (`invalid_grant` when reused).

use super::context::{AuthKind, Caller};
use super::errors::{ApiError, ApiResult};
use super::params;
use super::server::Shared;
use super::state::{AccessToken, AuthCode, RefreshToken, World, random_token};
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{Duration, Utc};
use serde_json::{Value, json};

#[derive(Clone, Debug)]
pub struct TokenSet {
    pub access_token: String,
    pub refresh_token: String,
    pub expires: i64,
    pub expires_in: u64,
}

/// Issues a fresh access/refresh pair.
pub fn issue(
    world: &mut World,
    member_id: &str,
    client_id: &str,
    user_id: u64,
    scopes: &[String],
) -> TokenSet {
    let ttl = world.knobs.token_ttl_secs;
    let expires_at = Utc::now() + Duration::seconds(i64::try_from(ttl).unwrap_or(3600));
    let access_token = random_token(40);
    let refresh_token = random_token(40);
    world.access.insert(
        access_token.clone(),
        AccessToken {
            token: access_token.clone(),
            member_id: member_id.into(),
            client_id: client_id.into(),
            user_id,
            scopes: scopes.to_vec(),
            expires_at,
        },
    );
    world.refresh.insert(
        refresh_token.clone(),
        RefreshToken {
            token: refresh_token.clone(),
            member_id: member_id.into(),
            client_id: client_id.into(),
            user_id,
            scopes: scopes.to_vec(),
            expires_at: Utc::now() + Duration::days(180),
        },
    );
    TokenSet {
        access_token,
        refresh_token,
        expires: expires_at.timestamp(),
        expires_in: ttl,
    }
}

/// The caller behind an access token: 401 `NO_AUTH_FOUND` if unknown, `expired_token` if old.
pub fn resolve_access(world: &World, token: &str) -> ApiResult<Caller> {
    let t = world.access.get(token).ok_or_else(ApiError::no_auth)?;
    if t.expires_at <= Utc::now() {
        return Err(ApiError::expired());
    }
    if !world
        .portal(&t.member_id)
        .is_some_and(|p| p.installs.contains_key(&t.client_id))
    {
        return Err(ApiError::no_auth());
    }
    Ok(Caller {
        member_id: t.member_id.clone(),
        user_id: t.user_id,
        kind: AuthKind::App {
            client_id: t.client_id.clone(),
        },
        scopes: t.scopes.clone(),
    })
}

/// The JSON the token endpoint answers.
pub fn token_json(
    world: &World,
    member_id: &str,
    set: &TokenSet,
    user_id: u64,
    scopes: &[String],
) -> Value {
    let status = "L";
    json!({
        "access_token": set.access_token,
        "refresh_token": set.refresh_token,
        "expires": set.expires,
        "expires_in": set.expires_in,
        "scope": scopes.join(","),
        "domain": "oauth.bitrix.info",
        "server_endpoint": world.server_endpoint(),
        "client_endpoint": world.client_endpoint(),
        "member_id": member_id,
        "user_id": user_id,
        "status": status,
    })
}

fn oauth_error(status: StatusCode, code: &str, description: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": code, "error_description": description})),
    )
        .into_response()
}

/// `GET|POST /oauth/token/`.
pub async fn token(
    State(app): State<Shared>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let p = match params::parse(query.as_deref(), ct, &body) {
        Ok(p) => p.value,
        Err(_) => return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "Bad request"),
    };
    let s = |k: &str| params::get_str(&p, k).unwrap_or_default();
    let (grant, client_id, secret) = (s("grant_type"), s("client_id"), s("client_secret"));
    let mut world = app.lock();
    let client_ok = world
        .apps
        .get(&client_id)
        .is_some_and(|a| a.client_secret == secret);
    if grant.is_empty() {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "grant_type is required",
        );
    }
    if !client_ok {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Invalid client credentials",
        );
    }
    let (member_id, user_id, scopes) = match grant.as_str() {
        "authorization_code" => {
            let code = s("code");
            match world.codes.remove(&code) {
                Some(c) if c.client_id == client_id && c.expires_at > Utc::now() => {
                    let scopes = world
                        .portal(&c.member_id)
                        .and_then(|p| p.installs.get(&client_id))
                        .map(|i| i.scopes.clone())
                        .unwrap_or_default();
                    (c.member_id, c.user_id, scopes)
                }
                _ => {
                    return oauth_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_grant",
                        "Invalid authorization code",
                    );
                }
            }
        }
        "refresh_token" => {
            let rt = s("refresh_token");
            let valid = world
                .refresh
                .get(&rt)
                .is_some_and(|t| t.client_id == client_id && t.expires_at > Utc::now());
            match world.refresh.remove(&rt) {
                Some(t) if valid => (t.member_id, t.user_id, t.scopes),
                _ => {
                    return oauth_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_grant",
                        "Invalid refresh token",
                    );
                }
            }
        }
        _ => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Unsupported grant_type",
            );
        }
    };
    if !world
        .portal(&member_id)
        .is_some_and(|p| p.installs.contains_key(&client_id))
    {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "Application is not installed",
        );
    }
    let set = issue(&mut world, &member_id, &client_id, user_id, &scopes);
    axum::Json(token_json(&world, &member_id, &set, user_id, &scopes)).into_response()
}

/// A one-time authorization code (valid 30 s) for `user_id` of a portal where the app is
/// installed.
pub fn new_code(world: &mut World, member_id: &str, client_id: &str, user_id: u64) -> String {
    let code = random_token(32);
    world.codes.insert(
        code.clone(),
        AuthCode {
            member_id: member_id.into(),
            client_id: client_id.into(),
            user_id,
            expires_at: Utc::now() + Duration::seconds(30),
        },
    );
    code
}

/// `GET /oauth/authorize/?client_id=..&state=..` (optionally `member_id`, `user_id`): the
/// user consents at once; redirects to the app's redirect URI with `code`, `state`,
/// `domain`, `member_id`, `scope`, `server_domain`, or answers them as JSON without one.
pub async fn authorize(State(app): State<Shared>, RawQuery(query): RawQuery) -> Response {
    let p = params::parse(query.as_deref(), None, b"")
        .map(|p| p.value)
        .unwrap_or(Value::Null);
    let client_id = params::get_str(&p, "client_id").unwrap_or_default();
    let state = params::get_str(&p, "state").unwrap_or_default();
    let mut world = app.lock();
    let Some(reg) = world.apps.get(&client_id).cloned() else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_client",
            "Unknown client_id",
        );
    };
    let wanted = params::get_str(&p, "member_id");
    let portal = world
        .portals
        .values()
        .filter(|p| p.installs.contains_key(&client_id))
        .find(|p| wanted.as_deref().is_none_or(|w| w == p.member_id))
        .map(|p| {
            (
                p.member_id.clone(),
                p.domain.clone(),
                p.installs[&client_id].scopes.join(","),
            )
        });
    let Some((member_id, domain, scope)) = portal else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Application is not installed",
        );
    };
    let user_id = params::get_int(&p, "user_id")
        .and_then(|u| u64::try_from(u).ok())
        .unwrap_or(1);
    let code = new_code(&mut world, &member_id, &client_id, user_id);
    let answer = [
        ("code", code),
        ("state", state),
        ("domain", domain),
        ("member_id", member_id),
        ("scope", scope),
        ("server_domain", "oauth.bitrix.info".to_owned()),
    ];
    match reg.redirect_uri {
        Some(uri) => {
            let sep = if uri.contains('?') { '&' } else { '?' };
            let q = params::encode_form(
                &answer
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), v.clone()))
                    .collect::<Vec<_>>(),
            );
            Redirect::to(&format!("{uri}{sep}{q}")).into_response()
        }
        None => axum::Json(
            answer
                .into_iter()
                .map(|(k, v)| (k.to_owned(), Value::String(v)))
                .collect::<serde_json::Map<_, _>>(),
        )
        .into_response(),
    }
}
