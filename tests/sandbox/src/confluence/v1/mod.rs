//! REST v1 (`/rest/api/...`), served by both flavours (docs §1): content reads with `expand`,
//! offset paging, CQL search, watchers, spaces, users, writes, webhook registration.

mod admin;
mod content;
mod search;
mod watch;
mod write;

use super::errors;
use super::paging::Query;
use super::repr::Ctx;
use super::state::State;
use super::{Flavor, S, Shared};
use axum::Router;
use axum::response::Response;
use axum::routing::get;
use serde_json::{Value, json};

pub fn router(flavor: Flavor) -> Router<S> {
    let r = Router::new()
        .route("/rest/api/content", get(content::list).post(write::create))
        .route("/rest/api/content/search", get(search::content_search))
        .route("/rest/api/search", get(search::search))
        .route(
            "/rest/api/content/{id}",
            get(content::get_one)
                .put(write::update)
                .delete(write::delete),
        )
        .route("/rest/api/content/{id}/child", get(content::child_grouped))
        .route(
            "/rest/api/content/{id}/child/{kind}",
            get(content::children),
        )
        .route(
            "/rest/api/content/{id}/child/attachment/{att}/download",
            get(content::attachment_redirect),
        )
        .route(
            "/rest/api/content/{id}/descendant/{kind}",
            get(content::descendants),
        )
        .route("/rest/api/content/{id}/history", get(content::history))
        .route("/rest/api/content/{id}/version", get(content::versions))
        .route(
            "/rest/api/content/{id}/version/{n}",
            get(content::one_version),
        )
        .route(
            "/download/attachments/{container}/{file}",
            get(content::download),
        )
        .route(
            "/rest/api/user/watch/content/{id}",
            get(watch::is_watching)
                .post(watch::watch)
                .delete(watch::unwatch),
        )
        .route("/rest/api/space", get(admin::spaces))
        .route("/rest/api/space/{key}", get(admin::space))
        .route("/rest/api/user", get(admin::user))
        .route("/rest/api/user/current", get(admin::current_user))
        .route(
            "/rest/webhooks/1.0/webhook",
            get(admin::list_hooks).post(admin::create_plugin_hook),
        )
        .route(
            "/rest/webhooks/1.0/webhook/{id}",
            axum::routing::delete(admin::delete_hook),
        );
    match flavor {
        Flavor::Cloud => r
            .route(
                "/rest/api/content/{id}/notification/child-created",
                get(watch::content_watchers),
            )
            .route(
                "/rest/api/content/{id}/notification/created",
                get(watch::space_watchers),
            ),
        Flavor::DataCenter => r
            .route(
                "/rest/api/content/{id}/watchers",
                get(watch::content_watchers),
            )
            .route(
                "/rest/api/space/{key}/watchers",
                get(watch::space_watchers_by_key),
            )
            .route(
                "/rest/api/webhooks",
                get(admin::list_hooks).post(admin::create_dc_hook),
            )
            .route(
                "/rest/api/webhooks/{id}",
                axum::routing::delete(admin::delete_hook),
            ),
    }
}

pub(super) fn cx<'a>(sh: &Shared, st: &'a State) -> Ctx<'a> {
    Ctx {
        st,
        flavor: sh.flavor,
        base: sh.base(),
    }
}

pub(super) fn parse_id(raw: &str) -> Result<u64, Response> {
    raw.parse::<u64>()
        .map_err(|_| errors::v1_bad(format!("Content id must be a number: {raw}")))
}

/// `start` and `limit` (default `default`, clamped silently to the cap).
pub(super) fn offsets(sh: &Shared, q: &Query, default: usize) -> Result<(usize, usize), Response> {
    let start = q.usize("start").map_err(errors::v1_bad)?.unwrap_or(0);
    let limit = q.usize("limit").map_err(errors::v1_bad)?.unwrap_or(default);
    Ok((start, limit.clamp(1, sh.knobs().v1_limit_cap.max(1))))
}

/// A v1 paged envelope (`ContentArray` and friends): `_links.next` relative to `base`,
/// present only when more results follow.
pub(super) fn envelope(
    sh: &Shared,
    path: &str,
    q: &Query,
    results: Vec<Value>,
    (start, limit): (usize, usize),
    more: bool,
) -> Value {
    let base = sh.base();
    let mut links = json!({
        "base": base,
        "context": sh.context_path(),
        "self": format!("{base}{path}{}", qs(&q.with(&[], &[]))),
    });
    if more {
        let next = q.with(
            &[
                ("limit", limit.to_string()),
                ("start", (start + limit).to_string()),
            ],
            &[],
        );
        links["next"] = json!(format!("{path}?{next}"));
    }
    if start > 0 {
        let prev = q.with(
            &[
                ("limit", limit.to_string()),
                ("start", start.saturating_sub(limit).to_string()),
            ],
            &[],
        );
        links["prev"] = json!(format!("{path}?{prev}"));
    }
    let size = results.len();
    json!({
        "results": results,
        "start": start,
        "limit": limit,
        "size": size,
        "_links": links,
    })
}

fn qs(q: &str) -> String {
    if q.is_empty() {
        String::new()
    } else {
        format!("?{q}")
    }
}
