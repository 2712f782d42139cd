//! link-sync end to end: tasks created in the fake portal reach the real ingress, the real
//! worker runner resolves their Confluence links, stores them by content id, caches the page
//! and writes the canonical URL back — once (its own update does not loop); renames follow;
//! deleted tasks drop their links.

use crate::support::amqp::eventually;
use crate::support::bridge::{Bridge, SPACE};
use bridge_core::WorkerKind;
use bridge_db::LinkStore;
use serde_json::json;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

async fn links_of(b: &Bridge, task: u64) -> Vec<(u64, String)> {
    LinkStore::new(b.conn.clone())
        .task_links(b.portal_id, task)
        .await
        .unwrap()
        .into_iter()
        .map(|l| (l.content_id as u64, l.canonical_url))
        .collect()
}

async fn wait_links(b: &Bridge, task: u64, want: usize) -> Vec<(u64, String)> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let l = links_of(b, task).await;
        if l.len() == want || tokio::time::Instant::now() > deadline {
            return l;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn updates_of(b: &Bridge, task: u64) -> usize {
    b.b24
        .requests()
        .matching("tasks.task.update")
        .iter()
        .filter(|r| r.body.contains(&format!("\"taskId\":{task}")))
        .count()
}

#[tokio::test]
async fn link_sync_viewpage_and_pages_urls_become_canonical_without_a_loop() {
    let b = Bridge::start(&[WorkerKind::LinkSync], &[]).await;
    let (a, _) = b
        .confluence
        .create_page(SPACE, "Release plan", "<p>x</p>", None)
        .await
        .unwrap();
    let (c, _) = b
        .confluence
        .create_page(SPACE, "Runbook", "<p>y</p>", None)
        .await
        .unwrap();
    let canonical_a = b.web_url(a).await;
    let canonical_c = b.web_url(c).await;

    // The field holds an old-style viewpage URL; the description a /spaces/…/pages/… link.
    let task = b
        .b24
        .portal()
        .user_creates_task(
            2,
            json!({"TITLE": "Ship it", "UF_CONFLUENCE_URL": b.viewpage_url(a),
                   "DESCRIPTION": format!("See [url={canonical_c}]the runbook[/url] and https://example.org/x")}),
        )
        .unwrap();
    b.b24.settle().await;
    let links = wait_links(&b, task, 2).await;
    assert_eq!(
        links,
        vec![(a, canonical_a.clone()), (c, canonical_c.clone())],
        "stored by content id"
    );
    assert!(
        eventually(WAIT, || b.task_field(task) == canonical_a).await,
        "field not canonical: {:?}",
        b.task_field(task)
    );
    // The cache has the page.
    let site_id = b.site_id().await;
    let cached = LinkStore::new(b.conn.clone())
        .page(site_id, a)
        .await
        .unwrap()
        .expect("page cached");
    assert_eq!(cached.title, "Release plan");

    // The bridge's own update fired ONTASKUPDATE: the second pass writes nothing.
    tokio::time::sleep(Duration::from_secs(3)).await;
    b.b24.settle().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(updates_of(&b, task), 1, "exactly one write-back, no loop");

    // Removing the description link removes it from the store.
    b.b24
        .portal()
        .user_updates_task(2, task, json!({"DESCRIPTION": "nothing here"}))
        .unwrap();
    b.b24.settle().await;
    let links = wait_links(&b, task, 1).await;
    assert_eq!(links, vec![(a, canonical_a.clone())]);

    // A deleted task drops its links.
    b.b24.portal().user_deletes_task(2, task).unwrap();
    b.b24.settle().await;
    assert!(wait_links(&b, task, 0).await.is_empty());
    b.stop().await;
}

#[tokio::test]
async fn link_sync_rename_moves_the_task_field_and_the_cached_title() {
    let b = Bridge::start(&[WorkerKind::LinkSync], &[]).await;
    let (id, _) = b
        .confluence
        .create_page(SPACE, "Old name", "<p>x</p>", None)
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..3 {
        tasks.push(
            b.b24
                .portal()
                .user_creates_task(
                    2,
                    json!({"TITLE": format!("T{i}"), "UF_CONFLUENCE_URL": b.viewpage_url(id)}),
                )
                .unwrap(),
        );
    }
    b.b24.settle().await;
    let before = b.web_url(id).await;
    for t in &tasks {
        assert!(
            eventually(WAIT, || b.task_field(*t) == before).await,
            "{}",
            b.task_field(*t)
        );
    }

    b.confluence.rename_page(id, "New name").await.unwrap();
    b.confluence.flush_webhooks().await;
    let after = b.web_url(id).await;
    assert_ne!(before, after);
    for t in &tasks {
        assert!(
            eventually(WAIT, || b.task_field(*t) == after).await,
            "task {t}: {}",
            b.task_field(*t)
        );
    }
    let site_id = b.site_id().await;
    let store = LinkStore::new(b.conn.clone());
    let ok = {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let title = store.page(site_id, id).await.unwrap().map(|p| p.title);
            if title.as_deref() == Some("New name") {
                break true;
            }
            if tokio::time::Instant::now() > deadline {
                break false;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    assert!(ok, "cached title follows the rename");
    for t in &tasks {
        assert_eq!(links_of(&b, *t).await, vec![(id, after.clone())]);
    }
    b.stop().await;
}

/// Tiny links and Data Center display forms need the full resolver (shared/core links).
#[tokio::test]
async fn link_sync_tiny_link_resolves_to_the_page() {
    let b = Bridge::start(&[WorkerKind::LinkSync], &[]).await;
    let (id, _) = b
        .confluence
        .create_page(SPACE, "Tiny target", "<p>x</p>", None)
        .await
        .unwrap();
    let client = bridge_clients::confluence::ConfluenceClient::from_config(&b.config).unwrap();
    let page = client.page(id).await.unwrap();
    let tiny = page.tiny_url.clone().expect("a tiny link");
    let task = b
        .b24
        .portal()
        .user_creates_task(2, json!({"TITLE": "tiny", "UF_CONFLUENCE_URL": tiny}))
        .unwrap();
    b.b24.settle().await;
    let canonical = page.web_url.unwrap();
    assert_eq!(wait_links(&b, task, 1).await, vec![(id, canonical.clone())]);
    assert!(eventually(WAIT, || b.task_field(task) == canonical).await);
    b.stop().await;
}
