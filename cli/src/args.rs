//! The command line.

use bridge_core::{ErrorClass, WorkerKind};
use clap::{Args, Parser, Subcommand, ValueEnum};

/// Operate the Confluence ↔ Bitrix24 bridge. Configured by BRIDGE_* environment variables
/// (see README); the same configuration as the ingress and workers.
#[derive(Debug, Parser)]
#[command(name = "bridgectl", version)]
pub struct Cli {
    /// Print JSON for scripts instead of text for people.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Database schema migrations.
    #[command(subcommand)]
    Migrate(MigrateCommand),
    /// Check that the database and the broker answer (exit 1 if not).
    Health,
    /// Dead-letter (parking) queues: list, show, replay, purge.
    #[command(subcommand)]
    Dlq(DlqCommand),
    /// Stored credentials.
    #[command(subcommand)]
    Secrets(SecretsCommand),
    /// Run the ingress and every worker in this one process (small installs, trying it out).
    Standalone,
    /// Preview a Confluence page: convert a storage-format body to HTML, Markdown or BB-code.
    /// The output goes to standard output, the report of what was approximated or dropped to
    /// standard error (with --json, both as one JSON object on standard output).
    Convert(ConvertArgs),
    /// How Confluence spaces are kept in B24: links only (the default) or mirrored into a
    /// portal's knowledge base.
    #[command(subcommand)]
    Space(SpaceCommand),
}

#[derive(Debug, Subcommand)]
pub enum SpaceCommand {
    /// List every space rule (space, portal, mode, knowledge base).
    List,
    /// Set a space's mode in one portal. Switching to mirror also mirrors every page of the
    /// space now (unless --no-sync); later edits follow as they happen.
    Mode {
        /// The space key.
        space: String,
        /// The portal's member_id.
        #[arg(long)]
        portal: String,
        #[arg(long, value_enum)]
        mode: SpaceModeArg,
        /// Which knowledge base (mirror mode).
        #[arg(long, value_enum)]
        kb: Option<KbArg>,
        /// An existing knowledge base to write into (classic: landing site id; kb2: collection
        /// id). Without it the worker creates one named after the space.
        #[arg(long)]
        kb_target: Option<u64>,
        /// Do not mirror the existing pages now.
        #[arg(long)]
        no_sync: bool,
    },
    /// Mirror a mirrored space again (every page, or one with --page); versions already
    /// mirrored are skipped.
    Sync {
        space: String,
        #[arg(long)]
        portal: String,
        /// Only this page (content id).
        #[arg(long)]
        page: Option<u64>,
        /// Write pages even when their version is already mirrored (to refresh links to
        /// pages mirrored since, or after an upgrade of the converter).
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SpaceModeArg {
    /// Only links and metadata live in B24.
    Link,
    /// Page content is copied into the knowledge base and kept current.
    Mirror,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KbArg {
    /// Classic knowledge base (landing site of type KNOWLEDGE, HTML).
    Classic,
    /// Knowledge Base 2.0 (note.*, Markdown).
    Kb2,
}

#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// The storage-format file; `-` for standard input.
    #[arg(default_value = "-")]
    pub file: String,
    /// The output format.
    #[arg(long, value_enum, default_value = "html")]
    pub to: ConvertTarget,
    /// Prefix for attachment URLs (the file name is appended).
    #[arg(long)]
    pub attachment_base: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ConvertTarget {
    /// HTML for the classic knowledge base.
    Html,
    /// Markdown for Knowledge Base 2.0.
    Markdown,
    /// BB-code for chat and comments.
    Bbcode,
}

#[derive(Debug, Subcommand)]
pub enum MigrateCommand {
    /// Apply every pending migration.
    Up,
    /// Roll back migrations (the last one unless --steps or --all says otherwise).
    Down {
        #[arg(long, conflicts_with = "all")]
        steps: Option<u32>,
        /// Roll back every migration (drops the bridge's tables).
        #[arg(long)]
        all: bool,
    },
    /// List migrations and whether each is applied.
    Status,
}

#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// Count parked messages per worker, grouped by error class and reason.
    List {
        #[command(flatten)]
        workers: WorkerSelection,
    },
    /// Show one parked message with its headers and body.
    Show {
        /// The message id (the envelope id).
        id: String,
        #[command(flatten)]
        workers: WorkerSelection,
    },
    /// Put parked messages back in their worker's queue. They keep their id, so a handler
    /// that already did the work skips them.
    Replay {
        /// Only the message with this id.
        #[arg(long)]
        id: Option<String>,
        /// Only messages parked with this error class (retryable, permanent, undecodable,
        /// exhausted, broker).
        #[arg(long, value_parser = parse_class)]
        class: Option<ErrorClass>,
        #[command(flatten)]
        workers: WorkerSelection,
        /// Replay everything selected by the other options (required when none is given).
        #[arg(long)]
        all: bool,
    },
    /// Delete parked messages for good.
    Purge {
        #[command(flatten)]
        workers: WorkerSelection,
        /// Purge every worker's parking queue.
        #[arg(long)]
        all: bool,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Args, Clone, Default)]
pub struct WorkerSelection {
    /// Only this worker kind (repeatable); all kinds when absent.
    #[arg(long = "worker", value_parser = parse_kind)]
    pub workers: Vec<WorkerKind>,
}

impl WorkerSelection {
    pub fn kinds(&self) -> Vec<WorkerKind> {
        if self.workers.is_empty() {
            WorkerKind::ALL.to_vec()
        } else {
            self.workers.clone()
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Re-encrypt every stored credential with the current BRIDGE_SECRET_KEY (after moving the
    /// old key to BRIDGE_SECRET_KEYS_RETIRED).
    Rotate,
}

fn parse_kind(s: &str) -> Result<WorkerKind, String> {
    s.parse()
}

fn parse_class(s: &str) -> Result<ErrorClass, String> {
    s.parse()
}
