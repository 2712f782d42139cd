//! The classic knowledge base: a `landing` site of TYPE `KNOWLEDGE`, with folders for the
//! hierarchy and one HTML content block per page.
//!
//! Every call carries the top-level `"scope":"KNOWLEDGE"` (the landing module's own scope,
//! unrelated to OAuth scopes): without it the methods only see PAGE/STORE/SMN sites, so KB
//! sites and their pages would look missing. Content edits land in the page's draft; a
//! published page shows them only after the next [`kb_classic_publish`](B24Client::kb_classic_publish).

use super::B24Client;
use super::codes;
use super::error::B24Error;
use super::http::{number, text};
use serde_json::{Value, json};

/// The landing scope (and site TYPE) of a company knowledge base.
pub const KB_SCOPE: &str = "KNOWLEDGE";

/// The block that carries a mirrored page's HTML.
///
/// `27.4.one_col_fix_text` (one text column) rather than the raw-HTML block `html`: the
/// landing module's own KNOWLEDGE templates build article pages from it (`wiki/detail`) and
/// its manifest lists it in the `recommended` section that only KNOWLEDGE sites get, so it
/// is offered in this scope — while `html` being offered there is unconfirmed, and its markup
/// is a component call that `CONTENT` (which replaces the block's markup) would throw away.
/// `addblock` with `CONTENT` and `block.updatecontent` both replace the whole markup, which
/// is all the mirror needs. A constant so it can be switched (e.g. to an app block
/// `repo_<id>`) if a portal refuses it with `BLOCK_CANT_BE_ADDED`.
pub const KB_CLASSIC_BLOCK_CODE: &str = "27.4.one_col_fix_text";

/// The block's own wrapper around `html`: the same section and text node as the block's
/// stock markup, so the site theme styles the text and the editor still finds the node.
pub fn kb_classic_block_markup(html: &str) -> String {
    format!(
        "<section class=\"landing-block g-pt-30 g-pb-30\">\
         <div class=\"landing-block-node-text g-pb-1 container g-max-width-container\">{html}</div>\
         </section>"
    )
}

/// A site CODE as B24 keeps it, without the `/…/` it is listed with; a code of digits only
/// gets the `site` prefix B24 gives it.
fn site_code(code: &str) -> String {
    let code = code.trim().trim_matches('/');
    if !code.is_empty() && code.bytes().all(|b| b.is_ascii_digit()) {
        format!("site{code}")
    } else {
        code.to_owned()
    }
}

fn id_of(v: &Value, key: &str) -> Option<u64> {
    v.get(key)
        .or_else(|| v.get(key.to_ascii_lowercase()))
        .and_then(number)
}

fn field(v: &Value, key: &str) -> String {
    v.get(key).map(text).unwrap_or_default()
}

fn new_id(method: &str, result: &Value) -> Result<u64, B24Error> {
    number(result)
        .filter(|id| *id > 0)
        .ok_or_else(|| B24Error::Decode {
            method: method.to_owned(),
            status: 200,
            reason: "no id in the answer".into(),
        })
}

fn list(result: Value) -> Vec<Value> {
    match result {
        Value::Array(items) => items,
        Value::Object(m) => m.into_iter().map(|(_, v)| v).collect(),
        _ => Vec::new(),
    }
}

impl B24Client {
    /// A landing method in the KNOWLEDGE scope.
    async fn kb_call(&self, method: &str, mut params: Value) -> Result<Value, B24Error> {
        params["scope"] = json!(KB_SCOPE);
        self.call_result(method, params).await
    }

    /// The KB site with `code`, created (TYPE KNOWLEDGE, unpublished) when there is none.
    pub async fn kb_classic_ensure_site(&self, code: &str, title: &str) -> Result<u64, B24Error> {
        let code = site_code(code);
        if let Some(id) = self.kb_find_site(&code).await? {
            return Ok(id);
        }
        let added = self
            .kb_call(
                "landing.site.add",
                json!({"fields": {"TITLE": title, "CODE": code, "TYPE": KB_SCOPE}}),
            )
            .await;
        match added {
            Ok(id) => new_id("landing.site.add", &id),
            // Another worker may have created it in between.
            Err(e) => match self.kb_find_site(&code).await? {
                Some(id) => Ok(id),
                None => Err(e),
            },
        }
    }

    async fn kb_find_site(&self, code: &str) -> Result<Option<u64>, B24Error> {
        let matching = |sites: Vec<Value>| {
            sites
                .iter()
                .find(|s| site_code(&field(s, "CODE")) == code)
                .and_then(|s| id_of(s, "ID"))
        };
        // Listed CODEs are documented as `/code/`; the exact filter is the cheap path.
        let filtered = self
            .kb_call(
                "landing.site.getList",
                json!({"params": {
                    "select": ["ID", "CODE", "TYPE"],
                    "filter": {"TYPE": KB_SCOPE, "=CODE": format!("/{code}/")},
                }}),
            )
            .await?;
        if let Some(id) = matching(list(filtered)) {
            return Ok(Some(id));
        }
        // A portal that stores the code bare would miss the filter: compare locally too
        // (a portal has few KB sites, and this only runs before creating one).
        let all = self
            .kb_call(
                "landing.site.getList",
                json!({"params": {"select": ["ID", "CODE", "TYPE"], "filter": {"TYPE": KB_SCOPE}}}),
            )
            .await?;
        Ok(matching(list(all)))
    }

    /// A folder (active) in `site_id`, under `parent_folder` or at the root. One that already
    /// exists there with `code` (a resumed run) is returned instead of failing.
    pub async fn kb_classic_add_folder(
        &self,
        site_id: u64,
        parent_folder: Option<u64>,
        title: &str,
        code: &str,
    ) -> Result<u64, B24Error> {
        let mut fields = json!({"TITLE": title, "CODE": code, "ACTIVE": "Y"});
        if let Some(parent) = parent_folder {
            fields["PARENT_ID"] = json!(parent);
        }
        let added = self
            .kb_call(
                "landing.site.addFolder",
                json!({"siteId": site_id, "fields": fields}),
            )
            .await;
        match added {
            Ok(id) => new_id("landing.site.addFolder", &id),
            Err(e) if e.is_code(codes::FOLDER_IS_NOT_UNIQUE) => {
                let found = self
                    .kb_call(
                        "landing.site.getFolders",
                        json!({"siteId": site_id, "filter": {
                            "CODE": code, "PARENT_ID": parent_folder.unwrap_or(0)
                        }}),
                    )
                    .await?;
                list(found)
                    .iter()
                    .find(|f| {
                        field(f, "CODE") == code
                            && id_of(f, "PARENT_ID").filter(|p| *p > 0) == parent_folder
                    })
                    .and_then(|f| id_of(f, "ID"))
                    .ok_or(e)
            }
            Err(e) => Err(e),
        }
    }

    /// The page of `site_id` whose XML_ID is `xml_id` (the bridge's key for it), if any —
    /// how a run that crashed between creating a page and recording it finds it again.
    pub async fn kb_classic_find_page(
        &self,
        site_id: u64,
        xml_id: &str,
    ) -> Result<Option<u64>, B24Error> {
        let found = self
            .kb_call(
                "landing.landing.getList",
                json!({"params": {
                    "select": ["ID", "SITE_ID", "XML_ID"],
                    "filter": {"SITE_ID": site_id, "=XML_ID": xml_id},
                }}),
            )
            .await?;
        Ok(list(found)
            .iter()
            .find(|p| {
                field(p, "XML_ID") == xml_id && id_of(p, "SITE_ID").is_none_or(|s| s == site_id)
            })
            .and_then(|p| id_of(p, "ID")))
    }

    /// A new (unpublished) page; returns its id (`lid`).
    pub async fn kb_classic_add_page(
        &self,
        site_id: u64,
        folder: Option<u64>,
        title: &str,
        code: &str,
        xml_id: &str,
    ) -> Result<u64, B24Error> {
        let mut fields =
            json!({"TITLE": title, "SITE_ID": site_id, "CODE": code, "XML_ID": xml_id});
        if let Some(f) = folder {
            fields["FOLDER_ID"] = json!(f);
        }
        let lid = self
            .kb_call("landing.landing.add", json!({"fields": fields}))
            .await?;
        new_id("landing.landing.add", &lid)
    }

    /// Puts `html` into the page's content block ([`KB_CLASSIC_BLOCK_CODE`]): adds the block
    /// when the page has none, else replaces its content in the draft.
    pub async fn kb_classic_set_html(&self, lid: u64, html: &str) -> Result<(), B24Error> {
        let content = kb_classic_block_markup(html);
        // Draft block ids: published copies have other ids, which updatecontent refuses.
        let blocks = self
            .kb_call(
                "landing.block.getList",
                json!({"lid": lid, "params": {"edit_mode": 1}}),
            )
            .await?;
        let ours = list(blocks)
            .iter()
            .find(|b| field(b, "code") == KB_CLASSIC_BLOCK_CODE)
            .and_then(|b| id_of(b, "id"));
        match ours {
            Some(block) => {
                self.kb_call(
                    "landing.block.updatecontent",
                    json!({"lid": lid, "block": block, "content": content}),
                )
                .await?;
            }
            None => {
                self.kb_call(
                    "landing.landing.addblock",
                    json!({"lid": lid, "fields": {"CODE": KB_CLASSIC_BLOCK_CODE, "CONTENT": content}}),
                )
                .await?;
            }
        }
        Ok(())
    }

    pub async fn kb_classic_rename(&self, lid: u64, title: &str) -> Result<(), B24Error> {
        self.kb_call(
            "landing.landing.update",
            json!({"lid": lid, "fields": {"TITLE": title}}),
        )
        .await?;
        Ok(())
    }

    /// Moves the page to `folder` of `site_id` (`None`: the site's root).
    ///
    /// B24 refuses to change a page's site and put it into a folder of the new site in one
    /// call (`FOLDER_NOT_FOUND`): then the page goes to the new site's root first and into the
    /// folder in a second call. A folder that really does not exist fails the second call
    /// with the page left at the target site's root.
    pub async fn kb_classic_move(
        &self,
        lid: u64,
        site_id: u64,
        folder: Option<u64>,
    ) -> Result<(), B24Error> {
        let mut params = json!({"lid": lid, "toSiteId": site_id});
        if let Some(f) = folder {
            params["toFolderId"] = json!(f);
        }
        match self.kb_call("landing.landing.move", params.clone()).await {
            Ok(_) => Ok(()),
            Err(e) if folder.is_some() && e.is_code(codes::FOLDER_NOT_FOUND) => {
                self.kb_call(
                    "landing.landing.move",
                    json!({"lid": lid, "toSiteId": site_id}),
                )
                .await?;
                self.kb_call("landing.landing.move", params).await?;
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Publishes the page (its current draft becomes what readers see).
    pub async fn kb_classic_publish(&self, lid: u64) -> Result<(), B24Error> {
        self.kb_call("landing.landing.publication", json!({"lid": lid}))
            .await?;
        Ok(())
    }

    /// Takes the page out of publication (readers no longer see it; it stays editable).
    pub async fn kb_classic_unpublish(&self, lid: u64) -> Result<(), B24Error> {
        self.kb_call("landing.landing.unpublic", json!({"lid": lid}))
            .await?;
        Ok(())
    }

    /// The page's public address, or `None` when the portal answers without one.
    pub async fn kb_classic_public_url(&self, lid: u64) -> Result<Option<String>, B24Error> {
        let r = self
            .kb_call("landing.landing.getpublicurl", json!({"lid": lid}))
            .await?;
        // Documented as a string; a map or list of URLs (as for several ids) is read too.
        let url = match r {
            Value::String(s) => Some(s),
            Value::Object(m) => m
                .into_iter()
                .find_map(|(_, v)| v.as_str().map(str::to_owned)),
            Value::Array(items) => items
                .into_iter()
                .find_map(|v| v.as_str().map(str::to_owned)),
            _ => None,
        };
        Ok(url.map(|u| u.trim().to_owned()).filter(|u| !u.is_empty()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn site_codes() {
        assert_eq!(site_code("/wiki/"), "wiki");
        assert_eq!(site_code("wiki"), "wiki");
        assert_eq!(site_code("2024"), "site2024");
        assert_eq!(site_code("/2024/"), "site2024");
    }

    #[test]
    fn markup_keeps_the_text_node() {
        let m = kb_classic_block_markup("<p>x</p>");
        assert!(m.contains("landing-block-node-text") && m.contains("<p>x</p>"));
    }
}
