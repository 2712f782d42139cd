//! The schema migrates up, down and up again on PostgreSQL and SQLite, and every entity in
//! `bridge-db` matches the tables the migrations create.

use crate::support::db::{Kind, TestDb, index_names, table_names};
use bridge_db::entities::*;
use bridge_migration::TABLES;
use chrono::{TimeZone, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, ModelTrait,
    QueryFilter, Statement,
};

fn sorted(names: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

/// The first column of the first row of `sql`, as text.
async fn scalar(db: &bridge_db::Db, sql: &str) -> String {
    let conn = db.conn();
    conn.query_one_raw(Statement::from_string(conn.get_database_backend(), sql))
        .await
        .expect("query")
        .expect("a row")
        .try_get_by_index::<String>(0)
        .expect("text")
}

async fn up_down_up(kind: Kind) {
    let test_db = TestDb::new(kind).await;
    let db = test_db.connect().await;
    db.ping().await.expect("ping");
    if kind == Kind::Sqlite {
        assert_eq!(scalar(&db, "PRAGMA journal_mode").await, "wal");
        assert_eq!(
            scalar(
                &db,
                "SELECT CAST(foreign_keys AS TEXT) FROM pragma_foreign_keys"
            )
            .await,
            "1"
        );
    }

    let status = db
        .migration_status()
        .await
        .expect("status before migrating");
    assert!(!status.is_empty());
    assert!(status.iter().all(|m| !m.applied), "{status:?}");
    assert!(
        table_names(&db).await.is_empty(),
        "status must not create tables"
    );

    db.migrate_up().await.expect("up");
    assert_eq!(table_names(&db).await, sorted(TABLES));
    assert!(
        db.migration_status()
            .await
            .unwrap()
            .iter()
            .all(|m| m.applied)
    );
    let indexes = index_names(&db).await;
    for name in [
        "uq_b24_portals_member_id",
        "uq_confluence_sites_base_url",
        "uq_credentials_owner_name",
        "uq_task_links_portal_task_site_content",
        "uq_page_cache_site_content",
        "uq_migration_items_job_content",
        "uq_processed_events_consumer_event",
        "uq_processed_events_consumer_dedupe",
    ] {
        assert!(
            indexes.iter().any(|i| i == name),
            "{name} missing from {indexes:?}"
        );
    }
    // Running up again is a no-op.
    db.migrate_up().await.expect("up again");

    db.migrate_down(Some(1)).await.expect("down one step");
    let tables = table_names(&db).await;
    assert!(
        !tables.iter().any(|t| t == "mirror_attachments"),
        "{tables:?}"
    );
    assert!(tables.iter().any(|t| t == "task_sync_state"), "{tables:?}");
    assert!(tables.iter().any(|t| t == "mirror_pages"), "{tables:?}");
    assert!(tables.iter().any(|t| t == "comment_ledger"), "{tables:?}");
    assert!(tables.iter().any(|t| t == "rate_limits"), "{tables:?}");
    assert!(tables.iter().any(|t| t == "credentials"), "{tables:?}");
    let status = db.migration_status().await.unwrap();
    assert!(!status.last().unwrap().applied);
    assert!(status[..status.len() - 1].iter().all(|m| m.applied));

    db.migrate_down(None).await.expect("down all");
    assert!(
        table_names(&db).await.is_empty(),
        "{:?}",
        table_names(&db).await
    );
    assert!(
        db.migration_status()
            .await
            .unwrap()
            .iter()
            .all(|m| !m.applied)
    );

    db.migrate_up().await.expect("up after down");
    assert_eq!(table_names(&db).await, sorted(TABLES));
    db.close().await.ok();
}

#[tokio::test]
async fn db_migrations_up_down_up_postgres() {
    up_down_up(Kind::Postgres).await;
}

#[tokio::test]
async fn db_migrations_up_down_up_sqlite() {
    up_down_up(Kind::Sqlite).await;
}

/// Inserts and reads back one row of every entity (so entity and schema agree), with ids
/// beyond 2^32, and checks that deleting a portal cascades to its rows.
async fn entities_round_trip(kind: Kind) {
    let test_db = TestDb::new(kind).await;
    let db = test_db.migrated().await;
    let conn = db.conn();
    let now = Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0).unwrap();
    let big_id: i64 = (1 << 40) + 7;

    let portal = b24_portals::ActiveModel {
        member_id: Set("a1b2c3".into()),
        domain: Set("example.bitrix24.com".into()),
        client_endpoint: Set("https://example.bitrix24.com/rest/".into()),
        server_endpoint: Set("https://oauth.bitrix.info/rest/".into()),
        status: Set(b24_portals::PortalStatus::Active),
        language: Set(Some("en".into())),
        installed_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(conn)
    .await
    .expect("insert portal");
    let site = confluence_sites::ActiveModel {
        base_url: Set("https://example.atlassian.net/wiki".into()),
        flavor: Set(confluence_sites::Flavor::Cloud),
        auth_kind: Set(confluence_sites::AuthKind::Basic),
        cloud_id: Set(None),
        sweep_high_water: Set(Some(now)),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(conn)
    .await
    .expect("insert site");
    assert_eq!(
        confluence_sites::Entity::find_by_id(site.id)
            .one(conn)
            .await
            .unwrap()
            .as_ref(),
        Some(&site)
    );

    let link = task_links::ActiveModel {
        portal_id: Set(portal.id),
        task_id: Set(big_id),
        site_id: Set(site.id),
        content_id: Set(big_id),
        original_url: Set("https://example.atlassian.net/wiki/x/AbC".into()),
        canonical_url: Set(
            "https://example.atlassian.net/wiki/spaces/DOC/pages/1099511627783".into(),
        ),
        status: Set(task_links::LinkStatus::NoAccess),
        commented_version: Set(Some(3)),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(conn)
    .await
    .expect("insert task link");
    let read = task_links::Entity::find_by_id(link.id)
        .one(conn)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read, link);
    assert_eq!(read.content_id, big_id);

    page_cache::ActiveModel {
        site_id: Set(site.id),
        content_id: Set(big_id),
        title: Set("Runbook".into()),
        space_key: Set(Some("DOC".into())),
        author: Set(Some("Ada".into())),
        version: Set(7),
        status: Set(page_cache::PageStatus::Current),
        last_modified: Set(Some(now)),
        fetched_at: Set(now),
        excerpt: Set(Some("First lines…".into())),
        ..Default::default()
    }
    .insert(conn)
    .await
    .expect("insert page cache");
    user_mappings::ActiveModel {
        portal_id: Set(portal.id),
        b24_user_id: Set(42),
        confluence_account_id: Set(Some("557058:abc".into())),
        confluence_user_key: Set(None),
        email: Set(Some("ada@example.com".into())),
        manual_override: Set(true),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(conn)
    .await
    .expect("insert user mapping");
    space_chat_rules::ActiveModel {
        site_id: Set(site.id),
        space_key: Set("DOC".into()),
        portal_id: Set(portal.id),
        chat_id: Set(Some("chat17".into())),
        mode: Set(space_chat_rules::SyncMode::Mirror),
        kb_kind: Set(Some(mirror_pages::KbKind::Kb2)),
        kb_target_id: Set(Some("5".into())),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(conn)
    .await
    .expect("insert space rule");
    let mirror = mirror_pages::ActiveModel {
        site_id: Set(site.id),
        content_id: Set(big_id),
        portal_id: Set(portal.id),
        kb_kind: Set(mirror_pages::KbKind::Classic),
        target_site_id: Set(Some("12".into())),
        target_page_id: Set("345".into()),
        mirrored_version: Set(7),
        mirrored_at: Set(now),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(conn)
    .await
    .expect("insert mirror page");
    assert_eq!(mirror.state, mirror_pages::MirrorState::Active);
    assert_eq!(mirror.target_page_id, "345");
    let attachment = mirror_attachments::ActiveModel {
        mirror_page_id: Set(mirror.id),
        attachment_id: Set("att99".into()),
        version: Set(2),
        file_name: Set("diagram.png".into()),
        target_file_id: Set("5001".into()),
        target_url: Set("https://portal.example/disk/5001".into()),
        markdown_embed: Set(Some("[[image fileId=5001]]".into())),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(conn)
    .await
    .expect("insert mirror attachment");
    assert_eq!(
        mirror
            .find_related(mirror_attachments::Entity)
            .all(conn)
            .await
            .unwrap(),
        vec![attachment]
    );
    let job = migration_jobs::ActiveModel {
        id: Set(uuid::Uuid::new_v4()),
        site_id: Set(site.id),
        space_key: Set("DOC".into()),
        portal_id: Set(portal.id),
        direction: Set(migration_jobs::Direction::ToB24),
        status: Set(migration_jobs::JobStatus::Running),
        dry_run: Set(true),
        total_items: Set(2),
        done_items: Set(1),
        failed_items: Set(0),
        skipped_items: Set(0),
        started_at: Set(Some(now)),
        finished_at: Set(None),
        error: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(conn)
    .await
    .expect("insert migration job");
    let item = migration_items::ActiveModel {
        job_id: Set(job.id),
        content_id: Set(big_id),
        parent_content_id: Set(Some(big_id - 1)),
        position: Set(0),
        status: Set(migration_items::ItemStatus::Done),
        target_id: Set(Some("345".into())),
        error: Set(None),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(conn)
    .await
    .expect("insert migration item");
    let items = job
        .find_related(migration_items::Entity)
        .all(conn)
        .await
        .unwrap();
    assert_eq!(items, vec![item]);
    assert_eq!(
        migration_jobs::Entity::find_by_id(job.id)
            .one(conn)
            .await
            .unwrap()
            .as_ref(),
        Some(&job)
    );

    // The unique index holds one link per (portal, task, site, content).
    let mut dup: task_links::ActiveModel = link.clone().into();
    dup = dup.reset_all();
    dup.id = sea_orm::ActiveValue::NotSet;
    let dup = dup.insert(conn).await;
    assert!(dup.is_err(), "duplicate link was accepted");

    // Deleting the portal removes what hangs off it (foreign keys are enforced on SQLite too).
    b24_portals::Entity::delete_by_id(portal.id)
        .exec(conn)
        .await
        .unwrap();
    assert!(
        task_links::Entity::find()
            .all(conn)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        mirror_pages::Entity::find()
            .all(conn)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        migration_items::Entity::find()
            .all(conn)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        page_cache::Entity::find()
            .filter(page_cache::Column::SiteId.eq(site.id))
            .all(conn)
            .await
            .unwrap()
            .len(),
        1,
        "page cache belongs to the site, not the portal"
    );
    db.close().await.ok();
}

#[tokio::test]
async fn db_entities_round_trip_postgres() {
    entities_round_trip(Kind::Postgres).await;
}

#[tokio::test]
async fn db_entities_round_trip_sqlite() {
    entities_round_trip(Kind::Sqlite).await;
}

#[tokio::test]
async fn db_connect_rejects_other_schemes() {
    let e = bridge_db::connect("mysql://root@localhost/bridge")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("postgres://"), "{e}");
    let e =
        bridge_db::connect("postgres://postgres:hunter2@127.0.0.1:5432/bridge_no_such_database")
            .await
            .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("cannot connect to the database: "),
        "{e}"
    );
    assert!(!e.to_string().contains("hunter2"), "{e}");
}
