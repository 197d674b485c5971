//! The sync client against a real head-office server over loopback, on a
//! SQLite file and on a throwaway PostgreSQL cluster: every scenario runs on
//! both. Ledgers are real files; a small TCP proxy in front of the server
//! takes the link down, or swallows answers as a server dying after its
//! commit would.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use shouyin_api::dto::{SyncState, SyncStatusDto};
use shouyin_api::sync::{hq_file_path, HqFile, MAX_BATCH};
use shouyin_api::{ChargeRequest, Counter, CounterEvent, CounterOptions, ErrorCode, InitRequest};
use shouyin_core::ChannelKind;
use shouyin_ledger::Ledger;
use shouyin_testkit::Backend;
use tokio::net::{TcpListener, TcpStream};

// ------------------------------------------------------------ head office

/// Head office under test (the kit's: database, key, server and a direct
/// handle on its store), with a proxy in front of it.
struct Hq {
    kit: shouyin_testkit::Hq,
    proxy: Proxy,
}

impl std::ops::Deref for Hq {
    type Target = shouyin_testkit::Hq;
    fn deref(&self) -> &Self::Target {
        &self.kit
    }
}

impl Hq {
    async fn start(backend: Backend) -> Hq {
        Hq::start_with_limit(backend, shouyin_testkit::hq::DEFAULT_BODY_LIMIT).await
    }

    async fn start_with_limit(backend: Backend, body_limit: usize) -> Hq {
        let kit = shouyin_testkit::Hq::start_with_limit(backend, body_limit).await;
        let proxy = Proxy::start(kit.server.addr).await;
        Hq { kit, proxy }
    }

    /// The address terminals are given: the proxy's.
    fn url(&self) -> String {
        format!("http://{}", self.proxy.addr)
    }

    async fn code(&self, store_code: &str) -> String {
        self.enroll_code(store_code).await
    }

    /// Kill the server mid-whatever and start a new one on the same
    /// database; the proxy follows it.
    async fn restart(&mut self) {
        self.kit.restart().await;
        self.proxy.set_upstream(self.kit.server.addr);
    }
}

// ------------------------------------------------------------------ proxy

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    /// Pass bytes both ways.
    Up,
    /// Accept connections and close them at once: head office unreachable.
    Down,
    /// Forward the request, wait for the first byte of the answer (the
    /// server has committed), then cut both sides: an answer lost. Goes
    /// back to `Up` after this many requests.
    SwallowAnswers(u32),
}

struct ProxyState {
    upstream: SocketAddr,
    link: Link,
}

/// A TCP proxy whose link can be cut. Changing the link also cuts every
/// open connection, so pooled keep-alive connections see it too.
struct Proxy {
    addr: SocketAddr,
    state: Arc<Mutex<ProxyState>>,
    cut: tokio::sync::watch::Sender<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(ProxyState {
            upstream,
            link: Link::Up,
        }));
        let (cut, _) = tokio::sync::watch::channel(0u64);
        let task = {
            let state = Arc::clone(&state);
            let cut = cut.clone();
            tokio::spawn(async move {
                while let Ok((client, _)) = listener.accept().await {
                    let (link, upstream) = {
                        let mut s = state.lock().unwrap();
                        let link = s.link;
                        if let Link::SwallowAnswers(n) = link {
                            s.link = if n <= 1 {
                                Link::Up
                            } else {
                                Link::SwallowAnswers(n - 1)
                            };
                        }
                        (link, s.upstream)
                    };
                    let cut_rx = cut.subscribe();
                    tokio::spawn(relay(client, upstream, link, cut_rx));
                }
            })
        };
        Proxy {
            addr,
            state,
            cut,
            task,
        }
    }

    fn set_link(&self, link: Link) {
        self.state.lock().unwrap().link = link;
        self.cut.send_modify(|g| *g += 1);
    }

    fn set_upstream(&self, upstream: SocketAddr) {
        self.state.lock().unwrap().upstream = upstream;
        self.cut.send_modify(|g| *g += 1);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn relay(
    mut client: TcpStream,
    upstream: SocketAddr,
    link: Link,
    mut cut: tokio::sync::watch::Receiver<u64>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    if link == Link::Down {
        return;
    }
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    match link {
        Link::Up => {
            tokio::select! {
                _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                _ = cut.changed() => {}
            }
        }
        Link::SwallowAnswers(_) => {
            let (mut client_read, _client_write) = client.split();
            let (mut server_read, mut server_write) = server.split();
            let forward = async {
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    match client_read.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if server_write.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            };
            let first_byte = async {
                let mut one = [0u8; 1];
                let _ = server_read.read(&mut one).await;
            };
            tokio::select! {
                _ = async { forward.await; std::future::pending::<()>().await } => {}
                _ = first_byte => {}
                _ = cut.changed() => {}
            }
        }
        Link::Down => {}
    }
}

// ----------------------------------------------------------------- ledger

fn new_ledger(dir: &Path, name: &str, terminal: &str) -> PathBuf {
    let path = dir.join(name);
    shouyin_api::init_ledger(
        &path,
        &InitRequest {
            store: "测试门店 Test Store".into(),
            terminal: terminal.into(),
            timezone: "Asia/Shanghai".into(),
            day_cutoff: "04:00".into(),
            sale_limit: None,
        },
        Utc::now(),
    )
    .unwrap();
    path
}

async fn open(path: &Path) -> Counter {
    Counter::open_ledger(path, CounterOptions::default())
        .await
        .unwrap()
}

/// A cash sale, opening the till's shift first if none is open (its
/// `shift_opened` event is one more to sync).
async fn cash(counter: &Counter, amount: &str) {
    if counter.shift_current().await.unwrap().is_none() {
        counter.shift_open("王芳".into(), "0".into()).await.unwrap();
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

async fn seed(counter: &Counter, days: u32, per_day: u32) -> u64 {
    let report = counter
        .seed(shouyin_ledger::seed::SeedPlan {
            days,
            per_day,
            seed: 42,
            last_day: Utc::now().date_naive(),
        })
        .await
        .unwrap();
    report.events
}

/// Head office holds exactly the ledger's events, in order, once each.
async fn assert_same_history(hq: &Hq, ledger: &Path, terminal: &str) {
    let ledger = Ledger::open_read_only(ledger).unwrap();
    let mine = ledger.events_after(0, u32::MAX).unwrap();
    let theirs = hq.events(terminal).await;
    assert_eq!(
        theirs.len(),
        mine.len(),
        "head office holds {} events, the ledger {}",
        theirs.len(),
        mine.len()
    );
    for (a, b) in mine.iter().zip(&theirs) {
        assert_eq!(a.seq as u64, b.seq, "order of events");
        assert_eq!(a.kind, b.kind, "kind of event {}", a.seq);
        assert_eq!(
            a.at.timestamp_millis(),
            b.at.timestamp_millis(),
            "time of event {}",
            a.seq
        );
        assert_eq!(
            &serde_json::Value::Object(b.payload.clone()),
            &a.payload,
            "payload of event {}",
            a.seq
        );
        assert_eq!(b.terminal.as_str(), terminal);
    }
}

async fn wait_for(
    counter: &Counter,
    what: &str,
    timeout: Duration,
    pred: impl Fn(&SyncStatusDto) -> bool,
) -> SyncStatusDto {
    let deadline = Instant::now() + timeout;
    loop {
        let status = counter.sync_status().await.unwrap();
        if pred(&status) {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; status {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// -------------------------------------------------------------- scenarios

async fn enrol_then_sales_arrive_in_order(backend: Backend) {
    let hq = Hq::start(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let path = new_ledger(dir.path(), "ledger.db", "T01");
    let counter = open(&path).await;

    let before = counter.sync_status().await.unwrap();
    assert_eq!(before.state, SyncState::NotEnrolled);
    assert!(!before.enrolled);
    for amount in ["12.30", "8", "0.50"] {
        cash(&counter, amount).await;
    }
    let waiting = counter.sync_status().await.unwrap();
    assert_eq!(
        waiting.waiting, 7,
        "the shift's opening and two events per cash sale wait: {waiting:?}"
    );
    assert!(waiting.oldest_waiting_at.is_some());

    let bad = counter
        .sync_enroll(hq.url(), "AAAAA-BBBBB-CCCCC-DDDDD".into())
        .await
        .unwrap_err();
    assert_eq!(bad.code, ErrorCode::InvalidInput, "{bad:?}");
    assert!(
        !hq_file_path(&path).exists(),
        "a refused enrolment saves nothing"
    );

    let code = hq.code("SH01").await;
    let enrolled = counter.sync_enroll(hq.url(), code.clone()).await.unwrap();
    assert!(enrolled.enrolled);
    assert_eq!(enrolled.terminal_id.as_deref(), Some("T01"));
    assert_eq!(enrolled.store.as_deref(), Some("SH01"));
    assert_eq!(enrolled.hq_url.as_deref(), Some(hq.url().as_str()));
    assert_eq!((enrolled.acked_seq, enrolled.waiting), (0, 7));

    // Twice fails: already enrolled, and the code is spent anyway.
    let again = counter
        .sync_enroll(hq.url(), hq.code("SH01").await)
        .await
        .unwrap_err();
    assert_eq!(again.code, ErrorCode::Conflict, "{again:?}");
    let reused = counter
        .sync_enroll_with(hq.url(), code, true)
        .await
        .unwrap_err();
    assert_eq!(reused.code, ErrorCode::InvalidInput, "{reused:?}");

    // The file: beside the ledger, owner-only, secret never in Debug.
    let file_path = hq_file_path(&path);
    assert_eq!(file_path, dir.path().join("ledger.db.hq.json"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file_path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "hq file mode {mode:o}");
    }
    let file = HqFile::load(&file_path).unwrap().unwrap();
    let raw: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file_path).unwrap()).unwrap();
    let secret_hex = raw["secret"].as_str().unwrap().to_owned();
    assert_eq!(secret_hex.len(), 64);
    assert!(
        !format!("{file:?}").contains(&secret_hex),
        "Debug leaks the secret"
    );
    assert!(!serde_json::to_string(&enrolled)
        .unwrap()
        .contains(&secret_hex));

    // A second ledger claiming the same terminal id is refused, and the
    // code it tried stays usable for a terminal with a free id.
    let other = open(&new_ledger(dir.path(), "other.db", "T01")).await;
    let code2 = hq.code("SH01").await;
    let taken = other
        .sync_enroll(hq.url(), code2.clone())
        .await
        .unwrap_err();
    assert_eq!(taken.code, ErrorCode::Conflict, "{taken:?}");
    let third = open(&new_ledger(dir.path(), "third.db", "T02")).await;
    third.sync_enroll(hq.url(), code2).await.unwrap();

    let pass = counter.sync_pass().await.unwrap();
    assert!(pass.ok, "{pass:?}");
    assert_eq!(pass.sent, 7);
    assert_eq!(pass.status.state, SyncState::CaughtUp);
    assert_eq!((pass.status.acked_seq, pass.status.waiting), (7, 0));
    assert!(pass.status.last_success_at.is_some());
    assert!(pass.status.oldest_waiting_at.is_none());
    assert_same_history(&hq, &path, "T01").await;
    let info = hq.terminal("T01").await;
    assert_eq!((info.acked_seq, info.outbox_remaining), (7, Some(0)));
    assert_eq!(HqFile::load(&file_path).unwrap().unwrap().acked_seq, 7);
}

async fn restart_resumes_from_the_cursor(backend: Backend) {
    let hq = Hq::start(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let path = new_ledger(dir.path(), "ledger.db", "T01");
    {
        let counter = open(&path).await;
        counter
            .sync_enroll(hq.url(), hq.code("SH01").await)
            .await
            .unwrap();
        cash(&counter, "1.00").await;
        cash(&counter, "2.00").await;
        let pass = counter.sync_pass().await.unwrap();
        assert_eq!((pass.ok, pass.sent), (true, 5), "{pass:?}");
        counter.shutdown().await;
    }
    let counter = open(&path).await;
    let status = counter.sync_status().await.unwrap();
    assert_eq!((status.acked_seq, status.waiting), (5, 0), "{status:?}");
    cash(&counter, "3.00").await;
    let pass = counter.sync_pass().await.unwrap();
    assert!(pass.ok, "{pass:?}");
    assert_eq!(pass.sent, 2, "only the new sale's events are sent");
    let pass = counter.sync_pass().await.unwrap();
    assert_eq!((pass.ok, pass.sent, pass.batches), (true, 0, 0));
    assert_same_history(&hq, &path, "T01").await;
}

async fn a_week_offline_goes_up_while_the_counter_sells(backend: Backend) {
    let hq = Hq::start(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let path = new_ledger(dir.path(), "ledger.db", "T01");
    let counter = open(&path).await;
    counter
        .sync_enroll(hq.url(), hq.code("SH01").await)
        .await
        .unwrap();
    let seeded = seed(&counter, 7, 1000).await;
    assert!(seeded >= 20_000, "seeded only {seeded} events");

    let started = Instant::now();
    let syncing = {
        let counter = counter.clone();
        tokio::spawn(async move { counter.sync_pass().await })
    };
    let mut slowest = Duration::ZERO;
    let mut sales = 0;
    while !syncing.is_finished() {
        let t = Instant::now();
        cash(&counter, "5.00").await;
        slowest = slowest.max(t.elapsed());
        sales += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let pass = syncing.await.unwrap().unwrap();
    let secs = started.elapsed().as_secs_f64();
    assert!(pass.ok, "{pass:?}");
    assert!(sales >= 3, "sales were taken during the sync ({sales})");
    assert!(
        slowest < Duration::from_millis(500),
        "a cash sale took {slowest:?} during the catch-up"
    );
    eprintln!(
        "[{backend:?}] caught up {seeded} events in {secs:.2}s ({:.0} events/s), \
         {sales} cash sales meanwhile, slowest {slowest:?}",
        seeded as f64 / secs
    );
    // The sales made during the pass go up too.
    let pass = counter.sync_pass().await.unwrap();
    assert!(pass.ok, "{pass:?}");
    assert_eq!(pass.status.waiting, 0);
    assert_same_history(&hq, &path, "T01").await;
}

async fn head_office_down_then_back(backend: Backend) {
    let hq = Hq::start(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let path = new_ledger(dir.path(), "ledger.db", "T01");
    let counter = open(&path).await;
    counter
        .sync_enroll(hq.url(), hq.code("SH01").await)
        .await
        .unwrap();
    cash(&counter, "10.00").await;
    counter.sync_now().await.unwrap();

    hq.proxy.set_link(Link::Down);
    cash(&counter, "20.00").await;
    let pass = counter.sync_pass().await.unwrap();
    assert!(!pass.ok);
    let down = pass.status;
    assert_eq!(down.state, SyncState::Offline, "{down:?}");
    assert_eq!((down.acked_seq, down.waiting), (3, 2));
    assert!(down.oldest_waiting_at.is_some());
    let since = down.offline_since.clone().expect("offline since");
    assert!(
        down.last_error.as_deref().unwrap().contains("unreachable"),
        "{down:?}"
    );
    // Still down: "offline since" keeps the first failure. (Listen from
    // here: this pass changes the status while offline, the loop's later
    // pass changes it to caught up, whatever the timing of the two.)
    let mut feed = counter.subscribe();
    cash(&counter, "30.00").await;
    let still = counter.sync_now().await.unwrap();
    assert_eq!(still.offline_since.as_deref(), Some(since.as_str()));
    assert_eq!(still.waiting, 4);

    // The background loop notices the link coming back and catches up.
    counter.start_sync();
    tokio::time::sleep(Duration::from_millis(300)).await;
    hq.proxy.set_link(Link::Up);
    let back = wait_for(&counter, "catch-up", Duration::from_secs(30), |s| {
        s.state == SyncState::CaughtUp
    })
    .await;
    assert_eq!((back.acked_seq, back.waiting), (7, 0));
    assert!(back.offline_since.is_none() && back.last_error.is_none());
    let mut saw_offline = false;
    let mut saw_caught_up = false;
    while let Ok(event) = feed.try_recv() {
        if let CounterEvent::SyncStatus { status } = event {
            saw_offline |= status.state == SyncState::Offline;
            saw_caught_up |= status.state == SyncState::CaughtUp;
        }
    }
    assert!(saw_offline && saw_caught_up, "status changes reach the UI");

    // A new sale wakes the loop well before its idle interval.
    let t = Instant::now();
    cash(&counter, "40.00").await;
    wait_for(&counter, "the new sale", Duration::from_secs(3), |s| {
        s.acked_seq == 9
    })
    .await;
    assert!(t.elapsed() < shouyin_api::sync::IDLE_INTERVAL);
    counter.shutdown().await;
    assert_same_history(&hq, &path, "T01").await;
}

async fn server_killed_mid_batch_stores_exactly_once(backend: Backend) {
    let mut hq = Hq::start(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let path = new_ledger(dir.path(), "ledger.db", "T01");
    let counter = open(&path).await;
    counter
        .sync_enroll(hq.url(), hq.code("SH01").await)
        .await
        .unwrap();
    let seeded = seed(&counter, 2, 1500).await;
    assert!(seeded > 3000);

    // Batches are stored but every answer is lost: the cursor stays.
    hq.proxy.set_link(Link::SwallowAnswers(1000));
    let pass = counter.sync_pass().await.unwrap();
    assert!(!pass.ok, "{pass:?}");
    assert_eq!(pass.status.acked_seq, 0, "no answer, no move");
    assert_eq!(
        hq.terminal("T01").await.acked_seq,
        MAX_BATCH as u64,
        "stored all the same"
    );
    // One answer lost: the pass resends at once (a smaller batch) and goes on.
    hq.proxy.set_link(Link::SwallowAnswers(1));
    let pass = counter.sync_pass().await.unwrap();
    assert!(pass.ok, "{pass:?}");
    assert_eq!(pass.status.acked_seq, seeded);
    let seeded = seeded + seed(&counter, 1, 1500).await;

    // Kill the server while the loop is shipping, then bring it back.
    counter.start_sync();
    wait_for(&counter, "some progress", Duration::from_secs(30), |s| {
        s.acked_seq >= 1000
    })
    .await;
    hq.restart().await;
    let done = wait_for(&counter, "catch-up", Duration::from_secs(90), |s| {
        s.state == SyncState::CaughtUp
    })
    .await;
    assert_eq!(done.acked_seq, seeded);
    counter.shutdown().await;
    assert_same_history(&hq, &path, "T01").await;
    let info = hq.terminal("T01").await;
    assert_eq!((info.acked_seq, info.highest_seq), (seeded, seeded));
}

async fn a_revoked_terminal_stops(backend: Backend) {
    let hq = Hq::start(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let path = new_ledger(dir.path(), "ledger.db", "T01");
    let counter = open(&path).await;
    counter
        .sync_enroll(hq.url(), hq.code("SH01").await)
        .await
        .unwrap();
    cash(&counter, "1.00").await;
    counter.sync_now().await.unwrap();
    assert!(hq.revoke("T01").await);
    cash(&counter, "2.00").await;
    let status = counter.sync_now().await.unwrap();
    assert_eq!(status.state, SyncState::Revoked, "{status:?}");
    assert!(status.last_error.as_deref().unwrap().contains("revoked"));
    assert_eq!((status.acked_seq, status.waiting), (3, 2));
    assert_eq!(
        HqFile::load(&hq_file_path(&path))
            .unwrap()
            .unwrap()
            .acked_seq,
        3
    );
    assert_eq!(hq.events("T01").await.len(), 3);
}

async fn a_changed_history_is_a_conflict(backend: Backend) {
    let hq = Hq::start(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let path = new_ledger(dir.path(), "ledger.db", "T01");
    let counter = open(&path).await;
    counter
        .sync_enroll(hq.url(), hq.code("SH01").await)
        .await
        .unwrap();
    cash(&counter, "1.00").await;
    counter.sync_now().await.unwrap();
    counter.shutdown().await;
    drop(counter);

    // Another ledger of the same terminal, with other sales, given this
    // terminal's head-office file: its history differs from what is stored.
    let impostor = new_ledger(dir.path(), "copy.db", "T01");
    let mut file = HqFile::load(&hq_file_path(&path)).unwrap().unwrap();
    file.acked_seq = 0;
    file.save(&hq_file_path(&impostor)).unwrap();
    let counter = open(&impostor).await;
    cash(&counter, "99.00").await;
    let mut feed = counter.subscribe();
    let status = counter.sync_now().await.unwrap();
    assert_eq!(status.state, SyncState::Conflict, "{status:?}");
    assert_eq!(status.acked_seq, 0, "the cursor stays");
    let mut alarmed = false;
    while let Ok(event) = feed.try_recv() {
        alarmed |= matches!(event, CounterEvent::Alarm { .. });
    }
    assert!(alarmed, "a changed history raises an alarm");
    assert_same_history(&hq, &path, "T01").await;

    // A ledger behind its cursor (restored from an old copy) is one too.
    let mut file = HqFile::load(&hq_file_path(&impostor)).unwrap().unwrap();
    file.acked_seq = 50;
    file.save(&hq_file_path(&impostor)).unwrap();
    let status = counter.sync_now().await.unwrap();
    assert_eq!(status.state, SyncState::Conflict, "{status:?}");
    assert!(status.last_error.unwrap().contains("older copy"));
}

async fn a_batch_too_large_is_halved(backend: Backend) {
    let hq = Hq::start_with_limit(backend, 48 * 1024).await;
    let dir = tempfile::tempdir().unwrap();
    let path = new_ledger(dir.path(), "ledger.db", "T01");
    let counter = open(&path).await;
    counter
        .sync_enroll(hq.url(), hq.code("SH01").await)
        .await
        .unwrap();
    let seeded = seed(&counter, 1, 800).await;
    let pass = counter.sync_pass().await.unwrap();
    assert!(pass.ok, "{pass:?}");
    assert_eq!(pass.status.acked_seq, seeded);
    assert!(pass.batches > seeded / 500 + 1, "smaller batches: {pass:?}");
    assert_same_history(&hq, &path, "T01").await;
}

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::Postgres).await;
                }
            )*
        }
    };
}

on_both_backends!(
    enrol_then_sales_arrive_in_order,
    restart_resumes_from_the_cursor,
    a_week_offline_goes_up_while_the_counter_sells,
    head_office_down_then_back,
    server_killed_mid_batch_stores_exactly_once,
    a_revoked_terminal_stops,
    a_changed_history_is_a_conflict,
    a_batch_too_large_is_halved,
);

// ------------------------------------------------------ transport security

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_to_another_machine_is_refused_before_anything_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let path = new_ledger(dir.path(), "ledger.db", "T01");
    let counter = open(&path).await;
    cash(&counter, "12.30").await;
    // 192.0.2.1 is a documentation address: nothing answers there, so an
    // attempt to connect would hang until the connect timeout.
    let started = Instant::now();
    let refused = counter
        .sync_enroll(
            "http://192.0.2.1:8788".into(),
            "AAAAA-BBBBB-CCCCC-DDDDD".into(),
        )
        .await
        .unwrap_err();
    assert_eq!(refused.code, ErrorCode::InsecureHqUrl, "{refused:?}");
    assert!(refused.message.contains("https://"), "{}", refused.message);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "refused without trying to connect"
    );
    assert!(!hq_file_path(&path).exists());

    // An enrolment from before the rule, or a file edited by hand: sync
    // refuses to send the sales there.
    std::fs::write(
        hq_file_path(&path),
        serde_json::json!({
            "version": 1,
            "hq_url": "http://hq.example.com:8788",
            "terminal_id": "T01",
            "store": "SH01",
            "secret": "ab".repeat(32),
            "acked_seq": 0,
            "enrolled_at": "2026-11-01T00:00:00Z",
        })
        .to_string(),
    )
    .unwrap();
    let refused = counter.sync_pass().await.unwrap_err();
    assert_eq!(refused.code, ErrorCode::InsecureHqUrl, "{refused:?}");
    counter.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrols_syncs_and_relays_over_https_trusting_a_private_ca() {
    let dir = tempfile::tempdir().unwrap();
    let shop = shouyin_testkit::tls::private_ca(dir.path());
    let ca = shop.ca.clone();
    let hq = shouyin_testkit::Hq::start_tls(Backend::Sqlite, &shop.cert, &shop.key).await;
    let url = hq.base();
    assert!(url.starts_with("https://"), "{url}");

    let path = new_ledger(dir.path(), "ledger.db", "T01");
    let counter = open(&path).await;
    cash(&counter, "12.30").await;
    let code = hq.enroll_code("SH01").await;

    // Not trusting the shop's CA, the terminal will not talk to it.
    let untrusted = counter
        .sync_enroll(url.clone(), code.clone())
        .await
        .unwrap_err();
    assert_eq!(untrusted.code, ErrorCode::HqUnreachable, "{untrusted:?}");
    assert!(!hq_file_path(&path).exists());

    let enrolled = counter
        .sync_enroll_trusting(url.clone(), code, false, Some(ca.clone()))
        .await
        .unwrap();
    assert_eq!(enrolled.hq_url.as_deref(), Some(url.as_str()));
    let file = HqFile::load(&hq_file_path(&path)).unwrap().unwrap();
    assert_eq!(file.hq_ca_file.as_deref(), Some(ca.as_path()));

    let pass = counter.sync_pass().await.unwrap();
    assert!(pass.ok, "sync over https failed: {pass:?}");
    assert_eq!((pass.sent, pass.status.waiting), (3, 0));
    let stored = hq.events("T01").await;
    assert_eq!(
        stored.len(),
        3,
        "the shift's opening and the cash sale's events are at head office"
    );

    // The notification relay comes up over the same https.
    counter.start_relay();
    let started = Instant::now();
    while !counter.relay_live() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the relay did not come up over https"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    counter.shutdown().await;
}
