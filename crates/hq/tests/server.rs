//! The head-office server over real HTTP on loopback, against a SQLite file
//! and a real PostgreSQL cluster: every scenario runs on both backends.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use reqwest::StatusCode;
use serde_json::{json, Value};
use shouyin_core::TerminalId;
use shouyin_hq::store::{self, EventRow};
use shouyin_hq::wire::{self, Event, EventBatch, EventsAck, StoreCode};
use shouyin_hq::{AppState, Config};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

// The database and the server processes come from the test kit; the
// short names read better in the scenarios below.
use shouyin_testkit::hq::{Backend, HqDb as TestDb, HqServer as TestServer, ADMIN_TOKEN as ADMIN};

struct Terminal {
    id: TerminalId,
    store: StoreCode,
    secret: Vec<u8>,
}

/// One head office under test (the kit's: a database, its sealing key, a
/// server and the store), and a client for talking to it as terminals,
/// channels and the admin do.
struct Hq {
    kit: shouyin_testkit::Hq,
    http: reqwest::Client,
}

impl std::ops::Deref for Hq {
    type Target = shouyin_testkit::Hq;
    fn deref(&self) -> &Self::Target {
        &self.kit
    }
}

impl std::ops::DerefMut for Hq {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.kit
    }
}

impl Hq {
    async fn start(db: TestDb) -> Hq {
        Hq::start_with_limit(db, shouyin_hq::DEFAULT_BODY_LIMIT).await
    }

    async fn start_with_limit(db: TestDb, body_limit: usize) -> Hq {
        Hq {
            kit: shouyin_testkit::Hq::serve(db, body_limit).await,
            http: reqwest::Client::new(),
        }
    }

    async fn enroll(&self, store: &str) -> Terminal {
        let store = StoreCode::parse(store).unwrap();
        let code = shouyin_hq::issue_enroll_code(self.store.as_ref(), store.clone(), Utc::now())
            .await
            .unwrap();
        let r = self
            .http
            .post(format!("{}{}", self.base(), wire::ENROLL_PATH))
            .json(&json!({ "code": code }))
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            StatusCode::OK,
            "enrolment refused: {:?}",
            r.text().await
        );
        let e: wire::EnrollResponse = r.json().await.unwrap();
        assert_eq!(e.store, store);
        Terminal {
            id: e.terminal_id,
            store,
            secret: hex::decode(e.secret).unwrap(),
        }
    }

    async fn post_signed(&self, t: &Terminal, body: Vec<u8>) -> (StatusCode, Value) {
        let h = wire::sign_request(
            &t.secret,
            &t.id,
            "POST",
            wire::EVENTS_PATH,
            &body,
            Utc::now(),
            &wire::new_nonce(&mut rand::thread_rng()),
        );
        self.post_with(body, &h.pairs()).await
    }

    async fn post_with(&self, body: Vec<u8>, headers: &[(&str, &str)]) -> (StatusCode, Value) {
        let mut req = self
            .http
            .post(format!("{}{}", self.base(), wire::EVENTS_PATH))
            .header("content-type", "application/json")
            .body(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let r = req.send().await.unwrap();
        let status = r.status();
        let text = r.text().await.unwrap();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    async fn post_events(&self, t: &Terminal, events: &[Event]) -> (StatusCode, Value) {
        let batch = EventBatch {
            events: events.to_vec(),
            outbox_remaining: None,
        };
        self.post_signed(t, serde_json::to_vec(&batch).unwrap())
            .await
    }

    async fn ack(&self, t: &Terminal, events: &[Event]) -> EventsAck {
        let (status, body) = self.post_events(t, events).await;
        assert_eq!(status, StatusCode::OK, "batch refused: {body}");
        serde_json::from_value(body).unwrap()
    }

    /// `GET /v1/relay?{query}`, signed by `t`.
    async fn relay(&self, t: &Terminal, query: &str) -> (StatusCode, Value) {
        let path = format!("{}?{query}", wire::RELAY_PATH);
        let h = wire::sign_request(
            &t.secret,
            &t.id,
            "GET",
            &path,
            b"",
            Utc::now(),
            &wire::new_nonce(&mut rand::thread_rng()),
        );
        let r = self.relay_with_headers(query, &h.pairs()).await;
        let status = r.status();
        let text = r.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// `GET /v1/relay?{query}` with exactly these headers.
    async fn relay_with_headers(&self, query: &str, headers: &[(&str, &str)]) -> reqwest::Response {
        let mut req = self
            .http
            .get(format!("{}{}?{query}", self.base(), wire::RELAY_PATH));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.send().await.unwrap()
    }

    /// What a channel does: post its notification for `terminal`.
    async fn notify(
        &self,
        terminal: &str,
        channel: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (StatusCode, String) {
        let mut req = self
            .http
            .post(format!("{}/v1/notify/{terminal}/{channel}", self.base()))
            .body(body.to_owned());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let r = req.send().await.unwrap();
        (r.status(), r.text().await.unwrap())
    }

    async fn admin_get(&self, path: &str) -> (StatusCode, String) {
        let r = self
            .http
            .get(format!("{}{path}", self.base()))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap())
    }

    async fn stored(&self, t: &Terminal) -> Vec<Event> {
        self.events(t.id.as_str()).await
    }
}

fn events(t: &Terminal, seqs: std::ops::RangeInclusive<u64>) -> Vec<Event> {
    let start = Utc.with_ymd_and_hms(2026, 11, 20, 1, 0, 0).unwrap();
    seqs.map(|seq| {
        let order = seq.div_ceil(2);
        let (kind, payload) = if seq % 2 == 1 {
            (
                "order_created",
                json!({"amount_fen": 100 * order, "channel": "cash"}),
            )
        } else {
            (
                "order_paid",
                json!({"amount_fen": 100 * order, "channel": "alipay"}),
            )
        };
        Event {
            seq,
            order_no: format!("{}_{order:06}", t.id),
            kind: kind.into(),
            payload: payload.as_object().unwrap().clone(),
            at: start + chrono::Duration::seconds(seq as i64 * 10),
            store: t.store.clone(),
            terminal: t.id.clone(),
        }
    })
    .collect()
}

fn code_of(body: &Value) -> &str {
    body["code"].as_str().unwrap_or("<no code>")
}

macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(super::TestDb::new(super::Backend::Sqlite).await).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name(super::TestDb::new(super::Backend::Postgres).await).await
            }
        }
    )*};
}

both_backends!(
    enrolment_code_is_single_use,
    enrolment_can_ask_for_the_terminals_own_id,
    same_batch_twice_is_stored_once,
    out_of_order_batches_and_gaps,
    different_content_for_a_stored_seq_is_a_conflict,
    a_row_stored_behind_the_servers_back_is_judged_not_stored_twice,
    week_offline_backlog_arrives,
    server_killed_mid_batch_and_restarted,
    connections_dropped_by_a_proxy,
    two_servers_share_one_database,
    unsigned_requests_are_refused,
    tampered_body_is_refused,
    unknown_terminal_looks_like_bad_signature,
    replayed_nonce_is_refused,
    stale_timestamp_is_refused,
    cross_terminal_events_are_refused,
    revoked_terminal_is_refused,
    notifications_are_relayed_to_their_terminal_only,
    the_relay_is_signed_like_everything_else,
    a_notification_kept_by_one_server_reaches_a_terminal_waiting_on_another,
    a_reader_following_its_cursor_misses_no_notice_posted_concurrently,
    notices_are_capped_per_terminal_not_by_global_ids,
    a_notice_body_over_the_limit_is_refused_before_it_is_read,
    a_notice_wakes_only_its_own_terminals_relay,
    junk_notices_hide_no_genuine_one_and_slow_no_other_terminal,
    daily_report_and_read_side,
    bad_input_is_a_clean_4xx,
    random_requests_never_5xx,
);

// ------------------------------------------------------------------ enrolment

async fn enrolment_code_is_single_use(db: TestDb) {
    let hq = Hq::start(db).await;
    let code = shouyin_hq::issue_enroll_code(
        hq.store.as_ref(),
        StoreCode::parse("SH01").unwrap(),
        Utc::now(),
    )
    .await
    .unwrap();
    // Eight terminals race for one code: exactly one wins.
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let http = hq.http.clone();
        let url = format!("{}{}", hq.base(), wire::ENROLL_PATH);
        let code = code.clone();
        tasks.push(tokio::spawn(async move {
            let r = http
                .post(url)
                .json(&json!({ "code": code }))
                .send()
                .await
                .unwrap();
            (r.status(), r.text().await.unwrap())
        }));
    }
    let mut won = Vec::new();
    for t in tasks {
        let (status, body) = t.await.unwrap();
        if status == StatusCode::OK {
            won.push(body);
        } else {
            assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
            assert!(body.contains("bad_enroll_code"), "{body}");
        }
    }
    assert_eq!(won.len(), 1, "one enrolment per code, got {won:?}");
    let e: wire::EnrollResponse = serde_json::from_str(&won[0]).unwrap();
    assert_eq!(e.store.as_str(), "SH01");
    assert_eq!(e.secret.len(), 64);
    // Later, with different spelling of the same code: still spent.
    let r = hq
        .http
        .post(format!("{}{}", hq.base(), wire::ENROLL_PATH))
        .json(&json!({ "code": code.to_lowercase() }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // A made-up code is refused the same way.
    let r = hq
        .http
        .post(format!("{}{}", hq.base(), wire::ENROLL_PATH))
        .json(&json!({ "code": "AAAAA-BBBBB-CCCCC-DDDDD" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // The secret works: a signed empty batch is accepted.
    let t = Terminal {
        id: e.terminal_id.clone(),
        store: e.store.clone(),
        secret: hex::decode(&e.secret).unwrap(),
    };
    assert_eq!(hq.ack(&t, &[]).await.acked_seq, 0);
    let (_, list) = hq.admin_get("/v1/terminals").await;
    let list: wire::TerminalList = serde_json::from_str(&list).unwrap();
    assert_eq!(list.terminals.len(), 1);
    assert_eq!(list.terminals[0].id, e.terminal_id);
    // The database never holds the secret.
    assert!(!hq.db.url.contains(&e.secret));
}

async fn enrolment_can_ask_for_the_terminals_own_id(db: TestDb) {
    let hq = Hq::start(db).await;
    let url = format!("{}{}", hq.base(), wire::ENROLL_PATH);
    let code = || async {
        shouyin_hq::issue_enroll_code(
            hq.store.as_ref(),
            StoreCode::parse("SH01").unwrap(),
            Utc::now(),
        )
        .await
        .unwrap()
    };
    let first = code().await;
    let r = hq
        .http
        .post(&url)
        .json(&json!({ "code": first, "terminal_id": "T01" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let e: wire::EnrollResponse = r.json().await.unwrap();
    assert_eq!(e.terminal_id.as_str(), "T01");
    // The same id again is refused, and that code is not spent.
    let second = code().await;
    let r = hq
        .http
        .post(&url)
        .json(&json!({ "code": second, "terminal_id": "T01" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(r.text().await.unwrap().contains("terminal_id_taken"));
    let r = hq
        .http
        .post(&url)
        .json(&json!({ "code": second, "terminal_id": "T02" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

// -------------------------------------------------------------- exactly once

async fn same_batch_twice_is_stored_once(db: TestDb) {
    let hq = Hq::start(db).await;
    let t = hq.enroll("SH01").await;
    let batch = events(&t, 1..=10);
    let first = hq.ack(&t, &batch).await;
    assert_eq!(
        (first.stored, first.duplicates, first.acked_seq),
        (10, 0, 10)
    );
    let second = hq.ack(&t, &batch).await;
    assert_eq!(
        (second.stored, second.duplicates, second.acked_seq),
        (0, 10, 10)
    );
    assert_eq!(hq.stored(&t).await, batch);
    // The same content with keys in another order is the same event.
    let body = serde_json::to_string(&EventBatch {
        events: batch[..1].to_vec(),
        outbox_remaining: None,
    })
    .unwrap()
    .replace(
        r#"{"amount_fen":100,"channel":"cash"}"#,
        r#"{"channel":"cash","amount_fen":100}"#,
    );
    let (status, v) = hq.post_signed(&t, body.into_bytes()).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["duplicates"], 1);
}

async fn out_of_order_batches_and_gaps(db: TestDb) {
    let hq = Hq::start(db).await;
    let t = hq.enroll("SH01").await;
    let all = events(&t, 1..=30);
    let a = hq.ack(&t, &all[20..30]).await;
    assert_eq!(a.acked_seq, 0);
    assert_eq!(
        (a.missing_from, a.missing_to, a.highest_seq),
        (Some(1), Some(20), 30)
    );
    let a = hq.ack(&t, &all[0..5]).await;
    assert_eq!(
        (a.acked_seq, a.missing_from, a.missing_to),
        (5, Some(6), Some(20))
    );
    // A batch in reverse order with a repeat inside it.
    let mut mixed: Vec<Event> = all[5..15].iter().rev().cloned().collect();
    mixed.push(all[7].clone());
    let a = hq.ack(&t, &mixed).await;
    assert_eq!((a.stored, a.duplicates), (10, 1));
    assert_eq!(
        (a.acked_seq, a.missing_from, a.missing_to),
        (15, Some(16), Some(20))
    );
    let a = hq.ack(&t, &all[15..20]).await;
    assert_eq!((a.acked_seq, a.missing_from, a.highest_seq), (30, None, 30));
    assert_eq!(hq.stored(&t).await, all);
}

async fn different_content_for_a_stored_seq_is_a_conflict(db: TestDb) {
    let hq = Hq::start(db).await;
    let t = hq.enroll("SH01").await;
    let original = events(&t, 1..=3);
    hq.ack(&t, &original).await;
    let mut changed = original.clone();
    changed[1]
        .payload
        .insert("amount_fen".into(), json!(999_999));
    changed.extend(events(&t, 4..=4));
    let (status, body) = hq.post_events(&t, &changed).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let ack: EventsAck = serde_json::from_value(body).unwrap();
    assert_eq!(ack.conflicts, vec![2]);
    assert_eq!((ack.stored, ack.duplicates, ack.acked_seq), (1, 2, 4));
    let stored = hq.stored(&t).await;
    assert_eq!(
        stored[1], original[1],
        "a conflicting repeat must not overwrite"
    );
    let (_, metrics) = hq.admin_get("/metrics").await;
    assert!(
        metrics.contains("shouyin_hq_events_conflict_total 1"),
        "{metrics}"
    );
}

/// Write one event row straight into the database, past the terminal's
/// recorded high-water mark: what no request can do, and what the fast
/// path for fresh rows must still survive.
async fn insert_behind_the_servers_back(url: &str, t: &Terminal, seq: i64) {
    let sql = "INSERT INTO events (terminal, seq, store, order_no, kind, payload, at, at_ms, digest, received_ms) \
               VALUES ($1, $2, $3, 'X', 'order_created', '{}', '2026-11-21T01:00:00Z', 0, 'not-the-digest', 0)";
    if let Some(path) = url.strip_prefix("sqlite://") {
        let conn = rusqlite::Connection::open(path).unwrap();
        conn.execute(
            &sql.replace('$', "?"),
            rusqlite::params![t.id.as_str(), seq, t.store.as_str()],
        )
        .unwrap();
    } else {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        client
            .execute(sql, &[&t.id.as_str(), &seq, &t.store.as_str()])
            .await
            .unwrap();
    }
}

async fn a_row_stored_behind_the_servers_back_is_judged_not_stored_twice(db: TestDb) {
    let url = db.url.clone();
    let hq = Hq::start(db).await;
    let t = hq.enroll("SH01").await;
    hq.ack(&t, &events(&t, 1..=2)).await;
    insert_behind_the_servers_back(&url, &t, 4).await;
    let (status, body) = hq.post_events(&t, &events(&t, 3..=5)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let ack: EventsAck = serde_json::from_value(body).unwrap();
    assert_eq!(ack.conflicts, vec![4]);
    assert_eq!((ack.stored, ack.duplicates, ack.acked_seq), (2, 0, 5));
    let stored = hq.stored(&t).await;
    assert_eq!(stored.len(), 5, "each sequence once");
    assert_eq!(stored[3].order_no, "X", "the stored row is not overwritten");
}

async fn week_offline_backlog_arrives(db: TestDb) {
    let hq = Hq::start(db).await;
    let t = hq.enroll("SH01").await;
    let backlog = events(&t, 1..=30_000);
    let mut remaining = backlog.len() as u64;
    let mut acked = 0;
    for chunk in backlog.chunks(1_000) {
        remaining -= chunk.len() as u64;
        let body = serde_json::to_vec(&EventBatch {
            events: chunk.to_vec(),
            outbox_remaining: Some(remaining),
        })
        .unwrap();
        let (status, v) = hq.post_signed(&t, body).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        assert!(
            v["acked_seq"].as_u64().unwrap() > acked,
            "cursor moves forward"
        );
        acked = v["acked_seq"].as_u64().unwrap();
    }
    assert_eq!(acked, 30_000);
    let stored = hq.stored(&t).await;
    assert_eq!(stored.len(), 30_000);
    assert!(stored == backlog, "stored events differ from the backlog");
    let (_, list) = hq.admin_get("/v1/terminals").await;
    let list: wire::TerminalList = serde_json::from_str(&list).unwrap();
    assert_eq!(list.terminals[0].acked_seq, 30_000);
    assert_eq!(list.terminals[0].outbox_remaining, Some(0));
    assert!(list.terminals[0].last_sync_at.is_some());
}

// ---------------------------------------------------------------- failures

async fn server_killed_mid_batch_and_restarted(db: TestDb) {
    let mut hq = Hq::start(db).await;
    let t = hq.enroll("SH01").await;
    let all = events(&t, 1..=20_000);
    // Kill the server at different moments while a 5,000-event batch is in
    // flight, restarting it on the same database each time.
    for (round, delay_ms) in [2u64, 25, 80, 200].into_iter().enumerate() {
        let chunk = all[round * 5_000..(round + 1) * 5_000].to_vec();
        let body = serde_json::to_vec(&EventBatch {
            events: chunk,
            outbox_remaining: None,
        })
        .unwrap();
        let h = wire::sign_request(
            &t.secret,
            &t.id,
            "POST",
            wire::EVENTS_PATH,
            &body,
            Utc::now(),
            &wire::new_nonce(&mut rand::thread_rng()),
        );
        let mut req = hq
            .http
            .post(format!("{}{}", hq.base(), wire::EVENTS_PATH))
            .body(body);
        for (k, v) in h.pairs() {
            req = req.header(k, v);
        }
        let in_flight = tokio::spawn(req.send());
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        hq.restart().await;
        let _ = in_flight.await.unwrap();
    }
    // And once with only half of the body sent when the server dies.
    let body = serde_json::to_vec(&EventBatch {
        events: all[..5_000].to_vec(),
        outbox_remaining: None,
    })
    .unwrap();
    let h = wire::sign_request(
        &t.secret,
        &t.id,
        "POST",
        wire::EVENTS_PATH,
        &body,
        Utc::now(),
        &wire::new_nonce(&mut rand::thread_rng()),
    );
    let mut raw = TcpStream::connect(hq.server.addr).await.unwrap();
    let mut head = format!(
        "POST {} HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
        wire::EVENTS_PATH,
        hq.server.addr,
        body.len()
    );
    for (k, v) in h.pairs() {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    raw.write_all(head.as_bytes()).await.unwrap();
    raw.write_all(&body[..body.len() / 2]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    hq.restart().await;
    drop(raw);

    // The terminal resends everything after what head office acknowledged.
    let (_, list) = hq.admin_get("/v1/terminals").await;
    let list: wire::TerminalList = serde_json::from_str(&list).unwrap();
    let mut acked = list.terminals[0].acked_seq;
    while acked < 20_000 {
        let from = acked as usize;
        let to = (from + 5_000).min(all.len());
        let a = hq.ack(&t, &all[from..to]).await;
        assert!(a.conflicts.is_empty());
        assert!(
            a.acked_seq >= to as u64,
            "after resending up to {to}, acked is {}",
            a.acked_seq
        );
        acked = a.acked_seq;
    }
    let stored = hq.stored(&t).await;
    assert_eq!(stored.len(), all.len(), "each event stored once");
    assert!(
        stored == all,
        "stored events are exactly the terminal's, in order"
    );
}

/// What the proxy does to one connection.
#[derive(Clone, Copy, Debug)]
enum Cut {
    Pass,
    /// Close both sides after this many request bytes went up.
    Request(usize),
    /// Forward the whole request, then close after this many response bytes.
    Response(usize),
}

/// Copy `from` to `to` until either side ends or `limit` bytes went over.
async fn pump(
    from: &mut (impl tokio::io::AsyncRead + Unpin),
    to: &mut (impl tokio::io::AsyncWrite + Unpin),
    limit: usize,
) {
    let mut buf = vec![0u8; 16 * 1024];
    let mut sent = 0usize;
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let n = n.min(limit - sent);
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
        sent += n;
        if sent >= limit {
            return;
        }
    }
}

/// A TCP proxy that drops connections according to a plan, one cut per
/// accepted connection (then passes everything once the plan runs out).
async fn start_proxy(upstream: SocketAddr, plan: Vec<Cut>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let plan = Arc::new(Mutex::new(VecDeque::from(plan)));
    tokio::spawn(async move {
        loop {
            let Ok((client, _)) = listener.accept().await else {
                return;
            };
            let cut = plan.lock().unwrap().pop_front().unwrap_or(Cut::Pass);
            tokio::spawn(async move {
                let Ok(server) = TcpStream::connect(upstream).await else {
                    return;
                };
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                let (up_limit, down_limit) = match cut {
                    Cut::Pass => (usize::MAX, usize::MAX),
                    Cut::Request(n) => (n, usize::MAX),
                    Cut::Response(n) => (usize::MAX, n),
                };
                let up = pump(&mut cr, &mut sw, up_limit);
                let down = pump(&mut sr, &mut cw, down_limit);
                // Whichever side ends first, both sockets are dropped.
                tokio::select! { _ = up => {}, _ = down => {} }
            });
        }
    });
    addr
}

async fn connections_dropped_by_a_proxy(db: TestDb) {
    let hq = Hq::start(db).await;
    let t = hq.enroll("SH01").await;
    let all = events(&t, 1..=6_000);
    let mut plan = Vec::new();
    for i in 0..40usize {
        plan.push(match i % 4 {
            0 => Cut::Request(300 + i * 1_237),
            1 => Cut::Response(0),
            2 => Cut::Response(20),
            _ => Cut::Pass,
        });
    }
    let proxy = start_proxy(hq.server.addr, plan).await;
    // No pooling: every attempt is a new connection through the proxy.
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let mut acked = 0u64;
    let mut attempts = 0;
    let mut failures = 0;
    while acked < all.len() as u64 {
        attempts += 1;
        assert!(attempts < 200, "no progress through the proxy");
        let from = acked as usize;
        let to = (from + 500).min(all.len());
        let body = serde_json::to_vec(&EventBatch {
            events: all[from..to].to_vec(),
            outbox_remaining: None,
        })
        .unwrap();
        let h = wire::sign_request(
            &t.secret,
            &t.id,
            "POST",
            wire::EVENTS_PATH,
            &body,
            Utc::now(),
            &wire::new_nonce(&mut rand::thread_rng()),
        );
        let mut req = http
            .post(format!("http://{proxy}{}", wire::EVENTS_PATH))
            .body(body);
        for (k, v) in h.pairs() {
            req = req.header(k, v);
        }
        let result = async {
            req.send()
                .await?
                .error_for_status()?
                .json::<EventsAck>()
                .await
        }
        .await;
        match result {
            Ok(a) => {
                assert!(a.conflicts.is_empty());
                acked = a.acked_seq;
            }
            Err(_) => failures += 1,
        }
    }
    assert!(
        failures >= 20,
        "the proxy should have broken many attempts, broke {failures}"
    );
    let stored = hq.stored(&t).await;
    assert!(
        stored == all,
        "every event once, in order, despite {failures} broken connections"
    );
}

async fn two_servers_share_one_database(db: TestDb) {
    let hq = Hq::start(db).await;
    // A second server process on the same database and sealing key.
    let other = TestServer::start(&hq.db.url, &hq.key, shouyin_hq::DEFAULT_BODY_LIMIT).await;
    let t = hq.enroll("SH01").await;
    let all = events(&t, 1..=8_000);
    // Sixteen batches at once, out of order, spread over both servers.
    let mut tasks = Vec::new();
    for (i, chunk) in all.chunks(500).enumerate().rev() {
        let addr = if i % 2 == 0 {
            hq.server.addr
        } else {
            other.addr
        };
        let body = serde_json::to_vec(&EventBatch {
            events: chunk.to_vec(),
            outbox_remaining: None,
        })
        .unwrap();
        let h = wire::sign_request(
            &t.secret,
            &t.id,
            "POST",
            wire::EVENTS_PATH,
            &body,
            Utc::now(),
            &wire::new_nonce(&mut rand::thread_rng()),
        );
        let mut req = hq
            .http
            .post(format!("http://{addr}{}", wire::EVENTS_PATH))
            .body(body);
        for (k, v) in h.pairs() {
            req = req.header(k, v);
        }
        tasks.push(tokio::spawn(async move {
            let r = req.send().await.unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            r.json::<EventsAck>().await.unwrap()
        }));
    }
    let mut best = 0;
    for task in tasks {
        best = best.max(task.await.unwrap().acked_seq);
    }
    assert_eq!(best, 8_000, "the last batch to commit sees every other one");
    assert!(hq.stored(&t).await == all);
    // A nonce used at one server is refused at the other.
    let body = b"{\"events\":[]}".to_vec();
    let h = wire::sign_request(
        &t.secret,
        &t.id,
        "POST",
        wire::EVENTS_PATH,
        &body,
        Utc::now(),
        &wire::new_nonce(&mut rand::thread_rng()),
    );
    let (status, _) = hq.post_with(body.clone(), &h.pairs()).await;
    assert_eq!(status, StatusCode::OK);
    let mut req = hq
        .http
        .post(format!("http://{}{}", other.addr, wire::EVENTS_PATH))
        .body(body);
    for (k, v) in h.pairs() {
        req = req.header(k, v);
    }
    let r = req.send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.text().await.unwrap().contains("replayed_nonce"));
}

// ---------------------------------------------------------------- security

async fn unsigned_requests_are_refused(db: TestDb) {
    let hq = Hq::start(db).await;
    let t = hq.enroll("SH01").await;
    let body = serde_json::to_vec(&EventBatch {
        events: events(&t, 1..=1),
        outbox_remaining: None,
    })
    .unwrap();
    let (status, v) = hq.post_with(body.clone(), &[]).await;
    assert_eq!(
        (status, code_of(&v)),
        (StatusCode::UNAUTHORIZED, "auth_missing")
    );
    let h = wire::sign_request(
        &t.secret,
        &t.id,
        "POST",
        wire::EVENTS_PATH,
        &body,
        Utc::now(),
        &wire::new_nonce(&mut rand::thread_rng()),
    );
    let mut pairs = h.pairs().to_vec();
    pairs.retain(|(k, _)| *k != wire::HEADER_SIGNATURE);
    let (status, v) = hq.post_with(body.clone(), &pairs).await;
    assert_eq!(
        (status, code_of(&v)),
        (StatusCode::UNAUTHORIZED, "auth_missing")
    );
    let mut pairs = h.pairs().to_vec();
    pairs[1] = (wire::HEADER_TIMESTAMP, "yesterday");
    let (status, v) = hq.post_with(body.clone(), &pairs).await;
    assert_eq!(
        (status, code_of(&v)),
        (StatusCode::UNAUTHORIZED, "auth_malformed")
    );
    let mut pairs = h.pairs().to_vec();
    pairs[3] = (wire::HEADER_SIGNATURE, "not-hex");
    let (status, v) = hq.post_with(body, &pairs).await;
    assert_eq!(
        (status, code_of(&v)),
        (StatusCode::UNAUTHORIZED, "auth_malformed")
    );
    assert!(hq.stored(&t).await.is_empty());
}

async fn tampered_body_is_refused(db: TestDb) {
    let hq = Hq::start(db).await;
    let t = hq.enroll("SH01").await;
    let body = serde_json::to_vec(&EventBatch {
        events: events(&t, 1..=2),
        outbox_remaining: None,
    })
    .unwrap();
    let h = wire::sign_request(
        &t.secret,
        &t.id,
        "POST",
        wire::EVENTS_PATH,
        &body,
        Utc::now(),
        &wire::new_nonce(&mut rand::thread_rng()),
    );
    let original = String::from_utf8(body).unwrap();
    let tampered = original.replacen("\"amount_fen\":100", "\"amount_fen\":10000", 1);
    assert_ne!(tampered, original);
    let (status, v) = hq.post_with(tampered.into_bytes(), &h.pairs()).await;
    assert_eq!(
        (status, code_of(&v)),
        (StatusCode::UNAUTHORIZED, "bad_signature")
    );
    // Signed with the wrong secret.
    let wrong = Terminal {
        id: t.id.clone(),
        store: t.store.clone(),
        secret: vec![7; 32],
    };
    let (status, v) = hq.post_events(&wrong, &events(&t, 1..=1)).await;
    assert_eq!(
        (status, code_of(&v)),
        (StatusCode::UNAUTHORIZED, "bad_signature")
    );
    assert!(hq.stored(&t).await.is_empty());
    let (_, metrics) = hq.admin_get("/metrics").await;
    assert!(
        metrics.contains("shouyin_hq_rejections_total{reason=\"bad_signature\"} 2"),
        "{metrics}"
    );
}

async fn unknown_terminal_looks_like_bad_signature(db: TestDb) {
    let hq = Hq::start(db).await;
    let t = hq.enroll("SH01").await;
    let wrong_sig = Terminal {
        id: t.id.clone(),
        store: t.store.clone(),
        secret: vec![1; 32],
    };
    let ghost = Terminal {
        id: TerminalId::parse("TNOBODY1").unwrap(),
        store: t.store.clone(),
        secret: vec![1; 32],
    };
    let (s1, b1) = hq.post_events(&wrong_sig, &[]).await;
    let (s2, b2) = hq.post_events(&ghost, &[]).await;
    assert_eq!(s1, s2);
    assert_eq!(
        b1, b2,
        "an unknown terminal and a bad signature must answer alike"
    );
    assert_eq!(code_of(&b1), "bad_signature");
}

async fn replayed_nonce_is_refused(db: TestDb) {
    let hq = Hq::start(db).await;
    let t = hq.enroll("SH01").await;
    let body = serde_json::to_vec(&EventBatch {
        events: events(&t, 1..=2),
        outbox_remaining: None,
    })
    .unwrap();
    let h = wire::sign_request(
        &t.secret,
        &t.id,
        "POST",
        wire::EVENTS_PATH,
        &body,
        Utc::now(),
        &wire::new_nonce(&mut rand::thread_rng()),
    );
    let (status, _) = hq.post_with(body.clone(), &h.pairs()).await;
    assert_eq!(status, StatusCode::OK);
    let (status, v) = hq.post_with(body.clone(), &h.pairs()).await;
    assert_eq!(
        (status, code_of(&v)),
        (StatusCode::UNAUTHORIZED, "replayed_nonce")
    );
    // The nonce lives in the database: a restarted server still refuses it.
    let mut hq = hq;
    hq.restart().await;
    let (status, v) = hq.post_with(body, &h.pairs()).await;
    assert_eq!(
        (status, code_of(&v)),
        (StatusCode::UNAUTHORIZED, "replayed_nonce")
    );
}

async fn stale_timestamp_is_refused(db: TestDb) {
    let hq = Hq::start(db).await;
    let t = hq.enroll("SH01").await;
    let body = serde_json::to_vec(&EventBatch {
        events: events(&t, 1..=1),
        outbox_remaining: None,
    })
    .unwrap();
    for skew in [-301i64, 301, -3600] {
        let at = Utc::now() + chrono::Duration::seconds(skew);
        let h = wire::sign_request(
            &t.secret,
            &t.id,
            "POST",
            wire::EVENTS_PATH,
            &body,
            at,
            &wire::new_nonce(&mut rand::thread_rng()),
        );
        let (status, v) = hq.post_with(body.clone(), &h.pairs()).await;
        assert_eq!(
            (status, code_of(&v)),
            (StatusCode::UNAUTHORIZED, "stale_timestamp"),
            "skew {skew}"
        );
    }
    let at = Utc::now() - chrono::Duration::seconds(240);
    let h = wire::sign_request(
        &t.secret,
        &t.id,
        "POST",
        wire::EVENTS_PATH,
        &body,
        at,
        &wire::new_nonce(&mut rand::thread_rng()),
    );
    let (status, _) = hq.post_with(body, &h.pairs()).await;
    assert_eq!(status, StatusCode::OK, "four minutes of skew is accepted");
}

async fn cross_terminal_events_are_refused(db: TestDb) {
    let hq = Hq::start(db).await;
    let a = hq.enroll("SH01").await;
    let b = hq.enroll("SH01").await;
    let other_store = hq.enroll("BJ02").await;
    // A writes events that claim to be B's.
    let (status, v) = hq.post_events(&a, &events(&b, 1..=2)).await;
    assert_eq!(
        (status, code_of(&v)),
        (StatusCode::FORBIDDEN, "foreign_event")
    );
    // A writes its own terminal id with another store.
    let mut ev = events(&a, 1..=1);
    ev[0].store = other_store.store.clone();
    let (status, v) = hq.post_events(&a, &ev).await;
    assert_eq!(
        (status, code_of(&v)),
        (StatusCode::FORBIDDEN, "foreign_event")
    );
    assert!(hq.stored(&a).await.is_empty());
    assert!(hq.stored(&b).await.is_empty());
}

async fn revoked_terminal_is_refused(db: TestDb) {
    let hq = Hq::start(db).await;
    let t = hq.enroll("SH01").await;
    hq.ack(&t, &events(&t, 1..=2)).await;
    assert!(
        shouyin_hq::revoke_terminal(hq.store.as_ref(), t.id.clone(), Utc::now())
            .await
            .unwrap()
    );
    let (status, v) = hq.post_events(&t, &events(&t, 3..=4)).await;
    assert_eq!(
        (status, code_of(&v)),
        (StatusCode::FORBIDDEN, "terminal_revoked")
    );
    assert_eq!(hq.stored(&t).await.len(), 2);
    assert!(!shouyin_hq::revoke_terminal(
        hq.store.as_ref(),
        TerminalId::parse("TNONE").unwrap(),
        Utc::now()
    )
    .await
    .unwrap());
    let (_, list) = hq.admin_get("/v1/terminals").await;
    assert!(list.contains("\"revoked\":true"), "{list}");
}

// ---------------------------------------------------------------- relay

const WECHAT_NOTICE: &str =
    r#"{"id":"EV-1","event_type":"TRANSACTION.SUCCESS","resource":{"ciphertext":"abc"}}"#;

async fn notifications_are_relayed_to_their_terminal_only(db: TestDb) {
    let hq = Arc::new(Hq::start(db).await);
    let a = hq.enroll("SH01").await;
    let b = hq.enroll("SH01").await;
    let (status, v) = hq.relay(&a, "after=0").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v, json!({"notices": [], "next_after": 0}));

    // A waiting terminal hears of a notification the moment it is kept.
    let waiting = {
        let hq = hq.clone();
        let a = Terminal {
            id: a.id.clone(),
            store: a.store.clone(),
            secret: a.secret.clone(),
        };
        tokio::spawn(async move {
            let started = Instant::now();
            let answer = hq.relay(&a, "after=0&wait=20").await;
            (answer, started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let signed_headers = [
        ("wechatpay-timestamp", "1700000000"),
        ("wechatpay-nonce", "n0nce"),
        ("wechatpay-signature", "c2lnbmF0dXJl"),
        ("wechatpay-serial", "PUB_KEY_ID_0001"),
        ("content-type", "application/json"),
        ("x-forwarded-for", "10.0.0.9"),
    ];
    let (status, text) = hq
        .notify(a.id.as_str(), "wechat", &signed_headers, WECHAT_NOTICE)
        .await;
    assert_eq!((status, text.as_str()), (StatusCode::NO_CONTENT, ""));
    let ((status, v), waited) = waiting.await.unwrap();
    assert_eq!(status, StatusCode::OK, "{v}");
    assert!(waited < Duration::from_secs(5), "answered after {waited:?}");
    let answer: wire::RelayAnswer = serde_json::from_value(v).unwrap();
    assert_eq!(answer.notices.len(), 1);
    let notice = &answer.notices[0];
    assert_eq!(notice.channel, "wechat");
    assert_eq!(notice.body, WECHAT_NOTICE);
    let names: Vec<&str> = notice.headers.iter().map(|(n, _)| n.as_str()).collect();
    assert!(names.contains(&"wechatpay-signature") && names.contains(&"wechatpay-serial"));
    assert!(
        !names.contains(&"x-forwarded-for"),
        "only signed headers are kept"
    );
    assert_eq!(answer.next_after, notice.id);

    // Alipay expects the word success; the terminal asks from its cursor.
    let form = "out_trade_no=T1_1&trade_status=TRADE_SUCCESS&sign=abc";
    let (status, text) = hq
        .notify(
            a.id.as_str(),
            "alipay",
            &[("content-type", "application/x-www-form-urlencoded")],
            form,
        )
        .await;
    assert_eq!((status, text.as_str()), (StatusCode::OK, "success"));
    let (_, v) = hq.relay(&a, &format!("after={}", answer.next_after)).await;
    let next: wire::RelayAnswer = serde_json::from_value(v).unwrap();
    assert_eq!(next.notices.len(), 1);
    assert_eq!(
        (
            next.notices[0].channel.as_str(),
            next.notices[0].body.as_str()
        ),
        ("alipay", form)
    );

    // Nothing for the other terminal; unknown and revoked terminals are
    // answered as received (so the channel stops) and nothing is kept.
    let (_, v) = hq.relay(&b, "after=0").await;
    assert_eq!(v["notices"], json!([]));
    let (status, _) = hq
        .notify("TNONE", "wechat", &signed_headers, WECHAT_NOTICE)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    shouyin_hq::revoke_terminal(hq.store.as_ref(), b.id.clone(), Utc::now())
        .await
        .unwrap();
    let (status, _) = hq
        .notify(b.id.as_str(), "wechat", &signed_headers, WECHAT_NOTICE)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, metrics) = hq.admin_get("/metrics").await;
    assert!(
        metrics.contains("shouyin_hq_notices_relayed_total 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("shouyin_hq_notices_dropped_total 2"),
        "{metrics}"
    );
    let (status, v) = hq.relay(&b, "after=0").await;
    assert_eq!(
        (status, code_of(&v)),
        (StatusCode::FORBIDDEN, "terminal_revoked")
    );

    // Bad input: an unknown channel, a malformed terminal id, a huge body.
    let (status, _) = hq.notify(a.id.as_str(), "paypal", &[], "x").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = hq.notify("no such id!", "wechat", &[], "x").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = hq
        .notify(a.id.as_str(), "wechat", &[], &"x".repeat(65 * 1024))
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
}

async fn a_notification_kept_by_one_server_reaches_a_terminal_waiting_on_another(db: TestDb) {
    let hq = Arc::new(Hq::start(db).await);
    let other = TestServer::start(&hq.db.url, &hq.key, shouyin_hq::DEFAULT_BODY_LIMIT).await;
    let t = hq.enroll("SH01").await;
    let waiting = {
        let hq = hq.clone();
        let t = Terminal {
            id: t.id.clone(),
            store: t.store.clone(),
            secret: t.secret.clone(),
        };
        tokio::spawn(async move {
            let started = Instant::now();
            (hq.relay(&t, "after=0&wait=20").await, started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The channel happens to reach the other server process.
    let r = hq
        .http
        .post(format!("http://{}/v1/notify/{}/wechat", other.addr, t.id))
        .body(WECHAT_NOTICE)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let posted = Instant::now();
    let ((status, v), _) = waiting.await.unwrap();
    let heard = posted.elapsed();
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["notices"][0]["body"], json!(WECHAT_NOTICE));
    assert!(heard < Duration::from_secs(3), "heard after {heard:?}");
}

async fn a_reader_following_its_cursor_misses_no_notice_posted_concurrently(db: TestDb) {
    let hq = Arc::new(Hq::start(db).await);
    let other = TestServer::start(&hq.db.url, &hq.key, shouyin_hq::DEFAULT_BODY_LIMIT).await;
    let t = hq.enroll("SH01").await;
    const POSTED: usize = 60;
    let reader = {
        let hq = hq.clone();
        let t = Terminal {
            id: t.id.clone(),
            store: t.store.clone(),
            secret: t.secret.clone(),
        };
        tokio::spawn(async move {
            let mut after = 0u64;
            let mut seen = std::collections::BTreeSet::new();
            let started = Instant::now();
            while seen.len() < POSTED && started.elapsed() < Duration::from_secs(30) {
                let (status, v) = hq.relay(&t, &format!("after={after}&wait=2")).await;
                assert_eq!(status, StatusCode::OK, "{v}");
                let answer: wire::RelayAnswer = serde_json::from_value(v).unwrap();
                seen.extend(answer.notices.iter().map(|n| n.body.clone()));
                after = answer.next_after;
            }
            seen
        })
    };
    // Two server processes take the channel's posts at the same time, from
    // several of the channel's addresses (one address may post only so many
    // for one terminal at once).
    let senders: Vec<reqwest::Client> = (1..=4u8)
        .map(|n| {
            reqwest::Client::builder()
                .local_address(std::net::IpAddr::from([127, 0, 0, n]))
                .build()
                .unwrap()
        })
        .collect();
    let mut posts = Vec::new();
    for i in 0..POSTED {
        let addr = if i % 2 == 0 {
            hq.server.addr
        } else {
            other.addr
        };
        let url = format!("http://{addr}/v1/notify/{}/wechat", t.id);
        let http = senders[(i / 2) % senders.len()].clone();
        posts.push(tokio::spawn(async move {
            let r = http
                .post(url)
                .body(format!("notice {i}"))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::NO_CONTENT);
        }));
    }
    for p in posts {
        p.await.unwrap();
    }
    let seen = reader.await.unwrap();
    assert_eq!(seen.len(), POSTED, "the reader missed some: saw {seen:?}");
}

async fn notices_are_capped_per_terminal_not_by_global_ids(db: TestDb) {
    let hq = Hq::start(db).await;
    let a = hq.enroll("SH01").await;
    let b = hq.enroll("SH01").await;
    let add = |t: &Terminal, body: String| {
        let now = Utc::now();
        hq.store.add_notice(store::NewNotice {
            terminal: t.id.clone(),
            channel: "wechat".into(),
            headers: "[]".into(),
            body,
            now,
            forget_before: now - chrono::Duration::hours(24),
            keep_at_most: 3,
        })
    };
    add(&a, "a1".into()).await.unwrap().expect("kept");
    for i in 0..10 {
        add(&b, format!("b{i}")).await.unwrap().expect("kept");
    }
    add(&a, "a2".into()).await.unwrap().expect("kept");
    let bodies = |rows: Vec<store::NoticeRow>| rows.into_iter().map(|r| r.body).collect::<Vec<_>>();
    let of_a = bodies(hq.store.notices_after(a.id.clone(), 0, 100).await.unwrap());
    assert_eq!(
        of_a,
        ["a1", "a2"],
        "another terminal's notices must not push this one's out"
    );
    let of_b = bodies(hq.store.notices_after(b.id.clone(), 0, 100).await.unwrap());
    assert_eq!(of_b, ["b7", "b8", "b9"], "the newest three of b are kept");
}

/// Read an HTTP/1.1 answer's status line and headers off a raw stream.
async fn read_status(stream: &mut (impl tokio::io::AsyncRead + Unpin)) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte).await {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&head)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

async fn a_notice_body_over_the_limit_is_refused_before_it_is_read(db: TestDb) {
    let hq = Hq::start(db).await;
    let t = hq.enroll("SH01").await;
    let request_head = |framing: &str| {
        format!(
            "POST /v1/notify/{}/wechat HTTP/1.1\r\nhost: hq\r\ncontent-type: application/json\r\n{framing}\r\n\r\n",
            t.id
        )
    };

    // A declared length over the limit: answered at once, no body awaited.
    let mut stream = TcpStream::connect(hq.server.addr).await.unwrap();
    stream
        .write_all(request_head("content-length: 1000000").as_bytes())
        .await
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(5), read_status(&mut stream))
        .await
        .expect("a 1 MB content-length must be refused without waiting for the body");
    assert!(status.starts_with("HTTP/1.1 413"), "{status}");

    // A chunked body with no end: refused after about the limit, with the
    // rest never read. A small send buffer keeps what the kernel holds in
    // flight small, so the count of bytes written says what was read.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_send_buffer_size(64 * 1024).unwrap();
    let stream = socket.connect(hq.server.addr).await.unwrap();
    let (mut rd, mut wr) = stream.into_split();
    let answered = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let answered = answered.clone();
        let head = request_head("transfer-encoding: chunked");
        tokio::spawn(async move {
            let chunk = format!("{:x}\r\n{}\r\n", 16 * 1024, "x".repeat(16 * 1024));
            let mut written = 0usize;
            if wr.write_all(head.as_bytes()).await.is_err() {
                return written;
            }
            // At most 64 MiB, so a server that reads it all ends the test too.
            while written < 64 * 1024 * 1024 && !answered.load(std::sync::atomic::Ordering::SeqCst)
            {
                if wr.write_all(chunk.as_bytes()).await.is_err() {
                    break;
                }
                written += 16 * 1024;
            }
            written
        })
    };
    let status = tokio::time::timeout(Duration::from_secs(30), read_status(&mut rd))
        .await
        .expect("an endless chunked body must be refused");
    answered.store(true, std::sync::atomic::Ordering::SeqCst);
    let written = writer.await.unwrap();
    println!("chunked notice refused after {written} bytes were written");
    assert!(status.starts_with("HTTP/1.1 413"), "{status}");
    assert!(
        written < 4 * 1024 * 1024,
        "the server read {written} bytes of a body limited to 64 KiB"
    );
}

fn metric(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
}

async fn a_notice_wakes_only_its_own_terminals_relay(db: TestDb) {
    let hq = Arc::new(Hq::start(db).await);
    let a = hq.enroll("SH01").await;
    let b = Arc::new(hq.enroll("SH01").await);
    let waiting_b = {
        let hq = hq.clone();
        let b = b.clone();
        tokio::spawn(async move { hq.relay(&b, "after=0&wait=2").await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    for i in 0..5 {
        let (status, _) = hq
            .notify(a.id.as_str(), "wechat", &[], &format!("for a {i}"))
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
    }
    let (status, v) = waiting_b.await.unwrap();
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["notices"], json!([]));
    let (_, text) = hq.admin_get("/metrics").await;
    assert_eq!(
        metric(&text, "shouyin_hq_relay_wakeups_total"),
        Some(0),
        "b's waiting relay must sleep through a's notices: {text}"
    );
    // a's own waiter is woken.
    let waiting_a = {
        let hq = hq.clone();
        let a = Terminal {
            id: a.id.clone(),
            store: a.store.clone(),
            secret: a.secret.clone(),
        };
        tokio::spawn(async move { hq.relay(&a, "after=1000000&wait=10").await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, _) = hq.notify(a.id.as_str(), "wechat", &[], "for a 5").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, text) = hq.admin_get("/metrics").await;
    let _ = waiting_a.await.unwrap();
    assert_eq!(
        metric(&text, "shouyin_hq_relay_wakeups_total"),
        Some(1),
        "{text}"
    );
}

/// Sign and post batches of `per_batch` events for `t` from `next_seq` on
/// while `keep_going(batches so far)`; the time each batch took.
async fn sync_batches(
    hq: &Hq,
    t: &Terminal,
    next_seq: &mut u64,
    per_batch: u64,
    keep_going: impl Fn(usize) -> bool,
) -> Vec<Duration> {
    let mut took = Vec::new();
    while keep_going(took.len()) {
        let evs = events(t, *next_seq..=*next_seq + per_batch - 1);
        let started = Instant::now();
        let ack = hq.ack(t, &evs).await;
        took.push(started.elapsed());
        assert_eq!(ack.acked_seq, *next_seq + per_batch - 1);
        *next_seq += per_batch;
    }
    took
}

/// Events a second at the median batch time: robust against a moment's
/// stall from other work on a shared machine.
fn median_rate(per_batch: u64, took: &[Duration]) -> f64 {
    let mut sorted = took.to_vec();
    sorted.sort_unstable();
    let median = sorted[sorted.len() / 2];
    per_batch as f64 / median.as_secs_f64()
}

/// Events a second over the whole run.
fn overall_rate(per_batch: u64, took: &[Duration]) -> f64 {
    let total: Duration = took.iter().sum();
    (per_batch * took.len() as u64) as f64 / total.as_secs_f64()
}

static FLOOD: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn junk_notices_hide_no_genuine_one_and_slow_no_other_terminal(db: TestDb) {
    const JUNK: usize = 5000;
    const POSTERS: usize = 4;
    // 500 posts a second in all: a hundred times what a busy till receives,
    // and more than SQLite can store durably one by one, but not so many
    // that the attacker's own client, in this process on a shared machine,
    // takes the CPU the measurement needs.
    const POST_EVERY: Duration = Duration::from_millis(8);
    const PER_BATCH: u64 = 400;
    // One flood at a time in this test binary (the two backends' runs would
    // otherwise load each other's measurement).
    let _one_flood = FLOOD.lock().await;
    let hq = Arc::new(Hq::start(db).await);
    let flooded = Arc::new(hq.enroll("SH01").await);
    let other = hq.enroll("SH02").await;
    let mut next_seq = 1u64;

    // The other terminal's sync, unloaded.
    let mut unloaded = sync_batches(&hq, &other, &mut next_seq, PER_BATCH, |b| b < 20).await;

    // The flooded terminal's relay follows its cursor until it hears the
    // genuine notice (or gives up after a minute).
    const GENUINE: &str = r#"{"id":"EV-GENUINE","event_type":"TRANSACTION.SUCCESS","resource":{"ciphertext":"real"}}"#;
    let reader = {
        let hq = hq.clone();
        let t = flooded.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let mut after = 0u64;
            let mut relayed = 0usize;
            while started.elapsed() < Duration::from_secs(60) {
                let (status, v) = hq.relay(&t, &format!("after={after}&wait=5")).await;
                assert_eq!(status, StatusCode::OK, "{v}");
                let answer: wire::RelayAnswer = serde_json::from_value(v).unwrap();
                relayed += answer.notices.len();
                if answer.notices.iter().any(|n| n.body == GENUINE) {
                    return Some((Instant::now(), relayed));
                }
                after = answer.next_after;
            }
            None
        })
    };

    // 5,000 junk posts for the flooded terminal from one address, from a
    // runtime of their own with one thread: the attacker's client must not
    // take the CPU of the other terminal's client in this same process, or
    // the test would measure the machine rather than head office.
    let attacker = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let posted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    // The flood pauses now and then, so that the unloaded figure is also
    // measured between its bursts, under the same load from the rest of
    // the machine.
    let paused = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let junk = {
        let mut tasks = Vec::new();
        for p in 0..POSTERS {
            let url = format!("{}/v1/notify/{}/wechat", hq.base(), flooded.id);
            let http = hq.http.clone();
            let posted = posted.clone();
            let paused = paused.clone();
            tasks.push(attacker.spawn(async move {
                let (mut kept, mut refused) = (0usize, 0usize);
                let mut pace = tokio::time::interval(POST_EVERY);
                pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                for i in (p..JUNK).step_by(POSTERS) {
                    while paused.load(std::sync::atomic::Ordering::SeqCst) {
                        tokio::time::sleep(Duration::from_millis(2)).await;
                    }
                    pace.tick().await;
                    let r = http
                        .post(&url)
                        .body(format!("junk {i}"))
                        .send()
                        .await
                        .unwrap();
                    match r.status() {
                        StatusCode::NO_CONTENT => kept += 1,
                        StatusCode::TOO_MANY_REQUESTS => refused += 1,
                        other => panic!("junk post answered {other}"),
                    }
                    posted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
                (kept, refused)
            }));
        }
        tasks
    };
    let junk_done = {
        let posted = posted.clone();
        move || posted.load(std::sync::atomic::Ordering::SeqCst) >= JUNK
    };

    // The channel's genuine notice arrives in the middle of the flood, from
    // its own address.
    let genuine = {
        let posted = posted.clone();
        let url = format!("{}/v1/notify/{}/wechat", hq.base(), flooded.id);
        tokio::spawn(async move {
            while posted.load(std::sync::atomic::Ordering::SeqCst) < JUNK / 5 {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            let channel = reqwest::Client::builder()
                .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
                .build()
                .unwrap();
            let r = channel
                .post(url)
                .header("content-type", "application/json")
                .body(GENUINE)
                .send()
                .await
                .unwrap();
            (r.status(), Instant::now())
        })
    };

    // The other terminal's sync while the flood lasts: batches while it
    // posts count as loaded, batches while it pauses as unloaded. The first
    // batch after each switch is left out (posts in flight settle).
    const ON: Duration = Duration::from_millis(600);
    const OFF: Duration = Duration::from_millis(300);
    let mut loaded = Vec::new();
    let mut flooding = true;
    let mut phase_started = Instant::now();
    let mut settled = false;
    while !junk_done() {
        if phase_started.elapsed() >= if flooding { ON } else { OFF } {
            flooding = !flooding;
            paused.store(!flooding, std::sync::atomic::Ordering::SeqCst);
            phase_started = Instant::now();
            settled = false;
        }
        let took = sync_batches(&hq, &other, &mut next_seq, PER_BATCH, |b| b < 1).await;
        match (settled, flooding) {
            (false, _) => settled = true,
            (true, true) => loaded.extend(took),
            (true, false) => unloaded.extend(took),
        }
    }
    paused.store(false, std::sync::atomic::Ordering::SeqCst);
    // And unloaded again after the flood.
    unloaded.extend(sync_batches(&hq, &other, &mut next_seq, PER_BATCH, |b| b < 20).await);
    let (status, genuine_posted) = genuine.await.unwrap();
    assert_eq!(
        status,
        StatusCode::NO_CONTENT,
        "the genuine notice was refused"
    );
    let (mut kept, mut refused) = (0, 0);
    for task in junk {
        let (k, r) = task.await.unwrap();
        kept += k;
        refused += r;
    }
    let heard = reader.await.unwrap();
    attacker.shutdown_background();
    let (unloaded_median, loaded_median) = (
        median_rate(PER_BATCH, &unloaded),
        median_rate(PER_BATCH, &loaded),
    );
    println!(
        "sync of another terminal, batches of {PER_BATCH}: unloaded {unloaded_median:.0} events/s \
         at the median batch ({:.0} overall, {} batches before, between and after the flood's bursts); \
         during {JUNK} junk notices {loaded_median:.0} events/s ({:.0} overall, {} batches); \
         ratio {:.2}; junk kept {kept}, refused {refused}",
        overall_rate(PER_BATCH, &unloaded),
        unloaded.len(),
        overall_rate(PER_BATCH, &loaded),
        loaded.len(),
        unloaded_median / loaded_median
    );
    let (heard_at, relayed) = heard.expect("the genuine notice never reached the relay");
    println!(
        "genuine notice relayed {:?} after it was posted, with {relayed} notices relayed",
        heard_at.saturating_duration_since(genuine_posted)
    );
    assert_eq!(kept + refused, JUNK);
    assert!(
        loaded_median * 2.0 >= unloaded_median,
        "sync slowed more than 2x: {unloaded_median:.0} → {loaded_median:.0} events/s"
    );
    assert!(
        refused > JUNK / 2,
        "most of the flood must be refused: kept {kept}"
    );
}

async fn the_relay_is_signed_like_everything_else(db: TestDb) {
    let hq = Hq::start(db).await;
    let t = hq.enroll("SH01").await;
    // Unsigned.
    let r = hq.relay_with_headers("after=0", &[]).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // Signed for another query than the one sent.
    let h = wire::sign_request(
        &t.secret,
        &t.id,
        "GET",
        "/v1/relay?after=0",
        b"",
        Utc::now(),
        &wire::new_nonce(&mut rand::thread_rng()),
    );
    let r = hq.relay_with_headers("after=5", &h.pairs()).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // Replayed.
    let r = hq.relay_with_headers("after=0", &h.pairs()).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = hq.relay_with_headers("after=0", &h.pairs()).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let v: Value = r.json().await.unwrap();
    assert_eq!(code_of(&v), "replayed_nonce");
    // Bad parameters name the field.
    let (status, v) = hq.relay(&t, "after=0&wait=31").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert!(v.to_string().contains("wait"), "{v}");
    let (status, v) = hq.relay(&t, "after=-1").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
}

// ---------------------------------------------------------------- read side

fn sale(t: &Terminal, seq: u64, kind: &str, payload: Value, at: &str) -> Event {
    Event {
        seq,
        order_no: format!("{}_{seq:06}", t.id),
        kind: kind.into(),
        payload: payload.as_object().unwrap().clone(),
        at: chrono::DateTime::parse_from_rfc3339(at)
            .unwrap()
            .with_timezone(&Utc),
        store: t.store.clone(),
        terminal: t.id.clone(),
    }
}

async fn daily_report_and_read_side(db: TestDb) {
    let hq = Hq::start(db).await;
    let sh = hq.enroll("SH01").await;
    let bj = hq.enroll("BJ02").await;
    let _idle = hq.enroll("GZ03").await;
    // Business day 2026-11-21 in Asia/Shanghai, cut-off 00:00.
    hq.ack(
        &sh,
        &[
            sale(
                &sh,
                1,
                "order_created",
                json!({"amount_fen": 1230}),
                "2026-11-21T01:00:00Z",
            ),
            sale(
                &sh,
                2,
                "order_paid",
                json!({"amount_fen": 1230, "channel": "cash"}),
                "2026-11-21T01:00:05Z",
            ),
            sale(
                &sh,
                3,
                "order_paid",
                json!({"amount_fen": 770, "channel": "alipay"}),
                "2026-11-21T15:59:59Z",
            ),
            sale(
                &sh,
                4,
                "refund_succeeded",
                json!({"refund_fen": 200}),
                "2026-11-21T03:00:00Z",
            ),
            sale(
                &sh,
                5,
                "drawer_opened",
                json!({"by": "C01"}),
                "2026-11-21T03:00:00Z",
            ),
            // 00:00:01 Beijing on the 22nd: the next day.
            sale(
                &sh,
                6,
                "order_paid",
                json!({"amount_fen": 99999}),
                "2026-11-21T16:00:01Z",
            ),
            sale(
                &sh,
                7,
                "order_paid",
                json!({"channel": "cash"}),
                "2026-11-21T05:00:00Z",
            ),
        ],
    )
    .await;
    hq.ack(
        &bj,
        &[sale(
            &bj,
            1,
            "order_paid",
            json!({"amount_fen": 5000, "channel": "wechat"}),
            "2026-11-21T02:00:00+08:00",
        )],
    )
    .await;

    let (status, body) = hq.admin_get("/v1/reports/daily?date=2026-11-21").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let r: wire::DailyReport = serde_json::from_str(&body).unwrap();
    let by = |s: &str| {
        r.stores
            .iter()
            .find(|x| x.store.as_str() == s)
            .unwrap()
            .takings
            .clone()
    };
    let shs = by("SH01");
    assert_eq!(
        (shs.count, shs.gross_fen, shs.refunds_fen, shs.net_fen),
        (2, 2000, 200, 1800)
    );
    assert_eq!(
        (shs.gross.as_str(), shs.refunds.as_str(), shs.net.as_str()),
        ("20.00", "2.00", "18.00")
    );
    assert_eq!(by("BJ02").gross_fen, 5000);
    assert_eq!(by("GZ03").count, 0);
    assert_eq!(
        (r.total.count, r.total.net_fen, r.total.net.as_str()),
        (3, 6800, "68.00")
    );
    assert_eq!(r.unreadable_events, 1);
    assert_eq!(r.timezone, "Asia/Shanghai");

    let (_, body) = hq
        .admin_get("/v1/reports/daily?date=2026-11-21&store=BJ02")
        .await;
    let r: wire::DailyReport = serde_json::from_str(&body).unwrap();
    assert_eq!(r.stores.len(), 1);
    assert_eq!(r.total.gross_fen, 5000);
    let (_, body) = hq.admin_get("/v1/reports/daily?date=2026-11-22").await;
    let r: wire::DailyReport = serde_json::from_str(&body).unwrap();
    assert_eq!(r.total.gross_fen, 99999);

    // Bad query parameters name the field.
    let (status, body) = hq.admin_get("/v1/reports/daily?date=21/11/2026").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["field"],
        "date"
    );

    // The read side wants the admin token.
    for path in ["/v1/reports/daily?date=2026-11-21", "/v1/terminals", "/"] {
        let r = hq
            .http
            .get(format!("{}{path}", hq.base()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
        let r = hq
            .http
            .get(format!("{}{path}", hq.base()))
            .bearer_auth("wrong")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
    let r = hq.http.get(format!("{}/", hq.base())).send().await.unwrap();
    assert!(r.headers().get("www-authenticate").is_some());

    let (_, body) = hq.admin_get("/v1/terminals").await;
    let list: wire::TerminalList = serde_json::from_str(&body).unwrap();
    assert_eq!(list.terminals.len(), 3);
    let sht = list.terminals.iter().find(|x| x.id == sh.id).unwrap();
    assert_eq!((sht.acked_seq, sht.highest_seq, sht.revoked), (7, 7, false));

    // The page, with a browser's Basic login (password = admin token).
    let r = hq
        .http
        .get(format!("{}/", hq.base()))
        .basic_auth("boss", Some(ADMIN))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.unwrap();
    for needle in [
        "今日营业额",
        "Today's takings",
        "终端",
        "Last sync",
        "SH01",
        "BJ02",
        "GZ03",
        sh.id.as_str(),
    ] {
        assert!(page.contains(needle), "page lacks {needle}");
    }

    let r = hq
        .http
        .get(format!("{}/healthz", hq.base()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let metrics = hq
        .http
        .get(format!("{}/metrics", hq.base()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("shouyin_hq_batches_total 2"), "{metrics}");
    assert!(
        metrics.contains("shouyin_hq_events_stored_total 8"),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "shouyin_hq_request_duration_seconds_bucket{route=\"/v1/events\",le=\"+Inf\"} 2"
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains("shouyin_hq_rejections_total{reason=\"admin_auth\"}"),
        "{metrics}"
    );
}

// ---------------------------------------------------------------- bad input

async fn bad_input_is_a_clean_4xx(db: TestDb) {
    let hq = Hq::start_with_limit(db, 64 * 1024).await;
    let t = hq.enroll("SH01").await;
    let (status, v) = hq.post_signed(&t, vec![b' '; 100 * 1024]).await;
    assert_eq!(
        (status, code_of(&v)),
        (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large")
    );
    let (status, v) = hq.post_signed(&t, b"{\"events\": [".to_vec()).await;
    assert_eq!(
        (status, code_of(&v)),
        (StatusCode::BAD_REQUEST, "bad_request")
    );
    let mut batch = serde_json::to_value(EventBatch {
        events: events(&t, 1..=3),
        outbox_remaining: None,
    })
    .unwrap();
    batch["events"][2]["seq"] = json!("three");
    let (status, v) = hq
        .post_signed(&t, serde_json::to_vec(&batch).unwrap())
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["field"], "events[2].seq");
    batch["events"][2]["seq"] = json!(0);
    let (status, v) = hq
        .post_signed(&t, serde_json::to_vec(&batch).unwrap())
        .await;
    assert_eq!(
        (status, v["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("events[2].seq"))
    );
    batch["events"][2]["seq"] = json!(3);
    batch["events"][1]["payload"] = json!([1, 2]);
    let (status, v) = hq
        .post_signed(&t, serde_json::to_vec(&batch).unwrap())
        .await;
    assert_eq!(
        (status, v["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("events[1].payload"))
    );
    batch["events"][1]["payload"] = json!({});
    batch["events"][0]["at"] = json!("yesterday");
    let (status, v) = hq
        .post_signed(&t, serde_json::to_vec(&batch).unwrap())
        .await;
    assert_eq!(
        (status, v["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("events[0].at"))
    );
    let r = hq
        .http
        .post(format!("{}{}", hq.base(), wire::ENROLL_PATH))
        .body("{\"code\": 5}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = hq
        .http
        .get(format!("{}/no/such/page", hq.base()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(hq.stored(&t).await.is_empty());
    // The server is still well.
    assert_eq!(hq.ack(&t, &events(&t, 1..=3)).await.acked_seq, 3);
}

// ---------------------------------------------------------------- fuzzing

async fn random_requests_never_5xx(db: TestDb) {
    use proptest::prelude::*;
    use proptest::test_runner::{Config as PtConfig, TestRunner};
    use tower::ServiceExt;

    let hq = Hq::start(db).await;
    let t = hq.enroll("SH01").await;
    let state = AppState::new(
        hq.store.clone(),
        Config {
            admin_token: Some(ADMIN.into()),
            body_limit: 16 * 1024,
            calendar: Default::default(),
            seal_key: hq.key.clone(),
        },
    );
    let app = shouyin_hq::app(state);

    let fragments = prop::sample::select(vec![
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        "\"events\"",
        "\"seq\"",
        "1",
        "-1",
        "0",
        "1e99",
        "18446744073709551616",
        "\"payload\"",
        "{}",
        "null",
        "true",
        "\"at\"",
        "\"2026-11-21T00:00:00Z\"",
        "\"store\"",
        "\"SH01\"",
        "\"terminal\"",
        "\"kind\"",
        "\"order_no\"",
        "\"x\"",
        "\"\\u0000\"",
        "\"收银\"",
        "\"outbox_remaining\"",
    ]);
    let body = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..400),
        prop::collection::vec(fragments, 0..60).prop_map(|v| v.concat().into_bytes()),
        (1u64..5, any::<i64>(), "[a-z_]{0,12}").prop_map(|(seq, amount, kind)| {
            serde_json::to_vec(
                &json!({"events": [{"seq": seq, "order_no": "o", "kind": kind,
                "payload": {"amount_fen": amount}, "at": "2026-11-21T01:00:00Z",
                "store": "SH01", "terminal": "TXXXX"}]}),
            )
            .unwrap()
        }),
    ];
    let path = prop::sample::select(vec![
        "/v1/events",
        "/v1/terminals/enroll",
        "/v1/terminals",
        "/v1/reports/daily?date=2026-11-21",
        "/v1/reports/daily?date=%ff&store=%00",
        "/",
        "/metrics",
        "/healthz",
        "/v1/terminals/T1/events?after=x",
        "/v1/terminals/%E6%94%B6/events",
        "/v1/events?x=1",
    ]);
    let method = prop::sample::select(vec!["GET", "POST", "PUT", "DELETE"]);
    let header_value = prop_oneof![
        Just(String::new()),
        "[ -~]{0,80}",
        Just("Bearer admin-token-for-tests".to_string()),
        Just("Basic !!!".to_string()),
    ];
    let strategy = (method, path, body, header_value, any::<bool>(), any::<i8>());
    let rt = tokio::runtime::Handle::current();
    let secret = t.secret.clone();
    let id = t.id.clone();
    tokio::task::spawn_blocking(move || {
        let mut runner = TestRunner::new(PtConfig {
            cases: 96,
            failure_persistence: None,
            ..PtConfig::default()
        });
        runner
            .run(&strategy, |(method, path, body, header, sign, skew)| {
                let mut req = axum::http::Request::builder().method(method).uri(path);
                if sign {
                    // Correctly signed (perhaps with skew), so the random body
                    // reaches the parser.
                    let at = Utc::now() + chrono::Duration::seconds(i64::from(skew) * 5);
                    let h = wire::sign_request(
                        &secret,
                        &id,
                        method,
                        path,
                        &body,
                        at,
                        &wire::new_nonce(&mut rand::thread_rng()),
                    );
                    for (k, v) in h.pairs() {
                        req = req.header(k, v);
                    }
                } else {
                    for name in [
                        wire::HEADER_TERMINAL,
                        wire::HEADER_NONCE,
                        "authorization",
                        wire::HEADER_TIMESTAMP,
                    ] {
                        if !header.is_empty() {
                            req = req.header(name, header.as_str());
                        }
                    }
                }
                let req = req.body(axum::body::Body::from(body)).unwrap();
                let response = rt.block_on(app.clone().oneshot(req)).unwrap();
                prop_assert!(
                    !response.status().is_server_error(),
                    "server error {} for {method} {path}",
                    response.status()
                );
                Ok(())
            })
            .unwrap();
    })
    .await
    .unwrap();
    // Events that got through were the terminal's own, and nothing broke.
    for e in hq.stored(&t).await {
        assert_eq!(e.terminal, t.id);
    }
    assert!(hq.ack(&t, &[]).await.highest_seq <= 4);
}

#[test]
fn event_rows_round_trip() {
    let t = Terminal {
        id: TerminalId::parse("T1").unwrap(),
        store: StoreCode::parse("S").unwrap(),
        secret: vec![],
    };
    for e in events(&t, 1..=4) {
        assert_eq!(EventRow::from_event(&e).unwrap().to_event().unwrap(), e);
    }
}

/// `POST /v1/channels/{suspend,lift}` as the admin, with a JSON body.
async fn control(hq: &Hq, action: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
    let mut req = hq
        .http
        .post(format!("{}/v1/channels/{action}", hq.base()))
        .json(&body);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn suspension_list(hq: &Hq) -> Value {
    let (status, text) = hq.admin_get("/v1/channels/suspensions").await;
    assert_eq!(status, StatusCode::OK, "{text}");
    serde_json::from_str(&text).unwrap()
}

async fn channel_control_is_an_admin_action_checked_whole(db: TestDb) {
    let hq = Hq::start(db).await;
    let _t = hq.enroll("SH01").await;
    let good = json!({"store": "SH01", "channel": "wechat", "reason": "通道故障", "by": "张经理"});
    // No token, a wrong token: refused before anything is read.
    for token in [None, Some("not-the-token")] {
        let (status, v) = control(&hq, "suspend", token, good.clone()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{v}");
        assert_eq!(code_of(&v), "admin_auth");
    }
    // A browser form (another site could make one post it) is not JSON.
    let r = hq
        .http
        .post(format!("{}/v1/channels/suspend", hq.base()))
        .bearer_auth(ADMIN)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("store=SH01&channel=wechat&reason=x&by=y")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let bad = [
        (
            json!({"store": "SH01", "channel": "cash", "reason": "x", "by": "a"}),
            "channel",
        ),
        (
            json!({"store": "SH01", "channel": "paypal", "reason": "x", "by": "a"}),
            "channel",
        ),
        (
            json!({"store": "SH01", "all_stores": true, "channel": "wechat", "reason": "x", "by": "a"}),
            "store",
        ),
        (
            json!({"channel": "wechat", "reason": "x", "by": "a"}),
            "store",
        ),
        (
            json!({"store": "SH99", "channel": "wechat", "reason": "x", "by": "a"}),
            "store",
        ),
        (
            json!({"store": "SH01", "channel": "wechat", "by": "a"}),
            "reason",
        ),
        (
            json!({"store": "SH01", "channel": "wechat", "reason": "  ", "by": "a"}),
            "reason",
        ),
        (
            json!({"store": "SH01", "channel": "wechat", "reason": "x".repeat(61), "by": "a"}),
            "reason",
        ),
        (
            json!({"store": "SH01", "channel": "wechat", "reason": "a\nb", "by": "a"}),
            "reason",
        ),
        (
            json!({"store": "SH01", "channel": "wechat", "reason": "x", "by": ""}),
            "by",
        ),
        (
            json!({"store": "SH01", "channel": "wechat", "reason": "x"}),
            "by",
        ),
        (
            json!({"store": "南京路店", "channel": "wechat", "reason": "x", "by": "a"}),
            "store",
        ),
    ];
    for (body, field) in bad {
        let (status, v) = control(&hq, "suspend", Some(ADMIN), body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {v}");
        assert_eq!(code_of(&v), "bad_request", "{body}: {v}");
        assert!(
            v["field"].as_str().is_some_and(|f| f.starts_with(field)),
            "{body}: {v} should name {field}"
        );
    }
    // Lifting what is not suspended says so and writes nothing.
    let (status, v) = control(
        &hq,
        "lift",
        Some(ADMIN),
        json!({"store": "SH01", "channel": "wechat", "by": "a"}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{v}");
    let list = suspension_list(&hq).await;
    assert_eq!(list, json!({"version": 0, "suspensions": [], "log": []}));
    // The list is the admin's too.
    let r = hq
        .http
        .get(format!("{}/v1/channels/suspensions", hq.base()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // The good one is kept with its audit line.
    let (status, v) = control(&hq, "suspend", Some(ADMIN), good).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v, json!({"version": 1, "changed": 1}));
    let list = suspension_list(&hq).await;
    assert_eq!(list["version"], 1);
    assert_eq!(list["suspensions"][0]["store"], "SH01");
    assert_eq!(list["suspensions"][0]["channel"], "wechat");
    assert_eq!(list["suspensions"][0]["reason"], "通道故障");
    assert_eq!(list["suspensions"][0]["by"], "张经理");
    assert_eq!(list["log"][0]["action"], "suspend");
    assert_eq!(list["log"][0]["via"], "http");
    // The page shows it, in both languages, with the change log.
    let (status, page) = hq.admin_get("/").await;
    assert_eq!(status, StatusCode::OK);
    let table = page
        .split("id=\"channel-suspensions\"")
        .nth(1)
        .and_then(|rest| rest.split("</table>").next())
        .unwrap_or_else(|| panic!("no suspensions table in {page}"));
    assert!(
        table.contains("暂停于") && table.contains("Since"),
        "{table}"
    );
    assert!(
        table.contains("微信支付 WeChat Pay")
            && table.contains("通道故障")
            && table.contains("张经理"),
        "{table}"
    );
    assert!(page.contains("id=\"channel-control-log\""), "{page}");
}

async fn suspensions_reach_a_waiting_relay_for_its_store(db: TestDb) {
    let hq = Arc::new(Hq::start(db).await);
    let a = hq.enroll("SH01").await;
    let b = hq.enroll("SH02").await;
    // A terminal that does not ask is sent no set (older tills).
    let (status, v) = hq.relay(&a, "after=0").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v, json!({"notices": [], "next_after": 0}));
    // One that holds none is sent the current one at once, empty here.
    let (_, v) = hq.relay(&a, "after=0&suspensions=").await;
    assert_eq!(v["suspensions"], json!({"version": 0, "channels": []}));
    let (status, v) = hq.relay(&a, "after=0&suspensions=x").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");

    let wait = |t: &Terminal, held: u64| {
        let hq = hq.clone();
        let t = Terminal {
            id: t.id.clone(),
            store: t.store.clone(),
            secret: t.secret.clone(),
        };
        tokio::spawn(async move {
            let started = Instant::now();
            let (status, v) = hq
                .relay(&t, &format!("after=0&wait=20&suspensions={held}"))
                .await;
            assert_eq!(status, StatusCode::OK, "{v}");
            (v, started.elapsed())
        })
    };
    // Holding the current version, the request waits …
    let (wa, wb) = (wait(&a, 0), wait(&b, 0));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!wa.is_finished() && !wb.is_finished());
    // … and answers the moment SH01's WeChat is suspended.
    let (status, v) = control(
        &hq,
        "suspend",
        Some(ADMIN),
        json!({"store": "SH01", "channel": "wechat", "reason": "通道故障", "by": "张经理"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let (va, took) = wa.await.unwrap();
    assert!(took < Duration::from_secs(2), "{took:?}");
    assert_eq!(va["suspensions"]["version"], 1);
    let channels = &va["suspensions"]["channels"];
    assert_eq!(channels.as_array().unwrap().len(), 1, "{va}");
    assert_eq!(channels[0]["channel"], "wechat");
    assert_eq!(channels[0]["reason"], "通道故障");
    assert_eq!(channels[0]["all_stores"], false);
    // SH02 learns the new version, with nothing suspended for it.
    let (vb, _) = wb.await.unwrap();
    assert_eq!(vb["suspensions"], json!({"version": 1, "channels": []}));

    // All stores, written by another process (as the CLI does): a waiting
    // request sees it at its next look, within a second or so.
    let wb = wait(&b, 1);
    tokio::time::sleep(Duration::from_millis(200)).await;
    hq.control_channel(None, "alipay", Some("支付宝升级维护"))
        .await;
    let (vb, took) = wb.await.unwrap();
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert_eq!(vb["suspensions"]["version"], 2);
    assert_eq!(vb["suspensions"]["channels"][0]["channel"], "alipay");
    assert_eq!(vb["suspensions"]["channels"][0]["all_stores"], true);
    // A store's own suspension and an all-stores one of the same channel:
    // the store's reason is the one its cashiers read.
    hq.control_channel(Some("SH01"), "alipay", Some("本店支付宝商户号冻结"))
        .await;
    let (_, v) = hq.relay(&a, "after=0&suspensions=").await;
    let channels = v["suspensions"]["channels"].as_array().unwrap().clone();
    assert_eq!(channels.len(), 2, "{v}");
    let alipay = channels.iter().find(|c| c["channel"] == "alipay").unwrap();
    assert_eq!(alipay["reason"], "本店支付宝商户号冻结");
    assert_eq!(alipay["all_stores"], false);
    // Lifting for all stores lifts every store's suspension of it.
    hq.control_channel(None, "alipay", None).await;
    let (_, v) = hq.relay(&a, "after=0&suspensions=").await;
    let channels = v["suspensions"]["channels"].as_array().unwrap().clone();
    assert_eq!(channels.len(), 1, "{v}");
    assert_eq!(channels[0]["channel"], "wechat");
    let (_, v) = hq.relay(&b, "after=0&suspensions=").await;
    assert_eq!(v["suspensions"]["channels"], json!([]));
    // Every change audited: who, how, when, store, channel, reason.
    let list = suspension_list(&hq).await;
    let log: Vec<(String, String, String, Value)> = list["log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            assert!(l["at"].as_str().is_some());
            (
                l["action"].as_str().unwrap().to_owned(),
                l["via"].as_str().unwrap().to_owned(),
                l["channel"].as_str().unwrap().to_owned(),
                l["store"].clone(),
            )
        })
        .collect();
    assert_eq!(
        log,
        vec![
            ("lift".into(), "cli".into(), "alipay".into(), Value::Null),
            (
                "suspend".into(),
                "cli".into(),
                "alipay".into(),
                json!("SH01")
            ),
            ("suspend".into(), "cli".into(), "alipay".into(), Value::Null),
            (
                "suspend".into(),
                "http".into(),
                "wechat".into(),
                json!("SH01")
            ),
        ]
    );
}

async fn the_pages_form_suspends_and_lifts_only_from_the_page(db: TestDb) {
    let hq = Hq::start(db).await;
    let _t = hq.enroll("SH01").await;
    let (_, page) = hq.admin_get("/").await;
    assert!(page.contains("id=\"channel-control-form\""), "{page}");
    assert!(page.contains("<option value=\"SH01\">"), "{page}");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let base = hq.base();
    let post = |origin: Option<String>, form: Vec<(&'static str, &'static str)>, auth: bool| {
        let mut req = http.post(format!("{base}/channels/control")).form(&form);
        if auth {
            req = req.basic_auth("admin", Some(ADMIN));
        }
        if let Some(origin) = origin {
            req = req.header("origin", origin);
        }
        req.send()
    };
    let suspend = vec![
        ("store", "SH01"),
        ("channel", "wechat"),
        ("reason", "微信支付通道故障"),
        ("by", "张经理"),
        ("action", "suspend"),
    ];
    // Not logged in; another site's page; no origin at all: refused.
    let r = post(Some(base.clone()), suspend.clone(), false)
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = post(Some("https://evil.example".into()), suspend.clone(), true)
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = post(None, suspend.clone(), true).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(suspension_list(&hq).await["version"], 0);
    // From the page: done, back to the page.
    let r = post(Some(base.clone()), suspend, true).await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{:?}", r.text().await);
    let list = suspension_list(&hq).await;
    assert_eq!(list["suspensions"][0]["reason"], "微信支付通道故障");
    assert_eq!(list["log"][0]["via"], "page");
    assert_eq!(list["log"][0]["by"], "张经理");
    // Bad input is said on a page of its own, nothing written.
    let r = post(
        Some(base.clone()),
        vec![
            ("store", "*"),
            ("channel", "alipay"),
            ("by", "张经理"),
            ("action", "suspend"),
        ],
        true,
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let text = r.text().await.unwrap();
    assert!(
        text.contains("未执行") && text.contains("needs a reason"),
        "{text}"
    );
    assert_eq!(suspension_list(&hq).await["version"], 1);
    // Lifted for all stores from the page.
    let r = post(
        Some(base.clone()),
        vec![
            ("store", "*"),
            ("channel", "wechat"),
            ("by", "张经理"),
            ("action", "lift"),
        ],
        true,
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let list = suspension_list(&hq).await;
    assert_eq!(list["suspensions"], json!([]));
    assert_eq!(list["log"][0]["action"], "lift");
    assert_eq!(list["log"][0]["store"], Value::Null);
}

both_backends!(
    channel_control_is_an_admin_action_checked_whole,
    suspensions_reach_a_waiting_relay_for_its_store,
    the_pages_form_suspends_and_lifts_only_from_the_page,
);
