//! `sandbox`: runs the fake Confluence and the fake Bitrix24 for demos and manual testing.
//!
//! ```text
//! sandbox [--confluence-flavor cloud|datacenter] [--confluence-addr 127.0.0.1:8090]
//!         [--b24-addr 127.0.0.1:8091] [--bridge-url http://127.0.0.1:8080]
//!         [--webhook-secret demo-secret]
//! ```
//!
//! With `--bridge-url`, it wires the fakes to a running bridge: Confluence webhooks go to the
//! bridge's route for the flavour (Data Center: signed with the secret; Cloud: the Connect
//! app is installed with that secret as its shared secret), and the B24 app is installed on
//! the fake portal with the bridge's event URL, which sends ONAPPINSTALL. It prints the
//! `BRIDGE_*` settings the bridge needs to talk to the fakes.

use anyhow::Context;
use bridge_sandbox::b24::{AppSpec, FakeB24};
use bridge_sandbox::confluence::{FakeConfluence, Flavor, Hook};
use clap::{Parser, ValueEnum};

/// The demo app's credentials on the fake portal (BRIDGE_B24_CLIENT_ID / _SECRET).
const SANDBOX_CLIENT_ID: &str = "local.sandbox.bridge";
const SANDBOX_CLIENT_SECRET: &str = "sandbox-client-secret";

#[derive(Clone, Copy, ValueEnum)]
enum FlavorArg {
    Cloud,
    Datacenter,
}

#[derive(Parser)]
#[command(
    version,
    about = "Fake Confluence and Bitrix24 for the bridge's demos and tests"
)]
struct Args {
    #[arg(long, value_enum, default_value = "cloud")]
    confluence_flavor: FlavorArg,
    #[arg(long, default_value = "127.0.0.1:8090")]
    confluence_addr: String,
    #[arg(long, default_value = "127.0.0.1:8091")]
    b24_addr: String,
    /// A running bridge to wire the fakes to.
    #[arg(long)]
    bridge_url: Option<String>,
    /// Shared secret for Confluence webhooks (the bridge's BRIDGE_CONFLUENCE_WEBHOOK_SECRET).
    #[arg(long, default_value = "demo-secret")]
    webhook_secret: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let flavor = match args.confluence_flavor {
        FlavorArg::Cloud => Flavor::Cloud,
        FlavorArg::Datacenter => Flavor::DataCenter,
    };
    let confluence = FakeConfluence::start_on(flavor, &args.confluence_addr)
        .await
        .with_context(|| format!("cannot listen on {}", args.confluence_addr))?;
    let b24 = FakeB24::start_on(&args.b24_addr)
        .await
        .with_context(|| format!("cannot listen on {}", args.b24_addr))?;
    let creds = confluence.credentials();
    println!(
        "fake Confluence ({}): {}",
        flavor_name(flavor),
        confluence.base_url()
    );
    println!("  state page:        {}/", confluence.root_url());
    println!("fake Bitrix24:        {}", b24.base_url());
    println!("  state page:        {}/", b24.base_url());
    println!("  portal member_id:  {}", b24.portal().member_id());
    println!();
    println!("Bridge settings for these fakes:");
    println!("  BRIDGE_CONFLUENCE_URL={}", confluence.base_url());
    println!("  BRIDGE_CONFLUENCE_FLAVOR={}", flavor_name(flavor));
    match flavor {
        Flavor::Cloud => {
            println!("  BRIDGE_CONFLUENCE_EMAIL={}", creds.cloud_email);
            println!("  BRIDGE_CONFLUENCE_API_TOKEN={}", creds.cloud_api_token);
        }
        Flavor::DataCenter => println!("  BRIDGE_CONFLUENCE_PAT={}", creds.dc_pat),
    }
    println!("  BRIDGE_CONFLUENCE_WEBHOOK_SECRET={}", args.webhook_secret);
    println!("  BRIDGE_B24_OAUTH_URL={}", b24.base_url());
    println!("  BRIDGE_B24_CLIENT_ID={SANDBOX_CLIENT_ID}");
    println!("  BRIDGE_B24_CLIENT_SECRET={SANDBOX_CLIENT_SECRET}");

    if let Some(bridge) = args.bridge_url.as_deref().map(|u| u.trim_end_matches('/')) {
        wire(&confluence, &b24, flavor, bridge, &args.webhook_secret).await?;
    }
    println!();
    println!("Running; Ctrl-C stops.");
    tokio::signal::ctrl_c().await?;
    Ok(())
}

async fn wire(
    confluence: &FakeConfluence,
    b24: &FakeB24,
    flavor: Flavor,
    bridge: &str,
    secret: &str,
) -> anyhow::Result<()> {
    match flavor {
        Flavor::DataCenter => {
            confluence
                .set_webhook_target(&format!("{bridge}/webhooks/confluence/datacenter"), secret);
        }
        Flavor::Cloud => {
            // What Confluence does when an admin installs a Connect app from its descriptor.
            let install = serde_json::json!({
                "key": "confluence-b24-bridge",
                "clientKey": "sandbox-client-key",
                "sharedSecret": secret,
                "baseUrl": confluence.base_url(),
                "eventType": "installed",
            });
            let r = reqwest::Client::new()
                .post(format!("{bridge}/connect/installed"))
                .json(&install)
                .send()
                .await
                .context("installing the Connect app on the bridge")?;
            println!("Connect app install: HTTP {}", r.status());
            confluence.add_webhook(Hook::connect(
                bridge,
                "/webhooks/confluence/cloud/{event}",
                secret,
            ));
        }
    }
    let install = b24
        .portal()
        .install_app(AppSpec {
            install_url: Some(format!("{bridge}/b24/events")),
            // Fixed, so the bridge can be configured before the sandbox starts.
            client_id: Some(SANDBOX_CLIENT_ID.into()),
            client_secret: Some(SANDBOX_CLIENT_SECRET.into()),
            ..Default::default()
        })
        .map_err(|e| anyhow::anyhow!("installing the app on the fake portal: {e:?}"))?;
    println!(
        "B24 app installed on the fake portal (client_id {}).",
        install.client_id
    );
    println!("  BRIDGE_B24_CLIENT_ID={}", install.client_id);
    println!("  BRIDGE_B24_CLIENT_SECRET={}", install.client_secret);
    Ok(())
}

fn flavor_name(f: Flavor) -> &'static str {
    match f {
        Flavor::Cloud => "cloud",
        Flavor::DataCenter => "datacenter",
    }
}
