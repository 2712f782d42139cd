//! link-sync end to end: tasks created in the fake portal reach the real ingress, the real
//! worker runner resolves their Confluence links, stores them by content id, caches the page
//! and writes the canonical URL back — once (its own update does not loop); renames follow;
//! deleted tasks drop their links. Every URL form of docs §7 is linked on a Cloud and on a
//! Data Center fake; a URL of another host is refused and never fetched.

use crate::support::amqp::eventually;
use crate::support::bridge::{Bridge, SPACE};
use bridge_core::WorkerKind;
use bridge_core::links::tiny;
use bridge_db::LinkStore;
use bridge_sandbox::confluence::{FakeConfluence, Flavor};
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

/// Creates one task per URL in `forms` (the URL in `UF_CONFLUENCE_URL`) and checks each ends
/// linked to `id` by content id with the field holding `canonical`.
async fn assert_forms_link(b: &Bridge, forms: &[(&str, String, u64, String)]) {
    let mut tasks = Vec::new();
    for (name, url, id, canonical) in forms {
        let task = b
            .b24
            .portal()
            .user_creates_task(
                2,
                json!({"TITLE": format!("form {name}"), "UF_CONFLUENCE_URL": url}),
            )
            .unwrap();
        tasks.push((task, *name, url, *id, canonical));
    }
    b.b24.settle().await;
    for (task, name, url, id, canonical) in tasks {
        assert_eq!(
            wait_links(b, task, 1).await,
            vec![(id, canonical.clone())],
            "{name}: {url} not linked by content id"
        );
        assert!(
            eventually(WAIT, || b.task_field(task) == *canonical).await,
            "{name}: {url} → field {:?}, want {canonical:?}",
            b.task_field(task)
        );
    }
}

/// `yyyy/mm/dd` of a blog post's posting day as the fake dates it.
fn posting_path(fake: &FakeConfluence, id: u64) -> String {
    fake.content(id)
        .expect("blog post")
        .created_at
        .format("%Y/%m/%d")
        .to_string()
}

#[tokio::test]
async fn link_sync_every_cloud_url_form_links_the_page_by_id() {
    let b = Bridge::start_flavor(Flavor::Cloud, &[WorkerKind::LinkSync], &[]).await;
    let (page, _) = b
        .confluence
        .create_page(SPACE, "Release Notes", "<p>x</p>", None)
        .await
        .unwrap();
    // A page titled "edit": naive matchers read `/pages/{id}/edit` as the edit form.
    let (edit, _) = b
        .confluence
        .create_page(SPACE, "edit", "<p>e</p>", None)
        .await
        .unwrap();
    let (blog, _) = b
        .confluence
        .create_blogpost(SPACE, "Launch Day", "<p>b</p>")
        .await
        .unwrap();
    let base = b.confluence.base_url();
    assert!(base.ends_with("/wiki"), "{base}");
    let (p, e, bl) = (
        b.web_url(page).await,
        b.web_url(edit).await,
        b.web_url(blog).await,
    );
    assert_eq!(
        p,
        format!("{base}/spaces/{SPACE}/pages/{page}/Release+Notes")
    );
    let day = posting_path(&b.confluence, blog);
    assert_eq!(
        bl,
        format!("{base}/spaces/{SPACE}/blog/{day}/{blog}/Launch+Day")
    );
    let code = tiny::encode(page);
    let forms = [
        (
            "title and anchor",
            format!("{base}/spaces/{SPACE}/pages/{page}/Release+Notes#Scope"),
            page,
            p.clone(),
        ),
        (
            "old title slug",
            format!("{base}/spaces/{SPACE}/pages/{page}/Old+Name"),
            page,
            p.clone(),
        ),
        (
            "edit-v2",
            format!("{base}/spaces/{SPACE}/pages/edit-v2/{page}?draftShareId=0f1e2d3c-4b5a"),
            page,
            p.clone(),
        ),
        (
            "edit",
            format!("{base}/spaces/{SPACE}/pages/edit/{page}"),
            page,
            p.clone(),
        ),
        (
            "viewpage with version and tracking",
            format!("{base}/pages/viewpage.action?pageId={page}&pageVersion=1&utm_source=x"),
            page,
            p.clone(),
        ),
        ("tiny", format!("{base}/x/{code}"), page, p.clone()),
        (
            "tiny, trailing slash",
            format!("{base}/x/{code}/"),
            page,
            p.clone(),
        ),
        (
            "page titled edit",
            format!("{base}/spaces/{SPACE}/pages/{edit}/edit#top"),
            edit,
            e.clone(),
        ),
        (
            "blog post",
            format!("{base}/spaces/{SPACE}/blog/{day}/{blog}/Old+Blog+Title"),
            blog,
            bl.clone(),
        ),
    ];
    assert_forms_link(&b, &forms).await;

    let site_id = b.site_id().await;
    let store = LinkStore::new(b.conn.clone());
    for (id, title) in [(page, "Release Notes"), (blog, "Launch Day")] {
        let cached = store.page(site_id, id).await.unwrap().expect("cached");
        assert_eq!(cached.title, title);
    }
    b.stop().await;
}

#[tokio::test]
async fn link_sync_every_data_center_url_form_links_the_page_by_id() {
    let b = Bridge::start_flavor(Flavor::DataCenter, &[WorkerKind::LinkSync], &[]).await;
    let (page, _) = b
        .confluence
        .create_page(SPACE, "Title With Pluses", "<p>x</p>", None)
        .await
        .unwrap();
    let (blog, _) = b
        .confluence
        .create_blogpost(SPACE, "Blog Title", "<p>b</p>")
        .await
        .unwrap();
    // A page of the same title in another space: the lookup is by space and title.
    b.confluence.create_space("OTHER", "Other").unwrap();
    b.confluence
        .create_page("OTHER", "Title With Pluses", "<p>o</p>", None)
        .await
        .unwrap();
    let base = b.confluence.base_url();
    assert!(base.ends_with("/confluence"), "context path: {base}");
    let (p, bl) = (b.web_url(page).await, b.web_url(blog).await);
    assert_eq!(p, format!("{base}/display/{SPACE}/Title+With+Pluses"));
    let day = posting_path(&b.confluence, blog);
    assert_eq!(bl, format!("{base}/display/{SPACE}/{day}/Blog+Title"));
    let forms = [
        (
            "viewpage",
            format!("{base}/pages/viewpage.action?pageId={page}"),
            page,
            p.clone(),
        ),
        (
            "display (title lookup)",
            format!("{base}/display/{SPACE}/Title+With+Pluses"),
            page,
            p.clone(),
        ),
        (
            "viewpage by space and title",
            format!("{base}/pages/viewpage.action?spaceKey={SPACE}&title=Title+With+Pluses"),
            page,
            p.clone(),
        ),
        (
            "tiny",
            format!("{base}/x/{}", tiny::encode(page)),
            page,
            p.clone(),
        ),
        (
            "blog post (posting-day lookup)",
            format!("{base}/display/{SPACE}/{day}/Blog+Title"),
            blog,
            bl.clone(),
        ),
    ];
    assert_forms_link(&b, &forms).await;
    // The title lookups went to the configured site, with the posting day for the blog post.
    let lookups = b.confluence.requests().matching("/rest/api/content");
    assert!(
        lookups.iter().any(|r| r
            .query
            .as_deref()
            .is_some_and(|q| q.contains("type=blogpost") && q.contains("postingDay="))),
        "no posting-day lookup: {lookups:?}"
    );
    let site = bridge_db::SiteStore::new(b.conn.clone(), b.ctx.credentials.clone())
        .find(base.trim_end_matches('/'))
        .await
        .unwrap()
        .expect("site row");
    assert_eq!(
        site.flavor,
        bridge_db::entities::confluence_sites::Flavor::DataCenter
    );
    b.stop().await;
}

#[tokio::test]
async fn link_sync_foreign_host_urls_are_refused_and_never_fetched() {
    let b = Bridge::start_flavor(Flavor::DataCenter, &[WorkerKind::LinkSync], &[]).await;
    // Another Confluence with the same space, page and ids: a resolver that ignored the host
    // would link (or fetch) it.
    let other = FakeConfluence::start(Flavor::DataCenter).await.unwrap();
    other.create_space(SPACE, "Links").unwrap();
    let (target, _) = b
        .confluence
        .create_page(SPACE, "Foreign Target", "<p>x</p>", None)
        .await
        .unwrap();
    let (decoy, _) = other
        .create_page(SPACE, "Foreign Target", "<p>x</p>", None)
        .await
        .unwrap();
    assert_eq!(decoy, target, "the decoy has the same id");
    let (kept, _) = b
        .confluence
        .create_page(SPACE, "Kept", "<p>k</p>", None)
        .await
        .unwrap();
    let other_base = other.base_url();
    let port = other_base
        .trim_start_matches("http://127.0.0.1:")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let foreign = [
        format!("{other_base}/pages/viewpage.action?pageId={target}"),
        format!("{other_base}/display/{SPACE}/Foreign+Target"),
        format!("{other_base}/pages/viewpage.action?spaceKey={SPACE}&title=Foreign+Target"),
        format!(
            "http://localhost:{port}/confluence/x/{}",
            tiny::encode(target)
        ),
    ];
    let field = format!("{} {}", foreign.join(" "), b.viewpage_url(kept));
    let task = b
        .b24
        .portal()
        .user_creates_task(
            2,
            json!({"TITLE": "foreign", "UF_CONFLUENCE_URL": field,
                   "DESCRIPTION": format!("also [url={}]here[/url]", foreign[1])}),
        )
        .unwrap();
    b.b24.settle().await;
    let canonical = b.web_url(kept).await;
    // The one link on the configured site is stored and rewritten; the foreign ones stay as
    // they were, unlinked.
    let want = format!("{} {canonical}", foreign.join(" "));
    assert!(
        eventually(WAIT, || b.task_field(task) == want).await,
        "field {:?}",
        b.task_field(task)
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(links_of(&b, task).await, vec![(kept, canonical)]);
    assert!(
        other.requests().all().is_empty(),
        "the foreign host was fetched: {:?}",
        other.requests().all()
    );
    // Nor was the configured site asked about the foreign page.
    let asked: Vec<_> = b
        .confluence
        .requests()
        .all()
        .into_iter()
        .filter(|r| {
            r.path.ends_with(&format!("/content/{target}"))
                || r.query.as_deref().is_some_and(|q| q.contains("Foreign"))
        })
        .collect();
    assert!(asked.is_empty(), "{asked:?}");
    b.stop().await;
}

/// The Data Center harness's signed webhooks reach the ingress: a rename moves the field.
#[tokio::test]
async fn link_sync_data_center_rename_arrives_by_signed_webhook() {
    let b = Bridge::start_flavor(Flavor::DataCenter, &[WorkerKind::LinkSync], &[]).await;
    let (id, _) = b
        .confluence
        .create_page(SPACE, "Before", "<p>x</p>", None)
        .await
        .unwrap();
    let task = b
        .b24
        .portal()
        .user_creates_task(
            2,
            json!({"TITLE": "dc", "UF_CONFLUENCE_URL": b.viewpage_url(id)}),
        )
        .unwrap();
    b.b24.settle().await;
    let before = b.web_url(id).await;
    assert!(eventually(WAIT, || b.task_field(task) == before).await);
    b.confluence.rename_page(id, "After").await.unwrap();
    b.confluence.flush_webhooks().await;
    let after = b.web_url(id).await;
    assert_eq!(
        after,
        format!("{}/display/{SPACE}/After", b.confluence.base_url())
    );
    assert!(
        eventually(WAIT, || b.task_field(task) == after).await,
        "{}",
        b.task_field(task)
    );
    assert!(
        b.confluence
            .sent_webhooks()
            .iter()
            .any(|w| w.url.ends_with("/webhooks/confluence/datacenter")
                && w.status.is_some_and(|s| (200..300).contains(&s))),
        "no accepted signed delivery: {:?}",
        b.confluence.sent_webhooks()
    );
    b.stop().await;
}

fn gets_of(b: &Bridge, task: u64) -> usize {
    b.b24
        .requests()
        .matching("tasks.task.get")
        .iter()
        .filter(|r| r.body.contains(&format!("\"taskId\":{task}")))
        .count()
}

#[tokio::test]
async fn link_sync_move_rewrites_every_field_even_when_fanout_handled_the_move_first() {
    let mut b = Bridge::start(
        &[WorkerKind::LinkSync, WorkerKind::Fanout],
        &[
            ("BRIDGE_FANOUT_COMMENT_ON_MOVE", "true"),
            ("BRIDGE_FANOUT_COALESCE_WINDOW", "0s"),
        ],
    )
    .await;
    b.confluence.create_space("MOVED", "Moved to").unwrap();
    let (id, _) = b
        .confluence
        .create_page(SPACE, "Wanderer", "<p>x</p>", None)
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..3 {
        tasks.push(
            b.b24
                .portal()
                .user_creates_task(
                    2,
                    json!({"TITLE": format!("M{i}"), "UF_CONFLUENCE_URL": b.viewpage_url(id)}),
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

    // Only the fan-out runs while the move is reported: it handles the event first.
    b.kill_workers().await;
    b.start_workers(&[WorkerKind::PortalSetup, WorkerKind::Fanout]);
    b.confluence
        .move_page(id, None, Some("MOVED"))
        .await
        .unwrap();
    b.confluence.flush_webhooks().await;
    let after = b.web_url(id).await;
    assert_ne!(before, after);
    let moved_comments = eventually(WAIT, || {
        tasks
            .iter()
            .all(|t| b.bridge_comments(*t).iter().any(|c| c.contains("-moved-")))
    })
    .await;
    assert!(moved_comments, "the fan-out handled the move");
    for t in &tasks {
        assert_eq!(
            links_of(&b, *t).await,
            vec![(id, before.clone())],
            "fanout wrote no URL"
        );
    }

    // Then link-sync consumes the same event: every field follows.
    b.kill_workers().await;
    b.start_workers(&[
        WorkerKind::PortalSetup,
        WorkerKind::LinkSync,
        WorkerKind::Fanout,
    ]);
    for t in &tasks {
        assert!(
            eventually(WAIT, || b.task_field(*t) == after).await,
            "task {t}: {}",
            b.task_field(*t)
        );
    }
    for t in &tasks {
        assert_eq!(links_of(&b, *t).await, vec![(id, after.clone())]);
    }
    b.stop().await;
}

#[tokio::test]
async fn link_sync_user_edit_between_read_and_write_is_not_overwritten() {
    let b = Bridge::start(&[WorkerKind::LinkSync], &[]).await;
    let (id, _) = b
        .confluence
        .create_page(SPACE, "Slow page", "<p>x</p>", None)
        .await
        .unwrap();
    let canonical = b.web_url(id).await;
    // Confluence answers slowly: the sync waits between reading the task and writing it.
    b.confluence.faults().update(|k| k.latency_ms = 1500);
    let task = b
        .b24
        .portal()
        .user_creates_task(
            2,
            json!({"TITLE": "Race", "UF_CONFLUENCE_URL": b.viewpage_url(id)}),
        )
        .unwrap();
    b.b24.settle().await;
    assert!(
        eventually(WAIT, || gets_of(&b, task) >= 1).await,
        "the sync read the task"
    );
    // The user replaces the link while the sync waits for Confluence.
    let mine = "https://example.org/my-notes";
    b.b24
        .portal()
        .user_updates_task(2, task, json!({"UF_CONFLUENCE_URL": mine}))
        .unwrap();
    b.b24.settle().await;
    // Both syncs (the first, started over, and the user's update) read the new text.
    assert!(eventually(WAIT, || gets_of(&b, task) >= 6).await);
    tokio::time::sleep(Duration::from_secs(4)).await;
    b.confluence.faults().update(|k| k.latency_ms = 0);
    assert_eq!(b.task_field(task), mine, "the user's edit survived");
    assert_eq!(updates_of(&b, task), 0, "nothing written over it");
    assert!(links_of(&b, task).await.is_empty());
    assert!(!b.task_field(task).contains(&canonical));
    b.stop().await;
}

#[tokio::test]
async fn link_sync_task_lease_serialises_and_older_reads_are_dropped() {
    use bridge_db::entities::b24_portals;
    use sea_orm::{ActiveModelTrait, ActiveValue::Set};
    let tdb = crate::support::db::TestDb::new(crate::support::db::Kind::Postgres).await;
    let db = tdb.migrated().await;
    let now = chrono::Utc::now();
    let portal = b24_portals::ActiveModel {
        member_id: Set("lease".into()),
        domain: Set("lease.bitrix24.com".into()),
        client_endpoint: Set("https://lease.bitrix24.com/rest/".into()),
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
    let store = LinkStore::new(db.clone());
    let lease = Duration::from_secs(60);
    assert!(store.claim_task(portal.id, 9, "A", lease).await.unwrap());
    assert!(
        !store.claim_task(portal.id, 9, "B", lease).await.unwrap(),
        "held by A"
    );
    assert!(
        store.claim_task(portal.id, 9, "A", lease).await.unwrap(),
        "A again"
    );
    assert!(
        store.claim_task(portal.id, 10, "B", lease).await.unwrap(),
        "per task"
    );
    // Only the holder may apply, and never a read older than one applied.
    assert!(
        !store
            .commit_task_read(portal.id, 9, "B", Some(200))
            .await
            .unwrap()
    );
    assert!(
        store
            .commit_task_read(portal.id, 9, "A", Some(200))
            .await
            .unwrap()
    );
    assert!(
        store
            .commit_task_read(portal.id, 9, "A", Some(200))
            .await
            .unwrap()
    );
    assert!(
        !store
            .commit_task_read(portal.id, 9, "A", Some(100))
            .await
            .unwrap()
    );
    store.release_task(portal.id, 9, "A").await.unwrap();
    assert!(
        store.claim_task(portal.id, 9, "B", lease).await.unwrap(),
        "released"
    );
    assert!(
        !store
            .commit_task_read(portal.id, 9, "B", Some(150))
            .await
            .unwrap()
    );
    assert!(
        store
            .commit_task_read(portal.id, 9, "B", Some(300))
            .await
            .unwrap()
    );
    // An expired lease is taken over.
    assert!(
        store
            .claim_task(portal.id, 11, "A", Duration::ZERO)
            .await
            .unwrap()
    );
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert!(
        store.claim_task(portal.id, 11, "B", lease).await.unwrap(),
        "expired"
    );
    db.close().await.ok();
}
