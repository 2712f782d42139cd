//! The HTTP side: shared state, the router, and the `/rest/...` entry for classic REST,
//! inbound webhooks and REST 3.0.

use super::batch;
use super::context::{Caller, Ctx, Outgoing, Reply, with_portal};
use super::dispatch;
use super::errors::{ApiError, ApiResult};
use super::events_out::Outbox;
use super::methods;
use super::oauth;
use super::params;
use super::state::World;
use crate::common::{Faults, RequestLog, faults, request_log};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub struct Inner {
    world: Mutex<World>,
    pub faults: Faults,
    pub log: RequestLog,
    pub outbox: Outbox,
    /// REST 3.0 `Idempotency-Key` (scoped to caller and method) → the first answer.
    idempotency: Mutex<HashMap<String, Stored>>,
}

#[derive(Clone)]
pub struct Shared(pub Arc<Inner>);

impl Shared {
    pub fn new(world: World) -> Shared {
        let faults = Faults::new(crate::common::ErrorShape::B24);
        Shared(Arc::new(Inner {
            world: Mutex::new(world),
            outbox: Outbox::start(faults.clone()),
            faults,
            log: RequestLog::default(),
            idempotency: Mutex::default(),
        }))
    }

    pub fn lock(&self) -> MutexGuard<'_, World> {
        self.0.world.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` as `caller` on its portal and sends the events it made.
    pub fn act<T>(
        &self,
        caller: &Caller,
        f: impl FnOnce(&mut Ctx) -> ApiResult<T>,
    ) -> ApiResult<T> {
        let mut out = Vec::new();
        let r = {
            let mut world = self.lock();
            with_portal(&mut world, caller, &mut out, f)
        };
        self.0.outbox.send_all(out);
        r
    }

    pub fn clear_idempotency(&self) {
        if let Ok(mut m) = self.0.idempotency.lock() {
            m.clear();
        }
    }
}

pub fn router(app: Shared) -> Router {
    let api = Router::new()
        .route("/rest/{*path}", any(rest))
        .route("/oauth/token/", any(oauth::token))
        .route("/oauth/token", any(oauth::token))
        .route("/oauth/authorize/", get(oauth::authorize))
        .route("/oauth/authorize", get(oauth::authorize))
        .route("/disk/download/{member_id}/{id}", get(download))
        .layer(from_fn_with_state(app.0.faults.clone(), faults::inject))
        .layer(from_fn_with_state(app.0.log.clone(), request_log::record))
        .with_state(app.clone());
    api.merge(super::inspect::router(app))
}

fn time_json(started: chrono::DateTime<chrono::Utc>, t0: Instant) -> Value {
    let finished = chrono::Utc::now();
    let d = t0.elapsed().as_secs_f64();
    let start = started.timestamp_micros() as f64 / 1e6;
    json!({
        "start": start, "finish": start + d, "duration": d, "processing": d,
        "date_start": started.to_rfc3339(), "date_finish": finished.to_rfc3339(),
        "operating_reset_at": finished.timestamp() + 600, "operating": 0,
    })
}

fn json_response(status: u16, body: &Value) -> Response {
    let mut r = Response::new(Body::from(body.to_string()));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}

fn classic_body(r: &Reply, time: Value) -> Value {
    let mut body = json!({"result": r.result});
    if let Some(t) = r.total {
        body["total"] = json!(t);
    }
    if let Some(n) = r.next {
        body["next"] = json!(n);
    }
    body["time"] = time;
    body
}

async fn rest(
    State(app): State<Shared>,
    Path(path): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (started, t0) = (chrono::Utc::now(), Instant::now());
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let (v3, segs) = match segs.split_first() {
        Some((&"api", rest)) => (true, rest.to_vec()),
        _ => (false, segs),
    };
    let (hook, method) = match segs.as_slice() {
        [m] => (None, *m),
        [uid, secret, m] => (Some((*uid, *secret)), *m),
        _ => {
            let e = ApiError::method_not_found(&path);
            return json_response(e.status, &if v3 { e.v3_body() } else { e.classic_body() });
        }
    };
    let method = method.to_ascii_lowercase();
    let method = method
        .trim_end_matches(".json")
        .trim_end_matches(".xml")
        .to_owned();
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if v3 {
        let key = headers
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        return rest_v3(&app, hook, &method, ct.as_deref(), &body, key, started, t0);
    }
    let mut out = Vec::new();
    let result = {
        let mut world = app.lock();
        classic_call(
            &mut world,
            hook,
            &method,
            query.as_deref(),
            ct.as_deref(),
            &body,
            &mut out,
        )
    };
    app.0.outbox.send_all(out);
    match result {
        Ok(r) => json_response(200, &classic_body(&r, time_json(started, t0))),
        Err(e) => json_response(e.status, &e.classic_body()),
    }
}

fn classic_call(
    world: &mut World,
    hook: Option<(&str, &str)>,
    method: &str,
    query: Option<&str>,
    ct: Option<&str>,
    body: &[u8],
    out: &mut Vec<Outgoing>,
) -> ApiResult<Reply> {
    let p = params::parse(query, ct, body)?;
    let caller = dispatch::authenticate(world, hook, &p.value)?;
    dispatch::take_bucket(world, &caller)?;
    if method == "batch" {
        return batch::run(world, &caller, &p, out);
    }
    let def = methods::classic(method).ok_or_else(|| ApiError::method_not_found(method))?;
    dispatch::run_method(world, &caller, def, method, &p.value, out)
}

/// How long a REST 3.0 answer is replayed for its `Idempotency-Key`.
const IDEMPOTENCY_TTL: Duration = Duration::from_secs(24 * 3600);

/// A stored first answer to an `Idempotency-Key`.
struct Stored {
    /// Of the parameters without `auth` (a refreshed token is still the same call).
    hash: Vec<u8>,
    answer: Value,
    at: Instant,
}

/// 1 to 255 printable ASCII characters.
fn valid_idempotency_key(k: &str) -> bool {
    (1..=255).contains(&k.len()) && k.bytes().all(|b| (0x20..0x7f).contains(&b))
}

enum V3Outcome {
    Ran(Reply),
    Replayed(Value),
}

#[allow(clippy::too_many_arguments)]
fn rest_v3(
    app: &Shared,
    hook: Option<(&str, &str)>,
    method: &str,
    ct: Option<&str>,
    body: &[u8],
    idempotency_key: Option<String>,
    started: chrono::DateTime<chrono::Utc>,
    t0: Instant,
) -> Response {
    let with_key = |mut r: Response| {
        if let Some(v) = idempotency_key
            .as_deref()
            .and_then(|k| HeaderValue::from_str(k).ok())
        {
            r.headers_mut().insert("idempotency-key", v);
        }
        r
    };
    if let Some(k) = &idempotency_key
        && !valid_idempotency_key(k)
    {
        let e = ApiError::bad(
            "BITRIX_REST_V3_EXCEPTION_INVALIDIDEMPOTENCYKEYEXCEPTION",
            "Idempotency-Key must be 1 to 255 printable ASCII characters",
        );
        return json_response(e.status, &e.v3_body());
    }
    let mut out = Vec::new();
    let mut store_as = None;
    let result = {
        let mut world = app.lock();
        v3_prepare(&mut world, hook, method, ct, body).and_then(|(caller, params)| {
            // Keys are per application or webhook, per user and per method.
            let who = caller.client_id().map_or_else(
                || format!("hook:{}", hook.map_or("", |h| h.1)),
                str::to_owned,
            );
            let scoped = idempotency_key
                .as_ref()
                .map(|k| format!("{}|{who}|{}|{method}|{k}", caller.member_id, caller.user_id));
            let mut without_auth = params.clone();
            if let Some(m) = without_auth.as_object_mut() {
                m.retain(|k, _| !k.eq_ignore_ascii_case("auth"));
            }
            let hash = Sha256::digest(without_auth.to_string().as_bytes()).to_vec();
            if let Some(k) = &scoped {
                let mut stored = app.0.idempotency.lock().unwrap_or_else(|e| e.into_inner());
                stored.retain(|_, s| s.at.elapsed() < IDEMPOTENCY_TTL);
                if let Some(s) = stored.get(k) {
                    if s.hash != hash {
                        return Err(ApiError::new(
                            422,
                            "BITRIX_REST_V3_EXCEPTION_IDEMPOTENCYKEYREUSEDEXCEPTION",
                            "The Idempotency-Key was already used with a different request body",
                        ));
                    }
                    return Ok(V3Outcome::Replayed(s.answer.clone()));
                }
            }
            store_as = scoped.map(|k| (k, hash));
            let def = methods::v3(method).ok_or_else(|| ApiError::method_not_found(method))?;
            dispatch::run_method(&mut world, &caller, def, method, &params, &mut out)
                .map(V3Outcome::Ran)
        })
    };
    app.0.outbox.send_all(out);
    match result {
        Ok(V3Outcome::Replayed(answer)) => {
            let mut r = json_response(200, &answer);
            r.headers_mut()
                .insert("idempotent-replayed", HeaderValue::from_static("true"));
            with_key(r)
        }
        Ok(V3Outcome::Ran(r)) => {
            // The OpenAPI document is the whole answer.
            let answer = if matches!(method, "rest.documentation.openapi" | "documentation") {
                r.result
            } else {
                json!({"result": r.result, "time": time_json(started, t0)})
            };
            if let Some((k, hash)) = store_as {
                let mut stored = app.0.idempotency.lock().unwrap_or_else(|e| e.into_inner());
                stored.insert(
                    k,
                    Stored {
                        hash,
                        answer: answer.clone(),
                        at: Instant::now(),
                    },
                );
            }
            with_key(json_response(200, &answer))
        }
        // Failures are not stored: a repeat with the key runs the method again.
        Err(e) => json_response(e.status, &e.v3_body()),
    }
}

/// The JSON body, the caller and its bucket unit; a portal without Knowledge Base 2.0 does
/// not know `note.*`.
fn v3_prepare(
    world: &mut World,
    hook: Option<(&str, &str)>,
    method: &str,
    ct: Option<&str>,
    body: &[u8],
) -> ApiResult<(Caller, Value)> {
    let invalid = || {
        ApiError::bad(
            "BITRIX_REST_V3_EXCEPTION_INVALIDJSONEXCEPTION",
            "Request body must be valid JSON",
        )
    };
    if ct.is_some_and(|c| c.contains("x-www-form-urlencoded") || c.contains("multipart/")) {
        return Err(invalid());
    }
    // Methods without parameters may come as a bodiless GET or POST.
    let p: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        serde_json::from_slice(body).map_err(|_| invalid())?
    };
    if !p.is_object() {
        return Err(invalid());
    }
    let caller = dispatch::authenticate(world, hook, &p)?;
    dispatch::take_bucket(world, &caller)?;
    if method.starts_with("note.")
        && world
            .portal(&caller.member_id)
            .is_some_and(|p| p.kb2_disabled)
    {
        return Err(ApiError::method_not_found(method));
    }
    let def = methods::v3(method).ok_or_else(|| ApiError::method_not_found(method))?;
    if !caller.has_scope(def.scopes) {
        return Err(ApiError::new(
            403,
            "BITRIX_REST_V3_EXCEPTION_INSUFFICIENTSCOPEEXCEPTION",
            "The webhook or application does not have the required scope",
        ));
    }
    Ok((caller, p))
}

async fn download(
    State(app): State<Shared>,
    Path((member_id, id)): Path<(String, u64)>,
) -> Response {
    let world = app.lock();
    let file = world
        .portal(&member_id)
        .and_then(|p| p.disk.get(&id))
        .filter(|o| !o.is_folder);
    match file {
        Some(f) => (
            [
                (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{}\"", f.name.replace('"', "")),
                ),
            ],
            f.bytes.clone(),
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
