//! `bridgectl`: the ops CLI.

use bridge_cli::{Cli, Command, Io};
use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let config = match bridge_core::Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("bridgectl: configuration: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    // Only the long-running mode logs; the one-shot commands print their answer (and
    // `--json` output must stay clean).
    let _telemetry = if matches!(cli.command, Command::Standalone) {
        match bridge_telemetry::init(bridge_telemetry::TelemetryConfig {
            service_name: "bridge-standalone",
            otlp_endpoint: config.otlp_endpoint.as_ref().map(|u| u.to_string()),
            json_logs: config.log_format == bridge_core::config::LogFormat::Json,
        }) {
            Ok(g) => Some(g),
            Err(e) => {
                eprintln!("bridgectl: telemetry: {e}");
                return std::process::ExitCode::from(2);
            }
        }
    } else {
        None
    };
    let mut stdout = std::io::stdout();
    let mut stdin = std::io::BufReader::new(std::io::stdin());
    let mut io = Io {
        out: &mut stdout,
        input: &mut stdin,
    };
    match bridge_cli::execute(cli, config, &mut io).await {
        Ok(code) => std::process::ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(e) => {
            eprintln!("bridgectl: {e:#}");
            std::process::ExitCode::from(1)
        }
    }
}
