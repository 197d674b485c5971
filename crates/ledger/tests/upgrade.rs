//! Upgrading a ledger the previous release wrote (`testdata/ledger-v3.db`,
//! made by the schema-3 program; see `testdata/README.md`): it is copied
//! before anything is changed, migrated, and every row survives.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use chrono::{TimeZone, Utc};
use rusqlite::types::Value;
use shouyin_core::{ChannelKind, Money, OrderState};
use shouyin_ledger::{backup, Change, Ledger, LedgerError, NewOrder, SCHEMA_VERSION};

const FIXTURE_VERSION: i64 = 3;
/// Every table the schema-3 program wrote.
const TABLES: &[&str] = &[
    "terminal",
    "orders",
    "events",
    "audit",
    "users",
    "refunds",
    "shifts",
    "cash_movements",
];

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/ledger-v3.db")
}

fn raw(path: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap()
}

fn user_version(path: &Path) -> i64 {
    raw(path)
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap()
}

/// Every row of every table, every column, as SQLite stores it.
fn dump(path: &Path) -> Vec<(String, Vec<Vec<Value>>)> {
    let conn = raw(path);
    TABLES
        .iter()
        .map(|table| {
            let mut stmt = conn
                .prepare(&format!("SELECT * FROM {table} ORDER BY rowid"))
                .unwrap();
            let n = stmt.column_count();
            let rows = stmt
                .query_map([], |r| (0..n).map(|i| r.get::<_, Value>(i)).collect())
                .unwrap()
                .collect::<rusqlite::Result<Vec<Vec<Value>>>>()
                .unwrap();
            ((*table).to_owned(), rows)
        })
        .collect()
}

fn count(dump: &[(String, Vec<Vec<Value>>)], table: &str) -> usize {
    dump.iter().find(|(t, _)| t == table).unwrap().1.len()
}

#[test]
fn the_previous_release_ledger_is_backed_up_then_migrated_losing_nothing() {
    const {
        assert!(
            FIXTURE_VERSION < SCHEMA_VERSION,
            "the fixture must be from a release before this one"
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    std::fs::copy(fixture(), &path).unwrap();
    assert_eq!(user_version(&path), FIXTURE_VERSION);
    let before = dump(&path);
    assert_eq!(count(&before, "orders"), 48);
    assert_eq!(count(&before, "events"), 145);
    assert_eq!(count(&before, "audit"), 6);
    assert_eq!(count(&before, "users"), 3);

    // Read-only openers never migrate.
    assert!(matches!(
        Ledger::open_read_only(&path),
        Err(LedgerError::Migration(_))
    ));
    let mut ledger = Ledger::open(&path).unwrap();
    assert_eq!(user_version(&path), SCHEMA_VERSION);
    assert_eq!(ledger.durability().unwrap().journal_mode, "wal");

    // The copy taken just before: the old schema, every row as it was.
    let copies: Vec<PathBuf> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(&format!("ledger.db.before-schema-{SCHEMA_VERSION}-"))
        })
        .collect();
    assert_eq!(copies.len(), 1, "one copy before the migration: {copies:?}");
    let check = backup::check_copy(&copies[0]).unwrap();
    assert_eq!(check.schema_version, FIXTURE_VERSION);
    assert_eq!(check.last_seq, 145);
    assert_eq!(dump(&copies[0]), before);

    // After: every order, event, audit entry, user, refund, shift and cash
    // movement, byte for byte. Later versions only add columns (at the end
    // of a row), so every row's old columns are compared.
    let after = dump(&path);
    for ((table, old), (_, new)) in before.iter().zip(&after) {
        assert_eq!(old.len(), new.len(), "table {table} lost or gained rows");
        for (old_row, new_row) in old.iter().zip(new) {
            assert_eq!(
                old_row[..],
                new_row[..old_row.len()],
                "a row of {table} changed in the migration"
            );
        }
    }
    let audit = ledger.audit_verify().unwrap();
    assert!(audit.is_intact(), "{audit:?}");
    assert_eq!(audit.entries, 6);
    assert_eq!(ledger.terminal().terminal.as_str(), "T07");
    assert_eq!(ledger.terminal().store, "老街便利店 Old Street");

    // And the upgraded ledger keeps working: the next sale follows on.
    let at = Utc.with_ymd_and_hms(2026, 12, 1, 2, 0, 0).single().unwrap();
    let paid = Change {
        paid_at: Some(at),
        ..Change::to(OrderState::Paid)
    };
    let order = ledger
        .create_paid_order(
            &NewOrder {
                amount: Money::cny(1_500),
                channel: ChannelKind::Cash,
                cashier: Some("王芳".into()),
                note: None,
            },
            &paid,
            None,
            at,
        )
        .unwrap();
    assert_eq!(order.id, 49);
    assert!(ledger.last_seq().unwrap() > 145);
    assert!(ledger.last_backup().unwrap().is_none());
    drop(ledger);
    // A second open finds nothing to migrate and takes no second copy.
    Ledger::open(&path).unwrap();
    let copies = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains(".before-schema-")
        })
        .count();
    assert_eq!(copies, 1);
}

#[test]
fn a_ledger_from_a_newer_version_is_refused_naming_both_versions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    std::fs::copy(fixture(), &path).unwrap();
    let newer = SCHEMA_VERSION + 1;
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(&format!("PRAGMA user_version = {newer}"))
        .unwrap();
    let before = std::fs::read(&path).unwrap();
    let err = Ledger::open(&path).unwrap_err();
    assert!(
        matches!(err, LedgerError::TooNew { found, supported, .. } if found == newer && supported == SCHEMA_VERSION),
        "{err}"
    );
    let message = err.to_string();
    assert!(
        message.contains(&format!("version {newer}"))
            && message.contains(&format!("({SCHEMA_VERSION})")),
        "{message}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), before, "left untouched");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no copy");
}
