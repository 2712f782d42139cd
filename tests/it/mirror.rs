//! mirror end to end, for both knowledge bases: an admin switches a space to mirror mode
//! with `bridgectl space mode` (which mirrors the existing pages), then page edits, moves,
//! trash and restore in the fake Confluence reach the real ingress as webhooks and the real
//! mirror worker keeps the fake B24's knowledge base in step — hierarchy, attachments,
//! links between pages, no duplicates.

use crate::cli_dlq::bridgectl;
use crate::support::amqp::eventually;
use crate::support::bridge::{Bridge, SPACE};
use bridge_core::WorkerKind;
use bridge_db::MirrorStore;
use bridge_db::entities::mirror_pages::MirrorState;
use bridge_sandbox::confluence::Flavor;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);
const PNG: &[u8] = b"\x89PNG\r\n\x1a\nnot really an image";

/// Home (space home) → Handbook → Onboarding (with an image attachment and a link back to
/// Handbook). Returns (home, handbook, onboarding).
async fn seed(b: &Bridge) -> (u64, u64, u64) {
    let home = b
        .confluence
        .state()
        .space_by_key(SPACE)
        .and_then(|s| s.homepage_id)
        .expect("the space has a home page");
    let (handbook, _) = b
        .confluence
        .create_page(SPACE, "Handbook", "<p>How we work.</p>", None)
        .await
        .unwrap();
    let body = r#"<h1>Day one</h1><p>Read the <ac:link><ri:page ri:content-title="Handbook"/></ac:link> first.</p>
<p><ac:image><ri:attachment ri:filename="diagram.png"/></ac:image></p>"#;
    let (onboarding, _) = b
        .confluence
        .create_page(SPACE, "Onboarding", body, Some(handbook))
        .await
        .unwrap();
    b.confluence
        .add_attachment(onboarding, "diagram.png", "image/png", PNG.to_vec())
        .await
        .unwrap();
    b.confluence.flush_webhooks().await;
    (home, handbook, onboarding)
}

async fn switch_to_mirror(b: &Bridge, kb: &str) {
    let (code, out) = bridgectl(
        &b.config,
        &[
            "space",
            "mode",
            SPACE,
            "--portal",
            &b.member_id,
            "--mode",
            "mirror",
            "--kb",
            kb,
        ],
        "",
    )
    .await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("mirror"), "{out}");
}

async fn mirror_row(
    b: &Bridge,
    content_id: u64,
) -> Option<bridge_db::entities::mirror_pages::Model> {
    let site = b.site_id().await;
    MirrorStore::new(b.conn.clone())
        .page(site, content_id, b.portal_id)
        .await
        .unwrap()
}

/// Waits until the page's row says `version` is mirrored in `state`.
async fn mirrored(b: &Bridge, content_id: u64, version: u32, state: MirrorState) -> bool {
    let deadline = tokio::time::Instant::now() + WAIT;
    while tokio::time::Instant::now() < deadline {
        if let Some(r) = mirror_row(b, content_id).await
            && !r.target_page_id.is_empty()
            && r.mirrored_version >= i32::try_from(version).unwrap()
            && r.state == state
            && r.lease_holder.is_none()
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

fn version_of(b: &Bridge, id: u64) -> u32 {
    b.confluence.content(id).expect("page").latest().number
}

#[tokio::test]
async fn mirror_classic_knowledge_base_end_to_end() {
    let b = Bridge::start(&[WorkerKind::Mirror], &[]).await;
    let (home, handbook, onboarding) = seed(&b).await;
    switch_to_mirror(&b, "classic").await;
    for id in [home, handbook, onboarding] {
        assert!(
            mirrored(&b, id, version_of(&b, id), MirrorState::Active).await,
            "page {id} not mirrored: {:#}",
            b.b24.portal().snapshot()
        );
    }
    let portal = b.b24.portal();
    let kb: Vec<_> = portal
        .sites()
        .into_iter()
        .filter(|s| s.site_type == "KNOWLEDGE")
        .collect();
    assert_eq!(kb.len(), 1, "one knowledge base: {kb:?}");
    let landings = portal.landings();
    assert_eq!(landings.len(), 3, "one article per page: {landings:?}");
    assert!(landings.iter().all(|l| l.active), "published: {landings:?}");

    // Hierarchy as folders: Handbook in Home's folder, Onboarding in Handbook's.
    let row = |id| {
        let b = &b;
        async move { mirror_row(b, id).await.unwrap() }
    };
    let (home_row, handbook_row, onboarding_row) =
        (row(home).await, row(handbook).await, row(onboarding).await);
    let lid =
        |r: &bridge_db::entities::mirror_pages::Model| r.target_page_id.parse::<u64>().unwrap();
    let home_folder: u64 = home_row
        .children_folder_id
        .clone()
        .unwrap()
        .parse()
        .unwrap();
    let handbook_folder: u64 = handbook_row
        .children_folder_id
        .clone()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(portal.landing(lid(&home_row)).unwrap().folder_id, None);
    assert_eq!(
        portal.landing(lid(&handbook_row)).unwrap().folder_id,
        Some(home_folder)
    );
    assert_eq!(
        portal.landing(lid(&onboarding_row)).unwrap().folder_id,
        Some(handbook_folder)
    );
    let folders = portal.folders();
    let hf = folders.iter().find(|f| f.id == handbook_folder).unwrap();
    assert_eq!(hf.parent_id, Some(home_folder), "folders nest: {folders:?}");
    assert_eq!(hf.title, "Handbook");

    // Content: converted HTML, the link to Handbook points at its article, the image at
    // the Disk copy of the attachment.
    let html = portal
        .blocks(lid(&onboarding_row))
        .into_iter()
        .map(|b| b.content)
        .collect::<String>();
    assert!(html.contains("Day one"), "{html}");
    let handbook_url = handbook_row.target_url.clone().expect("article URL");
    assert!(html.contains(&handbook_url), "link rewritten: {html}");
    let disk_file = portal
        .disk_objects()
        .into_iter()
        .find(|o| !o.is_folder && o.name.starts_with("diagram"))
        .expect("attachment copied to Disk");
    assert_eq!(disk_file.bytes, PNG);
    let copies = MirrorStore::new(b.conn.clone())
        .attachments(onboarding_row.id)
        .await
        .unwrap();
    assert_eq!(copies.len(), 1);
    assert!(
        html.contains(&copies[0].target_url),
        "image rewritten: {html}"
    );

    // An edit updates the same article (no second one, attachment not copied again).
    let (_, v2) = b
        .confluence
        .edit_page(
            onboarding,
            r#"<h1>Day one</h1><p>Now with coffee.</p><p><ac:image><ri:attachment ri:filename="diagram.png"/></ac:image></p>"#,
        )
        .await
        .unwrap();
    b.confluence.flush_webhooks().await;
    assert!(mirrored(&b, onboarding, v2, MirrorState::Active).await);
    let html = portal
        .blocks(lid(&onboarding_row))
        .into_iter()
        .map(|b| b.content)
        .collect::<String>();
    assert!(html.contains("Now with coffee."), "{html}");
    assert_eq!(portal.landings().len(), 3);
    assert_eq!(
        portal
            .disk_objects()
            .iter()
            .filter(|o| !o.is_folder)
            .count(),
        1,
        "unchanged attachment not uploaded again"
    );

    // Handbook (with its child) moved under a new page: Handbook's article moves into the
    // new page's folder, and Onboarding follows into a new folder for Handbook's children
    // there (the API cannot move folders).
    let (guides, gv) = b
        .confluence
        .create_page(SPACE, "Guides", "<p>All guides.</p>", None)
        .await
        .unwrap();
    b.confluence.flush_webhooks().await;
    assert!(mirrored(&b, guides, gv, MirrorState::Active).await);
    b.confluence
        .move_page(handbook, Some(guides), None)
        .await
        .unwrap();
    b.confluence.flush_webhooks().await;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let g = mirror_row(&b, guides).await.unwrap();
        let h = mirror_row(&b, handbook).await.unwrap();
        let o = mirror_row(&b, onboarding).await.unwrap();
        let settled = [&g, &h, &o].iter().all(|r| r.lease_holder.is_none());
        if let (Some(gf), Some(hf)) = (g.children_folder_id.clone(), h.children_folder_id.clone()) {
            let (gf, hf): (u64, u64) = (gf.parse().unwrap(), hf.parse().unwrap());
            let folders = portal.folders();
            if settled
                && portal.landing(lid(&h)).unwrap().folder_id == Some(gf)
                && portal.landing(lid(&o)).unwrap().folder_id == Some(hf)
                && folders
                    .iter()
                    .any(|f| f.id == hf && f.parent_id == Some(gf))
            {
                break;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not moved: {:#}",
            portal.snapshot()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(portal.landings().len(), 4, "moved, not copied");

    // Trashed → unpublished; restored → published again.
    b.confluence.trash(onboarding).await.unwrap();
    b.confluence.flush_webhooks().await;
    assert!(
        eventually(WAIT, || !portal
            .landing(lid(&onboarding_row))
            .unwrap()
            .active)
        .await,
        "unpublished"
    );
    b.confluence.restore(onboarding).await.unwrap();
    b.confluence.flush_webhooks().await;
    assert!(
        eventually(WAIT, || portal
            .landing(lid(&onboarding_row))
            .unwrap()
            .active)
        .await,
        "published again"
    );
    assert!(mirrored(&b, onboarding, v2, MirrorState::Active).await);

    // A full re-sync of an up-to-date space writes nothing (versions already mirrored).
    let writes = || {
        b.b24
            .requests()
            .all()
            .iter()
            .filter(|r| r.path.contains("landing.") || r.path.contains("disk."))
            .count()
    };
    let before = writes();
    let (code, out) = bridgectl(
        &b.config,
        &["space", "sync", SPACE, "--portal", &b.member_id],
        "",
    )
    .await;
    assert_eq!(code, 0, "{out}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(portal.landings().len(), 4);
    let folders = portal.folders().len();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(portal.folders().len(), folders);
    assert_eq!(writes(), before, "nothing written for an up-to-date space");
    b.stop().await;
}

#[tokio::test]
async fn mirror_kb2_end_to_end_on_data_center() {
    let b = Bridge::start_flavor(Flavor::DataCenter, &[WorkerKind::Mirror], &[]).await;
    let (home, handbook, onboarding) = seed(&b).await;
    switch_to_mirror(&b, "kb2").await;
    for id in [home, handbook, onboarding] {
        assert!(
            mirrored(&b, id, version_of(&b, id), MirrorState::Active).await,
            "page {id} not mirrored: {:#}",
            b.b24.portal().snapshot()
        );
    }
    let portal = b.b24.portal();
    assert_eq!(portal.collections().len(), 1);
    let doc_of = |r: &bridge_db::entities::mirror_pages::Model| {
        let id: u64 = r.target_page_id.parse().unwrap();
        portal.documents().into_iter().find(|d| d.id == id).unwrap()
    };
    let home_doc = doc_of(&mirror_row(&b, home).await.unwrap());
    let handbook_doc = doc_of(&mirror_row(&b, handbook).await.unwrap());
    let onboarding_doc = doc_of(&mirror_row(&b, onboarding).await.unwrap());
    assert_eq!(home_doc.parent_id, None);
    assert_eq!(handbook_doc.parent_id, Some(home_doc.id));
    assert_eq!(onboarding_doc.parent_id, Some(handbook_doc.id));
    assert!(
        onboarding_doc.markdown.contains("# Day one"),
        "{}",
        onboarding_doc.markdown
    );
    let files = portal.note_files();
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(files[0].bytes, PNG);
    assert_eq!(files[0].document_id, onboarding_doc.id);
    assert!(
        onboarding_doc
            .markdown
            .contains(&format!("fileId={}", files[0].id)),
        "image embedded: {}",
        onboarding_doc.markdown
    );
    assert_eq!(portal.documents().len(), 3);

    // Edit → the same document updated.
    let (_, v2) = b
        .confluence
        .edit_page(onboarding, "<h1>Day one</h1><p>Now with tea.</p>")
        .await
        .unwrap();
    b.confluence.flush_webhooks().await;
    assert!(mirrored(&b, onboarding, v2, MirrorState::Active).await);
    let doc = doc_of(&mirror_row(&b, onboarding).await.unwrap());
    assert_eq!(doc.id, onboarding_doc.id);
    assert!(doc.markdown.contains("Now with tea."), "{}", doc.markdown);

    // Moved under Home: KB 2.0 cannot re-parent, so a new document under Home, the old
    // one archived.
    b.confluence
        .move_page(onboarding, Some(home), None)
        .await
        .unwrap();
    b.confluence.flush_webhooks().await;
    let deadline = tokio::time::Instant::now() + WAIT;
    let moved = loop {
        let r = mirror_row(&b, onboarding).await.unwrap();
        if r.target_page_id != onboarding_doc.id.to_string() && r.lease_holder.is_none() {
            break doc_of(&r);
        }
        assert!(tokio::time::Instant::now() < deadline, "not moved");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(moved.parent_id, Some(home_doc.id));
    assert!(!moved.archived);
    assert!(
        eventually(WAIT, || portal
            .documents()
            .iter()
            .any(|d| d.id == onboarding_doc.id && d.archived))
        .await,
        "old document archived"
    );

    // Trash → archived; restore → a live document again.
    b.confluence.trash(onboarding).await.unwrap();
    b.confluence.flush_webhooks().await;
    assert!(
        eventually(WAIT, || portal
            .documents()
            .iter()
            .any(|d| d.id == moved.id && d.archived))
        .await
    );
    b.confluence.restore(onboarding).await.unwrap();
    b.confluence.flush_webhooks().await;
    assert!(mirrored(&b, onboarding, v2, MirrorState::Active).await);
    let restored = doc_of(&mirror_row(&b, onboarding).await.unwrap());
    assert!(!restored.archived);
    assert_eq!(restored.parent_id, Some(home_doc.id));
    b.stop().await;
}

#[tokio::test]
async fn mirror_kb2_splits_a_page_over_the_one_mebibyte_limit() {
    let b = Bridge::start(&[WorkerKind::Mirror], &[]).await;
    switch_to_mirror(&b, "kb2").await;
    let para = format!("<p>{}</p>", "lorem ipsum dolor sit amet ".repeat(40));
    let body: String = (0..1200)
        .map(|i| format!("<h2>Section {i}</h2>{para}"))
        .collect();
    assert!(body.len() > 1_300_000);
    let (big, v) = b
        .confluence
        .create_page(SPACE, "Big", &body, None)
        .await
        .unwrap();
    b.confluence.flush_webhooks().await;
    assert!(mirrored(&b, big, v, MirrorState::Active).await);
    let row = mirror_row(&b, big).await.unwrap();
    let main: u64 = row.target_page_id.parse().unwrap();
    let docs = b.b24.portal().documents();
    let parts: Vec<_> = docs
        .iter()
        .filter(|d| d.parent_id == Some(main) && d.title.starts_with("Big (part "))
        .collect();
    assert!(!parts.is_empty(), "split into parts: {docs:?}");
    let main_doc = docs.iter().find(|d| d.id == main).unwrap();
    assert!(main_doc.markdown.len() <= 1_048_576);
    assert!(parts.iter().all(|d| d.markdown.len() <= 1_048_576));
    let all: String = std::iter::once(main_doc)
        .chain(parts.iter().copied())
        .map(|d| d.markdown.as_str())
        .collect();
    assert!(all.contains("Section 0") && all.contains("Section 1199"));
    b.stop().await;
}

#[tokio::test]
async fn mirror_makes_one_article_per_page_under_duplicated_concurrent_deliveries() {
    let b = Bridge::start(&[WorkerKind::Mirror], &[("BRIDGE_WORKER_CONCURRENCY", "8")]).await;
    switch_to_mirror(&b, "classic").await;
    b.confluence
        .faults()
        .update(|k| k.duplicate_outgoing_share = 1.0);
    let (parent, _) = b
        .confluence
        .create_page(SPACE, "Parent", "<p>p</p>", None)
        .await
        .unwrap();
    let mut pages = vec![parent];
    for i in 0..12 {
        let (id, _) = b
            .confluence
            .create_page(SPACE, &format!("Child {i}"), "<p>c</p>", Some(parent))
            .await
            .unwrap();
        pages.push(id);
    }
    b.confluence.flush_webhooks().await;
    for id in &pages {
        assert!(
            mirrored(&b, *id, 1, MirrorState::Active).await,
            "page {id}: {:#}",
            b.b24.portal().snapshot()
        );
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let portal = b.b24.portal();
    // The space home page and the 13 pages, each once; one folder for Home's children and
    // one for Parent's (siblings agree on one).
    assert_eq!(
        portal.landings().len(),
        pages.len() + 1,
        "{:#}",
        portal.snapshot()
    );
    assert_eq!(portal.folders().len(), 2, "{:?}", portal.folders());
    b.stop().await;
}

#[tokio::test]
async fn space_mode_command_explains_what_is_missing() {
    let b = Bridge::start(&[], &[]).await;
    let (code, out) = bridgectl(
        &b.config,
        &[
            "space",
            "mode",
            SPACE,
            "--portal",
            &b.member_id,
            "--mode",
            "mirror",
        ],
        "",
    )
    .await;
    assert_ne!(code, 0);
    assert!(out.contains("--kb classic or --kb kb2"), "{out}");
    let (code, out) = bridgectl(
        &b.config,
        &[
            "space", "mode", SPACE, "--portal", "nobody", "--mode", "mirror", "--kb", "kb2",
        ],
        "",
    )
    .await;
    assert_ne!(code, 0);
    assert!(out.contains("no portal with member_id nobody"), "{out}");
    let (code, out) = bridgectl(
        &b.config,
        &["space", "sync", SPACE, "--portal", &b.member_id],
        "",
    )
    .await;
    assert_ne!(code, 0);
    assert!(out.contains("is not mirrored"), "{out}");
    let (code, out) = bridgectl(
        &b.config,
        &[
            "space",
            "mode",
            SPACE,
            "--portal",
            &b.member_id,
            "--mode",
            "mirror",
            "--kb",
            "kb2",
            "--no-sync",
        ],
        "",
    )
    .await;
    assert_eq!(code, 0, "{out}");
    let (code, out) = bridgectl(&b.config, &["--json", "space", "list"], "").await;
    assert_eq!(code, 0, "{out}");
    let rows: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(rows[0]["space"], SPACE);
    assert_eq!(rows[0]["mode"], "mirror");
    assert_eq!(rows[0]["kb"], "kb2");
    assert_eq!(rows[0]["portal"], b.member_id.as_str());
    b.stop().await;
}

#[tokio::test]
async fn mirror_into_a_portal_without_kb2_is_parked_with_the_way_out() {
    let b = Bridge::start(&[WorkerKind::Mirror], &[]).await;
    b.b24.portal().set_kb2_available(false);
    switch_to_mirror(&b, "kb2").await;
    let dl = bridge_queue::dead_letters::DeadLetters::new(
        b.tb.publisher.broker().clone(),
        b.tb.topology.clone(),
        Duration::from_secs(5),
    );
    let mirror = bridge_queue::ConsumerSpec::for_worker(WorkerKind::Mirror);
    let deadline = tokio::time::Instant::now() + WAIT;
    let parked = loop {
        let parked = dl.peek(&mirror, 10).await.unwrap();
        if !parked.is_empty() {
            break parked;
        }
        assert!(tokio::time::Instant::now() < deadline, "nothing parked");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(parked[0].error_class, "permanent");
    assert!(
        parked[0].reason.contains("Knowledge Base 2.0")
            && parked[0].reason.contains("--kb classic"),
        "{}",
        parked[0].reason
    );
    assert!(b.b24.portal().documents().is_empty());
    b.stop().await;
}

/// A file replaced without a page edit (no new page version) reaches the mirror through the
/// attachment webhook: Cloud names the page in the payload, Data Center's thin body does
/// not (the worker looks the container up).
async fn replaced_attachment_is_mirrored(flavor: Flavor, kb: &str) {
    let b = Bridge::start_flavor(flavor, &[WorkerKind::Mirror], &[]).await;
    let (_, _, onboarding) = seed(&b).await;
    switch_to_mirror(&b, kb).await;
    let version = version_of(&b, onboarding);
    assert!(mirrored(&b, onboarding, version, MirrorState::Active).await);
    let row = mirror_row(&b, onboarding).await.unwrap();
    let store = MirrorStore::new(b.conn.clone());
    let before = store.attachments(row.id).await.unwrap();
    assert_eq!(before.len(), 1);

    let new_png = b"\x89PNG\r\n\x1a\nthe second drawing".to_vec();
    b.confluence
        .add_attachment(onboarding, "diagram.png", "image/png", new_png.clone())
        .await
        .unwrap();
    b.confluence.flush_webhooks().await;
    assert_eq!(
        version_of(&b, onboarding),
        version,
        "the page itself did not change"
    );
    let deadline = tokio::time::Instant::now() + WAIT;
    let after = loop {
        let copies = store.attachments(row.id).await.unwrap();
        if copies.len() == 1
            && copies[0].version > before[0].version
            && mirror_row(&b, onboarding)
                .await
                .unwrap()
                .lease_holder
                .is_none()
        {
            break copies;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "new file version not copied: {copies:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let portal = b.b24.portal();
    match kb {
        "classic" => {
            let file = portal
                .disk_objects()
                .into_iter()
                .find(|o| o.id.to_string() == after[0].target_file_id)
                .expect("the new copy on Disk");
            assert_eq!(file.bytes, new_png);
            let lid: u64 = row.target_page_id.parse().unwrap();
            let html: String = portal.blocks(lid).into_iter().map(|b| b.content).collect();
            assert!(html.contains(&after[0].target_url), "{html}");
        }
        _ => {
            let file = portal
                .note_files()
                .into_iter()
                .find(|f| f.id.to_string() == after[0].target_file_id)
                .expect("the new note file");
            assert_eq!(file.bytes, new_png);
            let doc: u64 = mirror_row(&b, onboarding)
                .await
                .unwrap()
                .target_page_id
                .parse()
                .unwrap();
            let md = portal
                .documents()
                .into_iter()
                .find(|d| d.id == doc)
                .unwrap()
                .markdown;
            assert!(md.contains(&format!("fileId={}", file.id)), "{md}");
        }
    }
    b.stop().await;
}

#[tokio::test]
async fn mirror_follows_a_replaced_attachment_on_cloud_classic() {
    replaced_attachment_is_mirrored(Flavor::Cloud, "classic").await;
}

#[tokio::test]
async fn mirror_follows_a_replaced_attachment_on_data_center_kb2() {
    replaced_attachment_is_mirrored(Flavor::DataCenter, "kb2").await;
}

/// The page lease on both databases: one holder at a time, a holder that outlived its lease
/// can neither save nor clear what the next holder owes, and the next holder's work stands.
async fn page_lease_is_exclusive_and_expires(kind: crate::support::db::Kind) {
    use bridge_db::entities::{b24_portals, confluence_sites, mirror_pages::KbKind};
    use sea_orm::{ActiveModelTrait, ActiveValue::Set};
    let tdb = crate::support::db::TestDb::new(kind).await;
    let db = tdb.connect().await;
    db.migrate_up().await.unwrap();
    let now = chrono::Utc::now();
    let portal = b24_portals::ActiveModel {
        member_id: Set("m-lease".into()),
        domain: Set("lease.bitrix24.com".into()),
        client_endpoint: Set("https://lease.bitrix24.com/rest/".into()),
        server_endpoint: Set("https://oauth.bitrix.info/rest/".into()),
        status: Set(b24_portals::PortalStatus::Active),
        installed_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db.conn())
    .await
    .unwrap();
    let site = confluence_sites::ActiveModel {
        base_url: Set("https://lease.atlassian.net/wiki".into()),
        flavor: Set(confluence_sites::Flavor::Cloud),
        auth_kind: Set(confluence_sites::AuthKind::Basic),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db.conn())
    .await
    .unwrap();
    let store = MirrorStore::new(db.clone());
    let short = Duration::from_millis(300);
    let a = store
        .claim_page(site.id, 7, portal.id, KbKind::Kb2, "holder-a", short)
        .await
        .unwrap()
        .expect("a takes the free page");
    assert!(
        store
            .claim_page(site.id, 7, portal.id, KbKind::Kb2, "holder-b", short)
            .await
            .unwrap()
            .is_none(),
        "b waits while a holds it"
    );
    assert!(store.renew(a.id, "holder-a", short).await.unwrap());
    tokio::time::sleep(Duration::from_millis(400)).await;
    // a's lease ran out: b takes the page and records pending clean-up.
    let b = store
        .claim_page(
            site.id,
            7,
            portal.id,
            KbKind::Kb2,
            "holder-b",
            Duration::from_secs(60),
        )
        .await
        .unwrap()
        .expect("b takes the expired lease");
    let update = bridge_db::ArticleUpdate {
        target_site_id: Some("1".into()),
        target_page_id: "200".into(),
        target_parent_id: None,
        children_folder_id: None,
        kb_kind: KbKind::Kb2,
        target_url: None,
        title: "T".into(),
        space_key: "S".into(),
        parent_content_id: None,
        version: 5,
        state: None,
        extra_parts: Vec::new(),
        old_target_id: Some("100".into()),
        rehome_children: true,
    };
    let saved = store
        .save_article(&b, "holder-b", Duration::from_secs(60), &update)
        .await
        .unwrap()
        .expect("b holds the lease");
    // a comes back from a long write: nothing it does sticks.
    assert!(!store.renew(a.id, "holder-a", short).await.unwrap());
    let stale = bridge_db::ArticleUpdate {
        version: 4,
        target_page_id: "150".into(),
        ..update.clone()
    };
    assert!(
        store
            .save_article(&a, "holder-a", short, &stale)
            .await
            .unwrap()
            .is_none()
    );
    assert!(!store.clear_pending(a.id, "holder-a").await.unwrap());
    let row = store.page(site.id, 7, portal.id).await.unwrap().unwrap();
    assert_eq!(
        (
            row.mirrored_version,
            row.target_page_id.as_str(),
            row.old_target_id.as_deref(),
            row.rehome_children
        ),
        (5, "200", Some("100"), true),
        "b's write and its pending clean-up stand"
    );
    assert_eq!(saved.lease_holder.as_deref(), Some("holder-b"));
    assert!(store.clear_pending(b.id, "holder-b").await.unwrap());
}

#[tokio::test]
async fn mirror_page_lease_is_exclusive_and_expires_postgres() {
    page_lease_is_exclusive_and_expires(crate::support::db::Kind::Postgres).await;
}

#[tokio::test]
async fn mirror_page_lease_is_exclusive_and_expires_sqlite() {
    page_lease_is_exclusive_and_expires(crate::support::db::Kind::Sqlite).await;
}
