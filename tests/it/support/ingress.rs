//! The ingress in-process on a port-0 listener, configured like a real install.

use bridge_core::Config;
use bridge_ingress::AppState;
use bridge_queue::{Broker, Publisher, Topology};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub struct TestIngress {
    pub base_url: String,
    shutdown: CancellationToken,
}

impl Drop for TestIngress {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Starts the ingress with `vars` (as if from the environment) and a fixed test key.
pub async fn start(vars: &[(&str, &str)]) -> TestIngress {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    let mut all: Vec<(String, String)> = vec![
        ("BRIDGE_PUBLIC_URL".into(), base_url.clone()),
        ("BRIDGE_PUBLISH_TIMEOUT".into(), "2s".into()),
    ];
    all.extend(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let config = Arc::new(Config::from_vars(all).unwrap());
    let db = bridge_db::connect(config.database_url.expose())
        .await
        .unwrap();
    db.migrate_up().await.unwrap();
    let topology = Topology::new(config.queue_prefix.clone(), config.retry_schedule.clone());
    let broker = Broker::new(
        config.amqp_url.expose(),
        &format!("{}-ingress", config.queue_prefix),
    );
    let publisher = Publisher::new(broker, topology, config.publish_timeout);
    let keyring = bridge_core::crypto::Keyring::new([9; 32], vec![]);
    let state = AppState {
        credentials: bridge_db::CredentialStore::new(db.clone(), Arc::new(keyring)),
        config,
        db,
        publisher,
    };
    let shutdown = CancellationToken::new();
    tokio::spawn(bridge_ingress::serve(listener, state, shutdown.clone()));
    // Serving starts at once; a short pause keeps the first request from racing the spawn.
    tokio::time::sleep(Duration::from_millis(20)).await;
    TestIngress { base_url, shutdown }
}
