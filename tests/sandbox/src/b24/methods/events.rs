//! `event.bind/unbind/get`, `events`, and the offline queue (`event.offline.get/list/clear`).
//! Binding needs an application context; offline binding and the offline queue need an admin.

use crate::b24::context::{Ctx, Reply};
use crate::b24::errors::{ApiError, ApiResult};
use crate::b24::params::{get, get_int, get_str, int_of, list_of, str_of};
use crate::b24::state::{Binding, OfflineEvent, random_token};
use serde_json::{Value, json};

pub const KNOWN_EVENTS: &[&str] = &[
    "ONAPPINSTALL",
    "ONAPPUNINSTALL",
    "ONAPPUPDATE",
    "ONTASKADD",
    "ONTASKUPDATE",
    "ONTASKDELETE",
    "ONTASKCOMMENTADD",
    "ONTASKCOMMENTUPDATE",
    "ONTASKCOMMENTDELETE",
    "ONIMBOTMESSAGEADD",
    "ONIMCOMMANDADD",
    "ONIMBOTJOINCHAT",
    "ONIMBOTDELETE",
    "ONOFFLINEEVENT",
    "ONUSERADD",
];

pub fn bind(ctx: &mut Ctx, p: &Value) -> ApiResult<Reply> {
    let client = ctx.caller.require_app()?.to_owned();
    let event = get_str(p, "event").unwrap_or_default().to_ascii_uppercase();
    if !KNOWN_EVENTS.contains(&event.as_str()) {
        return Err(ApiError::bad("ERROR_EVENT_NOT_FOUND", "Event not found"));
    }
    let offline = get_str(p, "event_type").is_some_and(|t| t.eq_ignore_ascii_case("offline"));
    let handler = get_str(p, "handler").unwrap_or_default();
    if offline {
        ctx.require_admin()?;
    } else if handler.is_empty() {
        return Err(ApiError::bad(
            "ERROR_HANDLER_URL_MISMATCH",
            "Handler URL is required",
        ));
    }
    let auth_type = get_int(p, "auth_type")
        .and_then(|a| u64::try_from(a).ok())
        .unwrap_or(0);
    if auth_type > 0 && auth_type != ctx.caller.user_id {
        ctx.require_admin()?;
    }
    let dup = ctx.portal.bindings.iter().any(|b| {
        b.client_id == client && b.event == event && b.handler == handler && b.offline == offline
    });
    if dup {
        return Err(ApiError::bad(
            "ERROR_HANDLER_ALREADY_EXIST",
            "Handler already exists!",
        ));
    }
    let id = ctx.portal.next("binding");
    ctx.portal.bindings.push(Binding {
        id,
        client_id: client,
        event,
        handler,
        auth_type,
        offline,
    });
    Ok(Reply::of(json!(true)))
}

pub fn unbind(ctx: &mut Ctx, p: &Value) -> ApiResult<Reply> {
    let client = ctx.caller.require_app()?.to_owned();
    let event = get_str(p, "event").unwrap_or_default().to_ascii_uppercase();
    let handler = get_str(p, "handler");
    let offline = get_str(p, "event_type").is_some_and(|t| t.eq_ignore_ascii_case("offline"));
    let before = ctx.portal.bindings.len();
    ctx.portal.bindings.retain(|b| {
        !(b.client_id == client
            && b.event == event
            && b.offline == offline
            && handler.as_ref().is_none_or(|h| h == &b.handler))
    });
    Ok(Reply::of(
        json!({"count": before - ctx.portal.bindings.len()}),
    ))
}

pub fn get_bindings(ctx: &mut Ctx, _p: &Value) -> ApiResult<Reply> {
    let client = ctx.caller.require_app()?.to_owned();
    let items: Vec<Value> = ctx
        .portal
        .bindings
        .iter()
        .filter(|b| b.client_id == client)
        .map(|b| {
            json!({"event": b.event, "handler": b.handler, "auth_type": b.auth_type.to_string(),
                   "offline": i32::from(b.offline)})
        })
        .collect();
    Ok(Reply::of(Value::Array(items)))
}

pub fn list_available(_ctx: &mut Ctx, _p: &Value) -> ApiResult<Reply> {
    Ok(Reply::of(json!(KNOWN_EVENTS)))
}

fn offline_json(e: &OfflineEvent) -> Value {
    json!({"ID": e.id.to_string(), "TIMESTAMP_X": e.timestamp, "EVENT_NAME": e.event,
           "EVENT_DATA": e.data, "EVENT_ADDITIONAL": {}, "MESSAGE_ID": e.message_id})
}

fn offline_filter(e: &OfflineEvent, filter: Option<&Value>) -> bool {
    let Some(Value::Object(f)) = filter else {
        return true;
    };
    f.iter().all(
        |(k, v)| match k.trim_start_matches('=').to_ascii_uppercase().as_str() {
            "EVENT_NAME" => str_of(v).is_some_and(|n| n.eq_ignore_ascii_case(&e.event)),
            "ID" => int_of(v).is_some_and(|i| u64::try_from(i).ok() == Some(e.id)),
            "MESSAGE_ID" => str_of(v).as_deref() == Some(e.message_id.as_str()),
            _ => true,
        },
    )
}

pub fn offline_get(ctx: &mut Ctx, p: &Value) -> ApiResult<Reply> {
    let client = ctx.caller.require_app()?.to_owned();
    ctx.require_admin()?;
    let limit = usize::try_from(get_int(p, "limit").unwrap_or(50).clamp(1, 1000)).unwrap_or(50);
    let clear = get_int(p, "clear").unwrap_or(1) != 0;
    let filter = get(p, "filter");
    let picked: Vec<u64> = ctx
        .portal
        .offline_events
        .iter()
        .filter(|e| e.client_id == client && e.process_id.is_none() && offline_filter(e, filter))
        .take(limit)
        .map(|e| e.id)
        .collect();
    let process_id = random_token(32);
    let events: Vec<Value> = ctx
        .portal
        .offline_events
        .iter()
        .filter(|e| picked.contains(&e.id))
        .map(offline_json)
        .collect();
    if clear {
        ctx.portal
            .offline_events
            .retain(|e| !picked.contains(&e.id));
    } else {
        for e in ctx
            .portal
            .offline_events
            .iter_mut()
            .filter(|e| picked.contains(&e.id))
        {
            e.process_id = Some(process_id.clone());
        }
    }
    Ok(Reply::of(
        json!({"process_id": process_id, "events": events}),
    ))
}

pub fn offline_list(ctx: &mut Ctx, p: &Value) -> ApiResult<Reply> {
    let client = ctx.caller.require_app()?.to_owned();
    ctx.require_admin()?;
    let filter = get(p, "filter");
    let items: Vec<Value> = ctx
        .portal
        .offline_events
        .iter()
        .filter(|e| e.client_id == client && offline_filter(e, filter))
        .map(|e| {
            let mut j = offline_json(e);
            j["PROCESS_ID"] = json!(e.process_id);
            j
        })
        .collect();
    Ok(Reply::page(items, p, Value::Array))
}

pub fn offline_clear(ctx: &mut Ctx, p: &Value) -> ApiResult<Reply> {
    let client = ctx.caller.require_app()?.to_owned();
    ctx.require_admin()?;
    let Some(process_id) = get_str(p, "process_id") else {
        return Err(ApiError::argument("process_id is required"));
    };
    let ids: Vec<u64> = list_of(get(p, "id"))
        .iter()
        .filter_map(int_of)
        .filter_map(|i| u64::try_from(i).ok())
        .collect();
    let msgs: Vec<String> = list_of(get(p, "message_id"))
        .iter()
        .filter_map(str_of)
        .collect();
    ctx.portal.offline_events.retain(|e| {
        let mine = e.client_id == client && e.process_id.as_deref() == Some(process_id.as_str());
        let chosen = (ids.is_empty() && msgs.is_empty())
            || ids.contains(&e.id)
            || msgs.contains(&e.message_id);
        !(mine && chosen)
    });
    Ok(Reply::of(json!(true)))
}
