//! Deterministic, realistic history for benchmarks and demos: a mix of
//! channels, many small tickets and a few large ones, lunch and evening
//! peaks, some closes, failures and refunds.
//!
//! Every refunded or part-refunded order also gets what a real refund leaves
//! behind: a `refunds` row (state `succeeded`, its own `out_refund_no`, the
//! business day of the refund's own time) and a `refund_succeeded` event, so
//! reports and head office count seeded refunds as they count real ones.
//!
//! The same seed gives the same ledger. Rows are written with prepared
//! statements in large transactions, with `synchronous = OFF` for the
//! duration: this is generated history, not sales, and a crash while seeding
//! only loses the seed (the pragma is restored afterwards).

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rusqlite::params;
use shouyin_core::{ChannelKind, OrderState};

use crate::{ts, Ledger, Result};

#[derive(Debug, Clone, Copy)]
pub struct SeedPlan {
    pub days: u32,
    pub per_day: u32,
    pub seed: u64,
    /// The last business day seeded (the days before it are seeded too).
    pub last_day: NaiveDate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeedReport {
    pub orders: u64,
    pub events: u64,
}

/// Relative weight of each local hour of the day: a lunch and an evening peak.
const HOUR_WEIGHTS: [(u32, u32); 16] = [
    (7, 2),
    (8, 5),
    (9, 4),
    (10, 5),
    (11, 9),
    (12, 12),
    (13, 8),
    (14, 4),
    (15, 4),
    (16, 5),
    (17, 8),
    (18, 11),
    (19, 9),
    (20, 6),
    (21, 3),
    (22, 1),
];

const ROWS_PER_TRANSACTION: u64 = 50_000;

impl Ledger {
    pub fn seed(&mut self, plan: &SeedPlan) -> Result<SeedReport> {
        let mut rng = ChaCha8Rng::seed_from_u64(plan.seed);
        let terminal = self.terminal.clone();
        let tz = terminal.calendar.timezone;
        let hour_total: u32 = HOUR_WEIGHTS.iter().map(|(_, w)| w).sum();

        self.conn.execute_batch("PRAGMA synchronous = OFF")?;
        let result = (|| -> Result<SeedReport> {
            let mut next_order: i64 = self.conn.query_row(
                "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'orders'), 0)",
                [],
                |r| r.get::<_, i64>(0),
            )? + 1;
            let mut next_seq = self.last_seq()? + 1;
            let mut report = SeedReport {
                orders: 0,
                events: 0,
            };
            let conn = &self.conn;
            conn.execute_batch("BEGIN")?;
            let mut in_tx: u64 = 0;
            for day_index in (0..plan.days).rev() {
                let date = plan.last_day - Duration::days(i64::from(day_index));
                let mut times: Vec<DateTime<Utc>> = (0..plan.per_day)
                    .map(|_| {
                        let mut pick = rng.gen_range(0..hour_total);
                        let mut hour = 12;
                        for (h, w) in HOUR_WEIGHTS {
                            if pick < w {
                                hour = h;
                                break;
                            }
                            pick -= w;
                        }
                        let secs = rng.gen_range(0..3600);
                        let local = date.and_time(NaiveTime::MIN)
                            + Duration::hours(i64::from(hour))
                            + Duration::seconds(secs);
                        tz.from_local_datetime(&local)
                            .earliest()
                            .map(|t| t.with_timezone(&Utc))
                            .unwrap_or_else(|| Utc.from_utc_datetime(&local))
                    })
                    .collect();
                times.sort();
                {
                    let mut insert_order = conn.prepare_cached(
                        "INSERT INTO orders (id, out_trade_no, store, terminal, cashier, amount_fen, currency,
                             channel, state, channel_trade_no, qr_payload, created_at, updated_at, paid_at,
                             expires_at, refunded_fen, note, business_date)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'CNY', ?7, ?8, ?9, NULL, ?10, ?11, ?12, ?13, ?14, NULL, ?15)",
                    )?;
                    let mut insert_event = conn.prepare_cached(
                        "INSERT INTO events (seq, order_id, kind, payload, at) VALUES (?1, ?2, ?3, ?4, ?5)",
                    )?;
                    let mut insert_refund = conn.prepare_cached(
                        "INSERT INTO refunds (order_id, out_refund_no, amount_fen, state, requested_by,
                             requested_at, settled_at, business_date)
                         VALUES (?1, ?2, ?3, 'succeeded', ?4, ?5, ?5, ?6)",
                    )?;
                    for created in times {
                        let sale = draw_sale(&mut rng);
                        let id = next_order;
                        next_order += 1;
                        let counter = u64::try_from(id).unwrap_or(0);
                        let out_trade_no =
                            shouyin_core::out_trade_no(&terminal.terminal, created, counter)
                                .map_err(|e| crate::LedgerError::Invalid(e.to_string()))?;
                        let business_date = terminal.calendar.business_date(created).to_string();
                        let settle = created + Duration::seconds(rng.gen_range(4..40));
                        let qr = sale.channel != ChannelKind::Cash;
                        let paid_at = sale.state.is_paid().then_some(settle);
                        let trade_no = (qr
                            && sale.state != OrderState::Failed
                            && sale.state != OrderState::Closed)
                            .then(|| trade_no(sale.channel, created, &mut rng));
                        let expires = qr.then(|| created + Duration::minutes(5));
                        let cashier = CASHIERS[rng.gen_range(0..CASHIERS.len())];
                        insert_order.execute(params![
                            id,
                            out_trade_no,
                            terminal.store,
                            terminal.terminal.as_str(),
                            cashier,
                            sale.amount_fen,
                            sale.channel.as_str(),
                            sale.state.as_str(),
                            trade_no,
                            ts(created),
                            ts(settle),
                            paid_at.map(ts),
                            expires.map(ts),
                            sale.refunded_fen,
                            business_date,
                        ])?;
                        let base = format!(
                            r#""order_no":"{out_trade_no}","amount_fen":{},"currency":"CNY","channel":"{}","business_date":"{business_date}""#,
                            sale.amount_fen,
                            sale.channel.as_str()
                        );
                        let mut events: Vec<(String, String, DateTime<Utc>)> =
                            Vec::with_capacity(5);
                        events.push((
                            "order_created".into(),
                            format!(
                                r#"{{{base},"cashier":"{cashier}","created_at":"{}"}}"#,
                                ts(created)
                            ),
                            created,
                        ));
                        let mut from = "created";
                        if qr {
                            events.push((
                                "order_pending".into(),
                                format!(r#"{{{base},"from":"created","to":"pending"}}"#),
                                created,
                            ));
                            from = "pending";
                        }
                        let final_state = if sale.state.is_paid() {
                            OrderState::Paid
                        } else {
                            sale.state
                        };
                        let trade = trade_no
                            .as_deref()
                            .map(|t| format!(r#","channel_trade_no":"{t}""#))
                            .unwrap_or_default();
                        let paid = paid_at
                            .map(|p| format!(r#","paid_at":"{}""#, ts(p)))
                            .unwrap_or_default();
                        events.push((
                            format!("order_{}", final_state.as_str()),
                            format!(
                                r#"{{{base},"from":"{from}","to":"{}"{trade}{paid}}}"#,
                                final_state.as_str()
                            ),
                            settle,
                        ));
                        if sale.refunded_fen > 0 {
                            let at = settle + Duration::hours(rng.gen_range(1..30));
                            // One refund per order, numbered after the order so
                            // it is unique and stable across runs.
                            let out_refund_no = format!("{out_trade_no}_R1");
                            let refund_date = terminal.calendar.business_date(at).to_string();
                            insert_refund.execute(params![
                                id,
                                out_refund_no,
                                sale.refunded_fen,
                                cashier,
                                ts(at),
                                refund_date,
                            ])?;
                            events.push((
                                format!("order_{}", sale.state.as_str()),
                                format!(
                                    r#"{{{base},"from":"paid","to":"{}","refund_fen":{},"refunded_fen":{},"out_refund_no":"{out_refund_no}"}}"#,
                                    sale.state.as_str(),
                                    sale.refunded_fen,
                                    sale.refunded_fen
                                ),
                                at,
                            ));
                            events.push((
                                "refund_succeeded".into(),
                                format!(
                                    r#"{{"order_no":"{out_trade_no}","out_refund_no":"{out_refund_no}","refund_fen":{},"channel":"{}","business_date":"{refund_date}"}}"#,
                                    sale.refunded_fen,
                                    sale.channel.as_str()
                                ),
                                at,
                            ));
                        }
                        for (kind, payload, at) in events {
                            insert_event.execute(params![next_seq, id, kind, payload, ts(at)])?;
                            next_seq += 1;
                            report.events += 1;
                        }
                        report.orders += 1;
                        in_tx += 1;
                        if in_tx >= ROWS_PER_TRANSACTION {
                            conn.execute_batch("COMMIT; BEGIN")?;
                            in_tx = 0;
                        }
                    }
                }
            }
            conn.execute_batch("COMMIT")?;
            Ok(report)
        })();
        if result.is_err() {
            // Leave no half-open transaction behind; what was committed stays.
            let _ = self.conn.execute_batch("ROLLBACK");
        }
        self.conn.execute_batch("PRAGMA synchronous = FULL")?;
        result
    }
}

const CASHIERS: [&str; 4] = ["王芳", "李娜", "张伟", "Chen"];

struct Sale {
    channel: ChannelKind,
    amount_fen: i64,
    state: OrderState,
    refunded_fen: i64,
}

fn draw_sale(rng: &mut ChaCha8Rng) -> Sale {
    let channel = match rng.gen_range(0..100) {
        0..=44 => ChannelKind::Wechat,
        45..=82 => ChannelKind::Alipay,
        83..=96 => ChannelKind::Cash,
        _ => ChannelKind::Unionpay,
    };
    let yuan_range = match rng.gen_range(0..100) {
        0..=54 => 1..30,
        55..=84 => 30..120,
        85..=96 => 120..500,
        _ => 500..3000,
    };
    let yuan: i64 = rng.gen_range(yuan_range);
    // Half the tickets are whole yuan, as shelf prices often are.
    let fen = if rng.gen_bool(0.5) {
        0
    } else {
        rng.gen_range(0..100)
    };
    let amount_fen = yuan * 100 + fen;
    let roll = rng.gen_range(0..100);
    let (state, refunded_fen) = if channel == ChannelKind::Cash {
        if roll == 0 {
            (OrderState::Refunded, amount_fen)
        } else {
            (OrderState::Paid, 0)
        }
    } else {
        match roll {
            0..=91 => (OrderState::Paid, 0),
            92..=95 => (OrderState::Closed, 0),
            96..=97 => (OrderState::Failed, 0),
            98 => (OrderState::Refunded, amount_fen),
            _ => {
                let part = (amount_fen / 2).max(1);
                if part == amount_fen {
                    (OrderState::Refunded, amount_fen)
                } else {
                    (OrderState::PartRefunded, part)
                }
            }
        }
    };
    Sale {
        channel,
        amount_fen,
        state,
        refunded_fen,
    }
}

fn trade_no(channel: ChannelKind, at: DateTime<Utc>, rng: &mut ChaCha8Rng) -> String {
    let prefix = match channel {
        ChannelKind::Alipay => format!("{}2200", at.format("%Y%m%d")),
        ChannelKind::Wechat => "4200".to_owned(),
        _ => format!("{}", at.format("%Y%m%d")),
    };
    let tail: u64 = rng.gen_range(0..10_000_000_000_000);
    format!("{prefix}{}{tail:013}", at.format("%H%M%S"))
}
