//! One module per worker kind's business steps (load, call the vendor API, save).
//!
//! Kinds whose jobs are not built yet get [`NotYetHandled`]: their events are parked in the
//! kind's dead-letter queue with a reason that says so, never dropped, so they can be
//! replayed once a release handles them.

use crate::WorkerContext;
use bridge_core::{Envelope, WorkerKind};
use bridge_queue::{DeliveryContext, Handler, HandlerError};
use std::sync::Arc;

pub mod comment_text;
pub mod errors;
pub mod fanout;
pub mod link_sync;
pub mod mirror;
pub mod portal_setup;

pub fn handler_for(kind: WorkerKind, ctx: &WorkerContext) -> Arc<dyn Handler> {
    match kind {
        WorkerKind::PortalSetup => Arc::new(portal_setup::PortalSetup::new(ctx)),
        WorkerKind::LinkSync => Arc::new(link_sync::LinkSync::new(ctx)),
        WorkerKind::Fanout => Arc::new(fanout::Fanout::new(ctx)),
        WorkerKind::Mirror => Arc::new(mirror::Mirror::new(ctx)),
        _ => Arc::new(NotYetHandled { kind }),
    }
}

pub struct NotYetHandled {
    kind: WorkerKind,
}

#[async_trait::async_trait]
impl Handler for NotYetHandled {
    async fn handle(&self, envelope: Envelope, _ctx: DeliveryContext) -> Result<(), HandlerError> {
        Err(HandlerError::permanent(format!(
            "worker {} has no handler for {} in this release; replay after upgrading",
            self.kind,
            envelope.routing_key()
        )))
    }
}
