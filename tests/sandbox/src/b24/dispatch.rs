//! From a request to a method call: authentication (webhook path or OAuth `auth`), the leaky
//! bucket, the operation-time knob, scopes, then the handler.

use super::context::{AuthKind, Caller, Outgoing, Reply, with_portal};
use super::errors::{ApiError, ApiResult};
use super::methods::MethodDef;
use super::oauth;
use super::params;
use super::state::{Knobs, World};
use serde_json::Value;

/// Who calls: `/rest/{user_id}/{secret}/` webhooks, else the `auth` access token.
pub fn authenticate(world: &World, hook: Option<(&str, &str)>, p: &Value) -> ApiResult<Caller> {
    if let Some((uid, secret)) = hook {
        let uid: u64 = uid.parse().map_err(|_| ApiError::no_auth())?;
        for portal in world.portals.values() {
            if let Some(w) = portal
                .webhooks
                .iter()
                .find(|w| w.user_id == uid && w.secret == secret)
            {
                return Ok(Caller {
                    member_id: portal.member_id.clone(),
                    user_id: uid,
                    kind: AuthKind::Webhook,
                    scopes: w.scopes.clone(),
                });
            }
        }
        return Err(ApiError::no_auth());
    }
    let token = params::get_str(p, "auth").ok_or_else(ApiError::no_auth)?;
    oauth::resolve_access(world, &token)
}

/// The per-portal leaky bucket (one unit per HTTP request).
pub fn take_bucket(world: &mut World, caller: &Caller) -> ApiResult<()> {
    let limits = world.knobs.limits;
    let portal = world
        .portal_mut(&caller.member_id)
        .ok_or_else(ApiError::no_auth)?;
    if portal.bucket.take(&limits) {
        Ok(())
    } else {
        Err(ApiError::new(
            503,
            "QUERY_LIMIT_EXCEEDED",
            "Too many requests",
        ))
    }
}

/// 429 `OPERATION_TIME_LIMIT` for methods the knob says have used up their time budget.
pub fn operation_limit(knobs: &Knobs, method: &str) -> ApiResult<()> {
    if knobs
        .operation_time_limited
        .iter()
        .any(|m| m.eq_ignore_ascii_case(method))
    {
        return Err(ApiError::new(
            429,
            "OPERATION_TIME_LIMIT",
            "Method is blocked due to operation time limit.",
        ));
    }
    Ok(())
}

pub fn run_method(
    world: &mut World,
    caller: &Caller,
    def: MethodDef,
    method: &str,
    p: &Value,
    out: &mut Vec<Outgoing>,
) -> ApiResult<Reply> {
    operation_limit(&world.knobs, method)?;
    if !caller.has_scope(def.scopes) {
        return Err(ApiError::new(
            403,
            "insufficient_scope",
            "The request requires higher privileges than provided by the access token",
        ));
    }
    with_portal(world, caller, out, |ctx| (def.handler)(ctx, p))
}
