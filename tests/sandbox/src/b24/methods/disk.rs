//! Drive: storages (including an app's own, `disk.storage.getForApp`), sub-folders, uploads
//! (base64 `fileContent`), children, files; files can be downloaded from their `DOWNLOAD_URL`.

use crate::b24::context::{Ctx, Reply};
use crate::b24::errors::{ApiError, ApiResult};
use crate::b24::params::{get, get_any, get_int, get_str, is_yes, list_of, str_of};
use crate::b24::state::{DiskObject, Storage, now_iso};
use base64::Engine;
use serde_json::{Value, json};

fn storage_json(s: &Storage) -> Value {
    json!({"ID": s.id.to_string(), "NAME": s.name, "CODE": s.code, "MODULE_ID": "disk",
           "ENTITY_TYPE": s.entity_type, "ENTITY_ID": s.entity_id, "ROOT_OBJECT_ID": s.root_object_id.to_string()})
}

pub fn object_json(base_url: &str, member_id: &str, o: &DiskObject) -> Value {
    let mut j = json!({
        "ID": o.id.to_string(), "NAME": o.name, "CODE": null, "STORAGE_ID": o.storage_id.to_string(),
        "TYPE": if o.is_folder { "folder" } else { "file" },
        "PARENT_ID": o.parent_id.map(|p| p.to_string()), "DELETED_TYPE": "0",
        "CREATE_TIME": o.created, "UPDATE_TIME": o.created, "DELETE_TIME": null,
        "CREATED_BY": o.created_by.to_string(), "UPDATED_BY": o.created_by.to_string(), "DELETED_BY": null,
        "DETAIL_URL": format!("{base_url}/docs/path/{}", o.name),
    });
    if o.is_folder {
        j["REAL_OBJECT_ID"] = json!(o.id.to_string());
    } else {
        j["SIZE"] = json!(o.size.to_string());
        j["FILE_ID"] = json!(o.id.to_string());
        j["GLOBAL_CONTENT_VERSION"] = json!("1");
        j["DOWNLOAD_URL"] = json!(format!("{base_url}/disk/download/{member_id}/{}", o.id));
    }
    j
}

pub fn storage_getlist(ctx: &mut Ctx, p: &Value) -> ApiResult<Reply> {
    let filter = get(p, "filter")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let items: Vec<Value> = ctx
        .portal
        .storages
        .iter()
        .map(storage_json)
        .filter(|j| {
            filter.iter().all(|(k, v)| {
                j.get(k.trim_start_matches('=').to_ascii_uppercase())
                    .and_then(str_of)
                    == str_of(v)
            })
        })
        .collect();
    Ok(Reply::page(items, p, Value::Array))
}

/// The calling app's storage, created on first use. Only an application (not a webhook)
/// run by an administrator may ask.
pub fn storage_getforapp(ctx: &mut Ctx, _p: &Value) -> ApiResult<Reply> {
    let Some(client_id) = ctx.caller.client_id().map(str::to_owned) else {
        return Err(ApiError::bad(
            "ACCESS_DENIED",
            "Access denied! Application context required",
        ));
    };
    if !ctx.portal.is_admin(ctx.caller.user_id) {
        return Err(ApiError::bad("ACCESS_DENIED", "Access denied"));
    }
    let existing = ctx
        .portal
        .storages
        .iter()
        .find(|s| s.entity_type == "restapp" && s.entity_id == client_id)
        .cloned();
    let storage = match existing {
        Some(s) => s,
        None => {
            let root = ctx.portal.next("disk");
            let id = ctx.portal.next("storage");
            let s = Storage {
                id,
                name: client_id.clone(),
                code: None,
                entity_type: "restapp".into(),
                entity_id: client_id.clone(),
                root_object_id: root,
            };
            ctx.portal.disk.insert(
                root,
                DiskObject {
                    id: root,
                    storage_id: id,
                    parent_id: None,
                    name: client_id,
                    is_folder: true,
                    bytes: Vec::new(),
                    size: 0,
                    created_by: ctx.caller.user_id,
                    created: now_iso(),
                },
            );
            ctx.portal.storages.push(s.clone());
            s
        }
    };
    Ok(Reply::of(storage_json(&storage)))
}

fn folder(ctx: &Ctx, p: &Value) -> ApiResult<DiskObject> {
    let id = get_int(p, "id")
        .and_then(|i| u64::try_from(i).ok())
        .unwrap_or(0);
    ctx.portal
        .disk
        .get(&id)
        .filter(|o| o.is_folder)
        .cloned()
        .ok_or_else(|| {
            ApiError::bad(
                "ERROR_NOT_FOUND",
                "Could not find entity with id 'X' (Folder)",
            )
        })
}

fn unique_name(ctx: &Ctx, parent: u64, name: &str, generate: bool) -> ApiResult<String> {
    let taken = |n: &str| {
        ctx.portal
            .disk
            .values()
            .any(|o| o.parent_id == Some(parent) && o.name.eq_ignore_ascii_case(n))
    };
    if !taken(name) {
        return Ok(name.to_owned());
    }
    if !generate {
        return Err(ApiError::bad(
            "DISK_OBJ_22000",
            format!("Non unique name '{name}'"),
        ));
    }
    let (stem, ext) = name
        .rsplit_once('.')
        .map_or((name, String::new()), |(s, e)| (s, format!(".{e}")));
    (1..)
        .map(|i| format!("{stem} ({i}){ext}"))
        .find(|n| !taken(n))
        .ok_or_else(|| ApiError::bad("DISK_OBJ_22000", "Non unique name"))
}

fn new_object(ctx: &mut Ctx, parent: &DiskObject, name: String, bytes: Option<Vec<u8>>) -> Value {
    let id = ctx.portal.next("disk");
    let size = bytes.as_ref().map_or(0, Vec::len);
    let o = DiskObject {
        id,
        storage_id: parent.storage_id,
        parent_id: Some(parent.id),
        name,
        is_folder: bytes.is_none(),
        bytes: bytes.unwrap_or_default(),
        size,
        created_by: ctx.caller.user_id,
        created: now_iso(),
    };
    let j = object_json(&ctx.world.base_url, &ctx.portal.member_id, &o);
    ctx.portal.disk.insert(id, o);
    j
}

pub fn folder_addsubfolder(ctx: &mut Ctx, p: &Value) -> ApiResult<Reply> {
    let parent = folder(ctx, p)?;
    let name = get(p, "data")
        .and_then(|d| get_str(d, "NAME"))
        .unwrap_or_default();
    if name.trim().is_empty() {
        return Err(ApiError::bad(
            "ERROR_ARGUMENT",
            "Required parameter data[NAME] is empty",
        ));
    }
    let name = unique_name(ctx, parent.id, &name, false)?;
    Ok(Reply::of(new_object(ctx, &parent, name, None)))
}

pub fn folder_uploadfile(ctx: &mut Ctx, p: &Value) -> ApiResult<Reply> {
    let parent = folder(ctx, p)?;
    let content = list_of(get(p, "fileContent"));
    let Some(encoded) = content.get(1).and_then(str_of) else {
        return Err(ApiError::bad(
            "ERROR_ARGUMENT",
            "fileContent [name, base64] is required (two-step upload is not supported by the sandbox)",
        ));
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| ApiError::bad("ERROR_ARGUMENT", "fileContent is not valid base64"))?;
    let name = get(p, "data")
        .and_then(|d| get_str(d, "NAME"))
        .or_else(|| content.first().and_then(str_of))
        .unwrap_or_default();
    if name.trim().is_empty() {
        return Err(ApiError::bad(
            "ERROR_ARGUMENT",
            "Required parameter data[NAME] is empty",
        ));
    }
    let generate = is_yes(get_any(p, &["generateUniqueName"]));
    let name = unique_name(ctx, parent.id, &name, generate)?;
    Ok(Reply::of(new_object(ctx, &parent, name, Some(bytes))))
}

pub fn folder_getchildren(ctx: &mut Ctx, p: &Value) -> ApiResult<Reply> {
    let parent = folder(ctx, p)?;
    let (base, member) = (ctx.world.base_url.clone(), ctx.portal.member_id.clone());
    let items: Vec<Value> = ctx
        .portal
        .disk
        .values()
        .filter(|o| o.parent_id == Some(parent.id))
        .map(|o| object_json(&base, &member, o))
        .collect();
    Ok(Reply::page(items, p, Value::Array))
}

pub fn file_get(ctx: &mut Ctx, p: &Value) -> ApiResult<Reply> {
    let id = get_int(p, "id")
        .and_then(|i| u64::try_from(i).ok())
        .unwrap_or(0);
    let o = ctx
        .portal
        .disk
        .get(&id)
        .filter(|o| !o.is_folder)
        .ok_or_else(|| {
            ApiError::bad(
                "ERROR_NOT_FOUND",
                "Could not find entity with id 'X' (File)",
            )
        })?;
    Ok(Reply::of(object_json(
        &ctx.world.base_url,
        &ctx.portal.member_id,
        o,
    )))
}
