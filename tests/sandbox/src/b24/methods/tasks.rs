//! Tasks: `tasks.task.*` (select UPPER_SNAKE, answer lowerCamelCase, UF fields camelCased),
//! task user fields (admin; string/double/datetime/boolean), comments of the old card and
//! the new card's task chat (`tasks.task.chat.message.send`, REST 3.0).

use crate::b24::context::{Ctx, Reply};
use crate::b24::errors::{ApiError, ApiResult};
use crate::b24::events_out;
use crate::b24::params::{self, get, get_any, get_int, get_str, int_of, list_of, str_of};
use crate::b24::state::{Comment, Portal, Task, UserField, now_iso};
use serde_json::{Map, Value, json};
use std::cmp::Ordering;

pub const UF_TYPES: &[&str] = &["string", "double", "datetime", "boolean"];

/// `UF_CONFLUENCE_URL` → `ufConfluenceUrl`, `RESPONSIBLE_ID` → `responsibleId`.
pub fn camel(snake: &str) -> String {
    let mut out = String::new();
    for (i, part) in snake.split('_').filter(|p| !p.is_empty()).enumerate() {
        let lower = part.to_ascii_lowercase();
        if i == 0 {
            out.push_str(&lower);
        } else {
            let mut cs = lower.chars();
            if let Some(c) = cs.next() {
                out.push(c.to_ascii_uppercase());
                out.extend(cs);
            }
        }
    }
    out
}

fn not_found() -> ApiError {
    ApiError::bad(
        "ERROR_CORE",
        "TASKS_ERROR_EXCEPTION_#256; Task not found or not accessible; 256/TE/ITEM_NOT_FOUND_OR_NOT_ACCESSIBLE",
    )
}

fn user_brief(portal: &Portal, id: u64) -> Value {
    let u = portal.users.get(&id);
    json!({
        "id": id.to_string(),
        "name": u.map(|u| u.full_name()).unwrap_or_default(),
        "link": format!("/company/personal/user/{id}/"),
        "icon": "/bitrix/images/tasks/default_avatar.png",
        "workPosition": u.map(|u| u.work_position.clone()).unwrap_or_default(),
    })
}

fn ids(v: &[u64]) -> Value {
    Value::Array(v.iter().map(|i| json!(i.to_string())).collect())
}

/// The task's fields in UPPER_SNAKE, standard ones first.
fn standard_fields(t: &Task) -> Vec<(&'static str, Value)> {
    vec![
        ("ID", json!(t.id.to_string())),
        ("PARENT_ID", json!("0")),
        ("TITLE", json!(t.title)),
        ("DESCRIPTION", json!(t.description)),
        ("DESCRIPTION_IN_BBCODE", json!("Y")),
        ("PRIORITY", json!(t.priority.to_string())),
        ("STATUS", json!(t.status.to_string())),
        ("GROUP_ID", json!(t.group_id.to_string())),
        ("CREATED_BY", json!(t.created_by.to_string())),
        ("RESPONSIBLE_ID", json!(t.responsible_id.to_string())),
        ("ACCOMPLICES", ids(&t.accomplices)),
        ("AUDITORS", ids(&t.auditors)),
        ("CREATED_DATE", json!(t.created_date)),
        ("CHANGED_DATE", json!(t.changed_date)),
        (
            "DEADLINE",
            t.deadline.clone().map(Value::String).unwrap_or(Value::Null),
        ),
    ]
}

/// The task as `tasks.task.get` answers it for `select` (None or `*`: the standard fields;
/// `UF_*` and `CHAT_ID` only when listed).
pub fn task_json(portal: &Portal, t: &Task, select: &[String]) -> Value {
    let all = select.is_empty() || select.iter().any(|s| s == "*");
    let wanted = |f: &str| all || select.iter().any(|s| s == f);
    let mut m = Map::new();
    for (k, v) in standard_fields(t) {
        if k == "ID" || wanted(k) {
            m.insert(camel(k), v);
        }
    }
    if select.iter().any(|s| s == "CHAT_ID") {
        m.insert("chatId".into(), json!(t.chat_id));
    }
    for s in select.iter().filter(|s| s.starts_with("UF_")) {
        if portal.task_userfields.iter().any(|f| &f.field_name == s) || t.uf.contains_key(s) {
            m.insert(camel(s), t.uf.get(s).cloned().unwrap_or(Value::Null));
        }
    }
    if wanted("CREATED_BY") {
        m.insert("creator".into(), user_brief(portal, t.created_by));
    }
    if wanted("RESPONSIBLE_ID") {
        m.insert("responsible".into(), user_brief(portal, t.responsible_id));
    }
    if wanted("ACCOMPLICES") {
        let d: Map<String, Value> = t
            .accomplices
            .iter()
            .map(|i| (i.to_string(), user_brief(portal, *i)))
            .collect();
        m.insert("accomplicesData".into(), Value::Object(d));
    }
    if wanted("AUDITORS") {
        let d: Map<String, Value> = t
            .auditors
            .iter()
            .map(|i| (i.to_string(), user_brief(portal, *i)))
            .collect();
        m.insert("auditorsData".into(), Value::Object(d));
    }
    if wanted("GROUP_ID") {
        let g = portal
            .groups
            .get(&t.group_id)
            .map(|g| json!({"id": g.id.to_string(), "name": g.name}));
        m.insert("group".into(), g.unwrap_or(json!([])));
    }
    Value::Object(m)
}

fn select_of(p: &Value) -> Vec<String> {
    list_of(get(p, "select"))
        .iter()
        .filter_map(str_of)
        .map(|s| s.to_ascii_uppercase())
        .collect()
}

fn task_id(p: &Value) -> ApiResult<u64> {
    get_any(p, &["taskId", "TASKID", "TASK_ID", "id", "0"])
        .and_then(int_of)
        .and_then(|i| u64::try_from(i).ok())
        .ok_or_else(|| ApiError::bad("ERROR_CORE", "Wrong task ID"))
}

fn user_ids(v: &Value) -> Vec<u64> {
    list_of(Some(v))
        .iter()
        .filter_map(int_of)
        .filter_map(|i| u64::try_from(i).ok())
        .collect()
}

/// Applies UPPER_SNAKE `fields` to a task; unknown fields (and undefined UF_) are ignored.
fn apply_fields(portal: &Portal, t: &mut Task, fields: &Value) -> ApiResult<()> {
    let Some(map) = fields.as_object() else {
        return Ok(());
    };
    for (k, v) in map {
        let key = k.to_ascii_uppercase();
        let num = || int_of(v).and_then(|i| u64::try_from(i).ok());
        match key.as_str() {
            "TITLE" => t.title = str_of(v).unwrap_or_default(),
            "DESCRIPTION" => t.description = str_of(v).unwrap_or_default(),
            "RESPONSIBLE_ID" => t.responsible_id = num().unwrap_or(t.responsible_id),
            "CREATED_BY" => t.created_by = num().unwrap_or(t.created_by),
            "GROUP_ID" => t.group_id = num().unwrap_or(0),
            "PRIORITY" => t.priority = num().unwrap_or(1),
            "STATUS" => {
                let s = num().unwrap_or(2);
                if !(1..=7).contains(&s) {
                    return Err(ApiError::bad("ERROR_CORE", "Invalid task status"));
                }
                t.status = s;
            }
            "DEADLINE" => t.deadline = str_of(v).filter(|s| !s.is_empty()),
            "ACCOMPLICES" => t.accomplices = user_ids(v),
            "AUDITORS" => t.auditors = user_ids(v),
            k if k.starts_with("UF_") => {
                if let Some(f) = portal.task_userfields.iter().find(|f| f.field_name == k) {
                    t.uf.insert(k.to_owned(), coerce_uf(&f.user_type_id, v)?);
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn coerce_uf(kind: &str, v: &Value) -> ApiResult<Value> {
    let s = str_of(v).unwrap_or_default();
    match kind {
        "double" if !s.is_empty() => s
            .parse::<f64>()
            .map(|_| json!(s))
            .map_err(|_| ApiError::bad("ERROR_CORE", format!("Value '{s}' is not a number"))),
        "boolean" => Ok(json!(if params::is_yes(Some(v)) { "1" } else { "0" })),
        _ => Ok(if v.is_array() { v.clone() } else { json!(s) }),
    }
}

pub fn task_get(ctx: &mut Ctx, p: &Value) -> ApiResult<Reply> {
    let id = task_id(p)?;
    let t = ctx.portal.tasks.get(&id).ok_or_else(not_found)?;
    Ok(Reply::of(
        json!({"task": task_json(ctx.portal, t, &select_of(p))}),
    ))
}

/// Creates a task (the API or a person in the UI), firing ONTASKADD.
pub fn create(ctx: &mut Ctx, fields: &Value) -> ApiResult<u64> {
    let title = get_str(fields, "TITLE").unwrap_or_default();
    if title.trim().is_empty() {
        return Err(ApiError::bad(
            "ERROR_CORE",
            "TASKS_ERROR_EXCEPTION_#8; Title is not specified",
        ));
    }
    let id = ctx.portal.next("task");
    let now = now_iso();
    let mut t = Task {
        id,
        title,
        description: String::new(),
        created_by: ctx.caller.user_id,
        responsible_id: ctx.caller.user_id,
        accomplices: Vec::new(),
        auditors: Vec::new(),
        group_id: 0,
        status: 2,
        priority: 1,
        deadline: None,
        created_date: now.clone(),
        changed_date: now,
        chat_id: 0,
        uf: Default::default(),
    };
    apply_fields(ctx.portal, &mut t, fields)?;
    t.chat_id = ctx.portal.add_chat(
        "task",
        &t.title,
        "TASKS_TASK",
        &id.to_string(),
        vec![t.created_by, t.responsible_id],
    );
    ctx.portal.tasks.insert(id, t);
    let data = json!({"FIELDS_BEFORE": "undefined", "FIELDS_AFTER": {"ID": id.to_string()},
                      "IS_ACCESSIBLE_BEFORE": "undefined", "IS_ACCESSIBLE_AFTER": "Y"});
    let actor = Some(ctx.caller.user_id);
    events_out::fire(ctx, "ONTASKADD", data, actor);
    Ok(id)
}

pub fn task_add(ctx: &mut Ctx, p: &Value) -> ApiResult<Reply> {
    let fields = get(p, "fields").cloned().unwrap_or(json!({}));
    let id = create(ctx, &fields)?;
    let t = &ctx.portal.tasks[&id];
    Ok(Reply::of(json!({"task": task_json(ctx.portal, t, &[])})))
}

/// Changes a task, firing ONTASKUPDATE.
pub fn change(ctx: &mut Ctx, id: u64, fields: &Value) -> ApiResult<()> {
    let mut t = ctx.portal.tasks.get(&id).cloned().ok_or_else(not_found)?;
    apply_fields(ctx.portal, &mut t, fields)?;
    t.changed_date = now_iso();
    ctx.portal.tasks.insert(id, t);
    let data = json!({"FIELDS_BEFORE": {"ID": id.to_string()}, "FIELDS_AFTER": {"ID": id.to_string()},
                      "IS_ACCESSIBLE_BEFORE": "Y", "IS_ACCESSIBLE_AFTER": "Y"});
    let actor = Some(ctx.caller.user_id);
    events_out::fire(ctx, "ONTASKUPDATE", data, actor);
    Ok(())
}

pub fn task_update(ctx: &mut Ctx, p: &Value) -> ApiResult<Reply> {
    let id = task_id(p)?;
    let fields = get(p, "fields").cloned().unwrap_or(json!({}));
    change(ctx, id, &fields)?;
    let t = &ctx.portal.tasks[&id];
    Ok(Reply::of(json!({"task": task_json(ctx.portal, t, &[])})))
}

/// Deletes a task, firing ONTASKDELETE.
pub fn remove(ctx: &mut Ctx, id: u64) -> ApiResult<()> {
    ctx.portal.tasks.remove(&id).ok_or_else(not_found)?;
    let data = json!({"FIELDS_BEFORE": {"ID": id.to_string()}, "FIELDS_AFTER": "undefined",
                      "IS_ACCESSIBLE_BEFORE": "Y", "IS_ACCESSIBLE_AFTER": "undefined"});
    let actor = Some(ctx.caller.user_id);
    events_out::fire(ctx, "ONTASKDELETE", data, actor);
    Ok(())
}

pub fn task_delete(ctx: &mut Ctx, p: &Value) -> ApiResult<Reply> {
    remove(ctx, task_id(p)?)?;
    Ok(Reply::of(json!({"task": true})))
}

// ---- list with filter and order ----

fn split_op(key: &str) -> (&str, &str) {
    for op in ["!=", ">=", "<=", "=%", "!", ">", "<", "=", "%", "@"] {
        if let Some(rest) = key.strip_prefix(op) {
            return (op, rest);
        }
    }
    ("", key)
}

fn parse_time(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|d| d.timestamp())
        .ok()
        .or_else(|| {
            [
                "%Y-%m-%d %H:%M:%S",
                "%d.%m.%Y %H:%M:%S",
                "%Y-%m-%dT%H:%M:%S",
            ]
            .iter()
            .find_map(|f| chrono::NaiveDateTime::parse_from_str(s, f).ok())
            .map(|d| d.and_utc().timestamp())
        })
        .or_else(|| {
            ["%Y-%m-%d", "%d.%m.%Y"]
                .iter()
                .find_map(|f| chrono::NaiveDate::parse_from_str(s, f).ok())
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|d| d.and_utc().timestamp())
        })
}

fn compare(a: &str, b: &str) -> Ordering {
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
        _ => match (parse_time(a), parse_time(b)) {
            (Some(x), Some(y)) => x.cmp(&y),
            _ => a.to_lowercase().cmp(&b.to_lowercase()),
        },
    }
}

fn like(hay: &str, pattern: &str) -> bool {
    let hay = hay.to_lowercase();
    let parts: Vec<String> = pattern
        .to_lowercase()
        .split('%')
        .map(str::to_owned)
        .collect();
    parts.iter().all(|p| hay.contains(p.as_str()))
}

fn field_values(t: &Task, field: &str) -> Vec<String> {
    let one = |v: u64| vec![v.to_string()];
    match field {
        "ID" => one(t.id),
        "PARENT_ID" => one(0),
        "GROUP_ID" => one(t.group_id),
        "CREATED_BY" => one(t.created_by),
        "RESPONSIBLE_ID" => one(t.responsible_id),
        "ACCOMPLICE" => t.accomplices.iter().map(u64::to_string).collect(),
        "AUDITOR" => t.auditors.iter().map(u64::to_string).collect(),
        "MEMBER" => {
            let mut v = vec![t.created_by, t.responsible_id];
            v.extend(&t.accomplices);
            v.extend(&t.auditors);
            v.iter().map(u64::to_string).collect()
        }
        "REAL_STATUS" | "STATUS" => one(t.status),
        "PRIORITY" => one(t.priority),
        "TITLE" => vec![t.title.clone()],
        "CREATED_DATE" => vec![t.created_date.clone()],
        "CHANGED_DATE" => vec![t.changed_date.clone()],
        "DEADLINE" => t.deadline.clone().into_iter().collect(),
        f if f.starts_with("UF_") => t.uf.get(f).and_then(str_of).into_iter().collect(),
        _ => Vec::new(),
    }
}

fn matches(t: &Task, filter: &Value) -> bool {
    let Some(map) = filter.as_object() else {
        return true;
    };
    map.iter().all(|(k, want)| {
        let (op, field) = split_op(k);
        let field = field.to_ascii_uppercase();
        let have = field_values(t, &field);
        let wants: Vec<String> = list_of(Some(want)).iter().filter_map(str_of).collect();
        let hit = |pred: &dyn Fn(&str, &str) -> bool| {
            have.iter().any(|h| wants.iter().any(|w| pred(h, w)))
        };
        match op {
            "!" | "!=" => !hit(&|h, w| compare(h, w) == Ordering::Equal),
            ">" => hit(&|h, w| compare(h, w) == Ordering::Greater),
            ">=" => hit(&|h, w| compare(h, w) != Ordering::Less),
            "<" => hit(&|h, w| compare(h, w) == Ordering::Less),
            "<=" => hit(&|h, w| compare(h, w) != Ordering::Greater),
            "%" | "=%" => hit(&|h, w| like(h, w)),
            _ if field == "TITLE" => hit(&|h, w| {
                if w.contains('%') {
                    like(h, w)
                } else {
                    h.eq_ignore_ascii_case(w)
                }
            }),
            _ => hit(&|h, w| compare(h, w) == Ordering::Equal),
        }
    })
}

pub fn task_list(ctx: &mut Ctx, p: &Value) -> ApiResult<Reply> {
    let filter = get(p, "filter").cloned().unwrap_or(json!({}));
    let mut found: Vec<&Task> = ctx
        .portal
        .tasks
        .values()
        .filter(|t| matches(t, &filter))
        .collect();
    if let Some(Value::Object(order)) = get(p, "order") {
        for (k, dir) in order.iter().rev() {
            let field = k.to_ascii_uppercase();
            let desc = str_of(dir).is_some_and(|d| d.eq_ignore_ascii_case("desc"));
            found.sort_by(|a, b| {
                let (x, y) = (field_values(a, &field), field_values(b, &field));
                let o = compare(x.first().map_or("", |s| s), y.first().map_or("", |s| s));
                if desc { o.reverse() } else { o }
            });
        }
    }
    let select = select_of(p);
    let items: Vec<Value> = found
        .iter()
        .map(|t| task_json(ctx.portal, t, &select))
        .collect();
    Ok(Reply::page(items, p, |page| json!({"tasks": page})))
}

// ---- user fields ----

fn uf_json(f: &UserField) -> Value {
    json!({
        "ID": f.id.to_string(), "ENTITY_ID": "TASKS_TASK", "FIELD_NAME": f.field_name,
        "USER_TYPE_ID": f.user_type_id, "XML_ID": f.xml_id, "SORT": f.sort.to_string(),
        "MULTIPLE": f.multiple, "MANDATORY": f.mandatory, "SHOW_FILTER": "N", "SHOW_IN_LIST": "Y",
        "EDIT_IN_LIST": "Y", "IS_SEARCHABLE": "N", "SETTINGS": f.settings, "EDIT_FORM_LABEL": f.label,
    })
}

pub fn userfield_add(ctx: &mut Ctx, p: &Value) -> ApiResult<Reply> {
    ctx.require_admin()?;
    let params = get_any(p, &["PARAMS", "0"])
        .cloned()
        .unwrap_or_else(|| p.clone());
    let kind = get_str(&params, "USER_TYPE_ID").unwrap_or_default();
    if !UF_TYPES.contains(&kind.as_str()) {
        return Err(ApiError::bad(
            "ERROR_CORE",
            format!(
                "USER_TYPE_ID '{kind}' is not supported; allowed: string, double, datetime, boolean"
            ),
        ));
    }
    let mut name = get_str(&params, "FIELD_NAME")
        .unwrap_or_default()
        .to_ascii_uppercase();
    if name.is_empty() {
        return Err(ApiError::bad("ERROR_CORE", "FIELD_NAME is required"));
    }
    if !name.starts_with("UF_") {
        name = format!("UF_{name}");
    }
    if ctx
        .portal
        .task_userfields
        .iter()
        .any(|f| f.field_name == name)
    {
        return Err(ApiError::bad(
            "ERROR_CORE",
            format!("Field {name} already exists"),
        ));
    }
    let id = ctx.portal.next("userfield");
    let label = get_any(&params, &["EDIT_FORM_LABEL", "LABEL"])
        .cloned()
        .unwrap_or(json!({}));
    ctx.portal.task_userfields.push(UserField {
        id,
        field_name: name,
        user_type_id: kind,
        xml_id: get_str(&params, "XML_ID").unwrap_or_default(),
        sort: get_int(&params, "SORT").unwrap_or(100),
        multiple: if params::is_yes(get(&params, "MULTIPLE")) {
            "Y"
        } else {
            "N"
        }
        .into(),
        mandatory: if params::is_yes(get(&params, "MANDATORY")) {
            "Y"
        } else {
            "N"
        }
        .into(),
        label,
        settings: get(&params, "SETTINGS").cloned().unwrap_or(json!({})),
    });
    Ok(Reply::of(json!(id)))
}

pub fn userfield_getlist(ctx: &mut Ctx, p: &Value) -> ApiResult<Reply> {
    let filter = get_any(p, &["FILTER", "1"]).cloned().unwrap_or(json!({}));
    let items: Vec<Value> = ctx
        .portal
        .task_userfields
        .iter()
        .map(uf_json)
        .filter(|j| {
            filter.as_object().is_none_or(|m| {
                m.iter()
                    .all(|(k, v)| j.get(k.to_ascii_uppercase()).and_then(str_of) == str_of(v))
            })
        })
        .collect();
    Ok(Reply::of(Value::Array(items)))
}

pub fn userfield_get(ctx: &mut Ctx, p: &Value) -> ApiResult<Reply> {
    let id = get_any(p, &["ID", "0"]).and_then(int_of).unwrap_or(0);
    let f = ctx
        .portal
        .task_userfields
        .iter()
        .find(|f| i64::try_from(f.id).ok() == Some(id));
    Ok(Reply::of(f.map(uf_json).unwrap_or(Value::Bool(false))))
}

pub fn userfield_delete(ctx: &mut Ctx, p: &Value) -> ApiResult<Reply> {
    ctx.require_admin()?;
    let id = get_any(p, &["ID", "0"]).and_then(int_of).unwrap_or(0);
    let before = ctx.portal.task_userfields.len();
    ctx.portal
        .task_userfields
        .retain(|f| i64::try_from(f.id).ok() != Some(id));
    Ok(Reply::of(json!(before != ctx.portal.task_userfields.len())))
}

pub fn userfield_gettypes(_ctx: &mut Ctx, _p: &Value) -> ApiResult<Reply> {
    let names = [
        ("string", "String"),
        ("double", "Number"),
        ("datetime", "Date/Time"),
        ("boolean", "Yes/No"),
    ];
    Ok(Reply::of(Value::Array(
        names
            .iter()
            .map(|(id, t)| json!({"ID": id, "title": t}))
            .collect(),
    )))
}

// ---- comments and the task chat ----

/// A message was posted in a task's chat: in the new card that is a comment (ONTASKCOMMENTADD
/// with `ID=0` and `MESSAGE_ID`).
pub fn after_task_chat_message(ctx: &mut Ctx, chat_id: u64, message_id: u64, author: u64) {
    if !ctx.portal.new_task_card {
        return;
    }
    let task = ctx
        .portal
        .chats
        .get(&chat_id)
        .filter(|c| c.entity_type == "TASKS_TASK")
        .map(|c| c.entity_id.clone());
    if let Some(task_id) = task {
        let data = json!({"FIELDS_AFTER": {"ID": "0", "TASK_ID": task_id, "MESSAGE_ID": message_id.to_string()}});
        events_out::fire(ctx, "ONTASKCOMMENTADD", data, Some(author));
    }
}

/// Adds a comment as `author` (old card: a forum comment; new card: a task-chat message).
/// Returns the comment id (old) or the message id (new).
pub fn comment(ctx: &mut Ctx, task_id: u64, author: u64, text: &str, via: &str) -> ApiResult<u64> {
    let chat_id = ctx
        .portal
        .tasks
        .get(&task_id)
        .map(|t| t.chat_id)
        .ok_or_else(not_found)?;
    if text.trim().is_empty() {
        return Err(ApiError::bad("ERROR_CORE", "POST_MESSAGE is required"));
    }
    if ctx.portal.new_task_card {
        let mid = ctx
            .portal
            .add_message(chat_id, author, text, (None, None, false), via);
        after_task_chat_message(ctx, chat_id, mid, author);
        return Ok(mid);
    }
    let id = ctx.portal.next("comment");
    ctx.portal.comments.push(Comment {
        id,
        task_id,
        author_id: author,
        message: text.into(),
        date: now_iso(),
    });
    let data = json!({"FIELDS_AFTER": {"ID": id.to_string(), "TASK_ID": task_id.to_string()}});
    events_out::fire(ctx, "ONTASKCOMMENTADD", data, Some(author));
    Ok(id)
}

pub fn comment_add(ctx: &mut Ctx, p: &Value) -> ApiResult<Reply> {
    let task_id = task_id(p)?;
    let fields = get_any(p, &["FIELDS", "1"]).cloned().unwrap_or(json!({}));
    let text = get_str(&fields, "POST_MESSAGE").unwrap_or_default();
    let author = get_int(&fields, "AUTHOR_ID")
        .and_then(|a| u64::try_from(a).ok())
        .unwrap_or(ctx.caller.user_id);
    let id = comment(ctx, task_id, author, &text, "task.commentitem.add")?;
    Ok(Reply::of(json!(id)))
}

fn comment_json(portal: &Portal, c: &Comment) -> Value {
    let u = portal.users.get(&c.author_id);
    json!({"ID": c.id.to_string(), "AUTHOR_ID": c.author_id.to_string(),
           "AUTHOR_NAME": u.map(|u| u.full_name()).unwrap_or_default(),
           "AUTHOR_EMAIL": u.map(|u| u.email.clone()).unwrap_or_default(),
           "POST_DATE": c.date, "POST_MESSAGE": c.message, "POST_MESSAGE_HTML": c.message})
}

fn old_card_only(ctx: &Ctx, method: &str) -> ApiResult<()> {
    if ctx.portal.new_task_card {
        return Err(ApiError::bad(
            "ERROR_CORE",
            format!("{method} does not work in the new task card: comments are task chat messages"),
        ));
    }
    Ok(())
}

pub fn comment_getlist(ctx: &mut Ctx, p: &Value) -> ApiResult<Reply> {
    old_card_only(ctx, "task.commentitem.getlist")?;
    let id = task_id(p)?;
    if !ctx.portal.tasks.contains_key(&id) {
        return Err(not_found());
    }
    let items = ctx
        .portal
        .comments
        .iter()
        .filter(|c| c.task_id == id)
        .map(|c| comment_json(ctx.portal, c))
        .collect();
    Ok(Reply::of(Value::Array(items)))
}

pub fn comment_get(ctx: &mut Ctx, p: &Value) -> ApiResult<Reply> {
    old_card_only(ctx, "task.commentitem.get")?;
    let id = task_id(p)?;
    let item = get_any(p, &["ITEMID", "1"]).and_then(int_of).unwrap_or(0);
    let c = ctx
        .portal
        .comments
        .iter()
        .find(|c| c.task_id == id && i64::try_from(c.id).ok() == Some(item))
        .ok_or_else(|| ApiError::bad("ERROR_CORE", "Comment not found"))?;
    Ok(Reply::of(comment_json(ctx.portal, c)))
}

/// REST 3.0 `tasks.task.chat.message.send {fields:{taskId, text}}` → `{result:{result:true}}`.
pub fn chat_message_send(ctx: &mut Ctx, p: &Value) -> ApiResult<Reply> {
    let fields = get(p, "fields").cloned().unwrap_or(json!({}));
    let Some(task_id) = get_int(&fields, "taskId") else {
        return Err(ApiError::validation("taskId", "Required field"));
    };
    let text = get_str(&fields, "text").unwrap_or_default();
    if text.trim().is_empty() {
        return Err(ApiError::validation("text", "Required field"));
    }
    let task = u64::try_from(task_id)
        .ok()
        .and_then(|id| ctx.portal.tasks.get(&id));
    let Some(chat_id) = task.map(|t| t.chat_id) else {
        return Err(ApiError::entity_not_found("Task"));
    };
    let author = ctx.caller.user_id;
    let mid = ctx.portal.add_message(
        chat_id,
        author,
        &text,
        (None, None, false),
        "tasks.task.chat.message.send",
    );
    after_task_chat_message(ctx, chat_id, mid, author);
    Ok(Reply::of(json!({"result": true})))
}
