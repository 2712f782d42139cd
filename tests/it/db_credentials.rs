//! Credentials at rest (DESIGN §5 "stored credentials are encrypted") and processed-event
//! idempotency, on PostgreSQL and SQLite.

use crate::support::db::{Kind, TestDb};
use bridge_core::crypto::Keyring;
use bridge_db::{Backend, CredentialStore, Db, DbError, OwnerKind, ProcessedEvents};
use sea_orm::{ConnectionTrait, Statement};
use std::sync::Arc;

const OLD_KEY: [u8; 32] = [7; 32];
const NEW_KEY: [u8; 32] = [9; 32];

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Every row of `credentials`, every column rendered as text (binary columns as hex), plus
/// the raw `ciphertext` bytes.
async fn raw_credentials(db: &Db) -> (Vec<String>, Vec<Vec<u8>>) {
    let conn = db.conn();
    let backend = conn.get_database_backend();
    let dump_sql = match db.backend() {
        Backend::Postgres => "SELECT row_to_json(c)::text AS dump FROM credentials c".to_owned(),
        Backend::Sqlite => {
            let cols = conn
                .query_all_raw(Statement::from_string(
                    backend,
                    "SELECT name FROM pragma_table_info('credentials')",
                ))
                .await
                .unwrap();
            let exprs: Vec<String> = cols
                .iter()
                .map(|r| format!("quote(\"{}\")", r.try_get::<String>("", "name").unwrap()))
                .collect();
            format!(
                "SELECT {} AS dump FROM credentials",
                exprs.join(" || '|' || ")
            )
        }
    };
    let dumps = conn
        .query_all_raw(Statement::from_string(backend, dump_sql))
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get::<String>("", "dump").unwrap())
        .collect();
    let blobs = conn
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT ciphertext FROM credentials",
        ))
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get::<Vec<u8>>("", "ciphertext").unwrap())
        .collect();
    (dumps, blobs)
}

/// Whether `haystack` holds `secret` as bytes or hex-encoded (how text dumps show binary).
fn leaks(haystack: &[u8], secret: &str) -> bool {
    let needles = [
        secret.as_bytes().to_vec(),
        hex(secret.as_bytes()).into_bytes(),
    ];
    needles
        .iter()
        .any(|n| haystack.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n)))
}

fn assert_absent(haystack: &[u8], secret: &str, what: &str) {
    assert!(!leaks(haystack, secret), "plaintext secret found in {what}");
}

async fn round_trip_without_plaintext(kind: Kind) {
    let test_db = TestDb::new(kind).await;
    let db = test_db.migrated().await;
    let store = CredentialStore::new(db.clone(), Arc::new(Keyring::new(NEW_KEY, vec![])));
    let secrets = [
        (
            OwnerKind::Portal,
            1,
            "access_token",
            format!("PLAINTEXT-ACCESS-{}", uuid::Uuid::new_v4()),
        ),
        (
            OwnerKind::Portal,
            1,
            "refresh_token",
            format!("PLAINTEXT-REFRESH-{}", uuid::Uuid::new_v4()),
        ),
        (
            OwnerKind::Site,
            1,
            "api_token",
            format!("PLAINTEXT-API-{}", uuid::Uuid::new_v4()),
        ),
    ];
    for (kind, id, name, secret) in &secrets {
        store.put(*kind, *id, name, secret).await.expect("put");
    }
    for (kind, id, name, secret) in &secrets {
        let got = store
            .get(*kind, *id, name)
            .await
            .expect("get")
            .expect("stored");
        assert_eq!(got.expose(), secret);
    }
    assert!(
        store
            .get(OwnerKind::Site, 2, "api_token")
            .await
            .unwrap()
            .is_none()
    );

    // Upsert: a second put replaces the value in place.
    store
        .put(
            OwnerKind::Portal,
            1,
            "access_token",
            "PLAINTEXT-ROTATED-TOKEN",
        )
        .await
        .unwrap();
    let got = store
        .get(OwnerKind::Portal, 1, "access_token")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.expose(), "PLAINTEXT-ROTATED-TOKEN");

    let (dumps, blobs) = raw_credentials(&db).await;
    assert_eq!(dumps.len(), 3);
    assert_eq!(blobs.len(), 3);
    let all_secrets: Vec<&str> = secrets
        .iter()
        .map(|s| s.3.as_str())
        .chain(["PLAINTEXT-ROTATED-TOKEN"])
        .collect();
    for secret in &all_secrets {
        for dump in &dumps {
            assert_absent(dump.as_bytes(), secret, "a credentials column");
        }
        for blob in &blobs {
            assert_absent(blob, secret, "ciphertext");
        }
    }
    // The checks can see what they look for: names are in the dump, and the checker finds
    // a secret in plain and in hex form.
    assert!(
        dumps.iter().any(|d| d.contains("access_token")),
        "dump is readable: {dumps:?}"
    );
    assert!(leaks(b"..PLAINTEXT-X..", "PLAINTEXT-X"));
    assert!(leaks(hex(b"PLAINTEXT-X").as_bytes(), "PLAINTEXT-X"));

    db.close().await.ok();
    // On SQLite, not even the files on disk hold a plaintext secret.
    for file in test_db.sqlite_files() {
        let bytes = std::fs::read(&file).unwrap();
        for secret in &all_secrets {
            assert_absent(&bytes, secret, &file.display().to_string());
        }
    }
}

#[tokio::test]
async fn db_credentials_round_trip_without_plaintext_postgres() {
    round_trip_without_plaintext(Kind::Postgres).await;
}

#[tokio::test]
async fn db_credentials_round_trip_without_plaintext_sqlite() {
    round_trip_without_plaintext(Kind::Sqlite).await;
}

async fn key_rotation(kind: Kind) {
    let test_db = TestDb::new(kind).await;
    let db = test_db.migrated().await;
    let old = CredentialStore::new(db.clone(), Arc::new(Keyring::new(OLD_KEY, vec![])));
    for id in 1..=3 {
        old.put(
            OwnerKind::Portal,
            id,
            "refresh_token",
            &format!("refresh-{id}"),
        )
        .await
        .unwrap();
    }

    // The old key becomes retired: values stay readable before anything is re-encrypted.
    let ring = Arc::new(Keyring::new(NEW_KEY, vec![OLD_KEY]));
    let new = CredentialStore::new(db.clone(), ring.clone());
    let got = new
        .get(OwnerKind::Portal, 2, "refresh_token")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.expose(), "refresh-2");
    // A value written now uses the new key and needs no rotation.
    new.put(OwnerKind::Site, 1, "pat", "pat-1").await.unwrap();

    assert_eq!(new.rotate_all().await.unwrap(), 3);
    assert_eq!(new.rotate_all().await.unwrap(), 0, "rotation is idempotent");
    let key_ids = db
        .conn()
        .query_all_raw(Statement::from_string(
            db.conn().get_database_backend(),
            "SELECT DISTINCT key_id FROM credentials",
        ))
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get::<String>("", "key_id").unwrap())
        .collect::<Vec<_>>();
    assert_eq!(key_ids, vec![ring.current_key_id().to_owned()]);

    // With the old key gone entirely, everything still decrypts.
    let only_new = CredentialStore::new(db.clone(), Arc::new(Keyring::new(NEW_KEY, vec![])));
    for id in 1..=3 {
        let got = only_new
            .get(OwnerKind::Portal, id, "refresh_token")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.expose(), format!("refresh-{id}"));
    }
    assert_eq!(
        only_new
            .get(OwnerKind::Site, 1, "pat")
            .await
            .unwrap()
            .unwrap()
            .expose(),
        "pat-1"
    );

    // A store that knows only the old key names the missing key and leaks nothing.
    let stale = CredentialStore::new(db.clone(), Arc::new(Keyring::new(OLD_KEY, vec![])));
    let e = stale
        .get(OwnerKind::Portal, 1, "refresh_token")
        .await
        .unwrap_err();
    assert!(matches!(e, DbError::Credential { .. }), "{e}");
    assert!(e.to_string().contains(ring.current_key_id()), "{e}");
    assert!(!e.to_string().contains("refresh-1"), "{e}");
    db.close().await.ok();
}

#[tokio::test]
async fn db_credentials_key_rotation_postgres() {
    key_rotation(Kind::Postgres).await;
}

#[tokio::test]
async fn db_credentials_key_rotation_sqlite() {
    key_rotation(Kind::Sqlite).await;
}

/// A ciphertext copied into another row (another portal's token) does not decrypt.
async fn swapped_ciphertext_is_rejected(kind: Kind) {
    let test_db = TestDb::new(kind).await;
    let db = test_db.migrated().await;
    let store = CredentialStore::new(db.clone(), Arc::new(Keyring::new(NEW_KEY, vec![])));
    store
        .put(OwnerKind::Portal, 1, "access_token", "token-of-portal-1")
        .await
        .unwrap();
    store
        .put(OwnerKind::Portal, 2, "access_token", "token-of-portal-2")
        .await
        .unwrap();
    db.conn()
        .execute_unprepared(
            "UPDATE credentials SET ciphertext = \
             (SELECT ciphertext FROM credentials WHERE owner_id = 1) WHERE owner_id = 2",
        )
        .await
        .unwrap();
    let e = store
        .get(OwnerKind::Portal, 2, "access_token")
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("credential portal/2/access_token: "),
        "{e}"
    );
    assert!(!e.to_string().contains("token-of"), "{e}");
    assert_eq!(e.class(), bridge_core::ErrorClass::Permanent);
    db.close().await.ok();
}

#[tokio::test]
async fn db_credentials_swapped_ciphertext_is_rejected_postgres() {
    swapped_ciphertext_is_rejected(Kind::Postgres).await;
}

#[tokio::test]
async fn db_credentials_swapped_ciphertext_is_rejected_sqlite() {
    swapped_ciphertext_is_rejected(Kind::Sqlite).await;
}

async fn processed_events_dedupe(kind: Kind) {
    let test_db = TestDb::new(kind).await;
    let db = test_db.migrated().await;
    let events = ProcessedEvents::new(db.clone());
    let id = uuid::Uuid::new_v4();
    let key = "confluence|page_updated|1099511627783|7";

    assert!(!events.is_processed("fanout", id, key).await.unwrap());
    assert!(
        events.mark_processed("fanout", id, key).await.unwrap(),
        "first time"
    );
    assert!(
        !events.mark_processed("fanout", id, key).await.unwrap(),
        "redelivery"
    );
    assert!(events.is_processed("fanout", id, key).await.unwrap());
    // The same change reported again (reconciliation: new event id, same dedupe key).
    let other_id = uuid::Uuid::new_v4();
    assert!(events.is_processed("fanout", other_id, key).await.unwrap());
    assert!(
        !events
            .mark_processed("fanout", other_id, key)
            .await
            .unwrap()
    );
    // Each consumer deduplicates on its own.
    assert!(events.mark_processed("notify", id, key).await.unwrap());
    // Overlong keys are stored hashed and still deduplicate.
    let long = "k".repeat(2000);
    assert!(
        events
            .mark_processed("fanout", uuid::Uuid::new_v4(), &long)
            .await
            .unwrap()
    );
    assert!(
        !events
            .mark_processed("fanout", uuid::Uuid::new_v4(), &long)
            .await
            .unwrap()
    );
    assert!(events.mark_processed("", id, key).await.is_err());

    // Concurrent workers racing on one event: exactly one sees "first time".
    let race_id = uuid::Uuid::new_v4();
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let events = events.clone();
            tokio::spawn(async move {
                events
                    .mark_processed("mirror", race_id, "race")
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut firsts = 0;
    for t in tasks {
        if t.await.unwrap() {
            firsts += 1;
        }
    }
    assert_eq!(firsts, 1);

    let pruned = events
        .prune_before(chrono::Utc::now() + chrono::Duration::seconds(1))
        .await
        .unwrap();
    assert_eq!(pruned, 4);
    assert!(!events.is_processed("fanout", id, key).await.unwrap());
    db.close().await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn db_processed_events_second_mark_is_false_postgres() {
    processed_events_dedupe(Kind::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn db_processed_events_second_mark_is_false_sqlite() {
    processed_events_dedupe(Kind::Sqlite).await;
}
