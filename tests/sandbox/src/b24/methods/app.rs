//! `app.info`, `scope`, `server.time`, `profile`; REST 3.0's `rest.documentation.openapi`.

use crate::b24::context::{Ctx, Reply};
use crate::b24::errors::ApiResult;
use crate::b24::state::now_iso;
use serde_json::{Value, json};

pub fn info(ctx: &mut Ctx, _p: &Value) -> ApiResult<Reply> {
    let license =
        json!({"LICENSE": "en_project", "LICENSE_TYPE": "project", "LICENSE_FAMILY": "project"});
    let Some(client) = ctx.caller.client_id() else {
        let mut j = license;
        j["SCOPE"] = json!(ctx.caller.scopes);
        return Ok(Reply::of(j));
    };
    let install = ctx.portal.installs.get(client);
    let mut j = json!({
        "ID": install.map(|i| i.version).unwrap_or(1), "CODE": client, "VERSION": install.map(|i| i.version).unwrap_or(1),
        "STATUS": "L", "INSTALLED": true, "PAYMENT_EXPIRED": "N", "DAYS": null, "LANGUAGE_ID": "en",
        "MEMBER_ID": ctx.portal.member_id, "DOMAIN": ctx.portal.domain,
    });
    for (k, v) in license.as_object().into_iter().flatten() {
        j[k] = v.clone();
    }
    Ok(Reply::of(j))
}

pub fn scope(ctx: &mut Ctx, _p: &Value) -> ApiResult<Reply> {
    let mut s = ctx.caller.scopes.clone();
    if !s.iter().any(|x| x == "basic") {
        s.push("basic".into());
    }
    Ok(Reply::of(json!(s)))
}

pub fn server_time(_ctx: &mut Ctx, _p: &Value) -> ApiResult<Reply> {
    Ok(Reply::of(json!(now_iso())))
}

pub fn profile(ctx: &mut Ctx, _p: &Value) -> ApiResult<Reply> {
    let admin = ctx.portal.is_admin(ctx.caller.user_id);
    let u = ctx.portal.users.get(&ctx.caller.user_id);
    Ok(Reply::of(json!({
        "ID": ctx.caller.user_id.to_string(), "ADMIN": admin,
        "NAME": u.map(|u| u.name.clone()), "LAST_NAME": u.map(|u| u.last_name.clone()),
        "PERSONAL_GENDER": "", "TIME_ZONE": "",
    })))
}

/// The OpenAPI document of the REST 3.0 methods this portal serves (no `note.*` on a portal
/// without Knowledge Base 2.0). Answered bare, not inside `result`.
pub fn openapi(ctx: &mut Ctx, _p: &Value) -> ApiResult<Reply> {
    let paths: serde_json::Map<String, Value> = super::V3_METHODS
        .iter()
        .filter(|m| !(ctx.portal.kb2_disabled && m.starts_with("note.")))
        .map(|m| {
            (
                format!("/{m}"),
                json!({"post": {"operationId": m, "responses": {"200": {"description": "OK"}}}}),
            )
        })
        .collect();
    Ok(Reply::of(json!({
        "openapi": "3.0.0",
        "info": {"title": "Bitrix24 REST V3 API", "version": "1.0.0"},
        "paths": paths,
    })))
}
