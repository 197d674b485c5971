//! Backups while the till sells, their schedule and warnings, and the rescue
//! file head office imports exactly once. Real ledgers on disk (WAL), a real
//! head office over loopback HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use chrono::Utc;
use shouyin_api::backup::BACKUP_KEEP;
use shouyin_api::{
    ChargeRequest, Counter, CounterEvent, CounterOptions, ErrorCode, InitRequest, StartPlan,
};
use shouyin_core::ChannelKind;
use shouyin_ledger::backup::check_copy;
use shouyin_testkit::{Backend, Hq, TempLedger};

const SALES: usize = 10_000;

fn options(backups: &Path) -> CounterOptions {
    CounterOptions {
        backup_dir: Some(backups.to_owned()),
        payments: shouyin_api::PaymentSettings {
            probe_every: None,
            ..Default::default()
        },
        ..CounterOptions::default()
    }
}

/// A cash sale, in the open shift (one is opened first if none is).
async fn cash(counter: &Counter, amount: &str) {
    if counter.shift_current().await.unwrap().is_none() {
        counter
            .shift_open("王芳".into(), "100".into())
            .await
            .unwrap();
    }
    counter
        .order_charge(ChargeRequest {
            amount: amount.into(),
            channel: ChannelKind::Cash,
            cashier: Some("王芳".into()),
            note: None,
            force: false,
            tendered: None,
        })
        .await
        .unwrap();
}

/// Events 1..=n of a ledger file, every column as text, read with SQLite
/// itself.
fn events_upto(path: &Path, n: i64) -> Vec<(i64, Option<i64>, String, String, String)> {
    let conn =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let mut stmt = conn
        .prepare("SELECT seq, order_id, kind, payload, at FROM events WHERE seq <= ?1 ORDER BY seq")
        .unwrap();
    stmt.query_map([n], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
    })
    .unwrap()
    .collect::<rusqlite::Result<_>>()
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_sales_while_backups_run_every_copy_checked_and_a_prefix() {
    let ledger = TempLedger::demo(Utc::now());
    let backups = ledger.dir().join("backups");
    let counter = ledger.counter(options(&backups)).await;

    let seller = {
        let counter = counter.clone();
        tokio::spawn(async move {
            let mut slowest = Duration::ZERO;
            let started = Instant::now();
            for i in 0..SALES {
                let t = Instant::now();
                cash(&counter, &format!("{}.{:02}", 1 + i % 97, i % 100)).await;
                slowest = slowest.max(t.elapsed());
            }
            (started.elapsed(), slowest)
        })
    };

    let mut copies = 0;
    let mut seqs = Vec::new();
    while !seller.is_finished() || copies < 2 {
        let status = counter.backup_now("manual").await.unwrap();
        assert!(!status.failing, "{status:?}");
        let file = status.last_file.clone().unwrap();
        let file = Path::new(&file);
        // integrity_check, a ledger of this schema, and its size.
        let check = check_copy(file).unwrap();
        assert_eq!(Some(check.last_seq), status.last_seq);
        assert_eq!(Some(check.bytes as i64), status.last_bytes);
        // A prefix: events 1..=n, exactly as the ledger holds them (the
        // ledger's are final: events are append-only).
        let copy = events_upto(file, check.last_seq);
        assert_eq!(copy.len() as i64, check.last_seq, "no gaps in the copy");
        assert_eq!(copy, events_upto(&ledger.path, check.last_seq));
        seqs.push(check.last_seq);
        let record = counter.backup_status().await.unwrap();
        assert_eq!(record.last_file, status.last_file);
        copies += 1;
        // A copy every 100 ms or so: far more often than a shop's schedule.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (selling, slowest) = seller.await.unwrap();
    assert!(
        seqs.windows(2).all(|w| w[0] <= w[1]),
        "copies follow the ledger: {seqs:?}"
    );
    assert!(
        seqs.iter()
            .filter(|&&s| s > 0 && s < 2 * SALES as i64)
            .count()
            >= 1,
        "at least one copy was taken mid-selling: {seqs:?}"
    );

    // The full ledger: the figure for the README.
    let started = Instant::now();
    let last = counter.backup_now("manual").await.unwrap();
    let full_took = started.elapsed();
    let check = check_copy(Path::new(last.last_file.as_ref().unwrap())).unwrap();
    assert_eq!(
        check.last_seq,
        1 + 2 * SALES as i64,
        "the shift's opening, then two events per cash sale"
    );
    assert_eq!(
        events_upto(Path::new(last.last_file.as_ref().unwrap()), check.last_seq),
        events_upto(&ledger.path, check.last_seq)
    );
    let kept = std::fs::read_dir(&backups).unwrap().count();
    assert_eq!(kept, BACKUP_KEEP.min(copies + 1), "the rotating set");
    assert_eq!(last.kept as usize, kept);
    println!(
        "{SALES} cash sales in {:.1} s (slowest sale {} ms) while {copies} backups ran; \
         copies held {:?} events; backup of the whole ledger ({} events, {} bytes): {} ms",
        selling.as_secs_f64(),
        slowest.as_millis(),
        seqs,
        check.last_seq,
        check.bytes,
        full_took.as_millis()
    );
}

#[tokio::test]
async fn a_failed_backup_is_a_warning_and_an_alarm_until_a_good_one() {
    let ledger = TempLedger::demo(Utc::now());
    // A file where the folder should be: the copy cannot be written.
    let backups = ledger.dir().join("backups");
    std::fs::write(&backups, b"not a folder").unwrap();
    let counter = ledger.counter(options(&backups)).await;
    cash(&counter, "5.00").await;
    let mut events = counter.subscribe();

    let status = counter.backup_now("manual").await.unwrap();
    assert!(status.failing, "{status:?}");
    assert!(
        status.error.as_deref().unwrap().contains("backups"),
        "{status:?}"
    );
    assert_eq!(status.error_code, Some(ErrorCode::Storage));
    assert!(status.last_at.is_none());
    let alarm = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let Ok(CounterEvent::Alarm { alarm }) = events.recv().await {
                return alarm;
            }
        }
    })
    .await
    .unwrap();
    assert!(alarm.message.starts_with("backup failed"), "{alarm:?}");
    // Still failing after a restart: the ledger remembers.
    drop(counter);
    let counter = ledger.counter(options(&backups)).await;
    assert!(counter.backup_status().await.unwrap().failing);

    std::fs::remove_file(&backups).unwrap();
    let status = counter.backup_now("manual").await.unwrap();
    assert!(!status.failing, "{status:?}");
    assert!(status.error.is_none() && status.error_code.is_none());
    // The shift's opening and the sale's two events.
    assert_eq!(status.last_seq, Some(3));
    assert!(status.last_bytes.unwrap() > 0);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&backups).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700, "backups are the owner's only");
    }
}

#[tokio::test]
async fn a_shift_close_and_the_start_of_the_day_each_take_a_backup() {
    let ledger = TempLedger::demo(Utc::now());
    let backups = ledger.dir().join("backups");
    let counter = ledger.counter(options(&backups)).await;
    let none = counter.backup_status().await.unwrap();
    assert!(none.scheduled && none.last_at.is_none() && !none.failing);

    counter
        .shift_open("王芳".into(), "100".into())
        .await
        .unwrap();
    cash(&counter, "12.30").await;
    counter
        .shift_close("112.30".into(), "王芳".into())
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = counter.backup_status().await.unwrap();
        if status.kept == 1 {
            let file = status.last_file.unwrap();
            assert!(file.ends_with("-shift.db"), "{file}");
            break;
        }
        assert!(Instant::now() < deadline, "no backup after the shift close");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A counter that starts with no copy of the last day takes one at once.
    let other = TempLedger::demo(Utc::now());
    let other_backups = other.dir().join("backups");
    let counter = other.counter(options(&other_backups)).await;
    let _startup = counter.start(StartPlan::COUNTER);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = counter.backup_status().await.unwrap();
        if let Some(file) = status.last_file {
            assert!(file.ends_with("-daily.db"), "{file}");
            break;
        }
        assert!(Instant::now() < deadline, "no daily backup at start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    counter.shutdown().await;
}

#[tokio::test]
async fn a_counter_without_a_backup_folder_says_so() {
    let ledger = TempLedger::demo(Utc::now());
    let counter = ledger.counter(CounterOptions::default()).await;
    let e = counter.backup_now("manual").await.unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidInput);
    assert!(!counter.backup_status().await.unwrap().scheduled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rescue_file_is_imported_by_head_office_exactly_once() {
    let hq = Hq::start(Backend::Sqlite).await;
    let ledger = TempLedger::new(
        &InitRequest {
            terminal: "T09".into(),
            ..InitRequest::demo()
        },
        Utc::now(),
    );
    let counter = ledger.counter(CounterOptions::default()).await;
    let out = ledger.dir().join("rescue.json");
    let e = counter.rescue_export(&out).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidInput, "not enrolled: {e}");

    let code = hq.enroll_code("SH01").await;
    counter.sync_enroll(hq.base(), code).await.unwrap();
    for amount in ["1.00", "2.00", "3.00"] {
        cash(&counter, amount).await;
    }
    let synced = counter.sync_now().await.unwrap();
    // The shift's opening, then two events per sale.
    assert_eq!(synced.acked_seq, 7);
    // The network is gone for good: five more sales stay on the till.
    for amount in ["4.00", "5.00", "6.00", "7.00", "8.00"] {
        cash(&counter, amount).await;
    }
    let rescue = counter.rescue_export(&out).await.unwrap();
    assert_eq!(
        (rescue.events, rescue.first_seq, rescue.last_seq),
        (10, 8, 17)
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&out).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let again = counter.rescue_export(&out).await.unwrap_err();
    assert_eq!(again.code, ErrorCode::ExportFileExists);

    let text = std::fs::read(&out).unwrap();
    // A changed file is refused, and stores nothing.
    let tampered = String::from_utf8(text.clone())
        .unwrap()
        .replace("\\\"amount_fen\\\":800", "\\\"amount_fen\\\":80000");
    assert_ne!(
        tampered.as_bytes(),
        text.as_slice(),
        "the tamper must change the file"
    );
    let refused = hq.import_rescue(tampered.as_bytes()).await.unwrap_err();
    assert!(refused.to_string().contains("signature"), "{refused}");
    assert_eq!(hq.events("T09").await.len(), 7);

    let first = hq.import_rescue(&text).await.unwrap();
    assert_eq!(
        (first.stored, first.duplicates, first.acked_seq),
        (10, 0, 17)
    );
    let second = hq.import_rescue(&text).await.unwrap();
    assert_eq!(
        (second.stored, second.duplicates, second.acked_seq),
        (0, 10, 17)
    );
    let held = hq.events("T09").await;
    assert_eq!(held.len(), 17);
    assert!(held.iter().map(|e| e.seq).eq(1..=17));

    // Should the till come back after all, sync finds everything there.
    let status = counter.sync_now().await.unwrap();
    assert_eq!((status.acked_seq, status.waiting), (17, 0));
    assert_eq!(hq.events("T09").await.len(), 17);
    let nothing = counter
        .rescue_export(&ledger.dir().join("rescue2.json"))
        .await
        .unwrap_err();
    assert_eq!(nothing.code, ErrorCode::NotFound);
}
