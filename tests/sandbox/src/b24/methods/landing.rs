//! The classic knowledge base: `landing` sites of TYPE KNOWLEDGE (or GROUP), folders, pages,
//! blocks, publication. Every call must carry the top-level `scope` (`KNOWLEDGE`/`GROUP`);
//! without it only PAGE/STORE/SMN sites are visible, so KB sites and their pages are "not
//! found".

use crate::b24::context::{Ctx, Reply};
use crate::b24::errors::{ApiError, ApiResult};
use crate::b24::params::{get, get_any, get_str, is_yes, str_of};
use crate::b24::state::{Block, Folder, Landing, Site};
use serde_json::{Value, json};

fn allowed_types(p: &Value) -> Vec<&'static str> {
    match get_str(p, "scope")
        .map(|s| s.to_ascii_uppercase())
        .as_deref()
    {
        Some("KNOWLEDGE") => vec!["KNOWLEDGE"],
        Some("GROUP") => vec!["GROUP"],
        _ => vec!["PAGE", "STORE", "SMN"],
    }
}

fn id_of(v: Option<&Value>) -> u64 {
    v.and_then(crate::b24::params::int_of)
        .and_then(|i| u64::try_from(i).ok())
        .unwrap_or(0)
}

fn site(ctx: &Ctx, p: &Value, id: u64) -> ApiResult<Site> {
    let types = allowed_types(p);
    ctx.portal
        .sites
        .get(&id)
        .filter(|s| types.contains(&s.site_type.as_str()))
        .cloned()
        .ok_or_else(|| ApiError::bad("SITE_NOT_FOUND", "Site not found"))
}

fn landing(ctx: &Ctx, p: &Value) -> ApiResult<Landing> {
    let lid = id_of(get_any(p, &["lid", "id"]));
    let l = ctx
        .portal
        .landings
        .get(&lid)
        .cloned()
        .ok_or_else(|| ApiError::bad("LANDING_NOT_FOUND", "Landing not found"))?;
    site(ctx, p, l.site_id).map_err(|_| ApiError::bad("LANDING_NOT_FOUND", "Landing not found"))?;
    Ok(l)
}

fn fields(p: &Value) -> Value {
    get(p, "fields").cloned().unwrap_or(json!({}))
}

fn required(f: &Value, key: &str) -> ApiResult<String> {
    get_str(f, key)
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| ApiError::bad("MISSING_PARAMS", format!("Missing required field {key}")))
}

/// What the landing module keeps of submitted HTML: scripts are cut.
pub fn sanitize(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    loop {
        let lower = rest.to_ascii_lowercase();
        let Some(start) = lower.find("<script") else {
            out.push_str(rest);
            return out;
        };
        out.push_str(&rest[..start]);
        match lower[start..].find("</script>") {
            Some(end) => rest = &rest[start + end + "</script>".len()..],
            None => return out,
        }
    }
}

fn site_json(s: &Site) -> Value {
    json!({"ID": s.id.to_string(), "TITLE": s.title, "CODE": s.code, "TYPE": s.site_type,
           "ACTIVE": if s.active { "Y" } else { "N" }, "DESCRIPTION": s.description})
}

fn landing_json(l: &Landing) -> Value {
    json!({"ID": l.id.to_string(), "SITE_ID": l.site_id.to_string(), "TITLE": l.title, "CODE": l.code,
           "FOLDER_ID": l.folder_id.map(|f| f.to_string()), "ACTIVE": if l.active { "Y" } else { "N" },
           "XML_ID": l.xml_id, "DESCRIPTION": l.description, "PUBLIC": if l.active { "Y" } else { "N" }})
}

fn folder_json(f: &Folder) -> Value {
    json!({"ID": f.id.to_string(), "SITE_ID": f.site_id.to_string(), "PARENT_ID": f.parent_id.map(|p| p.to_string()),
           "TITLE": f.title, "CODE": f.code, "ACTIVE": if f.active { "Y" } else { "N" }})
}

pub fn site_add(ctx: &mut Ctx, p: &Value) -> ApiResult<Reply> {
    let f = fields(p);
    let title = required(&f, "TITLE")?;
    let code = required(&f, "CODE")?;
    let types = allowed_types(p);
    let site_type =
        get_str(&f, "TYPE").map_or_else(|| types[0].to_owned(), |t| t.to_ascii_uppercase());
    if !types.contains(&site_type.as_str()) {
        return Err(ApiError::bad(
            "TYPE_ERROR",
            format!("Site type {site_type} is not allowed in this scope"),
        ));
    }
    if ctx
        .portal
        .sites
        .values()
        .any(|s| s.code == code && s.site_type == site_type)
    {
        return Err(ApiError::bad(
            "SITE_CODE_IS_NOT_UNIQUE",
            "Site code is not unique",
        ));
    }
    let id = ctx.portal.next("site");
    ctx.portal.sites.insert(
        id,
        Site {
            id,
            title,
            code,
            site_type,
            description: get_str(&f, "DESCRIPTION").unwrap_or_default(),
            active: false,
        },
    );
    Ok(Reply::of(json!(id)))
}

fn filter_ok(j: &Value, filter: Option<&Value>) -> bool {
    let Some(Value::Object(f)) = filter else {
        return true;
    };
    f.iter().all(|(k, v)| {
        let key = k.trim_start_matches('=').to_ascii_uppercase();
        j.get(&key).and_then(str_of) == str_of(v)
    })
}

pub fn site_getlist(ctx: &mut Ctx, p: &Value) -> ApiResult<Reply> {
    let types = allowed_types(p);
    let filter = get(p, "params").and_then(|x| get(x, "filter"));
    let items = ctx
        .portal
        .sites
        .values()
        .filter(|s| types.contains(&s.site_type.as_str()))
        .map(site_json)
        .filter(|j| filter_ok(j, filter))
        .collect();
    Ok(Reply::of(Value::Array(items)))
}

fn make_folder(ctx: &mut Ctx, site_id: u64, f: &Value) -> ApiResult<u64> {
    let title = required(f, "TITLE")?;
    let parent = get(f, "PARENT_ID")
        .map(|v| id_of(Some(v)))
        .filter(|p| *p > 0);
    let folder_ok = |pid: u64| {
        ctx.portal
            .folders
            .get(&pid)
            .is_some_and(|x| x.site_id == site_id)
    };
    if parent.is_some_and(|pid| !folder_ok(pid)) {
        return Err(ApiError::bad("FOLDER_NOT_FOUND", "Parent folder not found"));
    }
    let id = ctx.portal.next("folder");
    let code = get_str(f, "CODE").unwrap_or_else(|| format!("folder{id}"));
    let active = get(f, "ACTIVE").is_none_or(|a| is_yes(Some(a)));
    ctx.portal.folders.insert(
        id,
        Folder {
            id,
            site_id,
            parent_id: parent,
            title,
            code,
            active,
        },
    );
    Ok(id)
}

pub fn site_addfolder(ctx: &mut Ctx, p: &Value) -> ApiResult<Reply> {
    let s = site(ctx, p, id_of(get(p, "siteId")))?;
    let id = make_folder(ctx, s.id, &fields(p))?;
    Ok(Reply::of(json!(id)))
}

pub fn site_getfolders(ctx: &mut Ctx, p: &Value) -> ApiResult<Reply> {
    let s = site(ctx, p, id_of(get(p, "siteId")))?;
    let items = ctx
        .portal
        .folders
        .values()
        .filter(|f| f.site_id == s.id)
        .map(folder_json)
        .collect();
    Ok(Reply::of(Value::Array(items)))
}

pub fn site_publication(ctx: &mut Ctx, p: &Value) -> ApiResult<Reply> {
    let s = site(ctx, p, id_of(get_any(p, &["id", "siteId"])))?;
    if let Some(site) = ctx.portal.sites.get_mut(&s.id) {
        site.active = true;
    }
    for l in ctx
        .portal
        .landings
        .values_mut()
        .filter(|l| l.site_id == s.id)
    {
        l.active = true;
    }
    Ok(Reply::of(json!(true)))
}

pub fn landing_add(ctx: &mut Ctx, p: &Value) -> ApiResult<Reply> {
    let f = fields(p);
    let s = site(ctx, p, id_of(get(&f, "SITE_ID")))?;
    if is_yes(get(&f, "FOLDER")) {
        return Ok(Reply::of(json!(make_folder(ctx, s.id, &f)?)));
    }
    let title = required(&f, "TITLE")?;
    let folder_id = get(&f, "FOLDER_ID")
        .map(|v| id_of(Some(v)))
        .filter(|x| *x > 0);
    let folder_ok = |fid: u64| {
        ctx.portal
            .folders
            .get(&fid)
            .is_some_and(|x| x.site_id == s.id)
    };
    if folder_id.is_some_and(|fid| !folder_ok(fid)) {
        return Err(ApiError::bad("FOLDER_NOT_FOUND", "Folder not found"));
    }
    let id = ctx.portal.next("landing");
    let code = get_str(&f, "CODE").unwrap_or_else(|| format!("page{id}"));
    ctx.portal.landings.insert(
        id,
        Landing {
            id,
            site_id: s.id,
            folder_id,
            title,
            code,
            active: false,
            xml_id: get_str(&f, "XML_ID").unwrap_or_default(),
            description: get_str(&f, "DESCRIPTION").unwrap_or_default(),
        },
    );
    Ok(Reply::of(json!(id)))
}

pub fn landing_getlist(ctx: &mut Ctx, p: &Value) -> ApiResult<Reply> {
    let types = allowed_types(p);
    let filter = get(p, "params").and_then(|x| get(x, "filter"));
    let items: Vec<Value> = ctx
        .portal
        .landings
        .values()
        .filter(|l| {
            ctx.portal
                .sites
                .get(&l.site_id)
                .is_some_and(|s| types.contains(&s.site_type.as_str()))
        })
        .map(landing_json)
        .filter(|j| filter_ok(j, filter))
        .collect();
    Ok(Reply::of(Value::Array(items)))
}

pub fn landing_update(ctx: &mut Ctx, p: &Value) -> ApiResult<Reply> {
    let l = landing(ctx, p)?;
    let f = fields(p);
    if let Some(x) = ctx.portal.landings.get_mut(&l.id) {
        if let Some(t) = get_str(&f, "TITLE") {
            x.title = t;
        }
        if let Some(c) = get_str(&f, "CODE") {
            x.code = c;
        }
        if let Some(fid) = get(&f, "FOLDER_ID") {
            x.folder_id = Some(id_of(Some(fid))).filter(|v| *v > 0);
        }
    }
    Ok(Reply::of(json!(true)))
}

pub fn landing_delete(ctx: &mut Ctx, p: &Value) -> ApiResult<Reply> {
    let l = landing(ctx, p)?;
    ctx.portal.landings.remove(&l.id);
    ctx.portal.blocks.retain(|_, b| b.lid != l.id);
    Ok(Reply::of(json!(true)))
}

pub fn landing_addblock(ctx: &mut Ctx, p: &Value) -> ApiResult<Reply> {
    let l = landing(ctx, p)?;
    let f = fields(p);
    let code = required(&f, "CODE")?;
    let content = get_str(&f, "CONTENT")
        .map(|c| sanitize(&c))
        .unwrap_or_default();
    let after = get(&f, "AFTER_ID").map(|v| id_of(Some(v)));
    let sort = match after.and_then(|a| ctx.portal.blocks.get(&a)) {
        Some(b) => b.sort + 1,
        None => ctx
            .portal
            .blocks
            .values()
            .filter(|b| b.lid == l.id)
            .map(|b| b.sort + 100)
            .max()
            .unwrap_or(100),
    };
    let id = ctx.portal.next("block");
    let active = get(&f, "ACTIVE").is_none_or(|a| is_yes(Some(a)));
    ctx.portal.blocks.insert(
        id,
        Block {
            id,
            lid: l.id,
            code,
            content: content.clone(),
            nodes: json!({}),
            active,
            sort,
        },
    );
    if is_yes(get(&f, "RETURN_CONTENT")) {
        return Ok(Reply::of(json!({"id": id, "content": content})));
    }
    Ok(Reply::of(json!(id)))
}

pub fn landing_publication(ctx: &mut Ctx, p: &Value) -> ApiResult<Reply> {
    let l = landing(ctx, p)?;
    if let Some(x) = ctx.portal.landings.get_mut(&l.id) {
        x.active = true;
    }
    Ok(Reply::of(json!(true)))
}

fn block_of(ctx: &Ctx, p: &Value, lid: u64) -> ApiResult<u64> {
    let id = id_of(get(p, "block"));
    ctx.portal
        .blocks
        .get(&id)
        .filter(|b| b.lid == lid)
        .map(|b| b.id)
        .ok_or_else(|| ApiError::bad("BLOCK_NOT_FOUND", "Block not found"))
}

pub fn block_getlist(ctx: &mut Ctx, p: &Value) -> ApiResult<Reply> {
    let l = landing(ctx, p)?;
    let mut blocks: Vec<&Block> = ctx
        .portal
        .blocks
        .values()
        .filter(|b| b.lid == l.id)
        .collect();
    blocks.sort_by_key(|b| b.sort);
    let items = blocks
        .iter()
        .map(|b| {
            json!({"id": b.id, "lid": b.lid, "code": b.code, "name": b.code, "active": b.active,
                        "sort": b.sort, "content": b.content, "nodes": b.nodes})
        })
        .collect();
    Ok(Reply::of(Value::Array(items)))
}

pub fn block_updatecontent(ctx: &mut Ctx, p: &Value) -> ApiResult<Reply> {
    let l = landing(ctx, p)?;
    let id = block_of(ctx, p, l.id)?;
    let content = sanitize(&get_str(p, "content").unwrap_or_default());
    if let Some(b) = ctx.portal.blocks.get_mut(&id) {
        b.content = content;
    }
    Ok(Reply::of(json!(true)))
}

pub fn block_updatenodes(ctx: &mut Ctx, p: &Value) -> ApiResult<Reply> {
    let l = landing(ctx, p)?;
    let id = block_of(ctx, p, l.id)?;
    let data = get(p, "data").cloned().unwrap_or(json!({}));
    let html = data
        .get("bitrix:landing.blocks.html")
        .and_then(|c| get(c, "attrs"))
        .and_then(|a| get_str(a, "HTML_CODE"));
    if let Some(b) = ctx.portal.blocks.get_mut(&id) {
        if let Some(h) = html {
            b.content = sanitize(&h);
        }
        b.nodes = data;
    }
    Ok(Reply::of(json!(true)))
}
