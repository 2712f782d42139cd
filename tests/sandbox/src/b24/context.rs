//! What a method call runs with: who calls, the portal, the rest of the world, and the events
//! it makes.

use super::errors::{ApiError, ApiResult};
use super::params;
use super::state::{Portal, World};
use serde_json::Value;

/// How the caller authenticated.
#[derive(Clone, Debug, PartialEq)]
pub enum AuthKind {
    /// An OAuth access token of an installed application.
    App { client_id: String },
    /// An inbound webhook `/rest/{user_id}/{secret}/`.
    Webhook,
    /// A person acting in the Bitrix24 UI (simulated through the sandbox API).
    Ui,
}

#[derive(Clone, Debug)]
pub struct Caller {
    pub member_id: String,
    pub user_id: u64,
    pub kind: AuthKind,
    pub scopes: Vec<String>,
}

impl Caller {
    pub fn client_id(&self) -> Option<&str> {
        match &self.kind {
            AuthKind::App { client_id } => Some(client_id),
            _ => None,
        }
    }

    pub fn has_scope(&self, wanted: &[&str]) -> bool {
        self.kind == AuthKind::Ui
            || wanted.is_empty()
            || wanted
                .iter()
                .any(|w| self.scopes.iter().any(|s| s.eq_ignore_ascii_case(w)))
    }

    /// Methods that need an application context refuse webhooks.
    pub fn require_app(&self) -> ApiResult<&str> {
        self.client_id().ok_or_else(ApiError::wrong_auth_type)
    }
}

/// An event or placement call to send once the call is done.
#[derive(Clone, Debug)]
pub struct Outgoing {
    pub url: String,
    pub event: String,
    pub query: Vec<(String, String)>,
    pub form: Vec<(String, String)>,
}

/// A successful classic answer (`result`, and `total`/`next` for lists).
#[derive(Clone, Debug, Default)]
pub struct Reply {
    pub result: Value,
    pub total: Option<u64>,
    pub next: Option<u64>,
}

pub const PAGE: usize = 50;

impl Reply {
    pub fn of(result: Value) -> Reply {
        Reply {
            result,
            ..Reply::default()
        }
    }

    /// One page of 50 from `start` (`start=-1`: no `total`); `wrap` builds `result` from
    /// the page.
    pub fn page(
        items: Vec<Value>,
        params: &Value,
        wrap: impl FnOnce(Vec<Value>) -> Value,
    ) -> Reply {
        let start = params::get_int(params, "start").unwrap_or(0);
        let total = items.len();
        let from = usize::try_from(start.max(0)).unwrap_or(0).min(total);
        let page: Vec<Value> = items.into_iter().skip(from).take(PAGE).collect();
        let next = (from + PAGE < total && start >= 0).then_some((from + PAGE) as u64);
        Reply {
            result: wrap(page),
            total: (start >= 0).then_some(total as u64),
            next,
        }
    }
}

pub struct Ctx<'a> {
    pub portal: &'a mut Portal,
    pub world: &'a mut World,
    pub caller: &'a Caller,
    pub out: &'a mut Vec<Outgoing>,
}

impl Ctx<'_> {
    pub fn require_admin(&self) -> ApiResult<()> {
        if self.portal.is_admin(self.caller.user_id) {
            Ok(())
        } else {
            Err(ApiError::access_denied(
                "Access denied: administrator rights required",
            ))
        }
    }
}

/// Runs `f` with the caller's portal taken out of the world (so both can be borrowed).
pub fn with_portal<T>(
    world: &mut World,
    caller: &Caller,
    out: &mut Vec<Outgoing>,
    f: impl FnOnce(&mut Ctx) -> ApiResult<T>,
) -> ApiResult<T> {
    let Some(mut portal) = world.portals.remove(&caller.member_id) else {
        return Err(ApiError::new(500, "PORTAL_DELETED", "Portal was deleted"));
    };
    let result = {
        let mut ctx = Ctx {
            portal: &mut portal,
            world,
            caller,
            out,
        };
        f(&mut ctx)
    };
    world.portals.insert(caller.member_id.clone(), portal);
    result
}
