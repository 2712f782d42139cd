//! `POST /b24/events`: Bitrix24 event deliveries, form-encoded with PHP bracket keys (a JSON
//! body is accepted too). Every delivery must carry the portal's `auth[application_token]`;
//! `ONAPPINSTALL` is the one that first tells it. An install of a portal that is not active
//! is stored *pending*: anybody can send that form, so nothing it says is trusted (and no
//! event of the portal is accepted) until portal-setup has confirmed the install with the
//! OAuth server.

use crate::verify::b24_token;
use crate::{AppState, IngressError, accept};
use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use bridge_core::envelope::AppAction;
use bridge_core::normalize::{b24, form};
use bridge_core::{Envelope, Payload, Source};
use bridge_db::portals::Installed;
use bridge_db::{PortalInstall, PortalStore};

pub async fn receive(State(state): State<AppState>, body: Bytes) -> Result<Response, IngressError> {
    let form = if body.first() == Some(&b'{') {
        serde_json::from_slice(&body)
            .map_err(|e| IngressError::BadRequest(format!("body is not JSON: {e}")))?
    } else {
        form::parse(&body).map_err(IngressError::BadRequest)?
    };
    let member_id = b24::text(&form, &["auth", "member_id"])
        .ok_or_else(|| IngressError::Unauthorized("no auth[member_id]".into()))?;
    let presented = b24::text(&form, &["auth", "application_token"])
        .ok_or_else(|| IngressError::Unauthorized("no auth[application_token]".into()))?;
    let portals = PortalStore::new(state.db.clone(), state.credentials.clone());
    let stored = portals.application_token(&member_id).await?;
    let payload = b24::payload(&form).map_err(IngressError::BadRequest)?;
    let install = matches!(&payload, Some(Payload::B24App(a)) if a.action == AppAction::Installed);
    match (&stored, install) {
        (Some(token), _) if b24_token::matches(token, &presented) => {}
        (Some(_), _) => return Err(IngressError::Unauthorized("wrong application_token".into())),
        // An install of an unknown, uninstalled or pending portal: stored pending (it may
        // replace an earlier pending one); portal-setup confirms it with the OAuth server
        // before any event of the portal is accepted or any job acts for it.
        (None, true) => {}
        (None, false) => return Err(IngressError::Unauthorized("unknown portal".into())),
    }
    let Some(payload) = payload else {
        let event = b24::text(&form, &["event"]).unwrap_or_default();
        return Ok(accept::ignored(&event));
    };
    if let Payload::B24App(app) = &payload {
        match app.action {
            AppAction::Installed | AppAction::Updated => {
                match portals
                    .install(&install_of(&form, &member_id, &presented)?)
                    .await?
                {
                    Installed::Pending(_) => {
                        tracing::info!(portal = %member_id, "B24 install stored pending confirmation");
                    }
                    Installed::Active(_) => {}
                    Installed::Refused => {
                        return Err(IngressError::Unauthorized(
                            "the portal is active: a re-install must carry its application_token"
                                .into(),
                        ));
                    }
                }
            }
            AppAction::Uninstalled => portals.uninstall(&member_id).await?,
        }
    }
    let occurred_at = b24::text(&form, &["ts"])
        .and_then(|t| t.parse::<i64>().ok())
        .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
        .unwrap_or_else(chrono::Utc::now);
    let envelope = Envelope::new(Source::B24 { portal: member_id }, occurred_at, payload);
    accept::publish_all(&state, vec![envelope]).await
}

fn install_of(
    form: &serde_json::Value,
    member_id: &str,
    token: &str,
) -> Result<PortalInstall, IngressError> {
    let auth = |k: &str| b24::text(form, &["auth", k]);
    let domain = auth("domain")
        .ok_or_else(|| IngressError::BadRequest("install without auth[domain]".into()))?;
    let expires_in: Option<i64> = auth("expires_in").and_then(|s| s.parse().ok());
    Ok(PortalInstall {
        member_id: member_id.to_owned(),
        client_endpoint: auth("client_endpoint")
            .unwrap_or_else(|| format!("https://{domain}/rest/")),
        server_endpoint: auth("server_endpoint").unwrap_or_default(),
        domain,
        language: b24::text(form, &["data", "LANGUAGE_ID"]),
        application_token: token.to_owned(),
        access_token: auth("access_token"),
        refresh_token: auth("refresh_token"),
        access_expires_at: expires_in.map(|s| chrono::Utc::now() + chrono::TimeDelta::seconds(s)),
    })
}
