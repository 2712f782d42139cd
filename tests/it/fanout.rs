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

/// Ledger rows of a page once none is pending any more (or at the deadline).
async fn settled_rows(
    b: &Bridge,
    site_id: i64,
    id: u64,
) -> Vec<bridge_db::entities::comment_ledger::Model> {
    let ledger = CommentLedger::new(b.conn.clone());
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let rows = ledger.rows_for_page(site_id, id).await.unwrap();
        if (!rows.is_empty() && rows.iter().all(|r| r.state != LedgerState::Pending))
            || tokio::time::Instant::now() > deadline
        {
            return rows;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Fanout without the dedupe wrapper: what a retry or a later report of a status change
/// looks like to the handler once dedupe keys are gone.
fn start_bare_fanout(b: &Bridge) {
    let fanout = bridge_workers::jobs::fanout::Fanout::new(&b.ctx);
    let spec = bridge_queue::ConsumerSpec::for_worker(WorkerKind::Fanout);
    b.tb.start(&spec, Arc::new(fanout), 4);
}

#[tokio::test]
async fn fanout_trashed_retried_after_restored_does_nothing_and_each_retrash_comments() {
    let mut tasks = Vec::new();
    let b = Bridge::start_with(&[], &[("BRIDGE_FANOUT_COALESCE_WINDOW", "0s")], |b24| {
        create_tasks(b24, 2, &mut tasks)
    })
    .await;
    start_bare_fanout(&b);
    let (id, _) = b
        .confluence
        .create_page(SPACE, "Flicker", "<p>1</p>", None)
        .await
        .unwrap();
    b.link_directly(id, &tasks).await;
    let site_id = b.site_id().await;
    let store = LinkStore::new(b.conn.clone());
    let statuses = || async {
        store
            .links_for_page(site_id, id)
            .await
            .unwrap()
            .into_iter()
            .map(|l| l.status)
            .collect::<Vec<_>>()
    };

    // Trashed and restored, delivered in reverse: "restored" first, then the stale "trashed".
    b.confluence.faults().update(|k| k.reorder_outgoing = true);
    b.confluence.trash(id).await.unwrap();
    b.confluence.restore(id).await.unwrap();
    b.confluence.flush_webhooks().await;
    b.confluence.faults().update(|k| k.reorder_outgoing = false);
    assert!(each_has(&b, &tasks, 1).await, "{:?}", counts(&b, &tasks));
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        counts(&b, &tasks),
        vec![1; tasks.len()],
        "no late 'deleted'"
    );
    let text = &b.bridge_comments(tasks[0])[0];
    assert!(text.contains("was restored"), "{text}");
    assert_eq!(statuses().await, vec![LinkStatus::Current; tasks.len()]);

    // Trash → restore → trash of one version: every change gets its comment.
    for (n, step) in ["trash", "restore", "trash"].into_iter().enumerate() {
        match step {
            "trash" => b.confluence.trash(id).await.unwrap(),
            _ => b.confluence.restore(id).await.unwrap(),
        }
        b.confluence.flush_webhooks().await;
        assert!(
            each_has(&b, &tasks, n + 2).await,
            "after {step}: {:?}",
            counts(&b, &tasks)
        );
    }
    let comments = b.bridge_comments(tasks[0]);
    let deleted: Vec<_> = comments
        .iter()
        .filter(|c| c.contains("was deleted"))
        .collect();
    assert_eq!(deleted.len(), 2, "{comments:?}");
    assert!(
        comments.last().unwrap().contains("was deleted"),
        "{comments:?}"
    );
    assert_eq!(statuses().await, vec![LinkStatus::Trashed; tasks.len()]);
    b.stop().await;
}

#[tokio::test]
async fn fanout_lookup_refused_for_one_task_does_not_hold_back_the_others() {
    let mut tasks = Vec::new();
    let b = Bridge::start_with(&[], &[("BRIDGE_FANOUT_COALESCE_WINDOW", "0s")], |b24| {
        create_tasks(b24, 4, &mut tasks)
    })
    .await;
    CommentLedger::new(b.conn.clone())
        .set_portal_settings(b.portal_id, Some("chat"), None)
        .await
        .unwrap();
    let (id, _) = b
        .confluence
        .create_page(SPACE, "Lookup", "<p>1</p>", None)
        .await
        .unwrap();
    b.link_directly(id, &tasks).await;
    // One task's chat is one the app cannot read: sending and looking up both fail there.
    b.conn
        .conn()
        .execute_unprepared(&format!(
            "UPDATE task_links SET chat_id = 999999 WHERE task_id = {}",
            tasks[0]
        ))
        .await
        .unwrap();
    let fanout = bridge_workers::jobs::fanout::Fanout::new(&b.ctx);
    fanout.fail_after_send(1);
    let handler =
        bridge_workers::dedupe::Deduplicated::wrap("fanout", b.conn.clone(), Arc::new(fanout));
    let spec = bridge_queue::ConsumerSpec::for_worker(WorkerKind::Fanout);
    b.tb.start(&spec, handler, 4);

    b.confluence.edit_page(id, "<p>2</p>").await.unwrap();
    b.confluence.flush_webhooks().await;
    let site_id = b.site_id().await;
    let rows = settled_rows(&b, site_id, id).await;
    let state_of = |t: u64| {
        rows.iter()
            .find(|r| r.task_id == t as i64)
            .map(|r| r.state)
            .unwrap()
    };
    assert_eq!(state_of(tasks[0]), LedgerState::Refused, "{rows:?}");
    for t in &tasks[1..] {
        assert_eq!(state_of(*t), LedgerState::Sent, "{rows:?}");
    }
    assert!(
        rows.iter().all(|r| r.attempts > 1),
        "looked up on the retry"
    );
    assert_eq!(counts(&b, &tasks[1..]), vec![1; tasks.len() - 1]);
    b.stop().await;
}

#[tokio::test]
async fn fanout_redrives_rows_left_pending_past_the_lease() {
    let mut tasks = Vec::new();
    let b = Bridge::start_with(
        &[WorkerKind::Fanout],
        &[("BRIDGE_FANOUT_COALESCE_WINDOW", "0s")],
        |b24| create_tasks(b24, 2, &mut tasks),
    )
    .await;
    let (old, _) = b
        .confluence
        .create_page(SPACE, "Left behind", "<p>1</p>", None)
        .await
        .unwrap();
    let (id, _) = b
        .confluence
        .create_page(SPACE, "Trigger", "<p>1</p>", None)
        .await
        .unwrap();
    b.link_directly(old, &tasks).await;
    b.link_directly(id, &tasks).await;
    let site_id = b.site_id().await;
    // What a delivery whose portal client failed for good leaves: claimed, pending, acked.
    let ledger = CommentLedger::new(b.conn.clone());
    let marker = format!("#confluence-{old}-v7-updated");
    let key = bridge_db::LedgerKey {
        site_id,
        content_id: old,
        version: 7,
        kind: "updated".into(),
        event_at: 0,
    };
    let rows: Vec<_> = tasks
        .iter()
        .map(|t| {
            (
                b.portal_id,
                *t,
                format!("Page \"Left behind\" updated\n{marker}"),
            )
        })
        .collect();
    ledger.ensure_pending(&key, &rows).await.unwrap();
    b.conn
        .conn()
        .execute_unprepared(&format!(
            "UPDATE comment_ledger SET claim = 'gone', attempts = 1, \
             claimed_at = now() - interval '1 hour' WHERE content_id = {old}"
        ))
        .await
        .unwrap();

    // The portal's next fan-out (another page) sends them too.
    b.confluence.edit_page(id, "<p>2</p>").await.unwrap();
    b.confluence.flush_webhooks().await;
    assert!(each_has(&b, &tasks, 2).await, "{:?}", counts(&b, &tasks));
    for t in &tasks {
        assert!(
            b.bridge_comments(*t).iter().any(|c| c.contains(&marker)),
            "{:?}",
            b.bridge_comments(*t)
        );
    }
    let rows = settled_rows(&b, site_id, old).await;
    assert!(
        rows.iter().all(|r| r.state == LedgerState::Sent),
        "{rows:?}"
    );
    b.stop().await;
}

#[tokio::test]
async fn fanout_early_flush_reschedules_itself_and_the_comment_still_appears() {
    let mut tasks = Vec::new();
    let b = Bridge::start_with(
        &[WorkerKind::Fanout],
        &[("BRIDGE_FANOUT_COALESCE_WINDOW", "2s")],
        |b24| create_tasks(b24, 2, &mut tasks),
    )
    .await;
    let (id, _) = b
        .confluence
        .create_page(SPACE, "Skewed", "<p>1</p>", None)
        .await
        .unwrap();
    b.link_directly(id, &tasks).await;
    let site_id = b.site_id().await;
    // The edit is recorded, but its own flush never comes (as if its replica's clock ran
    // ahead and it fired early, finding nothing to do): only an early flush arrives.
    CommentLedger::new(b.conn.clone())
        .record_edit(
            site_id,
            id,
            &bridge_db::PendingEdit {
                version: 2,
                actor: None,
                edited_at: chrono::Utc::now(),
            },
        )
        .await
        .unwrap();
    let site = bridge_clients::confluence::ConfluenceClient::from_config(&b.config)
        .unwrap()
        .site()
        .to_owned();
    let flush = Envelope::new(
        bridge_core::Source::Bridge {
            component: "test".into(),
        },
        chrono::Utc::now(),
        Payload::FanoutFlush(bridge_core::envelope::FanoutFlush {
            site,
            content_id: id,
        }),
    );
    b.tb.publisher.publish(flush).await.unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(counts(&b, &tasks), vec![0; tasks.len()], "not quiet yet");
    assert!(each_has(&b, &tasks, 1).await, "{:?}", counts(&b, &tasks));
    assert!(b.bridge_comments(tasks[0])[0].contains("-v2-updated"));
    b.stop().await;
}

#[tokio::test]
async fn fanout_pruned_ledger_never_announces_an_old_version_again() {
    let mut tasks = Vec::new();
    let b = Bridge::start_with(
        &[WorkerKind::Fanout],
        &[("BRIDGE_FANOUT_COALESCE_WINDOW", "0s")],
        |b24| create_tasks(b24, 2, &mut tasks),
    )
    .await;
    let (id, _) = b
        .confluence
        .create_page(SPACE, "Pruned", "<p>1</p>", None)
        .await
        .unwrap();
    b.link_directly(id, &tasks).await;
    let observed = Recorder::ok();
    let obs = b.tb.spec("observer", &["confluence.page.updated"]);
    b.tb.declare(&obs).await;
    b.tb.start(&obs, observed.clone(), 2);
    b.confluence.edit_page(id, "<p>2</p>").await.unwrap();
    b.confluence.flush_webhooks().await;
    assert!(each_has(&b, &tasks, 1).await, "{:?}", counts(&b, &tasks));
    let site_id = b.site_id().await;
    let rows = settled_rows(&b, site_id, id).await;
    assert!(rows.iter().all(|r| r.state == LedgerState::Sent));
    let store = LinkStore::new(b.conn.clone());
    let floors: Vec<_> = store
        .links_for_page(site_id, id)
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.commented_version)
        .collect();
    assert_eq!(floors, vec![Some(2); tasks.len()], "floor raised when sent");

    // Everything that remembered the comment is pruned…
    let ledger = CommentLedger::new(b.conn.clone());
    let later = chrono::Utc::now() + chrono::TimeDelta::minutes(1);
    assert_eq!(ledger.prune_sent_before(later).await.unwrap(), 2);
    ledger.prune_edits_before(later).await.unwrap();
    b.conn
        .conn()
        .execute_unprepared("DELETE FROM processed_events")
        .await
        .unwrap();
    assert!(ledger.rows_for_page(site_id, id).await.unwrap().is_empty());
    // …and the old edit reported again: the floor keeps it from being announced.
    let (original, _) = observed
        .calls()
        .into_iter()
        .find(|(e, _)| matches!(&e.payload, Payload::ConfluencePage(p) if p.content_id == id))
        .expect("the update reached the queue");
    let again = Envelope::new(
        original.source.clone(),
        original.occurred_at,
        original.payload.clone(),
    );
    b.tb.publisher.publish(again).await.unwrap();
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(counts(&b, &tasks), vec![1; tasks.len()]);
    b.stop().await;
}

#[tokio::test]
async fn fanout_ledger_renews_claims_per_batch_and_marks_only_held_rows() {
    use bridge_db::entities::{b24_portals, confluence_sites};
    use sea_orm::{ActiveModelTrait, ActiveValue::Set};
    let tdb = crate::support::db::TestDb::new(crate::support::db::Kind::Postgres).await;
    let db = tdb.migrated().await;
    let now = chrono::Utc::now();
    let portal = b24_portals::ActiveModel {
        member_id: Set("renew".into()),
        domain: Set("renew.bitrix24.com".into()),
        client_endpoint: Set("https://renew.bitrix24.com/rest/".into()),
        server_endpoint: Set("https://oauth.bitrix.info/rest/".into()),
        status: Set(b24_portals::PortalStatus::Active),
        language: Set(None),
        installed_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db.conn())
    .await
    .unwrap();
    let site = confluence_sites::ActiveModel {
        base_url: Set("https://renew.atlassian.net/wiki".into()),
        flavor: Set(confluence_sites::Flavor::Cloud),
        auth_kind: Set(confluence_sites::AuthKind::Basic),
        cloud_id: Set(None),
        sweep_high_water: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db.conn())
    .await
    .unwrap();
    let links = LinkStore::new(db.clone());
    for t in [1u64, 2, 3] {
        links
            .sync_task(
                portal.id,
                t,
                site.id,
                None,
                &[bridge_db::NewLink {
                    content_id: 77,
                    original_url: "u".into(),
                    canonical_url: "u".into(),
                    status: LinkStatus::Current,
                }],
            )
            .await
            .unwrap();
    }
    let ledger = CommentLedger::new(db.clone());
    let key = bridge_db::LedgerKey {
        site_id: site.id,
        content_id: 77,
        version: 5,
        kind: "updated".into(),
        event_at: 0,
    };
    let rows: Vec<_> = [1u64, 2, 3]
        .iter()
        .map(|t| (portal.id, *t, "x\n#confluence-77-v5-updated".to_owned()))
        .collect();
    ledger.ensure_pending(&key, &rows).await.unwrap();
    let a = ledger
        .claim(&key, "A", chrono::TimeDelta::minutes(10))
        .await
        .unwrap();
    let ids: Vec<i64> = a.iter().map(|r| r.id).collect();
    assert_eq!(ids.len(), 3);
    // B cannot renew or mark A's rows.
    assert!(ledger.renew(&ids, "B").await.unwrap().is_empty());
    ledger.mark_sent(&ids, "B").await.unwrap();
    assert!(
        ledger
            .rows_for_page(site.id, 77)
            .await
            .unwrap()
            .iter()
            .all(|r| r.state == LedgerState::Pending)
    );
    // A renews exactly the rows it asks for.
    assert_eq!(ledger.renew(&ids[..2], "A").await.unwrap().len(), 2);
    ledger.mark_sent(&ids[..1], "A").await.unwrap();
    ledger.mark_refused(&ids[1..2], "A").await.unwrap();
    let states: Vec<_> = ledger
        .rows_for_page(site.id, 77)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.state)
        .collect();
    assert_eq!(
        states,
        vec![
            LedgerState::Sent,
            LedgerState::Refused,
            LedgerState::Pending
        ]
    );
    // A marked row is not renewed any more (it is not pending).
    assert_eq!(ledger.renew(&ids, "A").await.unwrap(), vec![ids[2]]);
    let floors: Vec<_> = links
        .links_for_page(site.id, 77)
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.commented_version)
        .collect();
    assert_eq!(floors, vec![Some(5), Some(5), None]);
    // Pruning removes terminal rows only; the floor stays.
    let later = chrono::Utc::now() + chrono::TimeDelta::minutes(1);
    assert_eq!(ledger.prune_sent_before(later).await.unwrap(), 2);
    assert_eq!(ledger.rows_for_page(site.id, 77).await.unwrap().len(), 1);
    assert_eq!(
        links.links_for_page(site.id, 77).await.unwrap()[0].commented_version,
        Some(5)
    );
    // Stale rows of the portal are re-driven by another delivery once past the lease.
    assert!(
        ledger
            .claim_stale(portal.id, "C", chrono::TimeDelta::minutes(10))
            .await
            .unwrap()
            .is_empty()
    );
    let redriven = ledger
        .claim_stale(portal.id, "C", chrono::TimeDelta::zero())
        .await
        .unwrap();
    assert_eq!(redriven.len(), 1);
    assert_eq!(redriven[0].attempts, 2);
    db.close().await.ok();
}
