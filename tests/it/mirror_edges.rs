//! Edge cases of the mirror worker, end to end (fake Confluence → real ingress → RabbitMQ →
//! real mirror worker → fake B24): moves of whole subtrees in KB 2.0, a trashed parent whose
//! children stay, pages leaving the mirrored space or moving to another mirrored space, a
//! switch of knowledge-base kind, new attachment versions and files KB 2.0 refuses, split
//! parts shrinking, one envelope delivered twice at once, B24 answering 5xx, forced
//! re-syncs and one collection under concurrency.
//!
//! Every check reads the truth from the fakes: the Confluence state says where a page is,
//! and the B24 portal must hold exactly one live article per page in the matching place.
//! Before its edge case each test lets the first sync drain ([`mirror_idle`]: deliveries
//! that lost a lease race retry for a while), so a parked message is the edge case's doing;
//! the fault test alone moves a page in the middle of the sync on purpose.

use crate::cli_dlq::bridgectl;
use crate::support::bridge::{Bridge, SPACE};
use bridge_core::envelope::MirrorRequested;
use bridge_core::{Envelope, Payload, Source, WorkerKind};
use bridge_db::MirrorStore;
use bridge_db::entities::mirror_pages::{KbKind, MirrorState, Model as Row};
use bridge_queue::ConsumerSpec;
use bridge_queue::dead_letters::DeadLetters;
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

/// How long one convergence may take.
const WAIT: Duration = Duration::from_secs(30);
const PNG: &[u8] = b"\x89PNG\r\n\x1a\nfirst version";
const PNG2: &[u8] = b"\x89PNG\r\n\x1a\nsecond version, a bit longer";

// ---- helpers ----

/// `bridgectl space mode SPACE --portal M --mode mirror --kb KB [extra…]`.
async fn mode(b: &Bridge, space: &str, kb: &str, extra: &[&str]) {
    let mut args = vec![
        "space",
        "mode",
        space,
        "--portal",
        &b.member_id,
        "--mode",
        "mirror",
        "--kb",
        kb,
    ];
    args.extend_from_slice(extra);
    let (code, out) = bridgectl(&b.config, &args, "").await;
    assert_eq!(code, 0, "space mode: {out}");
}

fn home(b: &Bridge, space: &str) -> u64 {
    b.confluence
        .state()
        .space_by_key(space)
        .and_then(|s| s.homepage_id)
        .expect("the space has a home page")
}

/// A page in `space` (under the home page when `parent` is None).
async fn page_in(b: &Bridge, space: &str, title: &str, parent: Option<u64>) -> u64 {
    b.confluence
        .create_page(space, title, &format!("<p>{title}: text.</p>"), parent)
        .await
        .unwrap()
        .0
}

async fn page(b: &Bridge, title: &str, parent: Option<u64>) -> u64 {
    page_in(b, SPACE, title, parent).await
}

async fn row(b: &Bridge, content_id: u64) -> Option<Row> {
    let site = b.site_id().await;
    MirrorStore::new(b.conn.clone())
        .page(site, content_id, b.portal_id)
        .await
        .unwrap()
}

fn title_of(b: &Bridge, id: u64) -> String {
    b.confluence.content(id).expect("page").title().to_owned()
}

fn num(s: &str) -> Result<u64, String> {
    s.parse().map_err(|_| format!("{s:?} is not an id"))
}

/// Polls `check` until it passes; panics with its last complaint after `within`.
async fn converge<F, Fut>(what: &str, within: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let deadline = Instant::now() + within;
    loop {
        match check().await {
            Ok(()) => return,
            Err(e) if Instant::now() >= deadline => {
                panic!("{what}: not reached in {within:?}: {e}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

/// The page's row once its current version is mirrored, live, and no delivery holds it.
async fn settled_row(b: &Bridge, id: u64) -> Result<Row, String> {
    let c = b.confluence.content(id).ok_or(format!("no page {id}"))?;
    let (title, version) = (c.title().to_owned(), c.latest().number);
    let r = row(b, id)
        .await
        .ok_or(format!("{title:?} ({id}): no mirror row"))?;
    if r.target_page_id.is_empty() {
        return Err(format!("{title:?}: no article yet"));
    }
    if r.state != MirrorState::Active {
        return Err(format!("{title:?}: row is {:?}", r.state));
    }
    if i64::from(r.mirrored_version) < i64::from(version) {
        return Err(format!(
            "{title:?}: version {} of {version} mirrored",
            r.mirrored_version
        ));
    }
    if let Some(h) = &r.lease_holder {
        return Err(format!("{title:?}: leased by {h}"));
    }
    Ok(r)
}

fn docs_summary(b: &Bridge) -> String {
    b.b24
        .portal()
        .documents()
        .iter()
        .map(|d| {
            format!(
                "\n  doc {} {:?} parent={:?}{} ({} bytes)",
                d.id,
                d.title,
                d.parent_id,
                if d.archived { " ARCHIVED" } else { "" },
                d.markdown.len()
            )
        })
        .collect()
}

fn landings_summary(b: &Bridge) -> String {
    b.b24
        .portal()
        .landings()
        .iter()
        .map(|l| {
            format!(
                "\n  landing {} {:?} site={} folder={:?}{}",
                l.id,
                l.title,
                l.site_id,
                l.folder_id,
                if l.active { "" } else { " UNPUBLISHED" }
            )
        })
        .collect()
}

/// Every page of `pages` has exactly one live KB 2.0 document, the one its row names,
/// under its Confluence parent's document (none for a page without a parent).
async fn kb2_tree(b: &Bridge, pages: &[u64]) -> Result<(), String> {
    let docs = b.b24.portal().documents();
    for &id in pages {
        let r = settled_row(b, id).await?;
        let c = b.confluence.content(id).ok_or(format!("no page {id}"))?;
        let title = c.title().to_owned();
        if r.kb_kind != KbKind::Kb2 {
            return Err(format!("{title:?}: row is {:?}", r.kb_kind));
        }
        let doc_id = num(&r.target_page_id)?;
        let doc = docs
            .iter()
            .find(|d| d.id == doc_id)
            .ok_or(format!("{title:?}: document {doc_id} missing"))?;
        if doc.archived {
            return Err(format!(
                "{title:?}: its document {doc_id} is archived{}",
                docs_summary(b)
            ));
        }
        let live = docs
            .iter()
            .filter(|d| !d.archived && d.title == title)
            .count();
        if live != 1 {
            return Err(format!(
                "{title:?}: {live} live documents{}",
                docs_summary(b)
            ));
        }
        let want = match c.parent_id {
            Some(p) => Some(num(&row(b, p)
                .await
                .ok_or(format!("{title:?}: parent {p} has no row"))?
                .target_page_id)?),
            None => None,
        };
        if doc.parent_id != want {
            return Err(format!(
                "{title:?}: document {doc_id} under {:?}, its parent's document is {want:?}{}",
                doc.parent_id,
                docs_summary(b)
            ));
        }
    }
    Ok(())
}

/// Every page has exactly one published classic landing, the one its row names; with
/// `placed`, in its Confluence parent's children folder (the site root without a parent).
async fn classic_tree(b: &Bridge, pages: &[u64], placed: bool) -> Result<(), String> {
    let portal = b.b24.portal();
    let landings = portal.landings();
    for &id in pages {
        let r = settled_row(b, id).await?;
        let c = b.confluence.content(id).ok_or(format!("no page {id}"))?;
        let title = c.title().to_owned();
        if r.kb_kind != KbKind::Classic {
            return Err(format!("{title:?}: row is {:?}", r.kb_kind));
        }
        let lid = num(&r.target_page_id)?;
        let l = landings
            .iter()
            .find(|l| l.id == lid)
            .ok_or(format!("{title:?}: landing {lid} missing"))?;
        if !l.active {
            return Err(format!(
                "{title:?}: landing {lid} unpublished{}",
                landings_summary(b)
            ));
        }
        let live = landings
            .iter()
            .filter(|l| l.active && l.title == title)
            .count();
        if live != 1 {
            return Err(format!(
                "{title:?}: {live} published landings{}",
                landings_summary(b)
            ));
        }
        if placed {
            let want = match c.parent_id {
                Some(p) => {
                    let pr = row(b, p)
                        .await
                        .ok_or(format!("{title:?}: parent {p} has no row"))?;
                    Some(num(pr.children_folder_id.as_deref().ok_or_else(|| {
                        format!(
                            "{title:?} (landing {lid} in folder {:?}): parent {p} has no children folder{}",
                            l.folder_id,
                            landings_summary(b)
                        )
                    })?)?)
                }
                None => None,
            };
            if l.folder_id != want {
                return Err(format!(
                    "{title:?}: landing {lid} in folder {:?}, its parent's children folder is {want:?}{}",
                    l.folder_id,
                    landings_summary(b)
                ));
            }
        }
    }
    Ok(())
}

/// `docs` are archived (or gone).
fn kb2_archived(b: &Bridge, docs: &[u64]) -> Result<(), String> {
    let all = b.b24.portal().documents();
    for id in docs {
        if all.iter().any(|d| d.id == *id && !d.archived) {
            return Err(format!("document {id} not archived{}", docs_summary(b)));
        }
    }
    Ok(())
}

/// `docs` are archived and no live document carries `title`.
fn kb2_retired(b: &Bridge, title: &str, docs: &[u64]) -> Result<(), String> {
    kb2_archived(b, docs).map_err(|e| format!("{title:?}: {e}"))?;
    let all = b.b24.portal().documents();
    if all.iter().any(|d| !d.archived && d.title == title) {
        return Err(format!(
            "{title:?}: a live document remains{}",
            docs_summary(b)
        ));
    }
    Ok(())
}

/// `landings` are unpublished and no published landing carries `title`.
fn classic_retired(b: &Bridge, title: &str, landings: &[u64]) -> Result<(), String> {
    let all = b.b24.portal().landings();
    for id in landings {
        if all.iter().any(|l| l.id == *id && l.active) {
            return Err(format!(
                "{title:?}: landing {id} still published{}",
                landings_summary(b)
            ));
        }
    }
    if all.iter().any(|l| l.active && l.title == title) {
        return Err(format!(
            "{title:?}: a published landing remains{}",
            landings_summary(b)
        ));
    }
    Ok(())
}

async fn targets(b: &Bridge, pages: &[u64]) -> Vec<u64> {
    let mut out = Vec::new();
    for &id in pages {
        out.push(row(b, id).await.unwrap().target_page_id.parse().unwrap());
    }
    out
}

/// What the mirror worker parked in its dead-letter queue, as `class: reason`.
async fn parked(b: &Bridge) -> Vec<String> {
    let dl = DeadLetters::new(
        b.tb.publisher.broker().clone(),
        b.tb.topology.clone(),
        Duration::from_secs(5),
    );
    dl.peek(&ConsumerSpec::for_worker(WorkerKind::Mirror), 100)
        .await
        .unwrap()
        .into_iter()
        .map(|m| format!("{}: {}", m.error_class, m.reason))
        .collect()
}

async fn assert_nothing_parked(b: &Bridge) {
    let p = parked(b).await;
    assert!(
        p.is_empty(),
        "parked in the mirror dead-letter queue: {p:#?}"
    );
}

/// Messages of the mirror worker still queued, waiting for a retry or being handled (not
/// the dead-letter queue), as RabbitMQ counts them.
async fn mirror_backlog(b: &Bridge) -> Result<u64, String> {
    let out = tokio::process::Command::new("rabbitmqctl")
        .args([
            "list_queues",
            "-q",
            "name",
            "messages",
            "messages_unacknowledged",
        ])
        .output()
        .await
        .map_err(|e| format!("rabbitmqctl: {e}"))?;
    let work = b.tb.topology.work_queue("mirror");
    let dlq = b.tb.topology.dead_letter_queue("mirror");
    let mut n = 0;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        let [name, ready, unacked] = cols[..] else {
            continue;
        };
        if (name == work || name.starts_with(&format!("{work}."))) && name != dlq {
            n += ready.parse::<u64>().unwrap_or(0) + unacked.parse::<u64>().unwrap_or(0);
        }
    }
    Ok(n)
}

/// Waits until the mirror worker has nothing left to do (retries of deliveries that lost a
/// lease race included) for two polls in a row.
async fn mirror_idle(b: &Bridge) {
    converge("mirror queue drained", WAIT, || async {
        for _ in 0..2 {
            match mirror_backlog(b).await? {
                0 => tokio::time::sleep(Duration::from_millis(300)).await,
                n => return Err(format!("{n} mirror messages pending")),
            }
        }
        Ok(())
    })
    .await;
}

fn lived(kb: &str) -> &'static str {
    if kb == "kb2" {
        "archived"
    } else {
        "unpublished"
    }
}

// ---- 1. KB 2.0: a moved page takes its mirrored subtree along ----

#[tokio::test]
async fn mirror_edge_kb2_move_rewrites_the_whole_subtree_under_the_new_parent() {
    let b = Bridge::start(&[WorkerKind::Mirror], &[]).await;
    let alpha = page(&b, "Alpha", None).await;
    let alpha1 = page(&b, "Alpha One", Some(alpha)).await;
    let alpha1a = page(&b, "Alpha One A", Some(alpha1)).await;
    let alpha2 = page(&b, "Alpha Two", Some(alpha)).await;
    let beta = page(&b, "Beta", None).await;
    let gamma = page(&b, "Gamma", Some(beta)).await;
    b.confluence.flush_webhooks().await;
    let all = vec![home(&b, SPACE), alpha, alpha1, alpha1a, alpha2, beta, gamma];
    mode(&b, SPACE, "kb2", &[]).await;
    converge("mirrored", WAIT, || kb2_tree(&b, &all)).await;
    mirror_idle(&b).await;
    let moved = [alpha, alpha1, alpha1a, alpha2];
    let old = targets(&b, &moved).await;

    b.confluence
        .move_page(alpha, Some(gamma), None)
        .await
        .unwrap();
    b.confluence.flush_webhooks().await;
    let (bb, all_r, old_r) = (&b, &all, &old);
    converge("subtree moved", WAIT, move || async move {
        kb2_tree(bb, all_r).await?;
        let now = targets(bb, &moved).await;
        for (i, (o, n)) in old_r.iter().zip(&now).enumerate() {
            if o == n {
                return Err(format!(
                    "{:?} still on its old document {o}",
                    title_of(bb, moved[i])
                ));
            }
        }
        for (i, o) in old_r.iter().enumerate() {
            kb2_archived(bb, &[*o]).map_err(|e| format!("{:?}: {e}", title_of(bb, moved[i])))?;
        }
        let live = bb
            .b24
            .portal()
            .documents()
            .iter()
            .filter(|d| !d.archived)
            .count();
        if live != all_r.len() {
            return Err(format!(
                "{live} live documents for {} pages{}",
                all_r.len(),
                docs_summary(bb)
            ));
        }
        Ok(())
    })
    .await;
    assert_nothing_parked(&b).await;
    b.stop().await;
}

// ---- 2. A parent trashed while it has children ----
//
// The fake Confluence does what Confluence does: the trashed page's children move up to its
// parent (here the home page), with no event of their own. In KB 2.0 archiving the parent's
// document archives its subtree, so the children must be written again.

async fn trashed_parent(kb: &str) {
    let b = Bridge::start(&[WorkerKind::Mirror], &[]).await;
    let parent = page(&b, "Parent", None).await;
    let c1 = page(&b, "Child One", Some(parent)).await;
    let c1a = page(&b, "Child One A", Some(c1)).await;
    let c2 = page(&b, "Child Two", Some(parent)).await;
    let other = page(&b, "Bystander", None).await;
    b.confluence.flush_webhooks().await;
    let all = vec![home(&b, SPACE), parent, c1, c1a, c2, other];
    mode(&b, SPACE, kb, &[]).await;
    if kb == "kb2" {
        converge("mirrored", WAIT, || kb2_tree(&b, &all)).await;
    } else {
        converge("mirrored", WAIT, || classic_tree(&b, &all, true)).await;
    }
    mirror_idle(&b).await;
    let old_parent = targets(&b, &[parent]).await;

    b.confluence.trash(parent).await.unwrap();
    b.confluence.flush_webhooks().await;
    let h = home(&b, SPACE);
    assert_eq!(
        b.confluence.content(c1).unwrap().parent_id,
        Some(h),
        "the fake moves children up on trash"
    );
    let rest = vec![h, c1, c1a, c2, other];
    let (bb, rest_r, old_r) = (&b, &rest, &old_parent);
    converge(
        &format!("parent {}, children visible", lived(kb)),
        WAIT,
        move || async move {
            if kb == "kb2" {
                kb2_retired(bb, "Parent", old_r)?;
                kb2_tree(bb, rest_r).await
            } else {
                classic_retired(bb, "Parent", old_r)?;
                classic_tree(bb, rest_r, false).await
            }
        },
    )
    .await;
    assert_nothing_parked(&b).await;
    b.stop().await;
}

#[tokio::test]
async fn mirror_edge_kb2_trashed_parent_keeps_its_children_visible() {
    trashed_parent("kb2").await;
}

#[tokio::test]
async fn mirror_edge_classic_trashed_parent_keeps_its_children_visible() {
    trashed_parent("classic").await;
}

// ---- 3. A page moved to a space nobody mirrors ----

async fn moved_out(kb: &str) {
    let b = Bridge::start(&[WorkerKind::Mirror], &[]).await;
    b.confluence.create_space("OUT", "Elsewhere").unwrap();
    let leaving = page(&b, "Leaving", None).await;
    let l1 = page(&b, "Leaving One", Some(leaving)).await;
    let l1a = page(&b, "Leaving One A", Some(l1)).await;
    let l2 = page(&b, "Leaving Two", Some(leaving)).await;
    let stays = page(&b, "Stays", None).await;
    b.confluence.flush_webhooks().await;
    let all = vec![home(&b, SPACE), leaving, l1, l1a, l2, stays];
    mode(&b, SPACE, kb, &[]).await;
    if kb == "kb2" {
        converge("mirrored", WAIT, || kb2_tree(&b, &all)).await;
    } else {
        converge("mirrored", WAIT, || classic_tree(&b, &all, true)).await;
    }
    mirror_idle(&b).await;
    let gone = [leaving, l1, l1a, l2];
    let old = targets(&b, &gone).await;
    let titles: Vec<String> = gone.iter().map(|id| title_of(&b, *id)).collect();

    b.confluence
        .move_page(leaving, None, Some("OUT"))
        .await
        .unwrap();
    b.confluence.flush_webhooks().await;
    let kept = vec![home(&b, SPACE), stays];
    let (bb, old_r, titles_r, kept_r) = (&b, &old, &titles, &kept);
    converge(
        &format!("moved-out pages {}", lived(kb)),
        WAIT,
        move || async move {
            for (t, o) in titles_r.iter().zip(old_r) {
                if kb == "kb2" {
                    kb2_retired(bb, t, &[*o])?;
                } else {
                    classic_retired(bb, t, &[*o])?;
                }
            }
            if kb == "kb2" {
                kb2_tree(bb, kept_r).await
            } else {
                classic_tree(bb, kept_r, true).await
            }
        },
    )
    .await;
    assert_nothing_parked(&b).await;
    b.stop().await;
}

#[tokio::test]
async fn mirror_edge_kb2_page_moved_to_an_unmirrored_space_is_retired_with_its_descendants() {
    moved_out("kb2").await;
}

#[tokio::test]
async fn mirror_edge_classic_page_moved_to_an_unmirrored_space_is_retired_with_its_descendants() {
    moved_out("classic").await;
}

// ---- 4. Classic → KB 2.0 ----

#[tokio::test]
async fn mirror_edge_kind_switch_from_classic_to_kb2_moves_every_page() {
    let b = Bridge::start(&[WorkerKind::Mirror], &[]).await;
    let a = page(&b, "Area", None).await;
    let a1 = page(&b, "Area One", Some(a)).await;
    let a1a = page(&b, "Area One A", Some(a1)).await;
    let a2 = page(&b, "Area Two", Some(a)).await;
    let bpage = page(&b, "Basics", None).await;
    b.confluence.flush_webhooks().await;
    let all = vec![home(&b, SPACE), a, a1, a1a, a2, bpage];
    mode(&b, SPACE, "classic", &[]).await;
    converge("mirrored into classic", WAIT, || {
        classic_tree(&b, &all, true)
    })
    .await;
    assert_eq!(b.b24.portal().landings().len(), all.len());
    // Deliveries of the first sync that lost a lease race to a parent-first write still
    // retry for a while (their page is mirrored already): let them finish, so what follows
    // is about the switch alone.
    mirror_idle(&b).await;
    assert_nothing_parked(&b).await;

    mode(&b, SPACE, "kb2", &[]).await;
    let (bb, all_r) = (&b, &all);
    converge("switched to KB 2.0", WAIT, move || async move {
        kb2_tree(bb, all_r).await?;
        let published: Vec<_> = bb
            .b24
            .portal()
            .landings()
            .into_iter()
            .filter(|l| l.active)
            .collect();
        if !published.is_empty() {
            return Err(format!(
                "classic landings still published{}",
                landings_summary(bb)
            ));
        }
        Ok(())
    })
    .await;
    assert_eq!(b.b24.portal().collections().len(), 1);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_nothing_parked(&b).await;
    b.stop().await;
}

// ---- 5. Attachments ----

async fn add_file(b: &Bridge, on: u64, name: &str, mime: &str, bytes: &[u8]) -> u32 {
    b.confluence
        .add_attachment(on, name, mime, bytes.to_vec())
        .await
        .unwrap()
        .1
}

async fn edit(b: &Bridge, id: u64, body: &str) {
    b.confluence.edit_page(id, body).await.unwrap();
    b.confluence.flush_webhooks().await;
}

const IMAGE_BODY: &str =
    r#"<p>Picture:</p><p><ac:image><ri:attachment ri:filename="diagram.png"/></ac:image></p>"#;

#[tokio::test]
async fn mirror_edge_classic_new_attachment_version_is_copied_again() {
    let b = Bridge::start(&[WorkerKind::Mirror], &[]).await;
    let mut pages = Vec::new();
    for t in ["Drawing A", "Drawing B"] {
        let (id, _) = b
            .confluence
            .create_page(SPACE, t, IMAGE_BODY, None)
            .await
            .unwrap();
        add_file(&b, id, "diagram.png", "image/png", PNG).await;
        pages.push(id);
    }
    b.confluence.flush_webhooks().await;
    mode(&b, SPACE, "classic", &[]).await;
    converge("mirrored", WAIT, || classic_tree(&b, &pages, true)).await;
    mirror_idle(&b).await;
    let store = MirrorStore::new(b.conn.clone());
    let mut first_urls = Vec::new();
    for &id in &pages {
        let copies = store
            .attachments(row(&b, id).await.unwrap().id)
            .await
            .unwrap();
        assert_eq!(copies.len(), 1, "{copies:?}");
        first_urls.push(copies[0].target_url.clone());
    }

    // An edit (attachment unchanged), then a new version of the file, then an edit that
    // brings the page (and so its attachments) to the mirror again.
    for &id in &pages {
        edit(&b, id, &format!("{IMAGE_BODY}<p>Edited once.</p>")).await;
    }
    converge("edit mirrored", WAIT, || classic_tree(&b, &pages, true)).await;
    for &id in &pages {
        assert_eq!(add_file(&b, id, "diagram.png", "image/png", PNG2).await, 2);
        edit(&b, id, &format!("{IMAGE_BODY}<p>Edited twice.</p>")).await;
    }
    converge("second edit mirrored", WAIT, || {
        classic_tree(&b, &pages, true)
    })
    .await;
    let portal = b.b24.portal();
    for (i, &id) in pages.iter().enumerate() {
        let r = row(&b, id).await.unwrap();
        let copies = store.attachments(r.id).await.unwrap();
        let copy = copies
            .iter()
            .find(|c| c.file_name == "diagram.png" && c.version >= 2)
            .unwrap_or_else(|| panic!("version 2 not copied: {copies:?}"));
        assert_ne!(copy.target_url, first_urls[i], "a new copy");
        let file = portal
            .disk_objects()
            .into_iter()
            .find(|o| !o.is_folder && o.id.to_string() == copy.target_file_id)
            .unwrap_or_else(|| panic!("Disk file {} missing", copy.target_file_id));
        assert_eq!(file.bytes, PNG2);
        let html: String = portal
            .blocks(r.target_page_id.parse().unwrap())
            .into_iter()
            .map(|b| b.content)
            .collect();
        assert!(html.contains("Edited twice."), "{html}");
        assert!(
            html.contains(&copy.target_url),
            "refers to the new copy: {html}"
        );
        assert!(
            !html.contains(&first_urls[i]),
            "no longer refers to the old copy: {html}"
        );
    }
    assert_nothing_parked(&b).await;
    b.stop().await;
}

#[tokio::test]
async fn mirror_edge_kb2_new_attachment_version_and_a_refused_file_type() {
    let b = Bridge::start(&[WorkerKind::Mirror], &[]).await;
    let body = format!(
        r#"{IMAGE_BODY}<p>Get <ac:link><ri:attachment ri:filename="tool.exe"/><ac:plain-text-link-body><![CDATA[the tool]]></ac:plain-text-link-body></ac:link>.</p>"#
    );
    let mut pages = Vec::new();
    for t in ["Kit A", "Kit B"] {
        let (id, _) = b
            .confluence
            .create_page(SPACE, t, &body, None)
            .await
            .unwrap();
        add_file(&b, id, "diagram.png", "image/png", PNG).await;
        add_file(
            &b,
            id,
            "tool.exe",
            "application/octet-stream",
            b"MZ\x90\0tool",
        )
        .await;
        pages.push(id);
    }
    b.confluence.flush_webhooks().await;
    mode(&b, SPACE, "kb2", &[]).await;
    converge("mirrored", WAIT, || kb2_tree(&b, &pages)).await;
    mirror_idle(&b).await;
    let portal = b.b24.portal();
    let base = b.confluence.base_url();
    let mut first_files = Vec::new();
    for &id in &pages {
        let doc_id: u64 = row(&b, id).await.unwrap().target_page_id.parse().unwrap();
        let doc = portal
            .documents()
            .into_iter()
            .find(|d| d.id == doc_id)
            .unwrap();
        let files: Vec<_> = portal
            .note_files()
            .into_iter()
            .filter(|f| f.document_id == doc_id)
            .collect();
        assert!(
            files.iter().all(|f| !f.name.ends_with(".exe")),
            "KB 2.0 refuses .exe: {files:?}"
        );
        let png = files
            .iter()
            .find(|f| f.name.starts_with("diagram"))
            .unwrap_or_else(|| panic!("image copied: {files:?}"));
        assert_eq!(png.bytes, PNG);
        assert!(
            doc.markdown.contains(&format!("fileId={}", png.id)),
            "{}",
            doc.markdown
        );
        let link = format!("{base}/download/attachments/{id}/tool.exe");
        assert!(
            doc.markdown.contains(&link),
            "the uncopied file links to Confluence ({link}): {}",
            doc.markdown
        );
        first_files.push(png.id);
    }
    assert_nothing_parked(&b).await;

    for &id in &pages {
        edit(&b, id, &format!("{body}<p>Edited once.</p>")).await;
    }
    converge("edit mirrored", WAIT, || kb2_tree(&b, &pages)).await;
    for &id in &pages {
        assert_eq!(add_file(&b, id, "diagram.png", "image/png", PNG2).await, 2);
        edit(&b, id, &format!("{body}<p>Edited twice.</p>")).await;
    }
    converge("second edit mirrored", WAIT, || kb2_tree(&b, &pages)).await;
    for (i, &id) in pages.iter().enumerate() {
        let doc_id: u64 = row(&b, id).await.unwrap().target_page_id.parse().unwrap();
        let doc = portal
            .documents()
            .into_iter()
            .find(|d| d.id == doc_id)
            .unwrap();
        assert!(doc.markdown.contains("Edited twice."), "{}", doc.markdown);
        let new = portal
            .note_files()
            .into_iter()
            .find(|f| f.document_id == doc_id && f.bytes == PNG2)
            .unwrap_or_else(|| panic!("version 2 copied to document {doc_id}"));
        assert!(
            doc.markdown.contains(&format!("fileId={}", new.id)),
            "refers to the new copy: {}",
            doc.markdown
        );
        assert!(
            !doc.markdown
                .contains(&format!("fileId={}]", first_files[i])),
            "no longer refers to the old copy: {}",
            doc.markdown
        );
        assert!(
            doc.markdown
                .contains(&format!("{base}/download/attachments/{id}/tool.exe")),
            "{}",
            doc.markdown
        );
    }
    assert_nothing_parked(&b).await;
    b.stop().await;
}

// ---- 6. Between two mirrored spaces of one portal ----

#[tokio::test]
async fn mirror_edge_classic_page_moved_between_two_mirrored_spaces() {
    let b = Bridge::start(&[WorkerKind::Mirror], &[]).await;
    b.confluence.create_space("TWO", "Second").unwrap();
    let traveller = page(&b, "Traveller", None).await;
    let luggage = page(&b, "Luggage", Some(traveller)).await;
    let stays = page(&b, "Homebody", None).await;
    b.confluence.flush_webhooks().await;
    let (home1, home2) = (home(&b, SPACE), home(&b, "TWO"));
    mode(&b, SPACE, "classic", &[]).await;
    mode(&b, "TWO", "classic", &[]).await;
    let all = vec![home1, traveller, luggage, stays, home2];
    converge("both spaces mirrored", WAIT, || {
        classic_tree(&b, &all, true)
    })
    .await;
    mirror_idle(&b).await;
    let portal = b.b24.portal();
    let kbs: Vec<_> = portal
        .sites()
        .into_iter()
        .filter(|s| s.site_type == "KNOWLEDGE")
        .collect();
    assert_eq!(kbs.len(), 2, "one knowledge base per space: {kbs:?}");
    let site_of = |lid: u64| portal.landing(lid).unwrap().site_id;
    let old = targets(&b, &[traveller, luggage]).await;
    let (site1, site2) = (
        site_of(targets(&b, &[home1]).await[0]),
        site_of(targets(&b, &[home2]).await[0]),
    );
    assert_ne!(site1, site2);

    b.confluence
        .move_page(traveller, Some(home2), None)
        .await
        .unwrap();
    b.confluence.flush_webhooks().await;
    let (bb, old_r) = (&b, &old);
    converge(
        "moved page in the second site, old one unpublished",
        WAIT,
        move || async move {
            classic_tree(bb, &[traveller], true).await?;
            let now = targets(bb, &[traveller]).await[0];
            let l = bb.b24.portal().landing(now).unwrap();
            if now == old_r[0] || l.site_id != site2 {
                return Err(format!(
                    "Traveller: landing {now} in site {} (want a new one in {site2}){}",
                    l.site_id,
                    landings_summary(bb)
                ));
            }
            match bb.b24.portal().landing(old_r[0]) {
                Some(o) if o.active => Err(format!(
                    "Traveller: old landing {} still published{}",
                    o.id,
                    landings_summary(bb)
                )),
                _ => Ok(()),
            }
        },
    )
    .await;
    // Its child moved with it (no event of its own).
    converge(
        "the moved page's child follows into the second site",
        WAIT,
        move || async move {
            classic_tree(bb, &[luggage], true).await?;
            let now = targets(bb, &[luggage]).await[0];
            let l = bb.b24.portal().landing(now).unwrap();
            if l.site_id != site2 {
                return Err(format!(
                    "Luggage: landing {now} in site {}, want {site2}{}",
                    l.site_id,
                    landings_summary(bb)
                ));
            }
            if now != old_r[1] && bb.b24.portal().landing(old_r[1]).is_some_and(|o| o.active) {
                return Err(format!(
                    "Luggage: old landing {} still published{}",
                    old_r[1],
                    landings_summary(bb)
                ));
            }
            Ok(())
        },
    )
    .await;
    classic_tree(&b, &[home1, stays, home2], true)
        .await
        .unwrap();
    assert_nothing_parked(&b).await;
    b.stop().await;
}

// ---- 7. KB 2.0 split parts shrink ----

#[tokio::test]
async fn mirror_edge_kb2_split_parts_are_archived_when_the_page_shrinks() {
    let b = Bridge::start(&[WorkerKind::Mirror], &[]).await;
    mode(&b, SPACE, "kb2", &[]).await;
    let para = format!("<p>{}</p>", "lorem ipsum dolor sit amet ".repeat(40));
    let body: String = (0..1200)
        .map(|i| format!("<h2>Section {i}</h2>{para}"))
        .collect();
    let (big, _) = b
        .confluence
        .create_page(SPACE, "Big", &body, None)
        .await
        .unwrap();
    b.confluence.flush_webhooks().await;
    let only = [big];
    converge("big page mirrored", WAIT, || kb2_tree(&b, &only)).await;
    mirror_idle(&b).await;
    let main: u64 = targets(&b, &[big]).await[0];
    let parts: Vec<u64> = b
        .b24
        .portal()
        .documents()
        .iter()
        .filter(|d| !d.archived && d.parent_id == Some(main) && d.title.starts_with("Big (part "))
        .map(|d| d.id)
        .collect();
    assert!(!parts.is_empty(), "split into parts{}", docs_summary(&b));

    edit(&b, big, "<h2>Summary</h2><p>Now it fits on one page.</p>").await;
    let (bb, parts_r) = (&b, &parts);
    converge("shrunk to one document", WAIT, move || async move {
        kb2_tree(bb, &[big]).await?;
        let docs = bb.b24.portal().documents();
        let doc_id = targets(bb, &[big]).await[0];
        let doc = docs.iter().find(|d| d.id == doc_id).unwrap();
        if !doc.markdown.contains("Now it fits on one page.") || doc.markdown.contains("Section 7")
        {
            return Err(format!("document {doc_id}: {:?}", doc.markdown));
        }
        for p in parts_r {
            if docs.iter().any(|d| d.id == *p && !d.archived) {
                return Err(format!("part {p} not archived{}", docs_summary(bb)));
            }
        }
        if docs
            .iter()
            .any(|d| !d.archived && d.title.starts_with("Big (part "))
        {
            return Err(format!("a live part remains{}", docs_summary(bb)));
        }
        Ok(())
    })
    .await;
    assert_nothing_parked(&b).await;
    b.stop().await;
}

// ---- 8. One envelope delivered twice at once ----

async fn same_envelope_twice(kb: &str) {
    let b = Bridge::start(&[WorkerKind::Mirror], &[("BRIDGE_WORKER_CONCURRENCY", "8")]).await;
    // No webhooks: only the envelopes below bring the pages to the mirror.
    b.confluence.clear_webhooks();
    let mut pages = Vec::new();
    for i in 0..5 {
        pages.push(page(&b, &format!("Twice {i}"), None).await);
    }
    mode(&b, SPACE, kb, &["--no-sync"]).await;
    let client = bridge_clients::confluence::ConfluenceClient::from_config(&b.config).unwrap();
    let mut sends = Vec::new();
    for &id in &pages {
        let req: MirrorRequested = serde_json::from_value(serde_json::json!({
            "site": client.site(),
            "space_key": SPACE,
            "member_id": b.member_id,
            "content_id": id,
        }))
        .unwrap();
        let env = Envelope::new(
            Source::Bridge {
                component: "test".into(),
            },
            chrono::Utc::now(),
            Payload::MirrorRequested(req),
        );
        assert_eq!(env.routing_key(), "bridge.mirror.page");
        for copy in [env.clone(), env] {
            let publisher = b.tb.publisher.clone();
            sends.push(tokio::spawn(async move { publisher.publish(copy).await }));
        }
    }
    for s in sends {
        s.await.unwrap().unwrap();
    }
    let mut all = vec![home(&b, SPACE)];
    all.extend(&pages);
    if kb == "kb2" {
        converge("mirrored", WAIT, || kb2_tree(&b, &all)).await;
    } else {
        converge("mirrored", WAIT, || classic_tree(&b, &all, true)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let portal = b.b24.portal();
    let articles = if kb == "kb2" {
        portal.documents().len()
    } else {
        portal.landings().len()
    };
    assert_eq!(
        articles,
        all.len(),
        "one article per page (the home page mirrored as the parent):{}{}",
        docs_summary(&b),
        landings_summary(&b)
    );
    assert_nothing_parked(&b).await;
    b.stop().await;
}

#[tokio::test]
async fn mirror_edge_classic_same_envelope_delivered_twice_at_once_makes_one_article() {
    same_envelope_twice("classic").await;
}

#[tokio::test]
async fn mirror_edge_kb2_same_envelope_delivered_twice_at_once_makes_one_document() {
    same_envelope_twice("kb2").await;
}

// ---- 9. B24 answering 5xx ----

#[tokio::test]
async fn mirror_edge_kb2_converges_with_b24_failing_a_fifth_of_requests() {
    let b = Bridge::start(&[WorkerKind::Mirror], &[]).await;
    let a = page(&b, "Apples", None).await;
    let a1 = page(&b, "Apples One", Some(a)).await;
    let a1a = page(&b, "Apples One A", Some(a1)).await;
    let a2 = page(&b, "Apples Two", Some(a)).await;
    let p = page(&b, "Pears", None).await;
    let p1 = page(&b, "Pears One", Some(p)).await;
    let c = page(&b, "Cherries", None).await;
    let c1 = page(&b, "Cherries One", Some(c)).await;
    b.confluence.flush_webhooks().await;
    let all = vec![home(&b, SPACE), a, a1, a1a, a2, p, p1, c, c1];
    b.b24.faults().update(|k| k.error_5xx_share = 0.2);
    mode(&b, SPACE, "kb2", &[]).await;
    // The move lands while the space is still being mirrored.
    converge("Apples mirrored first", Duration::from_secs(60), || async {
        settled_row(&b, a).await.map(drop)
    })
    .await;
    b.confluence.move_page(a, Some(c1), None).await.unwrap();
    b.confluence.flush_webhooks().await;
    let (bb, all_r) = (&b, &all);
    converge(
        "converged under faults",
        Duration::from_secs(60),
        move || async move {
            kb2_tree(bb, all_r).await?;
            let live = bb
                .b24
                .portal()
                .documents()
                .iter()
                .filter(|d| !d.archived)
                .count();
            if live != all_r.len() {
                return Err(format!(
                    "{live} live documents for {} pages{}",
                    all_r.len(),
                    docs_summary(bb)
                ));
            }
            Ok(())
        },
    )
    .await;
    let failed = b
        .b24
        .requests()
        .all()
        .iter()
        .filter(|r| r.status >= 500)
        .count();
    assert!(failed > 0, "faults were injected");
    assert_eq!(b.b24.portal().collections().len(), 1);
    assert_nothing_parked(&b).await;
    b.stop().await;
}

// ---- 10. space sync --force ----

#[tokio::test]
async fn mirror_edge_space_sync_force_rewrites_up_to_date_pages() {
    let b = Bridge::start(&[WorkerKind::Mirror], &[]).await;
    let a = page(&b, "Alpha", None).await;
    let bp = page(&b, "Bravo", None).await;
    let b1 = page(&b, "Bravo One", Some(bp)).await;
    b.confluence.flush_webhooks().await;
    let all = vec![home(&b, SPACE), a, bp, b1];
    mode(&b, SPACE, "classic", &[]).await;
    converge("mirrored", WAIT, || classic_tree(&b, &all, true)).await;
    mirror_idle(&b).await;
    let count = |what: &str| {
        b.b24
            .requests()
            .all()
            .iter()
            .filter(|r| r.path.contains(what) && r.status < 300)
            .count()
    };
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
    assert_eq!(writes(), before, "nothing written without --force");

    let published = count("landing.landing.publication");
    let content = count("landing.block.updatecontent") + count("landing.landing.addblock");
    let (code, out) = bridgectl(
        &b.config,
        &["space", "sync", SPACE, "--portal", &b.member_id, "--force"],
        "",
    )
    .await;
    assert_eq!(code, 0, "{out}");
    let want = all.len();
    converge("every page rewritten", WAIT, || async {
        let p = count("landing.landing.publication") - published;
        let c = count("landing.block.updatecontent") + count("landing.landing.addblock") - content;
        if p < want || c < want {
            return Err(format!(
                "{p} publications and {c} content writes for {want} pages"
            ));
        }
        classic_tree(&b, &all, true).await
    })
    .await;
    assert_eq!(
        b.b24.portal().landings().len(),
        all.len(),
        "rewritten, not copied"
    );
    assert_nothing_parked(&b).await;
    b.stop().await;
}

// ---- 11. One collection under concurrency ----

#[tokio::test]
async fn mirror_edge_kb2_concurrent_first_sync_makes_one_collection() {
    let b = Bridge::start(&[WorkerKind::Mirror], &[("BRIDGE_WORKER_CONCURRENCY", "8")]).await;
    let mut all = vec![home(&b, SPACE)];
    for i in 0..3 {
        let parent = page(&b, &format!("Shelf {i}"), None).await;
        all.push(parent);
        for j in 0..4 {
            all.push(page(&b, &format!("Shelf {i} Book {j}"), Some(parent)).await);
        }
    }
    assert_eq!(all.len(), 16);
    b.confluence.flush_webhooks().await;
    mode(&b, SPACE, "kb2", &[]).await;
    converge("mirrored", WAIT, || kb2_tree(&b, &all)).await;
    let collections = b.b24.portal().collections();
    assert_eq!(collections.len(), 1, "{collections:?}");
    assert_eq!(
        b.b24.portal().documents().len(),
        all.len(),
        "{}",
        docs_summary(&b)
    );
    assert_nothing_parked(&b).await;
    b.stop().await;
}
