//! `bridgectl dlq list|show|replay|purge`.

use crate::Io;
use crate::args::DlqCommand;
use anyhow::bail;
use bridge_core::{Config, WorkerKind};
use bridge_queue::dead_letters::{DeadLetters, ParkedMessage, ReplayFilter};
use bridge_queue::{Broker, ConsumerSpec, Topology};

pub async fn run(
    cmd: DlqCommand,
    config: &Config,
    json: bool,
    io: &mut Io<'_>,
) -> anyhow::Result<i32> {
    let broker = Broker::new(config.amqp_url.expose(), "bridgectl dlq");
    let topology = Topology::new(config.queue_prefix.clone(), config.retry_schedule.clone());
    let dl = DeadLetters::new(broker.clone(), topology, config.publish_timeout);
    let result = dispatch(cmd, &dl, json, io).await;
    broker.close().await;
    result
}

async fn dispatch(
    cmd: DlqCommand,
    dl: &DeadLetters,
    json: bool,
    io: &mut Io<'_>,
) -> anyhow::Result<i32> {
    match cmd {
        DlqCommand::List { workers } => list(dl, &workers.kinds(), json, io).await,
        DlqCommand::Show { id, workers } => show(dl, &workers.kinds(), &id, json, io).await,
        DlqCommand::Replay {
            id,
            class,
            workers,
            all,
        } => {
            if id.is_none() && class.is_none() && workers.workers.is_empty() && !all {
                bail!("say what to replay: --id, --class, --worker, or --all for everything");
            }
            let filter = ReplayFilter {
                message_id: id,
                error_class: class,
            };
            let mut total = 0;
            let mut per_worker = serde_json::Map::new();
            for kind in workers.kinds() {
                let n = dl.replay(&ConsumerSpec::for_worker(kind), &filter).await?;
                total += n;
                per_worker.insert(kind.to_string(), n.into());
                if n > 0 && !json {
                    writeln!(io.out, "{kind}: replayed {n}")?;
                }
            }
            if json {
                writeln!(
                    io.out,
                    "{}",
                    serde_json::json!({"replayed": total, "per_worker": per_worker})
                )?;
            } else {
                writeln!(io.out, "replayed {total} message(s)")?;
            }
            Ok(0)
        }
        DlqCommand::Purge { workers, all, yes } => {
            if workers.workers.is_empty() && !all {
                bail!("say which parking queues to purge: --worker KIND or --all");
            }
            let kinds = workers.kinds();
            if !yes {
                let names: Vec<_> = kinds.iter().map(|k| k.as_str()).collect();
                write!(
                    io.out,
                    "Delete every parked message of {} for good? Type 'yes' to confirm: ",
                    names.join(", ")
                )?;
                io.out.flush()?;
                let mut answer = String::new();
                io.input.read_line(&mut answer)?;
                if answer.trim() != "yes" {
                    writeln!(io.out, "nothing purged")?;
                    return Ok(1);
                }
            }
            let mut total = 0;
            for kind in kinds {
                total += dl.purge(&ConsumerSpec::for_worker(kind)).await?;
            }
            if json {
                writeln!(io.out, "{}", serde_json::json!({"purged": total}))?;
            } else {
                writeln!(io.out, "purged {total} message(s)")?;
            }
            Ok(0)
        }
    }
}

async fn list(
    dl: &DeadLetters,
    kinds: &[WorkerKind],
    json: bool,
    io: &mut Io<'_>,
) -> anyhow::Result<i32> {
    let mut summaries = Vec::new();
    for kind in kinds {
        summaries.push(dl.summary(&ConsumerSpec::for_worker(*kind)).await?);
    }
    if json {
        writeln!(io.out, "{}", serde_json::to_string(&summaries)?)?;
        return Ok(0);
    }
    for s in &summaries {
        writeln!(
            io.out,
            "{:14} {:>6} parked  ({})",
            s.consumer, s.count, s.queue
        )?;
        for r in &s.by_reason {
            writeln!(
                io.out,
                "    {:>6}  {:12} {}",
                r.count, r.error_class, r.reason
            )?;
        }
    }
    Ok(0)
}

async fn show(
    dl: &DeadLetters,
    kinds: &[WorkerKind],
    id: &str,
    json: bool,
    io: &mut Io<'_>,
) -> anyhow::Result<i32> {
    let mut found: Option<ParkedMessage> = None;
    for kind in kinds {
        let parked = dl
            .peek(&ConsumerSpec::for_worker(*kind), usize::MAX)
            .await?;
        if let Some(m) = parked
            .into_iter()
            .find(|m| m.message_id.as_deref() == Some(id))
        {
            found = Some(m);
            break;
        }
    }
    let Some(m) = found else {
        bail!("no parked message with id {id}");
    };
    if json {
        writeln!(io.out, "{}", serde_json::to_string(&m)?)?;
        return Ok(0);
    }
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    writeln!(io.out, "message id:     {}", opt(&m.message_id))?;
    writeln!(io.out, "worker:         {}", m.consumer)?;
    writeln!(io.out, "routing key:    {}", opt(&m.routing_key))?;
    writeln!(io.out, "error class:    {}", m.error_class)?;
    writeln!(io.out, "reason:         {}", m.reason)?;
    writeln!(
        io.out,
        "attempts:       {}",
        m.attempts.map_or("-".into(), |a| a.to_string())
    )?;
    writeln!(
        io.out,
        "first failure:  {} ({})",
        opt(&m.first_failure_at),
        opt(&m.first_failure_reason)
    )?;
    writeln!(io.out, "last failure:   {}", opt(&m.last_failure_at))?;
    writeln!(io.out, "replays:        {}", m.replays)?;
    let body = serde_json::from_str::<serde_json::Value>(&m.body)
        .and_then(|v| serde_json::to_string_pretty(&v))
        .unwrap_or_else(|_| m.body.clone());
    writeln!(io.out, "body:\n{body}")?;
    Ok(0)
}
