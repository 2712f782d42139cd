//! The worker kinds and which events each one consumes.
//!
//! Each kind owns one durable work queue bound to the events exchange with the routing-key
//! patterns below, its own retry wait queues and its own dead-letter queue. Kinds scale
//! independently: compose runs one service per kind from the same image.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WorkerKind {
    /// Resolves the Confluence links of B24 tasks and keeps them canonical.
    LinkSync,
    /// Comments on every task that links a changed page.
    Fanout,
    /// Chat messages and personal notifications about Confluence activity.
    Notify,
    /// Keeps a B24 knowledge-base copy of mirrored spaces.
    Mirror,
    /// Bulk migration of whole spaces.
    Migrate,
    /// The `/wiki` chat bot.
    Bot,
    /// Sets a B24 portal up after install or update (events, user field, placement, bot).
    PortalSetup,
}

impl WorkerKind {
    pub const ALL: [WorkerKind; 7] = [
        Self::LinkSync,
        Self::Fanout,
        Self::Notify,
        Self::Mirror,
        Self::Migrate,
        Self::Bot,
        Self::PortalSetup,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::LinkSync => "link-sync",
            Self::Fanout => "fanout",
            Self::Notify => "notify",
            Self::Mirror => "mirror",
            Self::Migrate => "migrate",
            Self::Bot => "bot",
            Self::PortalSetup => "portal-setup",
        }
    }

    /// Topic patterns (AMQP topic syntax: `*` one word, `#` zero or more) this kind's work
    /// queue is bound with. Routing keys come from [`crate::Payload::routing_key`].
    pub fn bindings(self) -> &'static [&'static str] {
        match self {
            Self::LinkSync => &[
                "b24.task.added",
                "b24.task.updated",
                "b24.task.deleted",
                "confluence.page.moved",
                // A rename is an edit: the task field and the cached title follow it.
                "confluence.page.updated",
            ],
            Self::Fanout => &[
                "confluence.page.updated",
                "confluence.page.trashed",
                "confluence.page.removed",
                "confluence.page.restored",
                "confluence.page.moved",
                "bridge.fanout.*",
            ],
            Self::Notify => &[
                "confluence.page.created",
                "confluence.page.updated",
                "confluence.blogpost.*",
                "confluence.comment.*",
            ],
            Self::Mirror => &[
                "confluence.page.*",
                // A replaced file seldom makes a new page version.
                "confluence.attachment.*",
                "bridge.mirror.*",
            ],
            Self::Migrate => &["bridge.migration.*"],
            Self::Bot => &["b24.bot.*"],
            Self::PortalSetup => &["b24.app.*"],
        }
    }
}

impl fmt::Display for WorkerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for WorkerKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Self::ALL.iter().map(|k| k.as_str()).collect();
                format!(
                    "unknown worker kind {s:?}; expected one of {}",
                    names.join(", ")
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for k in WorkerKind::ALL {
            assert_eq!(k.as_str().parse::<WorkerKind>().unwrap(), k);
            assert_eq!(serde_json::to_string(&k).unwrap(), format!("\"{k}\""));
        }
        assert!(
            "nope"
                .parse::<WorkerKind>()
                .unwrap_err()
                .contains("link-sync")
        );
    }
}
