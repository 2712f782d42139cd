//! Users: `user.get` (FILTER by EMAIL and other fields, with operator prefixes; paged by 50),
//! `user.current`, `user.search`.

use crate::b24::context::{Ctx, Reply};
use crate::b24::errors::ApiResult;
use crate::b24::params::{get, get_any, list_of, str_of};
use crate::b24::state::User;
use serde_json::{Map, Value, json};

pub fn user_json(u: &User) -> Value {
    json!({
        "ID": u.id.to_string(), "ACTIVE": u.active, "EMAIL": u.email, "NAME": u.name,
        "LAST_NAME": u.last_name, "SECOND_NAME": "", "PERSONAL_GENDER": "", "PERSONAL_PHOTO": null,
        "WORK_POSITION": u.work_position, "UF_DEPARTMENT": [1], "USER_TYPE": u.user_type,
        "IS_ONLINE": "N", "TIME_ZONE": "", "LAST_LOGIN": null,
    })
}

fn field(u: &User, f: &str) -> String {
    match f {
        "ID" => u.id.to_string(),
        "EMAIL" => u.email.clone(),
        "NAME" => u.name.clone(),
        "LAST_NAME" => u.last_name.clone(),
        "ACTIVE" => if u.active { "Y" } else { "N" }.into(),
        "USER_TYPE" => u.user_type.clone(),
        "WORK_POSITION" => u.work_position.clone(),
        "UF_DEPARTMENT" => "1".into(),
        "NAME_SEARCH" | "FIND" => format!("{} {} {}", u.name, u.last_name, u.email),
        _ => String::new(),
    }
}

fn norm_bool(s: &str) -> String {
    match s.to_ascii_uppercase().as_str() {
        "TRUE" | "1" | "Y" => "Y".into(),
        "FALSE" | "0" | "N" => "N".into(),
        other => other.to_owned(),
    }
}

fn matches(u: &User, filter: &Map<String, Value>) -> bool {
    filter.iter().all(|(k, v)| {
        let (op, name) = ["=%", "%", "=", "!", "@"]
            .iter()
            .find_map(|op| k.strip_prefix(op).map(|rest| (*op, rest)))
            .unwrap_or(("", k.as_str()));
        let name = name.to_ascii_uppercase();
        let have = field(u, &name).to_lowercase();
        let wants: Vec<String> = list_of(Some(v))
            .iter()
            .filter_map(str_of)
            .map(|s| s.to_lowercase())
            .collect();
        let eq = |w: &String| {
            if name == "ACTIVE" {
                norm_bool(&have) == norm_bool(w)
            } else {
                &have == w
            }
        };
        let like = |w: &String| have.contains(w.trim_matches('%'));
        match op {
            "!" => !wants.iter().any(eq),
            "%" | "=%" => wants.iter().any(like),
            _ if name == "NAME_SEARCH" || name == "FIND" => wants.iter().any(like),
            _ => wants.iter().any(eq),
        }
    })
}

const NOT_FILTERS: &[&str] = &[
    "SORT",
    "ORDER",
    "START",
    "ADMIN_MODE",
    "SELECT",
    "AUTH",
    "FILTER",
];

pub fn get_users(ctx: &mut Ctx, p: &Value) -> ApiResult<Reply> {
    let mut filter = match get_any(p, &["FILTER"]) {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    };
    if let Some(top) = p.as_object() {
        for (k, v) in top {
            if !NOT_FILTERS.contains(&k.to_ascii_uppercase().as_str()) {
                filter.insert(k.clone(), v.clone());
            }
        }
    }
    let items: Vec<Value> = ctx
        .portal
        .users
        .values()
        .filter(|u| matches(u, &filter))
        .map(user_json)
        .collect();
    Ok(Reply::page(items, p, Value::Array))
}

pub fn current(ctx: &mut Ctx, _p: &Value) -> ApiResult<Reply> {
    let u = ctx.portal.users.get(&ctx.caller.user_id);
    Ok(Reply::of(u.map(user_json).unwrap_or(Value::Null)))
}

pub fn search(ctx: &mut Ctx, p: &Value) -> ApiResult<Reply> {
    let filter = match get(p, "FILTER") {
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| {
                let key = if k.eq_ignore_ascii_case("FIND") {
                    "%FIND".to_owned()
                } else {
                    format!("%{k}")
                };
                (key, v.clone())
            })
            .collect(),
        _ => Map::new(),
    };
    let items: Vec<Value> = ctx
        .portal
        .users
        .values()
        .filter(|u| matches(u, &filter))
        .map(user_json)
        .collect();
    Ok(Reply::page(items, p, Value::Array))
}
