//! The use cases of Shouyin, shared by the desktop app, the `shouyin` CLI and
//! the tests: open a terminal's ledger, take a sale, list orders, and (in the
//! modules beside this one) watch QR payments, sync, report and export.
//!
//! Everything here is plain async Rust over the ledger and the channel
//! clients; nothing knows about Tauri. Results are DTOs (`dto`) and errors
//! are [`ApiError`] with a closed [`ErrorCode`] the UI branches on. The
//! ledger is synchronous SQLite, so each call runs it on the blocking pool
//! behind one mutex: one writer, as SQLite prefers.
//!
//! Head office is reached through one client (`hq_client`) that the sync
//! and relay loops share: one connection pool, one request signer, one
//! backoff, and its own error codes (`hq_unreachable`, `hq_refused`). The
//! protocol types come from `shouyin-wire`; the server itself is not linked.

pub mod backup;
mod cash;
pub mod channel_calls;
pub mod channel_entry;
pub mod channel_setup;
pub mod devices;
pub mod dto;
mod error;
pub mod export;
mod health;
mod hq_client;
pub mod hq_url;
#[cfg(test)]
mod kinds_export;
pub mod language;
pub mod lock;
pub mod paycode;
pub mod payments;
pub mod qr;
pub mod reconcile;
pub mod refunds;
pub mod relay;
pub mod reports;
pub mod rescue;
pub mod roles;
pub mod shifts;
pub mod staff;
pub mod startup;
pub mod suspensions;
pub mod sync;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use shouyin_channels::{Channel, ChannelsFile};
use shouyin_core::{AmountRules, BusinessCalendar, ChannelKind, Money, TerminalId};
use shouyin_ledger::{seed::SeedPlan, Ledger, OrderFilter, TerminalSetup};
pub use shouyin_secrets::SecretStore;
use tokio::sync::{broadcast, watch, Semaphore};
use tokio::task::JoinHandle;

pub use paycode::{CodePollSchedule, CodeSettings};
pub use payments::{BuyerSignal, PaymentSettings, PollSchedule};
pub use shouyin_ledger::users::PinCost;

pub use dto::{
    AlarmDto, AmountDto, ChannelAvailabilityDto, ChannelHealthDto, ChannelHealthState,
    ChargeRequest, CodeChargeRequest, CounterEvent, EventDto, OrderDto, TerminalDto,
};
pub use error::{ApiError, ErrorCode};
pub use hq_client::HqError;
pub use startup::{StartPlan, Startup, StartupReport, StartupStage};

/// The ledger file inside an app data directory.
pub const LEDGER_FILE: &str = "ledger.db";
/// The channels file (the simulator's `credentials.json` shape) inside an
/// app data directory. It holds private keys: it is never part of the ledger.
pub const CHANNELS_FILE: &str = "channels.json";

/// What a counter is opened with besides its ledger.
#[derive(Debug, Clone)]
pub struct CounterOptions {
    pub channels: HashMap<ChannelKind, Arc<dyn Channel>>,
    pub payments: PaymentSettings,
    pub clock: Arc<dyn Clock>,
    /// Hold the ledger's exclusive lock ([`lock`]) while the counter lives,
    /// refusing to open one another program holds. [`Counter::open`] (the
    /// app) always does; the CLI does for the commands that settle payments.
    pub exclusive: bool,
    /// What a new PIN hash costs. Production by default; test suites pass
    /// [`PinCost::cheap_for_tests`].
    pub pin_cost: PinCost,
    /// Where the rotating set of backups goes; with one, the counter backs
    /// up at each shift close and (when started as a counter) daily. The
    /// app's is `backups` in its data directory.
    pub backup_dir: Option<PathBuf>,
    /// Where channel keys and the head-office secret are kept when set up
    /// from this counter. The app asks the session ([`SecretStore::detect`]).
    pub secret_store: SecretStore,
}

impl Default for CounterOptions {
    fn default() -> Self {
        CounterOptions {
            channels: HashMap::new(),
            payments: PaymentSettings::default(),
            clock: Arc::new(SystemClock),
            exclusive: false,
            pin_cost: PinCost::PRODUCTION,
            backup_dir: None,
            secret_store: SecretStore::PrivateFiles,
        }
    }
}

/// Build the channel clients of a channels file. Keys the file names by a
/// Secret Service reference are read from the Secret Service.
pub fn load_channels(path: &Path) -> Result<HashMap<ChannelKind, Arc<dyn Channel>>, ApiError> {
    let mut file = ChannelsFile::load(path).map_err(|e| {
        ApiError::new(
            ErrorCode::InvalidInput,
            format!("channels file {}: {e}", path.display()),
        )
    })?;
    channel_setup::resolve_secrets(&mut file).map_err(|e| {
        ApiError::new(
            ErrorCode::Storage,
            format!("channels file {}: {e}", path.display()),
        )
    })?;
    file.build().map_err(|e| {
        ApiError::new(
            ErrorCode::InvalidInput,
            format!("channels file {}: {e}", path.display()),
        )
    })
}

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

    /// A real store's first start in the app: no demo name; the store's
    /// own name is set with `shouyin init` (or, later, the set-up screen).
    pub fn new_store() -> InitRequest {
        InitRequest {
            store: "门店 Store".into(),
            ..InitRequest::demo()
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
    /// Replaced once, when the first start imports a channels file.
    channels: std::sync::RwLock<HashMap<ChannelKind, Arc<dyn Channel>>>,
    settings: PaymentSettings,
    pin_cost: PinCost,
    health: Mutex<HashMap<ChannelKind, health::ChannelHealth>>,
    watchers: Mutex<HashMap<i64, JoinHandle<()>>>,
    /// Orders to be closed at the channel as soon as it allows, and why.
    closing: Mutex<HashMap<i64, String>>,
    watch_slots: Arc<Semaphore>,
    shutdown: watch::Sender<bool>,
    /// The store and terminal as set up (the first-start set-up may change
    /// them once, before anything is recorded).
    store_name: std::sync::RwLock<String>,
    terminal_id: std::sync::RwLock<String>,
    /// Where the ledger lives; the head-office file sits beside it.
    ledger_path: PathBuf,
    /// The app's data directory, when opened through one ([`Counter::open`]):
    /// exports are never written inside it.
    data_dir: Option<PathBuf>,
    /// The sync client's state between passes.
    sync: sync::SyncShared,
    /// Payment notifications relayed by head office.
    relay: relay::RelayShared,
    /// The demo store of `make run`, with its demo staff.
    demo: std::sync::atomic::AtomicBool,
    /// The one client of head office, shared by sync and relay.
    hq: hq_client::HqClient,
    /// Channel calls not yet reported to head office.
    calls: Arc<channel_calls::ChannelCalls>,
    /// The files exported since the counter started: "open folder" opens
    /// only the folder of one of these.
    exported: Mutex<Vec<PathBuf>>,
    /// The rotating set of backups, when this counter keeps one.
    backup_dir: Option<PathBuf>,
    /// One backup at a time.
    backup_running: tokio::sync::Mutex<()>,
    /// The ledger's exclusive lock, when this counter holds it.
    _lock: Option<lock::LedgerLock>,
    /// The receipt printer's queue and the announcements' voice.
    devices: devices::DevicesShared,
    /// Where secrets set up from this counter are kept.
    secret_store: SecretStore,
}

impl Counter {
    /// Open the ledger in an app data directory, creating the demo terminal
    /// there on first start.
    /// A channels file in the directory configures the QR channels.
    pub async fn open(data_dir: &Path) -> Result<Counter, ApiError> {
        Counter::open_in(data_dir, InitRequest::demo()).await
    }

    /// Open the ledger in an app data directory, creating it with `init`
    /// on first start.
    async fn open_in(data_dir: &Path, init: InitRequest) -> Result<Counter, ApiError> {
        let channels_path = data_dir.join(CHANNELS_FILE);
        let channels = if channels_path.exists() {
            blocking(move || load_channels(&channels_path)).await?
        } else {
            HashMap::new()
        };
        let data_dir = data_dir.to_owned();
        let data_dir_kept = data_dir.clone();
        let secret_store = blocking(|| Ok(SecretStore::detect())).await?;
        let options = CounterOptions {
            channels,
            exclusive: true,
            backup_dir: Some(backup::backup_dir(&data_dir)),
            secret_store,
            ..CounterOptions::default()
        };
        let now = options.clock.now();
        let (ledger, lock) = blocking(move || {
            // It holds the channels and head-office files: this user's only.
            shouyin_secrets::private_dir(&data_dir).map_err(|e| {
                ApiError::new(
                    ErrorCode::Storage,
                    format!(
                        "cannot create the data directory {}: {e}",
                        data_dir.display()
                    ),
                )
            })?;
            let path = data_dir.join(LEDGER_FILE);
            // Before anything is read or written: a second app on the same
            // data directory must not even create the demo ledger.
            let lock = lock::LedgerLock::acquire(&path)?;
            if !path.exists() {
                init_ledger(&path, &init, now)?;
            }
            Ok((Ledger::open(&path)?, lock))
        })
        .await?;
        let counter = Counter::from_ledger(ledger, options, Some(data_dir_kept), Some(lock));
        Ok(counter)
    }

    /// The desktop app's start: open the data directory's ledger. Only the
    /// demo (`make run`, the end-to-end tests) gets the demo staff with
    /// their known PINs; a real store's first start has no users and asks
    /// for its first manager ([`Counter::setup_first_manager`]).
    pub async fn open_app(data_dir: &Path, demo: bool) -> Result<Counter, ApiError> {
        let init = if demo {
            InitRequest::demo()
        } else {
            InitRequest::new_store()
        };
        let counter = Counter::open_in(data_dir, init).await?;
        if demo {
            counter
                .inner
                .demo
                .store(true, std::sync::atomic::Ordering::Relaxed);
            let added = counter.ensure_demo_users().await?;
            if added > 0 {
                tracing::info!("added {added} demo users");
            }
        }
        Ok(counter)
    }

    /// Whether this is the demo store.
    pub fn is_demo(&self) -> bool {
        self.inner.demo.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Open an existing ledger file (the CLI's `--db`).
    pub async fn open_ledger(path: &Path, options: CounterOptions) -> Result<Counter, ApiError> {
        let path: PathBuf = path.to_owned();
        let exclusive = options.exclusive;
        let (ledger, lock) = blocking(move || {
            let lock = if exclusive {
                Some(lock::LedgerLock::acquire(&path)?)
            } else {
                None
            };
            Ok((Ledger::open(&path)?, lock))
        })
        .await?;
        Ok(Counter::from_ledger(ledger, options, None, lock))
    }

    fn from_ledger(
        ledger: Ledger,
        options: CounterOptions,
        data_dir: Option<PathBuf>,
        lock: Option<lock::LedgerLock>,
    ) -> Counter {
        let (changes, _) = broadcast::channel(1024);
        let (shutdown, _) = watch::channel(false);
        let store_name = ledger.terminal().store.clone();
        let terminal_id = ledger.terminal().terminal.to_string();
        let ledger_path = ledger.path().to_owned();
        let health = options
            .channels
            .keys()
            .map(|k| (*k, health::ChannelHealth::new(*k)))
            .collect();
        let calls = Arc::new(channel_calls::ChannelCalls::default());
        let channels = options
            .channels
            .into_iter()
            .map(|(k, c)| {
                let metered = channel_calls::Metered::wrap(c, calls.clone(), options.clock.clone());
                (k, metered)
            })
            .collect();
        let counter = Counter {
            inner: Arc::new(Inner {
                ledger: Mutex::new(ledger),
                clock: options.clock,
                changes,
                watch_slots: Arc::new(Semaphore::new(options.payments.max_watchers.max(1))),
                channels: std::sync::RwLock::new(channels),
                settings: options.payments,
                pin_cost: options.pin_cost,
                health: Mutex::new(health),
                watchers: Mutex::new(HashMap::new()),
                closing: Mutex::new(HashMap::new()),
                shutdown,
                store_name: std::sync::RwLock::new(store_name),
                terminal_id: std::sync::RwLock::new(terminal_id),
                ledger_path,
                data_dir,
                sync: sync::SyncShared::default(),
                relay: relay::RelayShared::default(),
                demo: std::sync::atomic::AtomicBool::new(false),
                hq: hq_client::HqClient::default(),
                calls,
                exported: Mutex::new(Vec::new()),
                backup_dir: options.backup_dir,
                backup_running: tokio::sync::Mutex::new(()),
                _lock: lock,
                devices: devices::DevicesShared::default(),
                secret_store: options.secret_store,
            }),
        };
        counter.spawn_prober();
        counter
    }

    pub(crate) fn store_name(&self) -> String {
        self.inner
            .store_name
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(crate) fn terminal_name(&self) -> String {
        self.inner
            .terminal_id
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Where secrets set up from this counter are kept.
    pub fn secret_store(&self) -> SecretStore {
        self.inner.secret_store
    }

    /// The app's data directory, when the counter was opened through one.
    pub fn data_dir(&self) -> Option<&Path> {
        self.inner.data_dir.as_deref()
    }

    pub(crate) fn lock_health(
        &self,
    ) -> MutexGuard<'_, HashMap<ChannelKind, health::ChannelHealth>> {
        // Health is advisory; a panic elsewhere must not take the till down.
        self.inner.health.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn lock_watchers(&self) -> MutexGuard<'_, HashMap<i64, JoinHandle<()>>> {
        self.inner
            .watchers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn lock_closing(&self) -> MutexGuard<'_, HashMap<i64, String>> {
        self.inner.closing.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How each configured channel is doing.
    pub fn health_snapshot(&self) -> Vec<ChannelHealthDto> {
        let health = self.lock_health();
        let mut list: Vec<ChannelHealthDto> =
            health.values().map(health::ChannelHealth::dto).collect();
        list.sort_by_key(|h| h.channel.as_str());
        list
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

    /// Tell the UI about a committed change; a confirmed payment is then
    /// announced and its receipt printed (devices), after the commit.
    pub(crate) fn publish(&self, order: &OrderDto) {
        self.emit(CounterEvent::OrderChanged {
            order: Box::new(order.clone()),
        });
        self.after_commit(order);
    }

    pub(crate) fn emit(&self, event: CounterEvent) {
        // Nobody listening is fine: the CLI has no UI.
        let _ = self.inner.changes.send(event);
    }

    pub async fn terminal_get(&self) -> Result<TerminalDto, ApiError> {
        let health: HashMap<ChannelKind, ChannelHealthDto> = self
            .health_snapshot()
            .into_iter()
            .map(|h| (h.channel, h))
            .collect();
        let configured: Vec<ChannelKind> = self.channels_now().keys().copied().collect();
        let demo = self.is_demo();
        self.with_ledger(move |ledger| {
            let suspended: Vec<(ChannelKind, String)> = ledger
                .channel_suspensions()?
                .into_iter()
                .filter_map(|s| {
                    ChannelKind::ALL
                        .into_iter()
                        .find(|k| k.as_str() == s.channel)
                        .map(|k| (k, s.reason))
                })
                .collect();
            let channels = ChannelKind::ALL
                .into_iter()
                .map(|channel| {
                    let suspended = suspended
                        .iter()
                        .find(|(k, _)| *k == channel)
                        .map(|(_, reason)| reason.clone());
                    let (available, reason) = if channel == ChannelKind::Cash {
                        (true, None)
                    } else if let Some(why) = &suspended {
                        (false, Some(format!("suspended: {why}")))
                    } else if !configured.contains(&channel) {
                        (false, Some("not configured".to_owned()))
                    } else {
                        match health.get(&channel) {
                            Some(h) if h.state == ChannelHealthState::Offline => (
                                false,
                                Some(format!(
                                    "offline: {}",
                                    h.last_error.as_deref().unwrap_or("no answer")
                                )),
                            ),
                            _ => (true, None),
                        }
                    };
                    ChannelAvailabilityDto {
                        channel,
                        available,
                        reason,
                        suspended,
                    }
                })
                .collect();
            Ok(TerminalDto {
                demo,
                needs_setup: ledger.user_count()? == 0,
                ..TerminalDto::new(ledger.terminal(), channels)
            })
        })
        .await
    }

    /// Take a sale. Cash is recorded as paid at once; a QR channel returns
    /// the order with its code (`pending`) and is watched until final.
    pub async fn order_charge(&self, req: ChargeRequest) -> Result<OrderDto, ApiError> {
        if req.channel != ChannelKind::Cash {
            let channel = self.channel(req.channel)?;
            let limit = self
                .with_ledger(|l| Ok(l.terminal().sale_limit_fen))
                .await?;
            let amount = Money::parse(&req.amount, &AmountRules::sale(limit))?;
            return self
                .charge_qr(
                    channel.kind(),
                    amount,
                    clean(req.cashier),
                    clean(req.note),
                    req.force,
                )
                .await;
        }
        self.charge_cash(req).await
    }

    /// A sale at the till (the desktop app): whatever the channel, it
    /// needs an open shift (`shift_not_open`), as a counter opens its shift
    /// before the first customer and the shift's report lists every sale
    /// taken in it. Cash is checked again inside the sale's transaction;
    /// [`Counter::order_charge`] alone (scripts, the CLI) refuses only cash.
    pub async fn order_charge_at_till(&self, req: ChargeRequest) -> Result<OrderDto, ApiError> {
        if req.channel != ChannelKind::Cash
            && self
                .with_ledger(|l| Ok(l.current_shift()?))
                .await?
                .is_none()
        {
            return Err(ApiError::from(shouyin_ledger::LedgerError::ShiftNotOpen));
        }
        self.order_charge(req).await
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

    /// The history view's search: an order or channel transaction number
    /// (or part of one), an amount ("12.30"), or a channel by name in either
    /// language ("支付宝", "wechat", "现金"). Empty shows the latest orders.
    pub async fn orders_search(
        &self,
        query: String,
        limit: u32,
    ) -> Result<Vec<OrderDto>, ApiError> {
        let q = query.trim().to_lowercase();
        let channel = match q.as_str() {
            "alipay" | "支付宝" => Some(ChannelKind::Alipay),
            "wechat" | "wechatpay" | "微信" | "微信支付" => Some(ChannelKind::Wechat),
            "unionpay" | "银联" | "云闪付" => Some(ChannelKind::Unionpay),
            "cash" | "现金" => Some(ChannelKind::Cash),
            _ => None,
        };
        let filter = OrderFilter {
            channel,
            search: if channel.is_none() && !q.is_empty() {
                Some(query.trim().to_owned())
            } else {
                None
            },
            limit: Some(limit),
            ..OrderFilter::default()
        };
        self.orders_list(filter).await
    }

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
