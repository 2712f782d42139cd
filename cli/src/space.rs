//! `bridgectl space mode|sync|list`: how each Confluence space is kept in B24 — links only
//! (the default) or mirrored into a portal's knowledge base — and on-demand mirror runs.

use crate::Io;
use crate::args::{KbArg, SpaceCommand, SpaceModeArg};
use anyhow::{Context, bail};
use bridge_clients::confluence::ConfluenceClient;
use bridge_core::envelope::MirrorRequested;
use bridge_core::{Config, Envelope, Payload, Source, WorkerKind};
use bridge_db::entities::mirror_pages::KbKind;
use bridge_db::entities::space_chat_rules::SyncMode;
use bridge_db::{CredentialStore, Db, MirrorStore, PortalStore, SiteStore, SpaceMode};
use bridge_queue::{Broker, ConsumerSpec, Publisher, Topology};
use serde_json::json;
use std::sync::Arc;

pub async fn run(
    cmd: SpaceCommand,
    config: &Config,
    json: bool,
    io: &mut Io<'_>,
) -> anyhow::Result<i32> {
    let db = bridge_db::connect(config.database_url.expose())
        .await
        .context("BRIDGE_DATABASE_URL")?;
    let store = MirrorStore::new(db.clone());
    match cmd {
        SpaceCommand::List => list(&store, json, io).await,
        SpaceCommand::Mode {
            space,
            portal,
            mode,
            kb,
            kb_target,
            no_sync,
        } => {
            let mode = match mode {
                SpaceModeArg::Link if kb.is_some() || kb_target.is_some() => {
                    bail!(
                        "--kb and --kb-target go with --mode mirror; link mode has no knowledge base"
                    )
                }
                SpaceModeArg::Link => SpaceMode {
                    mode: SyncMode::Link,
                    kb_kind: None,
                    kb_target_id: None,
                },
                SpaceModeArg::Mirror => SpaceMode {
                    mode: SyncMode::Mirror,
                    kb_kind: Some(match kb {
                        Some(KbArg::Classic) => KbKind::Classic,
                        Some(KbArg::Kb2) => KbKind::Kb2,
                        None => bail!("mirror mode needs --kb classic or --kb kb2"),
                    }),
                    kb_target_id: kb_target.map(|t| t.to_string()),
                },
            };
            let creds = credentials(config, &db)?;
            let (site_id, site) = site(config, &db, &creds).await?;
            let portal_id = portal_id(&db, &creds, &portal).await?;
            let rule = store
                .set_space_mode(site_id, &space, portal_id, &mode)
                .await?;
            let synced = mode.mode == SyncMode::Mirror && !no_sync;
            if synced {
                request(config, &site, &space, &portal, None, false).await?;
            }
            if json {
                writeln!(
                    io.out,
                    "{}",
                    json!({"space": space, "portal": portal, "mode": mode_name(rule.mode),
                           "kb": rule.kb_kind.map(kb_name), "kb_target": rule.kb_target_id,
                           "sync_requested": synced})
                )?;
            } else {
                writeln!(
                    io.out,
                    "space {space} in portal {portal}: {}{}",
                    mode_name(rule.mode),
                    rule.kb_kind
                        .map(|k| format!(" into the {} knowledge base", kb_name(k)))
                        .unwrap_or_default()
                )?;
                if synced {
                    writeln!(
                        io.out,
                        "mirroring every page of {space} now (the mirror worker does it; `bridgectl dlq list` shows failures)"
                    )?;
                }
            }
            Ok(0)
        }
        SpaceCommand::Sync {
            space,
            portal,
            page,
            force,
        } => {
            let creds = credentials(config, &db)?;
            let (site_id, site) = site(config, &db, &creds).await?;
            let portal_id = portal_id(&db, &creds, &portal).await?;
            match store.space_rule(site_id, &space, portal_id).await? {
                Some(rule) if rule.mode == SyncMode::Mirror => {}
                _ => bail!(
                    "space {space} is not mirrored into portal {portal}; set it first with `bridgectl space mode {space} --portal {portal} --mode mirror --kb classic|kb2`"
                ),
            }
            request(config, &site, &space, &portal, page, force).await?;
            if json {
                writeln!(
                    io.out,
                    "{}",
                    json!({"space": space, "portal": portal, "page": page, "sync_requested": true})
                )?;
            } else {
                writeln!(io.out, "mirror of {space} requested")?;
            }
            Ok(0)
        }
    }
}

async fn list(store: &MirrorStore, json: bool, io: &mut Io<'_>) -> anyhow::Result<i32> {
    let rules = store.space_rules().await?;
    if json {
        let rows: Vec<_> = rules
            .iter()
            .map(|(r, p)| {
                json!({"space": r.space_key, "portal": p.as_ref().map(|p| &p.member_id),
                       "mode": mode_name(r.mode), "kb": r.kb_kind.map(kb_name),
                       "kb_target": r.kb_target_id, "chat": r.chat_id})
            })
            .collect();
        writeln!(io.out, "{}", serde_json::Value::Array(rows))?;
        return Ok(0);
    }
    if rules.is_empty() {
        writeln!(io.out, "no space rules: every space is in link mode")?;
    }
    for (r, p) in &rules {
        writeln!(
            io.out,
            "{:<12} {:<24} {:<6} {:<8} {}",
            r.space_key,
            p.as_ref().map_or("?", |p| p.member_id.as_str()),
            mode_name(r.mode),
            r.kb_kind.map_or("-", kb_name),
            r.kb_target_id.as_deref().unwrap_or("-")
        )?;
    }
    Ok(0)
}

fn mode_name(m: SyncMode) -> &'static str {
    match m {
        SyncMode::Link => "link",
        SyncMode::Mirror => "mirror",
    }
}

fn kb_name(k: KbKind) -> &'static str {
    match k {
        KbKind::Classic => "classic",
        KbKind::Kb2 => "kb2",
    }
}

/// The configured Confluence site's row id and its name as envelopes carry it.
async fn site(config: &Config, db: &Db, creds: &CredentialStore) -> anyhow::Result<(i64, String)> {
    let client = ConfluenceClient::from_config(config).context("BRIDGE_CONFLUENCE_URL")?;
    let sites = SiteStore::new(db.clone(), creds.clone());
    let id = sites
        .ensure(client.site(), client.site_flavor(), client.auth_kind())
        .await?;
    Ok((id, client.site().to_owned()))
}

fn credentials(config: &Config, db: &Db) -> anyhow::Result<CredentialStore> {
    let keyring = bridge_core::crypto::Keyring::from_config(config).context("BRIDGE_SECRET_KEY")?;
    Ok(CredentialStore::new(db.clone(), Arc::new(keyring)))
}

async fn portal_id(db: &Db, creds: &CredentialStore, member_id: &str) -> anyhow::Result<i64> {
    let portals = PortalStore::new(db.clone(), creds.clone());
    match portals.find(member_id).await? {
        Some(p) => Ok(p.id),
        None => bail!(
            "no portal with member_id {member_id}: install the app in that portal first (`bridgectl space list` shows known ones)"
        ),
    }
}

/// Publishes a mirror request (confirmed by the broker) to the mirror worker's queue.
async fn request(
    config: &Config,
    site: &str,
    space_key: &str,
    member_id: &str,
    content_id: Option<u64>,
    force: bool,
) -> anyhow::Result<()> {
    let broker = Broker::new(config.amqp_url.expose(), "bridgectl space");
    let topology = Topology::new(config.queue_prefix.clone(), config.retry_schedule.clone());
    let result = async {
        let ch = broker.channel().await.context("BRIDGE_AMQP_URL")?;
        topology
            .declare_consumer(&ch, &ConsumerSpec::for_worker(WorkerKind::Mirror))
            .await?;
        let publisher = Publisher::new(broker.clone(), topology.clone(), config.publish_timeout);
        publisher
            .publish(Envelope::new(
                Source::Bridge {
                    component: "bridgectl".into(),
                },
                chrono::Utc::now(),
                Payload::MirrorRequested(MirrorRequested {
                    site: site.to_owned(),
                    space_key: space_key.to_owned(),
                    member_id: member_id.to_owned(),
                    content_id,
                    force,
                }),
            ))
            .await?;
        anyhow::Ok(())
    }
    .await;
    broker.close().await;
    result
}
