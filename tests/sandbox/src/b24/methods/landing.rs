//! The classic knowledge base: `landing` sites of TYPE KNOWLEDGE (or GROUP), folders, pages,
//! blocks, publication. Every call must carry the top-level `scope` (`KNOWLEDGE`/`GROUP`);
//! without it only PAGE/STORE/SMN sites are visible, so KB sites and their pages are "not
//! found".
//!
//! Pages have a draft and a published version: blocks are edited in the draft (their ids are
//! what `landing.block.getlist` with `params.edit_mode=1` lists), and publishing copies the
//! draft to public blocks with ids of their own, which is all `getlist` shows without
//! `edit_mode` — and nothing at all while the page is unpublished.

use crate::b24::context::{Ctx, Reply};
use crate::b24::errors::{ApiError, ApiResult};
use crate::b24::params::{get, get_any, get_str, is_yes, str_of};
use crate::b24::state::{Block, Folder, Landing, Site, random_token};
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

fn not_exist() -> ApiError {
    ApiError::bad("LANDING_NOT_EXIST", "Landing not found")
}

fn missing(what: &str) -> ApiError {
    ApiError::bad(
        "MISSING_PARAMS",
        format!("Insufficient call parameters, missing: {what}"),
    )
}

/// The page `lid` (or `id`), if its site is visible in the call's scope.
fn landing(ctx: &Ctx, p: &Value) -> ApiResult<Landing> {
    let Some(raw) = get_any(p, &["lid", "id"]) else {
        return Err(missing("lid"));
    };
    let l = ctx
        .portal
        .landings
        .get(&id_of(Some(raw)))
        .cloned()
        .ok_or_else(not_exist)?;
    site(ctx, p, l.site_id).map_err(|_| not_exist())?;
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

/// A URL code from a title, as transliteration would leave it for ASCII titles.
fn code_from(title: &str) -> String {
    let mut code = String::new();
    for c in title.trim().to_lowercase().chars() {
        if c.is_ascii_alphanumeric() {
            code.push(c);
        } else if !code.ends_with('-') && !code.is_empty() {
            code.push('-');
        }
    }
    code.trim_end_matches('-').to_owned()
}

fn yn(b: bool) -> &'static str {
    if b { "Y" } else { "N" }
}

/// Site codes are listed as `/code/`.
fn site_json(s: &Site) -> Value {
    json!({"ID": s.id.to_string(), "TITLE": s.title, "CODE": format!("/{}/", s.code), "TYPE": s.site_type,
           "ACTIVE": yn(s.active), "DELETED": "N", "DESCRIPTION": s.description})
}

fn landing_json(l: &Landing) -> Value {
    json!({"ID": l.id.to_string(), "SITE_ID": l.site_id.to_string(), "TITLE": l.title, "CODE": l.code,
           "FOLDER_ID": l.folder_id.map(|f| f.to_string()), "ACTIVE": yn(l.active), "DELETED": "N",
           "XML_ID": l.xml_id, "DESCRIPTION": l.description, "PUBLIC": yn(l.active)})
}

fn folder_json(f: &Folder) -> Value {
    json!({"ID": f.id.to_string(), "SITE_ID": f.site_id.to_string(), "PARENT_ID": f.parent_id.map(|p| p.to_string()),
           "INDEX_ID": null, "TITLE": f.title, "CODE": f.code, "ACTIVE": yn(f.active), "DELETED": "N"})
}

/// A filter value as compared: `0`, `""`, `false` and null on a `…_ID` key mean "none"
/// (`PARENT_ID: 0` selects top-level folders).
fn wanted(key: &str, v: &Value) -> Option<String> {
    let s = str_of(v);
    let empty_ref =
        key != "ID" && key.ends_with("_ID") && matches!(s.as_deref(), None | Some("" | "0" | "N"));
    if empty_ref { None } else { s }
}

/// `{FIELD: value}` / `{"=FIELD": value}` / `{FIELD: [values]}` against a listed object.
fn filter_ok(j: &Value, filter: Option<&Value>) -> bool {
    let Some(Value::Object(f)) = filter else {
        return true;
    };
    f.iter().all(|(k, v)| {
        let key = k.trim_start_matches(['=', '@']).to_ascii_uppercase();
        let have = j.get(&key).and_then(str_of);
        match v {
            Value::Array(items) => items.iter().any(|x| wanted(&key, x) == have),
            other => wanted(&key, other) == have,
        }
    })
}

pub fn site_add(ctx: &mut Ctx, p: &Value) -> ApiResult<Reply> {
    let f = fields(p);
    let title = required(&f, "TITLE")?;
    let types = allowed_types(p);
    let site_type =
        get_str(&f, "TYPE").map_or_else(|| types[0].to_owned(), |t| t.to_ascii_uppercase());
    if !types.contains(&site_type.as_str()) {
        return Err(ApiError::bad(
            "TYPE_ERROR",
            format!("Site type {site_type} is not allowed in this scope"),
        ));
    }
    // Sent with or without the outer slashes; empty: from the title, else `site`.
    let mut code = get_str(&f, "CODE")
        .map(|c| c.trim().trim_matches('/').to_owned())
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| code_from(&title));
    if code.is_empty() {
        code = "site".into();
    }
    if code.bytes().all(|b| b.is_ascii_digit()) {
        code = format!("site{code}");
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
    let title = get_str(f, "TITLE")
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| ApiError::bad("BX_EMPTY_REQUIRED", "Field TITLE is required"))?;
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
    let mut code = get_str(f, "CODE")
        .filter(|c| !c.trim().is_empty())
        .unwrap_or_else(|| code_from(&title));
    if code.contains('/') {
        return Err(ApiError::bad(
            "SLASH_IS_NOT_ALLOWED",
            "The character / is not allowed in CODE",
        ));
    }
    if code.is_empty() {
        code = random_token(12);
    }
    if ctx
        .portal
        .folders
        .values()
        .any(|x| x.site_id == site_id && x.parent_id == parent && x.code == code)
    {
        return Err(ApiError::bad(
            "FOLDER_IS_NOT_UNIQUE",
            "A folder with this name already exists",
        ));
    }
    let id = ctx.portal.next("folder");
    // Folders are created inactive unless asked otherwise.
    let active = is_yes(get(f, "ACTIVE"));
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
    if get(p, "siteId").is_none() {
        return Err(missing("siteId"));
    }
    let s = site(ctx, p, id_of(get(p, "siteId")))
        .map_err(|_| ApiError::bad("ACCESS_DENIED", "Site not found or access to it is denied."))?;
    let id = make_folder(ctx, s.id, &fields(p))?;
    Ok(Reply::of(json!(id)))
}

pub fn site_getfolders(ctx: &mut Ctx, p: &Value) -> ApiResult<Reply> {
    if get(p, "siteId").is_none() {
        return Err(missing("siteId"));
    }
    // A site the caller cannot see simply has no folders for it.
    let Ok(s) = site(ctx, p, id_of(get(p, "siteId"))) else {
        return Ok(Reply::of(json!([])));
    };
    let filter = get(p, "filter");
    let items = ctx
        .portal
        .folders
        .values()
        .filter(|f| f.site_id == s.id)
        .map(folder_json)
        .filter(|j| filter_ok(j, filter))
        .collect();
    Ok(Reply::of(Value::Array(items)))
}

/// Copies the page's draft blocks to its published version.
fn publish_blocks(ctx: &mut Ctx, lid: u64) {
    let drafts: Vec<u64> = ctx
        .portal
        .blocks
        .values()
        .filter(|b| b.lid == lid)
        .map(|b| b.id)
        .collect();
    for id in drafts {
        let public_id = match ctx.portal.blocks.get(&id).and_then(|b| b.public_id) {
            Some(p) => p,
            None => ctx.portal.next("block"),
        };
        if let Some(b) = ctx.portal.blocks.get_mut(&id) {
            b.public_id = Some(public_id);
            b.public_content = Some(b.content.clone());
        }
    }
}

pub fn site_publication(ctx: &mut Ctx, p: &Value) -> ApiResult<Reply> {
    let s = site(ctx, p, id_of(get_any(p, &["id", "siteId"])))?;
    if let Some(site) = ctx.portal.sites.get_mut(&s.id) {
        site.active = true;
    }
    let pages: Vec<u64> = ctx
        .portal
        .landings
        .values()
        .filter(|l| l.site_id == s.id)
        .map(|l| l.id)
        .collect();
    for lid in pages {
        if let Some(l) = ctx.portal.landings.get_mut(&lid) {
            l.active = true;
        }
        publish_blocks(ctx, lid);
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
    let code = get_str(&f, "CODE")
        .filter(|c| !c.trim().is_empty())
        .unwrap_or_else(|| format!("page{id}"));
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
        if let Some(xml) = get_str(&f, "XML_ID") {
            x.xml_id = xml;
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

/// `landing.landing.move {lid, toSiteId, toFolderId}`: 0 or absent `toSiteId` keeps the
/// page's site, 0 or absent `toFolderId` means the site's root. A folder must be of the
/// page's current site: changing the site and entering one of its folders in one call is
/// refused (`FOLDER_NOT_FOUND`).
pub fn landing_move(ctx: &mut Ctx, p: &Value) -> ApiResult<Reply> {
    let l = landing(ctx, p)?;
    let to_site = Some(id_of(get(p, "toSiteId")))
        .filter(|s| *s > 0)
        .unwrap_or(l.site_id);
    site(ctx, p, to_site).map_err(|_| {
        ApiError::bad(
            "ACCESS_DENIED",
            "Insufficient permissions to modify the target site",
        )
    })?;
    let to_folder = Some(id_of(get(p, "toFolderId"))).filter(|f| *f > 0);
    if let Some(fid) = to_folder {
        let in_site = ctx
            .portal
            .folders
            .get(&fid)
            .is_some_and(|f| f.site_id == to_site);
        if !in_site || to_site != l.site_id {
            return Err(ApiError::bad("FOLDER_NOT_FOUND", "Folder not found"));
        }
    }
    if let Some(x) = ctx.portal.landings.get_mut(&l.id) {
        x.site_id = to_site;
        x.folder_id = to_folder;
    }
    Ok(Reply::of(json!(true)))
}

pub fn landing_addblock(ctx: &mut Ctx, p: &Value) -> ApiResult<Reply> {
    let l = landing(ctx, p)?;
    let f = fields(p);
    let code = get_str(&f, "CODE")
        .filter(|c| !c.trim().is_empty())
        .ok_or_else(|| {
            ApiError::bad(
                "BLOCK_CANT_BE_ADDED",
                "Cannot add block because it is not intended for this type of page.",
            )
        })?;
    let content = match get(&f, "CONTENT") {
        Some(c) => {
            let c = str_of(c).unwrap_or_default();
            if c.trim().is_empty() {
                return Err(ApiError::bad("BLOCK_NOT_FOUND", "Block content not found"));
            }
            sanitize(&c)
        }
        None => String::new(),
    };
    // Without AFTER_ID (or with one not on the page) the block goes first.
    let mut order: Vec<(u64, u64)> = ctx
        .portal
        .blocks
        .values()
        .filter(|b| b.lid == l.id)
        .map(|b| (b.sort, b.id))
        .collect();
    order.sort_unstable();
    let after = get(&f, "AFTER_ID").map(|v| id_of(Some(v)));
    let at = after
        .and_then(|a| order.iter().position(|(_, id)| *id == a))
        .map_or(0, |i| i + 1);
    let id = ctx.portal.next("block");
    order.insert(at, (0, id));
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
            sort: 0,
            public_id: None,
            public_content: None,
        },
    );
    for (i, (_, bid)) in order.iter().enumerate() {
        if let Some(b) = ctx.portal.blocks.get_mut(bid) {
            b.sort = (i as u64 + 1) * 100;
        }
    }
    if is_yes(get(&f, "RETURN_CONTENT")) {
        return Ok(Reply::of(
            json!({"id": id, "active": active, "anchor": format!("b{id}"), "content": content}),
        ));
    }
    Ok(Reply::of(json!(id)))
}

pub fn landing_publication(ctx: &mut Ctx, p: &Value) -> ApiResult<Reply> {
    let l = landing(ctx, p)?;
    if let Some(x) = ctx.portal.landings.get_mut(&l.id) {
        x.active = true;
    }
    publish_blocks(ctx, l.id);
    Ok(Reply::of(json!(true)))
}

pub fn landing_unpublic(ctx: &mut Ctx, p: &Value) -> ApiResult<Reply> {
    let l = landing(ctx, p)?;
    if let Some(x) = ctx.portal.landings.get_mut(&l.id) {
        x.active = false;
    }
    Ok(Reply::of(json!(true)))
}

/// The page's public address: `/knowledge/{site}/{page}/` on the portal for a KB
/// (`/knowledge/group/…` for a group KB).
pub fn landing_getpublicurl(ctx: &mut Ctx, p: &Value) -> ApiResult<Reply> {
    let l = landing(ctx, p)?;
    let s = site(ctx, p, l.site_id)?;
    let scheme = if ctx.world.base_url.starts_with("https://") {
        "https"
    } else {
        "http"
    };
    let prefix = match s.site_type.as_str() {
        "KNOWLEDGE" => "/knowledge",
        "GROUP" => "/knowledge/group",
        _ => "",
    };
    Ok(Reply::of(json!(format!(
        "{scheme}://{}{prefix}/{}/{}/",
        ctx.portal.domain, s.code, l.code
    ))))
}

/// A draft block of page `lid` (published copies are not edited).
fn block_of(ctx: &Ctx, p: &Value, lid: u64) -> ApiResult<u64> {
    let Some(raw) = get(p, "block") else {
        return Err(missing("block"));
    };
    let id = id_of(Some(raw));
    ctx.portal
        .blocks
        .get(&id)
        .filter(|b| b.lid == lid)
        .map(|b| b.id)
        .ok_or_else(|| ApiError::bad("BLOCK_NOT_FOUND", "Block not found"))
}

pub fn block_getlist(ctx: &mut Ctx, p: &Value) -> ApiResult<Reply> {
    let l = landing(ctx, p)?;
    let edit_mode = get(p, "params").is_some_and(|x| is_yes(get(x, "edit_mode")));
    let mut blocks: Vec<&Block> = ctx
        .portal
        .blocks
        .values()
        .filter(|b| b.lid == l.id)
        .collect();
    blocks.sort_by_key(|b| b.sort);
    let item = |b: &Block, id: u64, content: &str| {
        json!({"id": id, "lid": b.lid, "code": b.code, "name": b.code, "active": b.active,
               "sort": b.sort, "content": content, "nodes": b.nodes})
    };
    let items: Vec<Value> = if edit_mode {
        blocks.iter().map(|b| item(b, b.id, &b.content)).collect()
    } else if l.active {
        blocks
            .iter()
            .filter_map(|b| {
                let (id, content) = (b.public_id?, b.public_content.as_deref()?);
                Some(item(b, id, content))
            })
            .collect()
    } else {
        Vec::new()
    };
    Ok(Reply::of(Value::Array(items)))
}

pub fn block_updatecontent(ctx: &mut Ctx, p: &Value) -> ApiResult<Reply> {
    let l = landing(ctx, p)?;
    let id = block_of(ctx, p, l.id)?;
    let Some(content) = get_str(p, "content") else {
        return Err(missing("content"));
    };
    if let Some(b) = ctx.portal.blocks.get_mut(&id) {
        b.content = sanitize(&content);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_compare_like_the_orm() {
        let folder = json!({"ID": "3", "PARENT_ID": null, "CODE": "a"});
        assert!(filter_ok(&folder, Some(&json!({"PARENT_ID": 0}))));
        assert!(filter_ok(&folder, Some(&json!({"=CODE": ["b", "a"]}))));
        assert!(!filter_ok(&folder, Some(&json!({"CODE": "b"}))));
        assert!(!filter_ok(&folder, Some(&json!({"ID": 0}))));
        assert_eq!(code_from("Release notes 2.0!"), "release-notes-2-0");
    }
}
