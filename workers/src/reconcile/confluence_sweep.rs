//! The Confluence sweep (to be written).

use crate::WorkerContext;
use tokio_util::sync::CancellationToken;

pub async fn run(_ctx: WorkerContext, _shutdown: CancellationToken) {}
