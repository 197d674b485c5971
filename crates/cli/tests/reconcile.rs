//! `shouyin reconcile` as a script runs it: payments taken with `shouyin
//! charge` against the simulator and resolved with `shouyin recover`, then
//! reconciled against the fetched bill and against a downloaded bill file.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Output};

use serde_json::Value;

fn shouyin(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_shouyin"))
        .args(args)
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn value<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key}= in {out}"))
}

/// The Alipay bill zip as an accountant downloads it: a signed request for
/// the link, then the file.
async fn download_alipay_bill(credentials: &Value, date: &str) -> Vec<u8> {
    use shouyin_channels::keys::{parse_private_key, sign_sha256};
    let a = &credentials["alipay"];
    let key = parse_private_key(a["app_private_key_pem"].as_str().unwrap()).unwrap();
    let timestamp = (chrono::Utc::now() + chrono::Duration::hours(8))
        .format("%Y-%m-%d %H:%M:%S")
        .to_string();
    let biz = serde_json::json!({"bill_type": "trade", "bill_date": date}).to_string();
    let mut params: Vec<(&str, &str)> = vec![
        ("app_id", a["app_id"].as_str().unwrap()),
        ("method", "alipay.data.dataservice.bill.downloadurl.query"),
        ("format", "JSON"),
        ("charset", "utf-8"),
        ("sign_type", "RSA2"),
        ("timestamp", &timestamp),
        ("version", "1.0"),
        ("biz_content", &biz),
    ];
    let sign = sign_sha256(
        &key,
        shouyin_channels::alipay::wire::sign_content(&params).as_bytes(),
    );
    params.push(("sign", &sign));
    let http = reqwest::Client::new();
    let answer: Value = http
        .post(a["gateway"].as_str().unwrap())
        .form(&params)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let url = answer["alipay_data_dataservice_bill_downloadurl_query_response"]
        ["bill_download_url"]
        .as_str()
        .unwrap_or_else(|| panic!("{answer}"))
        .to_owned();
    http.get(url)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_exits_non_zero_on_differences_and_reads_downloaded_files() {
    let dir = tempfile::tempdir().unwrap();
    let sim_dir = dir.path().join("sim");
    let sim = shouyin_testkit::Sim::start_in(&sim_dir).await;
    let base = sim.base.clone();
    let config = sim_dir.join("credentials.json");
    let credentials: Value =
        serde_json::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
    let config = config.to_str().unwrap().to_owned();
    let db = dir.path().join("ledger.db");
    let db_s = db.to_str().unwrap().to_owned();
    let o = shouyin(&[
        "init",
        "--db",
        &db_s,
        "--store",
        "对账店",
        "--terminal",
        "T09",
    ]);
    assert!(o.status.success());

    // One paid sale per channel: charge, the customer pays, recover.
    let http = reqwest::Client::new();
    let mut orders = Vec::new();
    for (channel, amount) in [
        ("alipay", "18.80"),
        ("wechat", "6.60"),
        ("unionpay", "3.30"),
    ] {
        let o = shouyin(&[
            "charge",
            "--db",
            &db_s,
            "--channels",
            &config,
            "--channel",
            channel,
            "--amount",
            amount,
            "--force",
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let order_no = value(&stdout(&o), "order_no").to_owned();
        let r = http
            .post(format!("{base}/_sim/trades/{order_no}/pay"))
            .send()
            .await
            .unwrap();
        let status = r.status();
        assert!(status.is_success(), "{status}: {}", r.text().await.unwrap());
        orders.push(order_no);
    }
    let o = shouyin(&["recover", "--db", &db_s, "--channels", &config]);
    assert!(o.status.success(), "{}", stdout(&o));

    // WeChat Pay agrees: exit 0 and a clean summary.
    let o = shouyin(&[
        "reconcile",
        "--db",
        &db_s,
        "--config",
        &config,
        "--channel",
        "wechat",
        "--date",
        "today",
    ]);
    let out = stdout(&o);
    assert!(
        o.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(value(&out, "matched"), "1");
    assert_eq!(value(&out, "differences"), "0");
    assert_eq!(value(&out, "bill_net"), "6.60");
    assert_eq!(value(&out, "ledger_net"), "6.60");

    // UnionPay agrees too: its file, fetched by file transfer, names the
    // order without the `_` separators and still matches the ledger's.
    let o = shouyin(&[
        "reconcile",
        "--db",
        &db_s,
        "--config",
        &config,
        "--channel",
        "unionpay",
        "--date",
        "today",
    ]);
    let out = stdout(&o);
    assert!(
        o.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(value(&out, "matched"), "1");
    assert_eq!(value(&out, "differences"), "0");
    assert_eq!(value(&out, "bill_net"), "3.30");
    assert_eq!(value(&out, "ledger_net"), "3.30");

    // A paid Alipay sale the channel never saw (written into the ledger
    // file directly): reconcile must say so and exit 1.
    let now = shouyin_ledger::ts(chrono::Utc::now());
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute(
            "INSERT INTO orders (out_trade_no, store, terminal, amount_fen, currency, channel, state,
                                 created_at, updated_at, paid_at, business_date)
             VALUES ('T09_GHOST', '对账店', 'T09', 999, 'CNY', 'alipay', 'paid', ?1, ?1, ?1, '2000-01-01')",
            [&now],
        )
        .unwrap();
    let today = shouyin_api::reconcile::beijing_today(chrono::Utc::now())
        .unwrap()
        .to_string();
    let o = shouyin(&[
        "reconcile",
        "--db",
        &db_s,
        "--config",
        &config,
        "--channel",
        "alipay",
        "--date",
        &today,
    ]);
    let table = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{table}");
    assert!(
        table.contains("missing_in_bill") && table.contains("T09_GHOST"),
        "{table}"
    );
    assert!(table.contains("check with the channel"), "{table}");
    assert_eq!(value(&table, "missing_in_bill"), "1");
    assert_eq!(value(&table, "matched"), "1");

    let o = shouyin(&[
        "reconcile",
        "--db",
        &db_s,
        "--config",
        &config,
        "--channel",
        "alipay",
        "--date",
        &today,
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let fetched: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(fetched["counts"]["missing_in_bill"], 1);
    assert_eq!(fetched["counts"]["matched"], 1);
    assert_eq!(fetched["differences"], 1);
    assert_eq!(fetched["bill_totals"]["payments_fen"], 1880);
    assert_eq!(fetched["ledger_totals"]["payments_fen"], 1880 + 999);
    assert_eq!(fetched["lines"][0]["class"], "missing_in_bill");
    assert_eq!(fetched["lines"][0]["order_no"], "T09_GHOST");
    assert_eq!(fetched["lines"][1]["order_no"], orders[0].as_str());

    // The downloaded zip gives the same answer without a channels file.
    let zip = download_alipay_bill(&credentials, &today).await;
    let bill = dir.path().join("alipay-bill.csv.zip");
    std::fs::write(&bill, &zip).unwrap();
    let o = shouyin(&[
        "reconcile",
        "--db",
        &db_s,
        "--channel",
        "alipay",
        "--date",
        &today,
        "--bill",
        bill.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let from_file: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(from_file["source"], "file");
    assert_eq!(from_file["lines"], fetched["lines"]);
    assert_eq!(from_file["counts"], fetched["counts"]);

    // Bad input is a clear error, not a reconciliation.
    let junk = dir.path().join("junk.csv");
    std::fs::write(&junk, "hello,world\n").unwrap();
    let o = shouyin(&[
        "reconcile",
        "--db",
        &db_s,
        "--channel",
        "alipay",
        "--date",
        &today,
        "--bill",
        junk.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("not a readable Alipay bill"), "{err}");
    let o = shouyin(&[
        "reconcile",
        "--db",
        &db_s,
        "--channel",
        "wechat",
        "--date",
        &today,
        "--bill",
        bill.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("this is an Alipay bill"), "{err}");
    let o = shouyin(&[
        "reconcile",
        "--db",
        &db_s,
        "--channel",
        "alipay",
        "--date",
        &today,
    ]);
    assert!(!o.status.success(), "neither --config nor --bill");
    let o = shouyin(&[
        "reconcile",
        "--db",
        &db_s,
        "--config",
        &config,
        "--channel",
        "alipay",
        "--date",
        "21/11/2026",
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("YYYY-MM-DD"));
}

fn bill_fixture(name: &str) -> String {
    format!("{}/../../testdata/bills/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// The fixture shop's ledger (testdata/bills/ledger_20261120.sql) in a
/// ledger file made by `shouyin init`.
fn fixture_shop(dir: &std::path::Path) -> String {
    let db = dir.join("shop.db");
    let db_s = db.to_str().unwrap().to_owned();
    let o = shouyin(&["init", "--db", &db_s, "--store", "S01", "--terminal", "T01"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let c = rusqlite::Connection::open(&db).unwrap();
    c.execute_batch(&std::fs::read_to_string(bill_fixture("ledger_20261120.sql")).unwrap())
        .unwrap();
    db_s
}

fn reconcile_file(db: &str, channel: &str, date: &str, bill: &str) -> Output {
    shouyin(&[
        "reconcile",
        "--db",
        db,
        "--channel",
        channel,
        "--date",
        date,
        "--bill",
        &bill_fixture(bill),
    ])
}

#[test]
fn reconcile_accepts_csv_zip_and_gz_of_both_channels() {
    let dir = tempfile::tempdir().unwrap();
    let db = fixture_shop(dir.path());
    // Alipay: every packing is the same clean day.
    for bill in [
        "alipay_20261120.csv.zip",
        "alipay_20261120_folder.zip",
        "alipay_20261120_detail_gbk.csv",
        "alipay_20261120_detail_utf8bom.csv",
        "alipay_20261120_detail.csv.gz",
    ] {
        let o = reconcile_file(&db, "alipay", "2026-11-20", bill);
        let out = stdout(&o);
        assert!(
            o.status.success(),
            "{bill}: {out}{}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(value(&out, "bill_type"), "alipay_trade", "{bill}");
        assert_eq!(value(&out, "bill_footer_agrees"), "true", "{bill}");
        assert_eq!(value(&out, "differences"), "0", "{bill}");
        // 商家优惠 3.00: gross and settled both printed.
        assert_eq!(value(&out, "bill_payments"), "47.30 (3)", "{bill}");
        assert_eq!(value(&out, "bill_settled_payments"), "44.30", "{bill}");
    }
    // WeChat Pay: one pending refund is the only difference (exit 1).
    for bill in [
        "wechat_all_20261120.csv",
        "wechat_all_20261120.csv.gz",
        "wechat_all_20261120.zip",
        "wechat_all_20261120_gbk_crlf.csv",
        "wechat_early_all_20261120.csv",
    ] {
        let o = reconcile_file(&db, "wechat", "2026-11-20", bill);
        let out = stdout(&o);
        assert_eq!(
            o.status.code(),
            Some(1),
            "{bill}: {out}{}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(value(&out, "bill_type"), "wechat_all", "{bill}");
        assert_eq!(value(&out, "refund_pending"), "1", "{bill}");
        assert_eq!(value(&out, "differences"), "1", "{bill}");
        assert_eq!(value(&out, "bill_refunds"), "50.00 (1)", "{bill}");
        assert_eq!(value(&out, "bill_pending_refunds"), "3.00 (1)", "{bill}");
        assert_eq!(value(&out, "bill_reversals"), "6.00 (1)", "{bill}");
        assert!(
            out.contains("refund_pending       refund   W0003 / W0003_R1"),
            "{out}"
        );
    }
    let o = reconcile_file(&db, "wechat", "2026-11-20", "wechat_success_20261120.csv");
    assert!(o.status.success(), "{}", stdout(&o));
    assert_eq!(value(&stdout(&o), "bill_type"), "wechat_success");
    // The account log is refused, naming the file to import.
    let o = reconcile_file(
        &db,
        "alipay",
        "2026-11-20",
        "alipay_20261120_账务明细.csv.zip",
    );
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("业务明细"), "{err}");
}

#[test]
fn a_refund_bill_is_reconciled_for_the_refunds_day() {
    let dir = tempfile::tempdir().unwrap();
    let db = fixture_shop(dir.path());
    for bill in [
        "wechat_refund_20261121.csv",
        "wechat_refund_20261121.csv.gz",
    ] {
        let o = reconcile_file(&db, "wechat", "2026-11-21", bill);
        let out = stdout(&o);
        assert_eq!(
            o.status.code(),
            Some(1),
            "{bill}: {out}{}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(value(&out, "bill_type"), "wechat_refund");
        assert_eq!(value(&out, "matched"), "1");
        assert_eq!(value(&out, "refund_pending"), "1");
        // The day's payment W0101 is no difference for a refunds-only bill.
        assert_eq!(value(&out, "missing_in_bill"), "0");
        assert_eq!(value(&out, "ledger_payments"), "0.00 (0)");
        // The pending refund is not money returned.
        assert_eq!(value(&out, "bill_refunds"), "2.00 (1)");
        assert_eq!(value(&out, "bill_pending_refunds"), "4.00 (1)");
    }
    // The payments' day is not the refunds' day.
    let o = reconcile_file(&db, "wechat", "2026-11-20", "wechat_refund_20261121.csv");
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("another day (2026-11-21)"), "{err}");
}

#[test]
fn reconcile_reads_unionpays_file_in_every_packing() {
    let dir = tempfile::tempdir().unwrap();
    let db = fixture_shop(dir.path());
    for bill in [
        "unionpay_20261120.zip",
        "unionpay_20261120_filecontent.zlib",
        "unionpay_INN26112088ZM_777290058110048",
        "unionpay_20261120_ZM_utf8.txt",
    ] {
        let o = reconcile_file(&db, "unionpay", "2026-11-20", bill);
        let out = stdout(&o);
        assert!(
            o.status.success(),
            "{bill}: {out}{}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(value(&out, "channel"), "unionpay", "{bill}");
        assert_eq!(value(&out, "bill_type"), "unionpay_trade", "{bill}");
        assert_eq!(value(&out, "matched"), "10", "{bill}");
        assert_eq!(value(&out, "differences"), "0", "{bill}");
        // The same figures as for the other channels: a cancel and a
        // reversal are not money received, refunds are the money returned.
        assert_eq!(value(&out, "bill_payments"), "96.30 (5)", "{bill}");
        assert_eq!(value(&out, "bill_refunds"), "58.00 (3)", "{bill}");
        assert_eq!(value(&out, "bill_net"), "38.30", "{bill}");
        assert_eq!(value(&out, "bill_reversals"), "14.00 (2)", "{bill}");
        assert_eq!(value(&out, "ledger_payments"), "96.30 (5)", "{bill}");
        assert_eq!(value(&out, "ledger_refunds"), "58.00 (3)", "{bill}");
        assert_eq!(value(&out, "ledger_net"), "38.30", "{bill}");
        // The till's refund for the cancel of U0004 is that reversal.
        assert_eq!(value(&out, "ledger_reversals"), "6.00 (1)", "{bill}");
        // The file prints no totals to agree with.
        assert!(!out.contains("bill_footer_agrees"), "{out}");
    }
    // The JSON report says the same.
    let o = shouyin(&[
        "reconcile",
        "--db",
        &db,
        "--channel",
        "unionpay",
        "--date",
        "2026-11-20",
        "--bill",
        &bill_fixture("unionpay_20261120.zip"),
        "--json",
    ]);
    assert!(o.status.success());
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["bill_type"], "unionpay_trade");
    assert_eq!(report["bill_totals"]["reversals_fen"], 1400);
    // Another channel's file is named as such.
    let o = reconcile_file(&db, "unionpay", "2026-11-20", "alipay_20261120.csv.zip");
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("Alipay bill, not a UnionPay bill"), "{err}");
    // A file of another day is refused.
    let o = reconcile_file(&db, "unionpay", "2026-11-21", "unionpay_20261120.zip");
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("2026-11-20"), "{err}");
}

#[test]
fn reconcile_exits_1_on_a_unionpay_difference() {
    let dir = tempfile::tempdir().unwrap();
    let db = fixture_shop(dir.path());
    // The bill says U0001 was 12.40; the ledger has 12.30.
    // Edited as bytes: the file is GBK.
    let mut edited = std::fs::read(bill_fixture("unionpay_INN26112088ZM_777290058110048")).unwrap();
    let at = edited
        .windows(12)
        .position(|w| w == b"000000001230")
        .unwrap();
    edited[at..at + 12].copy_from_slice(b"000000001240");
    let path = dir.path().join("INN26112088ZM_777290058110048");
    std::fs::write(&path, &edited).unwrap();
    let o = shouyin(&[
        "reconcile",
        "--db",
        &db,
        "--channel",
        "unionpay",
        "--date",
        "2026-11-20",
        "--bill",
        path.to_str().unwrap(),
    ]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert_eq!(value(&out, "amount_mismatch"), "1");
    assert!(out.contains("amount_mismatch      payment  U0001"), "{out}");
    assert!(out.contains("12.40"), "{out}");
}
