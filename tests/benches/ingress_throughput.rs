//! Ingress throughput against the broker's own confirmed-publish rate, in release mode:
//!
//! ```text
//! cargo build --release -p bridge-ingress
//! cargo bench -p bridge-tests --bench ingress_throughput -- [--requests N] [--concurrency C]
//! ```
//!
//! Runs the real `bridge-ingress` binary (target/release) as its own process against the local
//! RabbitMQ and a temporary SQLite database, and drives it from this process with signed
//! Confluence Data Center webhooks:
//!
//! 1. baseline: raw lapin publishing with pipelined confirms of the same envelope body to the
//!    same exchange and queues (`bridge_queue::baseline`);
//! 2. peak: N webhooks, C in flight, each answered 202 only after its confirm;
//! 3. latency: an open-loop load at half the peak rate for a few seconds, p50 and p99.
//!
//! Figures are printed as rates and as the ratio against the baseline of the same run.

use bridge_core::WorkerKind;
use bridge_queue::{Broker, ConsumerSpec, Topology};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SECRET: &str = "bench-secret";

fn arg(name: &str, default: usize) -> usize {
    let argv: Vec<String> = std::env::args().collect();
    argv.iter()
        .position(|a| a == name)
        .and_then(|i| argv.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn body(i: usize) -> String {
    format!(
        r#"{{"timestamp":1700000000000,"event":"page_updated","userKey":"bench","page":{{"id":{}}}}}"#,
        5_000_000_000u64 + i as u64
    )
}

fn sign(body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).expect("any key length");
    mac.update(body.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn post(http: &reqwest::Client, url: &str, i: usize) -> Result<Duration, String> {
    let b = body(i);
    let started = Instant::now();
    let r = http
        .post(url)
        .header("X-Hub-Signature", format!("sha256={}", sign(&b)))
        .body(b)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if r.status() != 202 {
        return Err(format!("HTTP {}", r.status()));
    }
    Ok(started.elapsed())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let requests = arg("--requests", 20_000);
    let concurrency = arg("--concurrency", 64);
    let amqp = std::env::var("BRIDGE_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into());
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let binary = root.join("target/release/bridge-ingress");
    if !binary.exists() {
        return Err("build the ingress first: cargo build --release -p bridge-ingress".into());
    }
    let prefix = format!("bench{}", uuid::Uuid::new_v4().simple());
    let dir = std::env::temp_dir().join(&prefix);
    std::fs::create_dir_all(&dir)?;
    let db_url = format!("sqlite://{}?mode=rwc", dir.join("bridge.db").display());
    bridge_db::connect(&db_url).await?.migrate_up().await?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut child = tokio::process::Command::new(&binary)
        .env("BRIDGE_QUEUE_PREFIX", &prefix)
        .env("BRIDGE_DATABASE_URL", &db_url)
        .env("BRIDGE_AMQP_URL", &amqp)
        .env("BRIDGE_HTTP_ADDR", format!("127.0.0.1:{port}"))
        .env("BRIDGE_CONFLUENCE_URL", "https://bench.example/confluence")
        .env("BRIDGE_CONFLUENCE_WEBHOOK_SECRET", SECRET)
        .env(
            "BRIDGE_SECRET_KEY",
            "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=",
        )
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    let base = format!("http://127.0.0.1:{port}");
    let url = format!("{base}/webhooks/confluence/datacenter");
    let mut ready = false;
    for _ in 0..200 {
        if http
            .get(format!("{base}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if !ready {
        return Err("the ingress did not become ready".into());
    }
    // Let the ingress declare the worker queues, so both paths route into the same queues.
    post(&http, &url, 0).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;

    // 1. Baseline: the same envelope body, raw lapin, same exchange and routing key.
    let topology = Topology::new(prefix.clone(), vec![Duration::from_secs(5)]);
    let broker = Broker::new(&amqp, "bench-baseline");
    let sample = {
        let payload = bridge_core::Payload::ConfluencePage(bridge_core::envelope::PageEvent {
            content_id: 5_000_000_000,
            content_type: Default::default(),
            action: bridge_core::envelope::PageAction::Updated,
            space_key: None,
            title: None,
            version: None,
            actor: Some("bench".into()),
            minor_edit: false,
        });
        bridge_core::Envelope::new(
            bridge_core::Source::Confluence {
                site: "https://bench.example/confluence".into(),
            },
            chrono::Utc::now(),
            payload,
        )
        .to_json()
    };
    let raw = bridge_queue::baseline::raw_confirmed_publish(
        &broker,
        &topology,
        "confluence.page.updated",
        &sample,
        requests,
        concurrency,
    )
    .await?;
    let raw_rate = requests as f64 / raw.as_secs_f64();

    // 2. Peak: closed loop, `concurrency` requests in flight.
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(1));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (http, url, next) = (http.clone(), url.clone(), next.clone());
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i > requests {
                    return Ok::<(), String>(());
                }
                post(&http, &url, i).await?;
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    let peak = requests as f64 / started.elapsed().as_secs_f64();

    // 3. Latency at half the peak rate (open loop: requests start on schedule, whatever the
    //    answers' pace), for about five seconds.
    let rate = peak / 2.0;
    let count = ((rate * 5.0) as usize).clamp(100, 50_000);
    let interval = Duration::from_secs_f64(1.0 / rate);
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..count {
        ticker.tick().await;
        let (http, url) = (http.clone(), url.clone());
        tasks.spawn(async move { post(&http, &url, requests + 1 + i).await });
    }
    let mut latencies = Vec::with_capacity(count);
    while let Some(r) = tasks.join_next().await {
        latencies.push(r??);
    }
    latencies.sort();

    println!("requests: {requests}, concurrency: {concurrency}");
    println!("raw lapin confirmed publish      {raw_rate:>10.0} msg/s");
    println!(
        "ingress, signed webhooks → 202   {peak:>10.0} req/s   ratio {:.2}",
        peak / raw_rate
    );
    println!(
        "at half peak ({rate:.0} req/s, {count} requests): p50 {:.2} ms, p99 {:.2} ms",
        percentile(&latencies, 0.50).as_secs_f64() * 1000.0,
        percentile(&latencies, 0.99).as_secs_f64() * 1000.0
    );

    child.kill().await.ok();
    let ch = broker.channel().await?;
    for kind in WorkerKind::ALL {
        topology
            .delete_consumer(&ch, &ConsumerSpec::for_worker(kind))
            .await
            .ok();
    }
    topology.delete_exchanges(&ch).await.ok();
    broker.close().await;
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}
