//! The till's devices: the receipt printer, the cash drawer behind it and
//! the spoken payment announcements.
//!
//! Everything here follows a commit and never holds one up: a sale is in
//! the ledger before its receipt is queued, the queue is in the ledger
//! (so it outlives a restart), and a printer that is off leaves the job
//! `failed` ("not printed — retry") without touching the order. The drawer
//! opens by the printer's kick pulse on a cash sale, a cash refund and an
//! approved cash movement; each pulse and its outcome go to the audit log.
//! A payment is announced once confirmed (a channel's `paid`, or a cash
//! sale committed), never for `unverified` or unknown ones, and at most
//! once per payment, keyed by the channel's transaction number.

pub mod receipt;
pub mod transport;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::json;
use shouyin_core::{ChannelKind, OrderState};
use shouyin_ledger::audit::NewAudit;
use shouyin_ledger::devices::{PrintJob, PrintKind, PrintState};
use shouyin_ledger::refunds::Refund;
use shouyin_ledger::{Ledger, OrderFilter};
use shouyin_speech::{announcement, Payer, Voice};

use crate::dto::{AlarmDto, CounterEvent, OrderDto};
use crate::{ApiError, Counter, ErrorCode};
use receipt::PaperContext;
pub use transport::{PrinterUri, PrinterUriError, SendError};

const MAX_LINES: usize = 6;
const MAX_COPIES: u8 = 5;

/// Printer and speech settings (Settings → 打印与播报).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct DeviceSettings {
    /// `tcp://HOST:PORT`, `file:/dev/usb/lp0` or `cups:QUEUE`; none: no printer.
    pub printer: Option<String>,
    /// 58 or 80.
    pub paper_mm: u32,
    /// Print the receipt when a sale is paid.
    pub auto_print: bool,
    /// Copies of each sale receipt (1–5).
    pub copies: u8,
    pub header_lines: Vec<String>,
    pub footer_lines: Vec<String>,
    /// Announce payments aloud.
    pub speech: bool,
    /// 0–100 %.
    pub volume: u8,
}

impl Default for DeviceSettings {
    fn default() -> Self {
        DeviceSettings {
            printer: None,
            paper_mm: 80,
            auto_print: true,
            copies: 1,
            header_lines: Vec::new(),
            footer_lines: vec!["谢谢惠顾 Thank you".into()],
            speech: true,
            volume: 80,
        }
    }
}

impl DeviceSettings {
    /// Check what was typed; the answer is the settings as stored.
    pub fn validated(mut self) -> Result<DeviceSettings, ApiError> {
        let invalid = |m: String| ApiError::new(ErrorCode::InvalidInput, m);
        self.printer = match self.printer.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(text) => Some(
                PrinterUri::parse(text)
                    .map_err(|e| invalid(e.to_string()))?
                    .to_string(),
            ),
        };
        if shouyin_escpos::Paper::from_mm(self.paper_mm).is_none() {
            return Err(invalid(format!(
                "paper width {} mm: use 58 or 80",
                self.paper_mm
            )));
        }
        if self.copies == 0 || self.copies > MAX_COPIES {
            return Err(invalid(format!(
                "copies {}: use 1 to {MAX_COPIES}",
                self.copies
            )));
        }
        if self.volume > 100 {
            return Err(invalid(format!("volume {}: use 0 to 100", self.volume)));
        }
        let columns = if self.paper_mm == 58 { 32 } else { 48 };
        for lines in [&mut self.header_lines, &mut self.footer_lines] {
            lines.retain(|l| !l.trim().is_empty());
            if lines.len() > MAX_LINES {
                return Err(invalid(format!(
                    "at most {MAX_LINES} header or footer lines"
                )));
            }
            for l in lines.iter_mut() {
                *l = l.trim().to_owned();
                if l.chars().any(char::is_control) {
                    return Err(invalid(format!("line {l:?} holds a control character")));
                }
                if shouyin_escpos::layout::width(l) > columns {
                    return Err(invalid(format!(
                        "line {l:?} is wider than the paper ({columns} columns; a Chinese character takes two)"
                    )));
                }
            }
        }
        Ok(self)
    }

    fn printer_uri(&self) -> Option<PrinterUri> {
        self.printer
            .as_deref()
            .and_then(|p| PrinterUri::parse(p).ok())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum PrintKindDto {
    Receipt,
    Reprint,
    RefundSlip,
    ZReport,
    TestPage,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum PrintStateDto {
    Queued,
    Printed,
    /// Not printed: the order shows "not printed — retry".
    Failed,
}

/// A print job as the Orders screen shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct PrintJobDto {
    #[ts(type = "number")]
    pub id: i64,
    pub order_no: Option<String>,
    pub kind: PrintKindDto,
    pub state: PrintStateDto,
    #[ts(type = "number")]
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&PrintJob> for PrintJobDto {
    fn from(j: &PrintJob) -> Self {
        PrintJobDto {
            id: j.id,
            order_no: j.order_no.clone(),
            kind: match j.kind {
                PrintKind::Receipt => PrintKindDto::Receipt,
                PrintKind::Reprint => PrintKindDto::Reprint,
                PrintKind::RefundSlip => PrintKindDto::RefundSlip,
                PrintKind::ZReport => PrintKindDto::ZReport,
                PrintKind::TestPage => PrintKindDto::TestPage,
            },
            state: match j.state {
                PrintState::Queued => PrintStateDto::Queued,
                PrintState::Printed => PrintStateDto::Printed,
                PrintState::Failed => PrintStateDto::Failed,
            },
            attempts: j.attempts,
            last_error: j.last_error.clone(),
            created_at: shouyin_ledger::ts(j.created_at),
            updated_at: shouyin_ledger::ts(j.updated_at),
        }
    }
}

/// A payment said aloud.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct AnnouncementDto {
    pub payment_key: String,
    pub text: String,
    pub at: String,
}

/// Why the drawer opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DrawerReason {
    CashSale,
    CashRefund,
    /// A pay-in, pay-out or "open drawer" without a sale, approved.
    CashMovement,
}

impl DrawerReason {
    fn as_str(self) -> &'static str {
        match self {
            DrawerReason::CashSale => "cash_sale",
            DrawerReason::CashRefund => "cash_refund",
            DrawerReason::CashMovement => "cash_movement",
        }
    }
}

/// The devices' state inside a counter.
#[derive(Debug, Default)]
pub(crate) struct DevicesShared {
    /// One sender drains the queue at a time, so jobs print in order.
    draining: tokio::sync::Mutex<()>,
    /// Render announcements to WAV files here instead of the sound card
    /// (a till without speakers, and the tests).
    speech_dir: Mutex<Option<PathBuf>>,
}

fn printer_error(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(ErrorCode::PrinterFailed, e.to_string())
}

fn load_settings(ledger: &Ledger) -> Result<DeviceSettings, ApiError> {
    match ledger.device_settings()? {
        None => Ok(DeviceSettings::default()),
        Some(json) => serde_json::from_str(&json)
            .map_err(|e| ApiError::internal(format!("stored device settings: {e}"))),
    }
}

fn context(ledger: &Ledger, settings: DeviceSettings) -> PaperContext {
    let t = ledger.terminal();
    PaperContext {
        store: t.store.clone(),
        terminal: t.terminal.to_string(),
        calendar: *ledger.calendar(),
        settings,
    }
}

/// The key a payment is announced under: the channel's transaction number,
/// or the order number for cash (which has none).
fn payment_key(order: &OrderDto) -> String {
    match (&order.channel_trade_no, order.channel) {
        (_, ChannelKind::Cash) => format!("cash:{}", order.order_no),
        (Some(no), c) => format!("{}:{no}", c.as_str()),
        (None, c) => format!("{}:order:{}", c.as_str(), order.order_no),
    }
}

fn payer(c: ChannelKind) -> Payer {
    match c {
        ChannelKind::Alipay => Payer::Alipay,
        ChannelKind::Wechat => Payer::Wechat,
        ChannelKind::Unionpay => Payer::Unionpay,
        ChannelKind::Cash => Payer::Cash,
    }
}

/// The sale receipt of one order from a ledger file, straight to a printer
/// (`shouyin receipt`): no queue, and the printer's failure is the answer.
pub fn print_receipt_from_ledger(
    ledger_path: &Path,
    order_no: &str,
    paper_mm: Option<u32>,
    printer: &PrinterUri,
) -> Result<(), ApiError> {
    let ledger = Ledger::open_read_only(ledger_path)?;
    let mut settings = load_settings(&ledger)?;
    if let Some(mm) = paper_mm {
        settings.paper_mm = mm;
    }
    settings.copies = 1;
    let settings = settings.validated()?;
    let order = ledger.order_by_no(order_no.trim())?;
    let refunds = ledger.refunds_for_order(order.id)?;
    let bytes = receipt::sale_receipt(&order, &refunds, &context(&ledger, settings), false);
    printer.send(&bytes).map_err(printer_error)
}

/// The drawer's kick pulse straight to a printer (`shouyin drawer`).
pub fn drawer_pulse_to(printer: &PrinterUri) -> Result<(), ApiError> {
    let mut r = shouyin_escpos::Receipt::bare(shouyin_escpos::Paper::Mm80);
    r.drawer_kick();
    printer.send(r.bytes()).map_err(printer_error)
}

impl Counter {
    pub async fn device_settings(&self) -> Result<DeviceSettings, ApiError> {
        self.with_ledger(|ledger| load_settings(ledger)).await
    }

    pub async fn device_settings_set(
        &self,
        settings: DeviceSettings,
    ) -> Result<DeviceSettings, ApiError> {
        let settings = settings.validated()?;
        let json = serde_json::to_string(&settings)
            .map_err(|e| ApiError::internal(format!("device settings: {e}")))?;
        self.with_ledger(move |ledger| {
            ledger.set_device_settings(&json)?;
            Ok(())
        })
        .await?;
        Ok(settings)
    }

    /// Announce to WAV files in `dir` rather than the sound card.
    pub fn speech_to_files(&self, dir: Option<PathBuf>) {
        *self
            .inner
            .devices
            .speech_dir
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = dir;
    }

    /// The payments announced, newest first.
    pub async fn announcements(&self, limit: u32) -> Result<Vec<AnnouncementDto>, ApiError> {
        self.with_ledger(move |ledger| {
            Ok(ledger
                .announcements(limit)?
                .into_iter()
                .map(|a| AnnouncementDto {
                    payment_key: a.payment_key,
                    text: a.text,
                    at: shouyin_ledger::ts(a.at),
                })
                .collect())
        })
        .await
    }

    /// What follows every committed order change: a payment that is now
    /// confirmed is announced and its receipt queued. Runs after the
    /// commit, in the background; nothing here can fail the sale.
    pub(crate) fn after_commit(&self, order: &OrderDto) {
        if order.state != OrderState::Paid {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let counter = self.clone();
        let order = order.clone();
        runtime.spawn(async move {
            if let Err(e) = counter.announce(&order).await {
                tracing::warn!(order_no = %order.order_no, "announcement: {e}");
            }
            if let Err(e) = counter.queue_receipt(&order).await {
                tracing::warn!(order_no = %order.order_no, "receipt not queued: {e}");
            }
        });
    }

    async fn announce(&self, order: &OrderDto) -> Result<(), ApiError> {
        let key = payment_key(order);
        let text = announcement(payer(order.channel), order.amount_fen);
        let (order_id, text_kept) = (order.id, text.clone());
        let settings = self
            .with_ledger(move |ledger| {
                let settings = load_settings(ledger)?;
                if !settings.speech {
                    return Ok(None);
                }
                let now = chrono::Utc::now();
                Ok(ledger
                    .announce_once(&key, Some(order_id), &text_kept, now)?
                    .then_some(settings))
            })
            .await?;
        let Some(settings) = settings else {
            return Ok(());
        };
        let voice = Voice {
            volume: settings.volume,
            ..Voice::default()
        };
        let dir = self
            .inner
            .devices
            .speech_dir
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let order_no = order.order_no.clone();
        tokio::task::spawn_blocking(move || match dir {
            Some(dir) => voice.render_wav(&text, &dir.join(format!("{order_no}.wav"))),
            None => voice.speak(&text),
        })
        .await
        .map_err(|e| ApiError::internal(format!("speech task: {e}")))?
        .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))
    }

    /// Queue a paid order's receipt (once) when auto-print is on.
    async fn queue_receipt(&self, order: &OrderDto) -> Result<(), ApiError> {
        let no = order.order_no.clone();
        let now = self.now();
        let queued = self
            .with_ledger(move |ledger| {
                let settings = load_settings(ledger)?;
                if !settings.auto_print || settings.printer_uri().is_none() {
                    return Ok(false);
                }
                let order = ledger.order_by_no(&no)?;
                let refunds = ledger.refunds_for_order(order.id)?;
                let bytes =
                    receipt::sale_receipt(&order, &refunds, &context(ledger, settings), false);
                Ok(ledger
                    .print_job_add(Some(order.id), PrintKind::Receipt, &bytes, now)?
                    .is_some())
            })
            .await?;
        if queued {
            self.print_drain().await;
        }
        Ok(())
    }

    /// Send every queued job, oldest first. A job that cannot be sent is
    /// marked failed and waits for a retry; the next one is still tried.
    pub async fn print_drain(&self) {
        let _one = self.inner.devices.draining.lock().await;
        loop {
            let queued = self
                .with_ledger(|ledger| Ok((ledger.print_jobs_queued()?, load_settings(ledger)?)))
                .await;
            let (jobs, settings) = match queued {
                Ok((jobs, _)) if jobs.is_empty() => return,
                Ok(found) => found,
                Err(e) => {
                    tracing::error!("print queue: {e}");
                    return;
                }
            };
            for job in jobs {
                let uri = settings.printer_uri();
                let data = job.data.clone();
                let outcome = match uri {
                    None => Err("no printer is set up".to_owned()),
                    Some(uri) => tokio::task::spawn_blocking(move || uri.send(&data))
                        .await
                        .map_err(|e| e.to_string())
                        .and_then(|r| r.map_err(|e| e.to_string())),
                };
                if let Err(e) = &outcome {
                    tracing::warn!(job = job.id, order_no = ?job.order_no, "not printed: {e}");
                }
                let now = self.now();
                let id = job.id;
                let recorded = self
                    .with_ledger(move |ledger| {
                        Ok(ledger.print_job_done(
                            id,
                            outcome.as_ref().map(|_| ()).map_err(String::as_str),
                            now,
                        )?)
                    })
                    .await;
                if let Err(e) = recorded {
                    tracing::error!(job = id, "print outcome not recorded: {e}");
                    return;
                }
            }
        }
    }

    async fn queue_and_print(
        &self,
        order_id: Option<i64>,
        kind: PrintKind,
        render: impl FnOnce(&Ledger, PaperContext) -> Result<Vec<u8>, ApiError> + Send + 'static,
    ) -> Result<PrintJobDto, ApiError> {
        let now = self.now();
        let job = self
            .with_ledger(move |ledger| {
                let settings = load_settings(ledger)?;
                if settings.printer_uri().is_none() {
                    return Err(ApiError::new(
                        ErrorCode::InvalidInput,
                        "no printer is set up: choose one in Settings",
                    ));
                }
                let bytes = render(ledger, context(ledger, settings))?;
                ledger
                    .print_job_add(order_id, kind, &bytes, now)?
                    .ok_or_else(|| ApiError::internal("print job not queued"))
            })
            .await?;
        self.print_drain().await;
        let id = job.id;
        self.with_ledger(move |ledger| Ok(PrintJobDto::from(&ledger.print_job(id)?)))
            .await
    }

    /// Print a page that shows the printer works (Settings).
    pub async fn print_test_page(&self) -> Result<PrintJobDto, ApiError> {
        let now = self.now();
        self.queue_and_print(None, PrintKind::TestPage, move |_, ctx| {
            Ok(receipt::test_page(&ctx, now))
        })
        .await
    }

    /// Print an order's receipt again, marked 重印 REPRINT (one copy).
    pub async fn receipt_reprint(&self, order_no: String) -> Result<PrintJobDto, ApiError> {
        let no = order_no.trim().to_owned();
        let order_id = self
            .with_ledger(move |ledger| Ok(ledger.order_by_no(&no)?.id))
            .await?;
        self.queue_and_print(
            Some(order_id),
            PrintKind::Reprint,
            move |ledger, mut ctx| {
                let order = ledger.order(order_id)?;
                if !order.state.is_paid() {
                    return Err(ApiError::new(
                        ErrorCode::Conflict,
                        format!(
                            "order {} is {}: it has no receipt",
                            order.out_trade_no,
                            order.state.as_str()
                        ),
                    ));
                }
                let refunds = ledger.refunds_for_order(order_id)?;
                ctx.settings.copies = 1;
                Ok(receipt::sale_receipt(&order, &refunds, &ctx, true))
            },
        )
        .await
    }

    /// Print a closed shift's Z report.
    pub async fn z_report_print(&self, shift_id: i64) -> Result<PrintJobDto, ApiError> {
        let text = self.shift_report_text(shift_id).await?;
        self.queue_and_print(None, PrintKind::ZReport, move |_, ctx| {
            Ok(receipt::text_slip(&text, &ctx))
        })
        .await
    }

    /// Send a job that was not printed once more.
    pub async fn print_retry(&self, job_id: i64) -> Result<PrintJobDto, ApiError> {
        let now = self.now();
        self.with_ledger(move |ledger| Ok(ledger.print_job_requeue(job_id, now)?))
            .await?;
        self.print_drain().await;
        self.with_ledger(move |ledger| Ok(PrintJobDto::from(&ledger.print_job(job_id)?)))
            .await
    }

    /// Jobs not printed, newest first ("not printed — retry").
    pub async fn print_failed(&self) -> Result<Vec<PrintJobDto>, ApiError> {
        self.with_ledger(|ledger| {
            Ok(ledger
                .print_jobs_failed(200)?
                .iter()
                .map(PrintJobDto::from)
                .collect())
        })
        .await
    }

    /// An order's print jobs, oldest first.
    pub async fn order_print_jobs(&self, order_no: String) -> Result<Vec<PrintJobDto>, ApiError> {
        self.with_ledger(move |ledger| {
            let order = ledger.order_by_no(order_no.trim())?;
            Ok(ledger
                .print_jobs_for(order.id)?
                .iter()
                .map(PrintJobDto::from)
                .collect())
        })
        .await
    }

    /// The order a scanned code names: its order number (the receipt's
    /// barcode) or the channel's transaction number.
    pub async fn order_lookup(&self, code: String) -> Result<OrderDto, ApiError> {
        let code = code.trim().to_owned();
        if code.is_empty() || code.len() > 64 || !code.chars().all(|c| c.is_ascii_graphic()) {
            return Err(ApiError::new(
                ErrorCode::InvalidInput,
                format!("{code:?} is not an order or transaction number"),
            ));
        }
        self.with_ledger(move |ledger| {
            let found = ledger.orders(&OrderFilter {
                search: Some(code.clone()),
                limit: Some(20),
                ..OrderFilter::default()
            })?;
            found
                .iter()
                .find(|o| o.out_trade_no == code || o.channel_trade_no.as_deref() == Some(&code))
                .map(OrderDto::from)
                .ok_or_else(|| {
                    ApiError::new(ErrorCode::NotFound, format!("no order with number {code}"))
                })
        })
        .await
    }

    /// After a refund succeeded: a cash refund opens the drawer; with
    /// auto-print on, the refund slip prints.
    pub(crate) fn after_refund(&self, refund: &Refund) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let counter = self.clone();
        let refund = refund.clone();
        runtime.spawn(async move {
            if refund.channel == ChannelKind::Cash {
                let actor = refund
                    .requested_by
                    .clone()
                    .unwrap_or_else(|| "system".into());
                counter.drawer_pulse(DrawerReason::CashRefund, &actor).await;
            }
            let now = counter.now();
            let queued = counter
                .with_ledger(move |ledger| {
                    let settings = load_settings(ledger)?;
                    if !settings.auto_print || settings.printer_uri().is_none() {
                        return Ok(false);
                    }
                    let order = ledger.order(refund.order_id)?;
                    let bytes = receipt::refund_slip(&refund, &order, &context(ledger, settings));
                    ledger.print_job_add(Some(order.id), PrintKind::RefundSlip, &bytes, now)?;
                    Ok(true)
                })
                .await;
            match queued {
                Ok(true) => counter.print_drain().await,
                Ok(false) => {}
                Err(e) => tracing::warn!("refund slip not queued: {e}"),
            }
        });
    }

    /// After a cash sale is committed: open the drawer, in the background.
    pub(crate) fn after_cash_sale(&self, order: &OrderDto) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let counter = self.clone();
        let actor = order.cashier.clone().unwrap_or_else(|| "system".into());
        runtime.spawn(async move {
            counter.drawer_pulse(DrawerReason::CashSale, &actor).await;
        });
    }

    /// After an approved cash movement: open the drawer.
    pub(crate) fn after_cash_movement(&self, actor: &str) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let counter = self.clone();
        let actor = actor.to_owned();
        runtime.spawn(async move {
            counter
                .drawer_pulse(DrawerReason::CashMovement, &actor)
                .await;
        });
    }

    /// Send the drawer's kick pulse and record it in the audit log. A drawer
    /// that did not open raises an alarm on screen. Pulses are sent
    /// straight away, never queued: a drawer must not spring open later.
    pub async fn drawer_pulse(&self, reason: DrawerReason, actor: &str) -> bool {
        let settings = match self.device_settings().await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("drawer: {e}");
                return false;
            }
        };
        let Some(uri) = settings.printer_uri() else {
            tracing::info!(
                reason = reason.as_str(),
                "no printer set up: no drawer to open"
            );
            return false;
        };
        let target = uri.to_string();
        let sent = tokio::task::spawn_blocking(move || drawer_pulse_to(&uri))
            .await
            .map_err(|e| ApiError::internal(e.to_string()))
            .and_then(|r| r);
        let now = self.now();
        let detail = json!({
            "reason": reason.as_str(),
            "printer": target,
            "opened": sent.is_ok(),
            "error": sent.as_ref().err().map(|e| e.message.clone()),
        });
        let actor = actor.to_owned();
        if let Err(e) = self
            .with_ledger(move |ledger| {
                ledger.audit_append(&NewAudit::new(actor, "drawer_pulse", detail), now)?;
                Ok(())
            })
            .await
        {
            tracing::error!("drawer pulse not audited: {e}");
        }
        if let Err(e) = &sent {
            self.emit(CounterEvent::Alarm {
                alarm: AlarmDto {
                    kind: "drawer_failed".into(),
                    at: shouyin_ledger::ts(now),
                    channel: None,
                    order_no: None,
                    message: format!("the cash drawer did not open: {}", e.message),
                },
            });
        }
        sent.is_ok()
    }
}
