//! fanout end to end: a page edit in the fake Confluence reaches the real ingress as a
//! webhook, the real worker runner comments on every linking task in the fake B24 — exactly
//! once per (task, page, version) under duplicated webhooks, a run that fails after its batch
//! was sent, a dead-letter replay and a worker killed mid-fan-out; bursts are coalesced; page
//! deletion and restore are reported; 1,000 tasks within the rate limit.

use crate::support::amqp::{Recorder, eventually};
use crate::support::bridge::{Bridge, SPACE, create_tasks};
use bridge_core::{Envelope, Payload, WorkerKind};
use bridge_db::entities::comment_ledger::LedgerState;
use bridge_db::entities::task_links::LinkStatus;
use bridge_db::{CommentLedger, LinkStore};
use sea_orm::ConnectionTrait;
use std::sync::Arc;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(40);

/// Every task has exactly `n` bridge comments (checked until `WAIT`).
async fn each_has(b: &Bridge, tasks: &[u64], n: usize) -> bool {
    eventually(WAIT, || {
        tasks.iter().all(|t| b.bridge_comments(*t).len() >= n)
    })
    .await
        && tasks.iter().all(|t| b.bridge_comments(*t).len() == n)
}

fn counts(b: &Bridge, tasks: &[u64]) -> Vec<usize> {
    tasks.iter().map(|t| b.bridge_comments(*t).len()).collect()
}

#[tokio::test]
async fn fanout_one_update_one_comment_per_task_with_duplicated_webhooks() {
    let mut tasks = Vec::new();
    let b = Bridge::start_with(
        &[WorkerKind::Fanout],
        &[("BRIDGE_FANOUT_COALESCE_WINDOW", "1s")],
        |b24| create_tasks(b24, 5, &mut tasks),
    )
    .await;
    let (id, _) = b
        .confluence
        .create_page(SPACE, "Spec", "<p>1</p>", None)
        .await
        .unwrap();
    b.link_directly(id, &tasks).await;
    b.confluence
        .faults()
        .update(|k| k.duplicate_outgoing_share = 1.0);
    b.confluence.edit_page(id, "<p>2</p>").await.unwrap();
    b.confluence.flush_webhooks().await;
    assert!(
        b.confluence.sent_webhooks().len() >= 2,
        "the fake duplicated the webhook"
    );
    assert!(each_has(&b, &tasks, 1).await, "{:?}", counts(&b, &tasks));
    let text = &b.bridge_comments(tasks[0])[0];
    assert!(text.starts_with("Page \"Spec\" updated by "), "{text}");
    assert!(text.contains("[url=http"), "{text}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(counts(&b, &tasks), vec![1; tasks.len()], "still one each");
    b.stop().await;
}

#[tokio::test]
async fn fanout_retry_after_sent_batch_and_replay_post_no_duplicates() {
    let mut tasks = Vec::new();
    // Fanout runs as a custom handler below (with the failure hook), not in the runner.
    let b = Bridge::start_with(&[], &[("BRIDGE_FANOUT_COALESCE_WINDOW", "0s")], |b24| {
        create_tasks(b24, 60, &mut tasks)
    })
    .await;
    b.b24.portal().set_new_task_card(false);
    let (id, _) = b
        .confluence
        .create_page(SPACE, "Old card", "<p>1</p>", None)
        .await
        .unwrap();
    b.link_directly(id, &tasks).await;

    let observed = Recorder::ok();
    let obs = b.tb.spec("observer", &["confluence.page.updated"]);
    b.tb.declare(&obs).await;
    b.tb.start(&obs, observed.clone(), 2);

    let fanout = bridge_workers::jobs::fanout::Fanout::new(&b.ctx);
    fanout.fail_after_send(1);
    let handler =
        bridge_workers::dedupe::Deduplicated::wrap("fanout", b.conn.clone(), Arc::new(fanout));
    let spec = bridge_queue::ConsumerSpec::for_worker(WorkerKind::Fanout);
    b.tb.start(&spec, handler, 4);

    b.confluence.edit_page(id, "<p>2</p>").await.unwrap();
    b.confluence.flush_webhooks().await;
    assert!(each_has(&b, &tasks, 1).await, "{:?}", counts(&b, &tasks));
    let site_id = b.site_id().await;
    let ledger = CommentLedger::new(b.conn.clone());
    // The comments exist a moment before their rows are marked.
    let deadline = tokio::time::Instant::now() + WAIT;
    let rows = loop {
        let rows = ledger.rows_for_page(site_id, id).await.unwrap();
        if rows.iter().all(|r| r.state == LedgerState::Sent)
            || tokio::time::Instant::now() > deadline
        {
            break rows;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(rows.len(), tasks.len());
    assert!(rows.iter().all(|r| r.state == LedgerState::Sent));
    assert!(
        rows.iter().any(|r| r.attempts > 1),
        "the first batch was checked, not re-sent"
    );

    // A dead letter replayed long after (the dedupe keys forgotten): nothing new.
    let (original, _) = observed
        .calls()
        .into_iter()
        .find(|(e, _)| matches!(&e.payload, Payload::ConfluencePage(p) if p.content_id == id))
        .expect("the update reached the queue");
    b.conn
        .conn()
        .execute_unprepared("DELETE FROM processed_events")
        .await
        .unwrap();
    // Same envelope (same id) again, as `bridgectl dlq replay` sends it.
    b.tb.publisher.publish(original.clone()).await.unwrap();
    // And a fresh duplicate of the same change.
    let mut again = Envelope::new(
        original.source.clone(),
        original.occurred_at,
        original.payload.clone(),
    );
    again.attempt = 0;
    b.tb.publisher.publish(again).await.unwrap();
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(counts(&b, &tasks), vec![1; tasks.len()]);
    b.stop().await;
}

#[tokio::test]
async fn fanout_worker_killed_mid_fanout_comments_exactly_once() {
    let mut tasks = Vec::new();
    let mut b = Bridge::start_with(
        &[WorkerKind::Fanout],
        &[("BRIDGE_FANOUT_COALESCE_WINDOW", "0s")],
        |b24| create_tasks(b24, 300, &mut tasks),
    )
    .await;
    let (id, _) = b
        .confluence
        .create_page(SPACE, "Killed", "<p>1</p>", None)
        .await
        .unwrap();
    b.link_directly(id, &tasks).await;
    // Spend the portal's burst so the six batches go out one every half second.
    let clients = bridge_clients::b24::B24Clients::new(
        b.conn.clone(),
        b.ctx.credentials.clone(),
        bridge_clients::b24::B24Settings::from_config(&b.config),
    );
    let client = clients.portal(&b.member_id).await.unwrap();
    for _ in 0..44 {
        client
            .call("server.time", serde_json::json!({}))
            .await
            .unwrap();
    }
    b.confluence.edit_page(id, "<p>2</p>").await.unwrap();
    b.confluence.flush_webhooks().await;
    let some = eventually(WAIT, || {
        tasks.iter().any(|t| !b.bridge_comments(*t).is_empty())
    })
    .await;
    assert!(some, "fan-out started");
    b.kill_workers().await;
    let done_before = tasks
        .iter()
        .filter(|t| !b.bridge_comments(**t).is_empty())
        .count();
    assert!(
        done_before < tasks.len(),
        "killed mid-fan-out ({done_before})"
    );
    b.start_workers(&[WorkerKind::Fanout]);
    assert!(each_has(&b, &tasks, 1).await, "{:?}", counts(&b, &tasks));
    assert_eq!(b.b24.total_violations(), 0);
    b.stop().await;
}

#[tokio::test]
async fn fanout_burst_of_edits_by_two_people_is_one_comment_naming_both() {
    let mut tasks = Vec::new();
    let b = Bridge::start_with(
        &[WorkerKind::Fanout],
        &[("BRIDGE_FANOUT_COALESCE_WINDOW", "3s")],
        |b24| create_tasks(b24, 3, &mut tasks),
    )
    .await;
    let ann = b
        .confluence
        .add_user("acc-ann", "ann@example.com", "Ann Editor", "ann");
    let bob = b
        .confluence
        .add_user("acc-bob", "bob@example.com", "Bob Writer", "bob");
    let (id, _) = b
        .confluence
        .create_page(SPACE, "Burst", "<p>0</p>", None)
        .await
        .unwrap();
    b.link_directly(id, &tasks).await;
    for (i, who) in [ann, bob, ann, bob, ann].into_iter().enumerate() {
        b.confluence
            .edit_page_as(id, &format!("<p>{i}</p>"), who)
            .await
            .unwrap();
        b.confluence.flush_webhooks().await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(each_has(&b, &tasks, 1).await, "{:?}", counts(&b, &tasks));
    let text = &b.bridge_comments(tasks[0])[0];
    assert!(
        text.contains("Ann Editor") && text.contains("Bob Writer"),
        "{text}"
    );
    assert!(
        text.contains("-v6-updated"),
        "about the newest version: {text}"
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(counts(&b, &tasks), vec![1; tasks.len()]);
    b.stop().await;
}

#[tokio::test]
async fn fanout_delete_and_restore_mark_links_and_comment_in_chat_mode() {
    let mut tasks = Vec::new();
    let b = Bridge::start_with(
        &[WorkerKind::Fanout],
        &[("BRIDGE_FANOUT_COALESCE_WINDOW", "0s")],
        |b24| create_tasks(b24, 3, &mut tasks),
    )
    .await;
    CommentLedger::new(b.conn.clone())
        .set_portal_settings(b.portal_id, Some("chat"), Some("ru"))
        .await
        .unwrap();
    let (id, _) = b
        .confluence
        .create_page(SPACE, "Doomed", "<p>1</p>", None)
        .await
        .unwrap();
    b.link_directly(id, &tasks).await;
    let site_id = b.site_id().await;
    let store = LinkStore::new(b.conn.clone());

    b.confluence.trash(id).await.unwrap();
    b.confluence.flush_webhooks().await;
    assert!(each_has(&b, &tasks, 1).await, "{:?}", counts(&b, &tasks));
    let text = &b.bridge_comments(tasks[0])[0];
    assert!(text.starts_with("Страница \"Doomed\" удалена"), "{text}");
    let statuses: Vec<_> = store
        .links_for_page(site_id, id)
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.status)
        .collect();
    assert_eq!(statuses, vec![LinkStatus::Trashed; tasks.len()]);
    let via: Vec<_> = b
        .b24
        .portal()
        .task_chat_messages(tasks[0])
        .into_iter()
        .map(|m| m.via)
        .collect();
    assert!(via.iter().any(|v| v == "im.message.add"), "{via:?}");

    b.confluence.restore(id).await.unwrap();
    b.confluence.flush_webhooks().await;
    assert!(each_has(&b, &tasks, 2).await, "{:?}", counts(&b, &tasks));
    let statuses: Vec<_> = store
        .links_for_page(site_id, id)
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.status)
        .collect();
    assert_eq!(statuses, vec![LinkStatus::Current; tasks.len()]);
    b.stop().await;
}

#[tokio::test]
async fn fanout_thousand_tasks_one_page_within_the_rate_limit() {
    let mut tasks = Vec::new();
    let b = Bridge::start_with(
        &[WorkerKind::Fanout],
        &[("BRIDGE_FANOUT_COALESCE_WINDOW", "0s")],
        |b24| create_tasks(b24, 1000, &mut tasks),
    )
    .await;
    let (id, _) = b
        .confluence
        .create_page(SPACE, "Popular", "<p>1</p>", None)
        .await
        .unwrap();
    b.link_directly(id, &tasks).await;
    b.b24.requests().clear();
    b.confluence.edit_page(id, "<p>2</p>").await.unwrap();
    b.confluence.flush_webhooks().await;
    let all = eventually(Duration::from_secs(90), || {
        tasks.iter().all(|t| !b.bridge_comments(*t).is_empty())
    })
    .await;
    assert!(all, "not every task got its comment");
    let total: usize = counts(&b, &tasks).iter().sum();
    assert_eq!(total, 1000, "exactly 1,000 comments");
    assert_eq!(b.b24.total_violations(), 0, "no rate-limit refusals");
    let batches = b.b24.requests().matching("batch").len();
    assert!(batches <= 25, "{batches} batch requests");
    b.stop().await;
}
