//! Receipts, the cash drawer and spoken announcements, with a real ledger
//! file, the channel simulator over loopback HTTP and the virtual printer
//! over raw TCP (its decoder reads back what the till sent).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;
use support::Sim;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use shouyin_api::devices::{DeviceSettings, PrintKindDto, PrintStateDto};
use shouyin_api::dto::{Approval, ManualConfirmRequest};
use shouyin_api::{
    ChargeRequest, Counter, CounterOptions, ErrorCode, InitRequest, PaymentSettings, PinCost,
    StartPlan,
};
use shouyin_core::{ChannelKind, OrderState};

struct Printer {
    addr: std::net::SocketAddr,
    out: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Printer {
    async fn start(out: &Path) -> Printer {
        Printer::start_on(out, "127.0.0.1:0").await
    }

    async fn start_on(out: &Path, addr: &str) -> Printer {
        let fonts = Arc::new(shouyin_vprinter::Fonts::system().unwrap());
        let jobs = Arc::new(shouyin_vprinter::JobDir::open(out, fonts).unwrap());
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(shouyin_vprinter::run(listener, jobs, async {
            let _ = stopped.await;
        }));
        Printer {
            addr,
            out: out.to_owned(),
            stop: Some(stop),
        }
    }

    fn uri(&self) -> String {
        format!("tcp://{}", self.addr)
    }

    /// The text of every job received so far, in order.
    fn jobs(&self) -> Vec<String> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(&self.out)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "txt"))
            .collect();
        names.sort();
        names
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect()
    }

    /// Wait until `n` jobs have arrived.
    async fn wait_jobs(&self, n: usize) -> Vec<String> {
        for _ in 0..100 {
            let jobs = self.jobs();
            if jobs.len() >= n {
                return jobs;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("expected {n} jobs, got {:?}", self.jobs());
    }
}

impl Drop for Printer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

struct Till {
    dir: tempfile::TempDir,
    sim: Sim,
    counter: Counter,
}

async fn till() -> Till {
    let dir = tempfile::tempdir().unwrap();
    let sim = Sim::start(&dir.path().join("sim")).await;
    let db = dir.path().join("ledger.db");
    shouyin_api::init_ledger(&db, &InitRequest::demo(), chrono::Utc::now()).unwrap();
    let counter = Counter::open_ledger(
        &db,
        CounterOptions {
            channels: sim.channels(),
            payments: PaymentSettings {
                probe_every: None,
                retry_cap: Duration::from_millis(500),
                ..PaymentSettings::default()
            },
            pin_cost: PinCost::cheap_for_tests(),
            ..CounterOptions::default()
        },
    )
    .await
    .unwrap();
    let speech = dir.path().join("speech");
    std::fs::create_dir_all(&speech).unwrap();
    counter.speech_to_files(Some(speech));
    // A cash sale is taken inside an open shift.
    counter
        .shift_open("王芳".into(), "100.00".into())
        .await
        .unwrap();
    Till { dir, sim, counter }
}

async fn use_printer(t: &Till, uri: &str, paper_mm: u32) {
    t.counter
        .device_settings_set(DeviceSettings {
            printer: Some(uri.into()),
            paper_mm,
            header_lines: vec!["欢迎光临 Welcome".into()],
            ..DeviceSettings::default()
        })
        .await
        .unwrap();
}

fn charge(channel: ChannelKind, amount: &str) -> ChargeRequest {
    ChargeRequest {
        amount: amount.into(),
        channel,
        cashier: Some("王芳".into()),
        note: None,
        force: false,
        tendered: (channel == ChannelKind::Cash).then(|| "100".into()),
    }
}

async fn eventually<T>(what: &str, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    for _ in 0..100 {
        if let Some(v) = f().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what} never happened");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cash_sale_prints_its_receipt_pulses_the_drawer_and_is_announced() {
    let t = till().await;
    let printer = Printer::start(&t.dir.path().join("paper")).await;
    use_printer(&t, &printer.uri(), 58).await;

    let order = t
        .counter
        .order_charge(charge(ChannelKind::Cash, "12.30"))
        .await
        .unwrap();
    assert_eq!(order.state, OrderState::Paid);
    let jobs = printer.wait_jobs(2).await;
    let drawer: Vec<_> = jobs
        .iter()
        .filter(|j| j.contains("[DRAWER pin 2 50ms/500ms]"))
        .collect();
    assert_eq!(drawer.len(), 1, "one pulse: {jobs:?}");
    let receipt = jobs
        .iter()
        .find(|j| j.contains("销售小票 RECEIPT"))
        .expect("a receipt");
    for expected in [
        "演示门店 Demo  [bold double]\n          Store", // double size: 16 columns on 58 mm, broken between words
        "欢迎光临 Welcome",
        "T01",
        "王芳",
        &order.order_no,
        "现金 Cash",
        "￥12.30",
        "找零 Change",
        "￥87.70",
        &format!("[QR {}]", order.order_no),
        "[CUT]",
        "谢谢惠顾 Thank you",
    ] {
        assert!(
            receipt.contains(expected),
            "{expected:?} missing from\n{receipt}"
        );
    }
    // Store-local time (Asia/Shanghai) of the payment.
    let paid = chrono::DateTime::parse_from_rfc3339(order.paid_at.as_deref().unwrap()).unwrap();
    let local = paid
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .format("%Y-%m-%d %H:%M")
        .to_string();
    assert!(receipt.contains(&local), "{local} missing from\n{receipt}");
    for line in receipt.lines() {
        let w = shouyin_escpos::layout::width(
            line.trim_end_matches("  [bold double]")
                .trim_end_matches("  [bold]"),
        );
        assert!(w <= 32, "wider than 58 mm paper: {line:?}");
    }

    let audit = t.counter.audit_list(20).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|a| a.action == "drawer_pulse" && a.detail.contains("\"opened\":true")),
        "{audit:?}"
    );
    let said = eventually("the announcement", async || {
        let a = t.counter.announcements(10).await.unwrap();
        (!a.is_empty()).then_some(a)
    })
    .await;
    assert_eq!(said.len(), 1);
    assert_eq!(said[0].text, "现金收款十二元三角");
    let jobs = t
        .counter
        .order_print_jobs(order.order_no.clone())
        .await
        .unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(
        (jobs[0].kind, jobs[0].state),
        (PrintKindDto::Receipt, PrintStateDto::Printed)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_qr_sale_prints_the_transaction_number_and_is_announced_once() {
    let t = till().await;
    let printer = Printer::start(&t.dir.path().join("paper")).await;
    use_printer(&t, &printer.uri(), 80).await;

    let order = t
        .counter
        .order_charge(charge(ChannelKind::Alipay, "10001.01"))
        .await
        .unwrap();
    t.sim.scan(order.qr_payload.as_deref().unwrap()).await;
    t.sim.pay(&order.order_no).await;
    let paid = t
        .counter
        .wait_final(&order.order_no, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(paid.state, OrderState::Paid);
    let trade_no = paid.channel_trade_no.clone().unwrap();

    let jobs = printer.wait_jobs(1).await;
    assert_eq!(jobs.len(), 1, "no drawer pulse for a QR sale: {jobs:?}");
    let receipt = &jobs[0];
    assert!(
        receipt.contains(&trade_no),
        "{trade_no} missing from\n{receipt}"
    );
    assert!(
        receipt.contains("支付宝 Alipay") && receipt.contains("￥10001.01"),
        "{receipt}"
    );
    assert!(
        receipt.contains(&format!("[CODE128 {}]", order.order_no)),
        "80 mm has room for the barcode:\n{receipt}"
    );

    // The channel confirms again (a query after the notification): no
    // second announcement, no second receipt.
    t.counter
        .order_recheck(order.order_no.clone())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let said = t.counter.announcements(10).await.unwrap();
    assert_eq!(said.len(), 1, "{said:?}");
    assert_eq!(said[0].text, "支付宝到账一万零一元零一分");
    assert_eq!(said[0].payment_key, format!("alipay:{trade_no}"));
    assert_eq!(printer.jobs().len(), 1);
    let wav = t
        .dir
        .path()
        .join("speech")
        .join(format!("{}.wav", order.order_no));
    let len = eventually("the WAV", async || {
        std::fs::metadata(&wav)
            .ok()
            .map(|m| m.len())
            .filter(|l| *l > 10_000)
    })
    .await;
    assert!(len > 10_000, "{len}");

    // Scan to refund: the receipt's order number and the channel's
    // transaction number find the order.
    assert_eq!(
        t.counter
            .order_lookup(order.order_no.clone())
            .await
            .unwrap()
            .id,
        order.id
    );
    assert_eq!(
        t.counter
            .order_lookup(format!(" {trade_no}\n"))
            .await
            .unwrap()
            .id,
        order.id
    );
    let e = t.counter.order_lookup("NOPE-1".into()).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::NotFound);
    let e = t.counter.order_lookup("".into()).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidInput);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unverified_payment_is_neither_announced_nor_printed() {
    let t = till().await;
    t.counter.ensure_demo_users().await.unwrap();
    let printer = Printer::start(&t.dir.path().join("paper")).await;
    use_printer(&t, &printer.uri(), 80).await;
    let order = t
        .counter
        .order_confirm_manually(
            ManualConfirmRequest {
                order_no: None,
                amount: Some("8.00".into()),
                channel: Some(ChannelKind::Wechat),
                cashier: "王芳".into(),
                note: None,
            },
            Approval {
                approver_name: "店长 李娜".into(),
                pin: "9999".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(order.state, OrderState::Unverified);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(t.counter.announcements(10).await.unwrap().is_empty());
    assert!(printer.jobs().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_printer_that_is_down_leaves_not_printed_and_a_retry_prints() {
    let t = till().await;
    // A port nobody listens on: the printer is off.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    use_printer(&t, &format!("tcp://127.0.0.1:{port}"), 80).await;

    let started = std::time::Instant::now();
    let order = t
        .counter
        .order_charge(charge(ChannelKind::Cash, "5.00"))
        .await
        .unwrap();
    assert_eq!(
        order.state,
        OrderState::Paid,
        "the sale is committed whatever the printer does"
    );
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "printing held the sale up"
    );
    let failed = eventually("the failed job", async || {
        let f = t.counter.print_failed().await.unwrap();
        (!f.is_empty()).then_some(f)
    })
    .await;
    assert_eq!(failed[0].order_no.as_deref(), Some(order.order_no.as_str()));
    assert!(
        failed[0]
            .last_error
            .as_deref()
            .unwrap()
            .contains("unreachable"),
        "{failed:?}"
    );
    let audit = t.counter.audit_list(20).await.unwrap();
    assert!(audit
        .iter()
        .any(|a| a.action == "drawer_pulse" && a.detail.contains("\"opened\":false")));

    // The printer comes back on its address; the retry prints the receipt.
    let printer =
        Printer::start_on(&t.dir.path().join("paper"), &format!("127.0.0.1:{port}")).await;
    let job = t.counter.print_retry(failed[0].id).await.unwrap();
    assert_eq!(job.state, PrintStateDto::Printed, "{job:?}");
    assert_eq!(job.attempts, 2);
    let jobs = printer.wait_jobs(1).await;
    assert!(
        jobs[0].contains(&order.order_no) && jobs[0].contains("￥5.00"),
        "{jobs:?}"
    );
    assert!(t.counter.print_failed().await.unwrap().is_empty());
    // A reprint is marked as one.
    let again = t
        .counter
        .receipt_reprint(order.order_no.clone())
        .await
        .unwrap();
    assert_eq!(
        (again.kind, again.state),
        (PrintKindDto::Reprint, PrintStateDto::Printed)
    );
    let jobs = printer.wait_jobs(2).await;
    assert!(
        jobs[1].contains("重印 REPRINT") && jobs[1].contains(&order.order_no),
        "{}",
        jobs[1]
    );
    let e = t.counter.print_retry(again.id).await.unwrap_err();
    assert_eq!(
        e.code,
        ErrorCode::InvalidInput,
        "a printed job is not retried"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_print_queue_survives_a_restart() {
    let t = till().await;
    let printer = Printer::start(&t.dir.path().join("paper")).await;
    use_printer(&t, &printer.uri(), 80).await;
    let db = t.dir.path().join("ledger.db");
    // A job queued, and the program gone before it was sent.
    {
        let mut ledger = shouyin_ledger::Ledger::open(&db).unwrap();
        let mut r = shouyin_escpos::Receipt::new(shouyin_escpos::Paper::Mm80);
        r.line("排队中的小票 queued before the restart").cut();
        ledger
            .print_job_add(
                None,
                shouyin_ledger::devices::PrintKind::TestPage,
                r.bytes(),
                chrono::Utc::now(),
            )
            .unwrap();
    }
    assert!(printer.jobs().is_empty());
    let counter = Counter::open_ledger(&db, CounterOptions::default())
        .await
        .unwrap();
    counter
        .start(StartPlan::RECOVERY_ONLY)
        .finished(Duration::from_secs(10))
        .await
        .unwrap();
    let jobs = printer.wait_jobs(1).await;
    assert!(
        jobs[0].contains("排队中的小票 queued before the restart"),
        "{jobs:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cash_refund_opens_the_drawer_and_prints_a_slip_and_a_test_page_prints() {
    let t = till().await;
    t.counter.ensure_demo_users().await.unwrap();
    let printer = Printer::start(&t.dir.path().join("paper")).await;
    use_printer(&t, &printer.uri(), 58).await;
    let page = t.counter.print_test_page().await.unwrap();
    assert_eq!(page.state, PrintStateDto::Printed);
    let jobs = printer.wait_jobs(1).await;
    assert!(
        jobs[0].contains("打印测试 TEST PAGE") && jobs[0].contains("58 mm"),
        "{}",
        jobs[0]
    );

    let order = t
        .counter
        .order_charge(charge(ChannelKind::Cash, "20.00"))
        .await
        .unwrap();
    printer.wait_jobs(3).await;
    let refund = t
        .counter
        .refund_create(
            shouyin_api::dto::RefundCreateRequest {
                order_no: order.order_no.clone(),
                amount: "5.00".into(),
                reason: Some("退货 return".into()),
                requested_by: "王芳".into(),
            },
            Approval {
                approver_name: "店长 李娜".into(),
                pin: "9999".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(refund.amount_fen, 500);
    let jobs = printer.wait_jobs(5).await;
    let pulses = jobs.iter().filter(|j| j.contains("[DRAWER")).count();
    assert_eq!(
        pulses, 2,
        "the sale and the refund each open the drawer: {jobs:?}"
    );
    let slip = jobs
        .iter()
        .find(|j| j.contains("退款单 REFUND"))
        .expect("a refund slip");
    assert!(
        slip.contains(&refund.refund_no) && slip.contains("￥5.00") && slip.contains("退货 return"),
        "{slip}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_followed_by_several_watchers_prints_one_slip() {
    let t = till().await;
    let printer = Printer::start(&t.dir.path().join("paper")).await;
    use_printer(&t, &printer.uri(), 58).await;
    t.counter.ensure_demo_users().await.unwrap();
    let order = t
        .counter
        .order_charge(charge(ChannelKind::Wechat, "30.00"))
        .await
        .unwrap();
    t.sim.scan(order.qr_payload.as_deref().unwrap()).await;
    t.sim.pay(&order.order_no).await;
    let paid = t
        .counter
        .wait_final(&order.order_no, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(paid.state, OrderState::Paid);
    printer.wait_jobs(1).await;

    // The refund's answer is lost: it is unknown and followed; a start's
    // recovery then adds more followers of the same refund.
    t.sim.faults(serde_json::json!({"drop_rate": 1.0})).await;
    let refund = t
        .counter
        .refund_create(
            shouyin_api::dto::RefundCreateRequest {
                order_no: paid.order_no.clone(),
                amount: "30.00".into(),
                reason: None,
                requested_by: "王芳".into(),
            },
            Approval {
                approver_name: "店长 李娜".into(),
                pin: "9999".into(),
            },
        )
        .await
        .unwrap();
    assert!(!refund.state.is_final(), "{refund:?}");
    for _ in 0..4 {
        t.counter.refunds_recover().await.unwrap();
    }
    t.sim.clear_faults().await;
    let done = t
        .counter
        .refund_wait_final(&refund.refund_no, Duration::from_secs(20))
        .await
        .unwrap();
    assert!(done.state.is_final() && done.amount_fen == 3000, "{done:?}");
    let jobs = printer.wait_jobs(2).await;
    // Give any further follower time to print a second slip.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let jobs_after = printer.wait_jobs(jobs.len()).await;
    let slips = jobs_after
        .iter()
        .filter(|j| j.contains("退款单 REFUND"))
        .count();
    assert_eq!(slips, 1, "one slip for one refund: {jobs_after:?}");

    // On 58 mm paper nothing is cut: a label and its value that do not fit
    // one line take two, and the store's name breaks between words.
    let slip = jobs_after
        .iter()
        .find(|j| j.contains("退款单 REFUND"))
        .unwrap();
    let lines: Vec<&str> = slip.lines().map(str::trim).collect();
    assert!(lines.contains(&"支付方式 Paid by"), "{slip}");
    assert!(lines.contains(&"微信支付 WeChat Pay"), "{slip}");
    assert!(
        lines.iter().any(|l| l.starts_with("演示门店 Demo "))
            && lines.iter().any(|l| l.starts_with("Store ")),
        "{slip}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_settings_are_checked_before_they_are_kept() {
    let t = till().await;
    let bad = [
        DeviceSettings {
            printer: Some("http://printer".into()),
            ..DeviceSettings::default()
        },
        DeviceSettings {
            printer: Some("file:lp0".into()),
            ..DeviceSettings::default()
        },
        DeviceSettings {
            paper_mm: 57,
            ..DeviceSettings::default()
        },
        DeviceSettings {
            copies: 0,
            ..DeviceSettings::default()
        },
        DeviceSettings {
            volume: 101,
            ..DeviceSettings::default()
        },
        DeviceSettings {
            header_lines: vec!["宽".repeat(25)],
            ..DeviceSettings::default()
        },
    ];
    for s in bad {
        let e = t.counter.device_settings_set(s.clone()).await.unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidInput, "{s:?}: {e}");
    }
    assert_eq!(
        t.counter.device_settings().await.unwrap(),
        DeviceSettings::default()
    );
    let kept = t
        .counter
        .device_settings_set(DeviceSettings {
            printer: Some(" tcp://192.168.1.50 ".into()),
            header_lines: vec!["  ".into(), "分店 Branch 2".into()],
            ..DeviceSettings::default()
        })
        .await
        .unwrap();
    assert_eq!(kept.printer.as_deref(), Some("tcp://192.168.1.50:9100"));
    assert_eq!(kept.header_lines, vec!["分店 Branch 2".to_string()]);
    assert_eq!(t.counter.device_settings().await.unwrap(), kept);
    let e = t.counter.receipt_reprint("NOPE".into()).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::NotFound);
}
