//! `bridgectl secrets rotate`.

use crate::Io;
use crate::args::SecretsCommand;
use anyhow::Context;
use bridge_core::Config;
use bridge_core::crypto::Keyring;
use bridge_db::CredentialStore;
use std::sync::Arc;

pub async fn run(
    cmd: SecretsCommand,
    config: &Config,
    json: bool,
    io: &mut Io<'_>,
) -> anyhow::Result<i32> {
    match cmd {
        SecretsCommand::Rotate => {
            let keyring = Keyring::from_config(config).context("BRIDGE_SECRET_KEY")?;
            let db = bridge_db::connect(config.database_url.expose())
                .await
                .context("BRIDGE_DATABASE_URL")?;
            let n = CredentialStore::new(db, Arc::new(keyring))
                .rotate_all()
                .await?;
            if json {
                writeln!(io.out, "{}", serde_json::json!({"reencrypted": n}))?;
            } else {
                writeln!(
                    io.out,
                    "re-encrypted {n} credential(s) with the current key"
                )?;
            }
            Ok(0)
        }
    }
}
