//! `bridgectl`, the ops CLI: dead letters, migrations, health, credential key rotation, page
//! conversion previews, space modes (link or mirror), and the standalone mode that runs the ingress and every worker in one
//! process.
//!
//! The commands live in this library so tests run them in-process with their own
//! configuration and capture what they print; `main.rs` only wires stdin/stdout.

mod args;
mod convert;
mod dlq;
mod health;
mod migrate;
mod secrets;
mod space;
mod standalone;

pub use args::{Cli, Command, ConvertArgs, ConvertTarget, KbArg, SpaceCommand, SpaceModeArg};

use bridge_core::Config;
use std::io::{BufRead, Write};

/// Where a command writes its answer and reads a confirmation.
pub struct Io<'a> {
    pub out: &'a mut (dyn Write + Send),
    pub input: &'a mut (dyn BufRead + Send),
}

/// Runs one command. Returns the process exit code (non-zero when something is unhealthy or
/// was refused); errors are for things that could not be done at all.
pub async fn execute(cli: Cli, config: Config, io: &mut Io<'_>) -> anyhow::Result<i32> {
    match cli.command {
        Command::Migrate(cmd) => migrate::run(cmd, &config, cli.json, io).await,
        Command::Health => health::run(&config, cli.json, io).await,
        Command::Dlq(cmd) => dlq::run(cmd, &config, cli.json, io).await,
        Command::Secrets(cmd) => secrets::run(cmd, &config, cli.json, io).await,
        Command::Standalone => standalone::run(config).await,
        Command::Convert(args) => convert::run(&args, cli.json, io),
        Command::Space(cmd) => space::run(cmd, &config, cli.json, io).await,
    }
}
