//! The use cases of Shouyin, shared by the desktop app, the `shouyin` CLI and
//! the tests: open a terminal's ledger, take a sale, list orders, and (in the
//! modules beside this one) watch QR payments, sync, report and export.
//!
//! Everything here is plain async Rust over the ledger and the channel
//! clients; nothing knows about Tauri. Results are DTOs (`dto`) and errors
//! are [`ApiError`] with a closed [`ErrorCode`] the UI branches on. The
//! ledger is synchronous SQLite, so each call runs it on the blocking pool
//! behind one mutex: one writer, as SQLite prefers.

pub mod dto;
mod error;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use shouyin_core::{AmountRules, BusinessCalendar, ChannelKind, Money, OrderState, TerminalId};
use shouyin_ledger::{seed::SeedPlan, Change, Ledger, NewOrder, OrderFilter, TerminalSetup};
use tokio::sync::broadcast;

pub use dto::{
    AlarmDto, AmountDto, ChannelAvailabilityDto, ChannelHealthDto, ChannelHealthState,
    ChargeRequest, CounterEvent, EventDto, OrderDto, TerminalDto,
};
pub use error::{ApiError, ErrorCode};

/// The ledger file inside an app data directory.
pub const LEDGER_FILE: &str = "ledger.db";

/// Where time comes from; tests pass a fixed or stepped clock.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> DateTime<Utc>;
}

#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// How a new terminal's ledger is set up (`shouyin init`, or the demo).
#[derive(Debug, Clone)]
pub struct InitRequest {
    pub store: String,
    pub terminal: String,
    pub timezone: String,
    pub day_cutoff: String,
    pub sale_limit: Option<String>,
}

impl InitRequest {
    /// The demo store the app creates on a fresh machine.
    pub fn demo() -> InitRequest {
        InitRequest {
            store: "演示门店 Demo Store".into(),
            terminal: "T01".into(),
            timezone: "Asia/Shanghai".into(),
            day_cutoff: "04:00".into(),
            sale_limit: None,
        }
    }
}

/// Create a terminal's ledger file. Refuses an existing file.
pub fn init_ledger(
    path: &Path,
    req: &InitRequest,
    now: DateTime<Utc>,
) -> Result<TerminalDto, ApiError> {
    let terminal = TerminalId::parse(&req.terminal)
        .map_err(|e| ApiError::new(ErrorCode::InvalidInput, e.to_string()))?;
    let calendar = BusinessCalendar::parse(&req.timezone, &req.day_cutoff)
        .map_err(|e| ApiError::new(ErrorCode::InvalidInput, e.to_string()))?;
    let sale_limit_fen = match &req.sale_limit {
        Some(limit) => Money::parse(limit, &AmountRules::sale(i64::MAX))?.fen(),
        None => shouyin_core::DEFAULT_SALE_LIMIT_FEN,
    };
    let setup = TerminalSetup {
        store: req.store.clone(),
        terminal,
        calendar,
        sale_limit_fen,
    };
    let ledger = Ledger::create(path, &setup, now)?;
    Ok(TerminalDto::new(ledger.terminal(), Vec::new()))
}

/// Check an amount as typed, without recording anything.
pub fn amount_check(input: &str) -> Result<AmountDto, ApiError> {
    Ok(Money::parse(input, &AmountRules::default())?.into())
}

/// A terminal's counter: its ledger, its clock, and the feed of order
/// changes the UI listens to. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Counter {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    ledger: Mutex<Ledger>,
    clock: Arc<dyn Clock>,
    changes: broadcast::Sender<CounterEvent>,
}

impl Counter {
    /// Open the ledger in an app data directory, creating the demo terminal
    /// there on first start.
    pub async fn open(data_dir: &Path) -> Result<Counter, ApiError> {
        let data_dir = data_dir.to_owned();
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let now = clock.now();
        let ledger = blocking(move || {
            std::fs::create_dir_all(&data_dir).map_err(|e| {
                ApiError::new(
                    ErrorCode::Storage,
                    format!(
                        "cannot create the data directory {}: {e}",
                        data_dir.display()
                    ),
                )
            })?;
            let path = data_dir.join(LEDGER_FILE);
            if !path.exists() {
                init_ledger(&path, &InitRequest::demo(), now)?;
            }
            Ok(Ledger::open(&path)?)
        })
        .await?;
        Ok(Counter::from_ledger(ledger, clock))
    }

    /// Open an existing ledger file (the CLI's `--db`).
    pub async fn open_ledger(path: &Path, clock: Arc<dyn Clock>) -> Result<Counter, ApiError> {
        let path: PathBuf = path.to_owned();
        let ledger = blocking(move || Ok(Ledger::open(&path)?)).await?;
        Ok(Counter::from_ledger(ledger, clock))
    }

    fn from_ledger(ledger: Ledger, clock: Arc<dyn Clock>) -> Counter {
        let (changes, _) = broadcast::channel(256);
        Counter {
            inner: Arc::new(Inner {
                ledger: Mutex::new(ledger),
                clock,
                changes,
            }),
        }
    }

    /// Order changes as they are committed, for the UI (Tauri events) and
    /// the customer display.
    pub fn subscribe(&self) -> broadcast::Receiver<CounterEvent> {
        self.inner.changes.subscribe()
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.inner.clock.now()
    }

    /// Run `f` with the ledger on the blocking pool.
    pub(crate) async fn with_ledger<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Ledger) -> Result<T, ApiError> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        blocking(move || {
            let mut ledger = inner.ledger.lock().map_err(|_| {
                ApiError::internal("the ledger lock was poisoned by an earlier panic")
            })?;
            f(&mut ledger)
        })
        .await
    }

    pub(crate) fn publish(&self, order: &OrderDto) {
        self.emit(CounterEvent::OrderChanged {
            order: order.clone(),
        });
    }

    pub(crate) fn emit(&self, event: CounterEvent) {
        // Nobody listening is fine: the CLI has no UI.
        let _ = self.inner.changes.send(event);
    }

    pub async fn terminal_get(&self) -> Result<TerminalDto, ApiError> {
        self.with_ledger(|ledger| {
            let channels = ChannelKind::ALL
                .into_iter()
                .map(|channel| match channel {
                    ChannelKind::Cash => ChannelAvailabilityDto {
                        channel,
                        available: true,
                        reason: None,
                    },
                    _ => ChannelAvailabilityDto {
                        channel,
                        available: false,
                        reason: Some("not configured".into()),
                    },
                })
                .collect();
            Ok(TerminalDto::new(ledger.terminal(), channels))
        })
        .await
    }

    /// Take a sale. Cash is recorded as paid at once; QR channels are taken
    /// by the payment service.
    pub async fn order_charge(&self, req: ChargeRequest) -> Result<OrderDto, ApiError> {
        if req.channel != ChannelKind::Cash {
            return Err(ApiError::new(
                ErrorCode::ChannelUnavailable,
                format!("{} is not configured on this terminal", req.channel),
            ));
        }
        let now = self.now();
        let order = self
            .with_ledger(move |ledger| {
                let rules = AmountRules::sale(ledger.terminal().sale_limit_fen);
                let amount = Money::parse(&req.amount, &rules)?;
                let order = ledger.create_order(
                    &NewOrder {
                        amount,
                        channel: ChannelKind::Cash,
                        cashier: clean(req.cashier),
                        note: clean(req.note),
                    },
                    now,
                )?;
                let paid = Change {
                    paid_at: Some(now),
                    ..Change::to(OrderState::Paid)
                };
                Ok(OrderDto::from(&ledger.transition(order.id, &paid, now)?))
            })
            .await?;
        self.publish(&order);
        Ok(order)
    }

    /// The most recent orders of the current business day, newest first.
    pub async fn orders_recent(&self, limit: u32) -> Result<Vec<OrderDto>, ApiError> {
        let now = self.now();
        self.with_ledger(move |ledger| {
            let today = ledger.calendar().business_date(now);
            let orders = ledger.orders(&OrderFilter {
                business_date: Some(today),
                limit: Some(limit),
                ..OrderFilter::default()
            })?;
            Ok(orders.iter().map(OrderDto::from).collect())
        })
        .await
    }

    /// Orders matching a filter, newest first.
    pub async fn orders_list(&self, filter: OrderFilter) -> Result<Vec<OrderDto>, ApiError> {
        self.with_ledger(move |ledger| {
            Ok(ledger.orders(&filter)?.iter().map(OrderDto::from).collect())
        })
        .await
    }

    /// One order and its events, for the detail view.
    pub async fn order_events(
        &self,
        order_no: String,
    ) -> Result<(OrderDto, Vec<EventDto>), ApiError> {
        self.with_ledger(move |ledger| {
            let order = ledger.order_by_no(&order_no)?;
            let events = ledger.events_for(order.id)?;
            Ok((
                OrderDto::from(&order),
                events.iter().map(EventDto::from).collect(),
            ))
        })
        .await
    }

    /// Fill the ledger with deterministic history (benchmarks, demos).
    pub async fn seed(&self, plan: SeedPlan) -> Result<shouyin_ledger::seed::SeedReport, ApiError> {
        self.with_ledger(move |ledger| Ok(ledger.seed(&plan)?))
            .await
    }
}

fn clean(text: Option<String>) -> Option<String> {
    text.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty())
}

async fn blocking<T, F>(f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, ApiError> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("a ledger task failed: {e}")))?
}
