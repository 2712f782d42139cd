//! Widgets: `placement.bind/unbind/get/list`. Binding needs an application context
//! (webhooks: 403 `WRONG_AUTH_TYPE`) and an admin; argument errors come with HTTP 200.

use crate::b24::context::{Ctx, Reply};
use crate::b24::errors::{ApiError, ApiResult};
use crate::b24::params::{get, get_str};
use crate::b24::state::PlacementBinding;
use serde_json::{Value, json};

pub const PLACEMENTS: &[&str] = &[
    "TASK_VIEW_TAB",
    "TASK_VIEW_SIDEBAR",
    "TASK_VIEW_TOP_PANEL",
    "TASK_LIST_CONTEXT_MENU",
    "TASK_USER_LIST_TOOLBAR",
    "TASK_GROUP_LIST_TOOLBAR",
    "TASK_ROBOT_DESIGNER_TOOLBAR",
    "IM_TEXTAREA",
    "IM_SIDEBAR",
    "IM_CONTEXT_MENU",
    "IM_NAVIGATION",
    "LEFT_MENU",
    "REST_APP_URI",
    "SONET_GROUP_DETAIL_TAB",
    "SONET_GROUP_TOOLBAR",
    "PAGE_BACKGROUND_WORKER",
];

fn arg_error(msg: &str) -> ApiError {
    ApiError::new(200, "ERROR_ARGUMENT", msg)
}

pub fn bind(ctx: &mut Ctx, p: &Value) -> ApiResult<Reply> {
    let client = ctx.caller.require_app()?.to_owned();
    ctx.require_admin()?;
    let placement = get_str(p, "PLACEMENT")
        .unwrap_or_default()
        .to_ascii_uppercase();
    let handler = get_str(p, "HANDLER").unwrap_or_default();
    if placement.is_empty() || !PLACEMENTS.contains(&placement.as_str()) {
        return Err(arg_error(
            "Argument 'PLACEMENT' is null or empty or unknown",
        ));
    }
    if handler.is_empty() || !(handler.starts_with("http://") || handler.starts_with("https://")) {
        return Err(arg_error(
            "Argument 'HANDLER' is null or empty or not a URL",
        ));
    }
    let options = get(p, "OPTIONS").cloned().unwrap_or(json!({}));
    let needs_icon = ["IM_TEXTAREA", "IM_SIDEBAR", "IM_NAVIGATION"].contains(&placement.as_str());
    if needs_icon && get_str(&options, "iconName").is_none() {
        return Err(arg_error(
            "Argument 'OPTIONS[iconName]' is required for this placement",
        ));
    }
    let existing = ctx
        .portal
        .placements
        .iter()
        .filter(|b| b.client_id == client && b.placement == placement);
    if existing.clone().any(|b| b.handler == handler) {
        return Ok(Reply::of(json!(true)));
    }
    if placement == "REST_APP_URI" && existing.count() > 0 {
        return Err(ApiError::new(
            200,
            "ERROR_PLACEMENT_MAX_COUNT",
            "Placement max count exceeded",
        ));
    }
    let id = ctx.portal.next("placement");
    ctx.portal.placements.push(PlacementBinding {
        id,
        client_id: client,
        placement,
        handler,
        title: get_str(p, "TITLE").unwrap_or_default(),
        description: get_str(p, "DESCRIPTION").unwrap_or_default(),
        options,
    });
    Ok(Reply::of(json!(true)))
}

pub fn unbind(ctx: &mut Ctx, p: &Value) -> ApiResult<Reply> {
    let client = ctx.caller.require_app()?.to_owned();
    let placement = get_str(p, "PLACEMENT")
        .unwrap_or_default()
        .to_ascii_uppercase();
    let handler = get_str(p, "HANDLER");
    let before = ctx.portal.placements.len();
    ctx.portal.placements.retain(|b| {
        !(b.client_id == client
            && b.placement == placement
            && handler.as_ref().is_none_or(|h| h == &b.handler))
    });
    Ok(Reply::of(
        json!({"count": before - ctx.portal.placements.len()}),
    ))
}

pub fn get_bound(ctx: &mut Ctx, _p: &Value) -> ApiResult<Reply> {
    let client = ctx.caller.require_app()?.to_owned();
    let items: Vec<Value> = ctx
        .portal
        .placements
        .iter()
        .filter(|b| b.client_id == client)
        .map(|b| {
            json!({"placement": b.placement, "handler": b.handler, "title": b.title,
                   "description": b.description, "options": b.options, "langAll": {}})
        })
        .collect();
    Ok(Reply::of(Value::Array(items)))
}

pub fn list(_ctx: &mut Ctx, _p: &Value) -> ApiResult<Reply> {
    Ok(Reply::of(json!(PLACEMENTS)))
}
