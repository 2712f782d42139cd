//! What happens on a portal besides API calls: creating portals and webhooks, installing an
//! app (ONAPPINSTALL to its install URL), people acting in the UI (which fires events), and
//! opening a placement (the POST B24 makes to the widget's handler).

use super::context::{AuthKind, Caller};
use super::errors::{ApiError, ApiResult};
use super::events_out;
use super::methods::{imbot, tasks};
use super::oauth;
use super::params;
use super::server::Shared;
use super::state::{AppReg, Install, Portal, Webhook, random_token};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub const DEFAULT_SCOPES: &[&str] = &[
    "task",
    "tasks",
    "im",
    "imbot",
    "placement",
    "user",
    "disk",
    "landing",
    "note",
    "basic",
];

/// An application to install on a portal. Unset ids and secrets are generated.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct AppSpec {
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    /// Empty: all scopes the bridge uses.
    pub scopes: Vec<String>,
    /// Where ONAPPINSTALL is POSTed (the "installation event handler URL").
    pub install_url: Option<String>,
    /// Where `/oauth/authorize/` redirects with the code.
    pub redirect_uri: Option<String>,
    /// The admin who installs (default 1).
    pub installer_id: Option<u64>,
}

/// The result of an install: what the app learns (tokens, endpoints, application_token).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AppInstall {
    pub member_id: String,
    pub domain: String,
    pub client_id: String,
    pub client_secret: String,
    pub application_token: String,
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: u64,
    pub client_endpoint: String,
    pub server_endpoint: String,
    pub scopes: Vec<String>,
    pub user_id: u64,
}

/// An inbound webhook; `url` ends with `/` — append the method name.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WebhookInfo {
    pub url: String,
    pub user_id: u64,
    pub secret: String,
}

pub fn create_portal(app: &Shared, domain: Option<&str>) -> String {
    let mut world = app.lock();
    world.portal_seq += 1;
    let seq = world.portal_seq;
    let member_id = format!("{:032x}", rand::random::<u128>());
    let default_domain = world
        .base_url
        .trim_start_matches("http://")
        .trim_start_matches("https://")
        .to_owned();
    let domain = domain.map_or(default_domain, str::to_owned);
    world.portals.insert(
        member_id.clone(),
        Portal::new(member_id.clone(), domain, seq),
    );
    member_id
}

pub fn create_webhook(
    app: &Shared,
    member_id: &str,
    user_id: u64,
    scopes: &[&str],
) -> ApiResult<WebhookInfo> {
    let mut world = app.lock();
    let base = world.base_url.clone();
    let portal = world.portal_mut(member_id).ok_or_else(ApiError::no_auth)?;
    if !portal.users.contains_key(&user_id) {
        return Err(ApiError::bad("USER_NOT_FOUND", "No such user"));
    }
    let secret = random_token(16);
    let scopes = if scopes.is_empty() {
        DEFAULT_SCOPES
    } else {
        scopes
    };
    portal.webhooks.push(Webhook {
        user_id,
        secret: secret.clone(),
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
    });
    Ok(WebhookInfo {
        url: format!("{base}/rest/{user_id}/{secret}/"),
        user_id,
        secret,
    })
}

/// Installs (or reinstalls, wiping its bindings) an app and sends ONAPPINSTALL.
pub fn install_app(app: &Shared, member_id: &str, spec: AppSpec) -> ApiResult<AppInstall> {
    let client_id = spec
        .client_id
        .unwrap_or_else(|| format!("local.{}.{}", random_token(13), random_token(8)));
    let scopes: Vec<String> = if spec.scopes.is_empty() {
        DEFAULT_SCOPES.iter().map(|s| (*s).to_owned()).collect()
    } else {
        spec.scopes
    };
    let user_id = spec.installer_id.unwrap_or(1);
    let mut out = Vec::new();
    let installed = {
        let mut world = app.lock();
        let reg = world
            .apps
            .entry(client_id.clone())
            .or_insert_with(|| AppReg {
                client_id: client_id.clone(),
                client_secret: spec
                    .client_secret
                    .clone()
                    .unwrap_or_else(|| random_token(50)),
                redirect_uri: spec.redirect_uri.clone(),
            });
        if spec.redirect_uri.is_some() {
            reg.redirect_uri = spec.redirect_uri.clone();
        }
        let secret = reg.client_secret.clone();
        let Some(portal) = world.portal_mut(member_id) else {
            return Err(ApiError::new(500, "PORTAL_DELETED", "No such portal"));
        };
        if !portal.is_admin(user_id) {
            return Err(ApiError::access_denied(
                "Only administrators install applications",
            ));
        }
        let version = portal.installs.get(&client_id).map_or(1, |i| i.version + 1);
        portal.bindings.retain(|b| b.client_id != client_id);
        portal.placements.retain(|b| b.client_id != client_id);
        let application_token = random_token(32);
        portal.installs.insert(
            client_id.clone(),
            Install {
                client_id: client_id.clone(),
                application_token: application_token.clone(),
                scopes: scopes.clone(),
                installer_id: user_id,
                install_url: spec.install_url.clone(),
                version,
            },
        );
        let domain = portal.domain.clone();
        let set = oauth::issue(&mut world, member_id, &client_id, user_id, &scopes);
        let installed = AppInstall {
            member_id: member_id.to_owned(),
            domain: domain.clone(),
            client_id: client_id.clone(),
            client_secret: secret,
            application_token: application_token.clone(),
            access_token: set.access_token.clone(),
            refresh_token: set.refresh_token.clone(),
            expires_in: set.expires_in,
            client_endpoint: world.client_endpoint(),
            server_endpoint: world.server_endpoint(),
            scopes: scopes.clone(),
            user_id,
        };
        if let Some(url) = &spec.install_url {
            let auth = json!({
                "access_token": set.access_token, "expires": set.expires.to_string(),
                "expires_in": set.expires_in.to_string(), "scope": scopes.join(" "), "domain": domain,
                "server_endpoint": installed.server_endpoint, "status": "L",
                "client_endpoint": installed.client_endpoint, "member_id": member_id,
                "user_id": user_id.to_string(), "refresh_token": set.refresh_token,
                "application_token": application_token,
            });
            let data = json!({"VERSION": version.to_string(), "ACTIVE": "Y", "INSTALLED": "Y", "LANGUAGE_ID": "en"});
            let body = events_out::event_body("ONAPPINSTALL", data, auth);
            out.push(super::context::Outgoing {
                url: url.clone(),
                event: "ONAPPINSTALL".into(),
                query: Vec::new(),
                form: params::to_form_pairs(&body),
            });
        }
        installed
    };
    app.0.outbox.send_all(out);
    Ok(installed)
}

/// Uninstalls an app: ONAPPUNINSTALL (no tokens) to its bindings, then forgets it.
pub fn uninstall_app(app: &Shared, member_id: &str, client_id: &str, clean: bool) -> ApiResult<()> {
    let mut out = Vec::new();
    {
        let mut world = app.lock();
        let (client_ep, server_ep) = (world.client_endpoint(), world.server_endpoint());
        let portal = world.portal_mut(member_id).ok_or_else(ApiError::no_auth)?;
        let install = portal
            .installs
            .remove(client_id)
            .ok_or_else(|| ApiError::bad("APP_NOT_FOUND", "Not installed"))?;
        for b in portal
            .bindings
            .iter()
            .filter(|b| b.client_id == client_id && b.event == "ONAPPUNINSTALL" && !b.offline)
        {
            let auth = json!({"domain": portal.domain, "client_endpoint": client_ep, "server_endpoint": server_ep,
                              "member_id": portal.member_id, "application_token": install.application_token});
            let data = json!({"LANGUAGE_ID": "en", "CLEAN": if clean { "1" } else { "0" }});
            let mut body = events_out::event_body("ONAPPUNINSTALL", data, auth);
            body["event_handler_id"] = json!(b.id.to_string());
            out.push(super::context::Outgoing {
                url: b.handler.clone(),
                event: "ONAPPUNINSTALL".into(),
                query: Vec::new(),
                form: params::to_form_pairs(&body),
            });
        }
        portal.bindings.retain(|b| b.client_id != client_id);
        portal.placements.retain(|b| b.client_id != client_id);
        portal.offline_events.retain(|e| e.client_id != client_id);
        portal.bots.retain(|_, b| b.client_id != client_id);
        portal.commands.retain(|c| c.client_id != client_id);
    }
    app.0.outbox.send_all(out);
    Ok(())
}

pub fn ui_caller(member_id: &str, user_id: u64) -> Caller {
    Caller {
        member_id: member_id.to_owned(),
        user_id,
        kind: AuthKind::Ui,
        scopes: Vec::new(),
    }
}

pub fn user_creates_task(
    app: &Shared,
    member_id: &str,
    user_id: u64,
    fields: &Value,
) -> ApiResult<u64> {
    app.act(&ui_caller(member_id, user_id), |ctx| {
        tasks::create(ctx, fields)
    })
}

pub fn user_updates_task(
    app: &Shared,
    member_id: &str,
    user_id: u64,
    task_id: u64,
    fields: &Value,
) -> ApiResult<()> {
    app.act(&ui_caller(member_id, user_id), |ctx| {
        tasks::change(ctx, task_id, fields)
    })
}

pub fn user_deletes_task(
    app: &Shared,
    member_id: &str,
    user_id: u64,
    task_id: u64,
) -> ApiResult<()> {
    app.act(&ui_caller(member_id, user_id), |ctx| {
        tasks::remove(ctx, task_id)
    })
}

pub fn user_comments_task(
    app: &Shared,
    member_id: &str,
    user_id: u64,
    task_id: u64,
    text: &str,
) -> ApiResult<u64> {
    app.act(&ui_caller(member_id, user_id), |ctx| {
        tasks::comment(ctx, task_id, user_id, text, "user")
    })
}

pub fn user_writes_bot(
    app: &Shared,
    member_id: &str,
    user_id: u64,
    bot_id: u64,
    dialog: Option<&str>,
    text: &str,
) -> ApiResult<u64> {
    app.act(&ui_caller(member_id, user_id), |ctx| {
        imbot::user_writes(ctx, bot_id, dialog, text)
    })
}

/// What the widget handler answered.
#[derive(Clone, Debug, Serialize)]
pub struct PlacementResponse {
    pub status: u16,
    pub body: String,
    pub url: String,
    pub form: Vec<(String, String)>,
}

/// Opens a bound placement as a user would (B24 POSTs the handler into an iframe).
pub async fn open_placement(
    app: &Shared,
    member_id: &str,
    client_id: &str,
    user_id: u64,
    placement: &str,
    options: Value,
) -> ApiResult<PlacementResponse> {
    let (url, query, form) = {
        let mut world = app.lock();
        let (endpoint, domain_default) = (world.server_endpoint(), world.base_url.clone());
        let portal = world.portal(member_id).ok_or_else(ApiError::no_auth)?;
        let binding = portal
            .placements
            .iter()
            .find(|b| b.client_id == client_id && b.placement.eq_ignore_ascii_case(placement))
            .cloned()
            .ok_or_else(|| {
                ApiError::bad(
                    "PLACEMENT_NOT_BOUND",
                    "The app has no handler for this placement",
                )
            })?;
        let install = portal
            .installs
            .get(client_id)
            .cloned()
            .ok_or_else(ApiError::no_auth)?;
        let domain = portal.domain.clone();
        let set = oauth::issue(&mut world, member_id, client_id, user_id, &install.scopes);
        let mut opts = if options.is_object() {
            options
        } else {
            json!({})
        };
        if opts.get("URI").is_none() {
            opts["URI"] = json!(format!("{domain_default}/"));
        }
        let protocol = if domain_default.starts_with("https") {
            "1"
        } else {
            "0"
        };
        let query = vec![
            ("DOMAIN".to_owned(), domain),
            ("PROTOCOL".to_owned(), protocol.to_owned()),
            ("LANG".to_owned(), "en".to_owned()),
            ("APP_SID".to_owned(), random_token(32)),
        ];
        let form = vec![
            ("AUTH_ID".to_owned(), set.access_token),
            ("AUTH_EXPIRES".to_owned(), set.expires_in.to_string()),
            ("REFRESH_ID".to_owned(), set.refresh_token),
            ("SERVER_ENDPOINT".to_owned(), endpoint),
            ("APPLICATION_TOKEN".to_owned(), install.application_token),
            ("APPLICATION_SCOPE".to_owned(), install.scopes.join(",")),
            ("member_id".to_owned(), member_id.to_owned()),
            ("status".to_owned(), "L".to_owned()),
            ("PLACEMENT".to_owned(), binding.placement.clone()),
            ("PLACEMENT_OPTIONS".to_owned(), opts.to_string()),
        ];
        (binding.handler, query, form)
    };
    let sep = if url.contains('?') { '&' } else { '?' };
    let full = format!("{url}{sep}{}", params::encode_form(&query));
    let r = reqwest::Client::new()
        .post(&full)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(params::encode_form(&form))
        .send()
        .await
        .map_err(|e| ApiError::new(502, "HANDLER_UNREACHABLE", e.to_string()))?;
    let status = r.status().as_u16();
    let body = r.text().await.unwrap_or_default();
    Ok(PlacementResponse {
        status,
        body,
        url: full,
        form,
    })
}
