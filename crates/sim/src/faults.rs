//! Fault injection on the channel protocol endpoints.
//!
//! Each request draws one plan from a seeded generator: `drop`, `error`,
//! `garble` and `bad_signature` are tried in that order, each with its own
//! probability, so at most one applies. Latency applies to every request.
//!
//! `notify_drop_rate` is drawn separately, once per payment notification:
//! a dropped notification is never sent (nor retried), as if the channel
//! had lost it, so the counter must still learn of the payment by querying.
//!
//! Three switches shape what the channel answers rather than whether it
//! answers:
//! * `error_code` picks what the `error` fault answers: the generic "system
//!   busy" when unset, otherwise that channel error code as the real service
//!   sends it (WeChat `FREQUENCY_LIMITED` / `RATELIMIT_EXCEEDED` as HTTP 429,
//!   `SYSTEM_ERROR` as 500; Alipay `ACQ.SYSTEM_ERROR` as 40004 and
//!   `aop.ACQ.SYSTEM_ERROR` as 20000, any other as 40004). Nothing is done.
//! * `alipay_cancel_not_exist`: Alipay answers a close *and* a cancel of a
//!   precreated code nobody has scanned with `ACQ.TRADE_NOT_EXIST`, and the
//!   code stays payable until it expires (the real gateway's behaviour; by
//!   default the simulator's cancel closes such a code for good).
//! * `alipay_close_lost_race`: Alipay answers every close with
//!   `ACQ.TRADE_NOT_EXIST`, as when the close reached the gateway just
//!   before the buyer's scan created the trade; the client's fallback
//!   cancel then meets the trade as it now is (paid: reversed and refunded).
//! * `wechat_payerror`: every unpaid WeChat order queries as `PAYERROR` (the
//!   payment failed at the bank); it can still be closed.
//! * `unionpay_cert`: UnionPay answers carry an `expired` signing
//!   certificate, one issued by an `untrusted` CA, or one whose CN names
//!   another owner (`wrong_owner`); the signature itself is good.
//!
//! What each fault means for the business state matters to the client under
//! test, so it is fixed here:
//! * `error` answers before anything is done (the channel's own "system busy").
//! * `drop`, `garble` and `bad_signature` happen on the way back: the call has
//!   taken effect (a trade exists, a refund moved money) but the client does
//!   not get a usable answer. That is the case that forces a client to treat
//!   the outcome as unknown and to retry idempotently.

use std::sync::Mutex;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::net::ConnHandle;
use crate::SimState;

/// Current fault settings. Rates are probabilities in 0.0–1.0 (not money).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Faults {
    pub latency_ms: u64,
    pub drop_rate: f64,
    pub error_rate: f64,
    pub garble_rate: f64,
    pub bad_signature_rate: f64,
    /// Share of payment notifications that are lost (never sent).
    #[serde(default)]
    pub notify_drop_rate: f64,
    /// What the `error` fault answers (see the module documentation).
    #[serde(default)]
    pub error_code: Option<String>,
    #[serde(default)]
    pub alipay_cancel_not_exist: bool,
    #[serde(default)]
    pub alipay_close_lost_race: bool,
    #[serde(default)]
    pub wechat_payerror: bool,
    /// Which certificate UnionPay answers carry: unset for the good one,
    /// `expired`, `untrusted` (issued by a CA nobody configured) or
    /// `wrong_owner` (a CN naming someone else).
    #[serde(default)]
    pub unionpay_cert: Option<String>,
}

/// A partial update (`PUT /_sim/faults`); absent fields keep their value.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultPatch {
    pub latency_ms: Option<u64>,
    pub drop_rate: Option<f64>,
    pub error_rate: Option<f64>,
    pub garble_rate: Option<f64>,
    pub bad_signature_rate: Option<f64>,
    pub notify_drop_rate: Option<f64>,
    /// An empty string goes back to the generic "system busy".
    pub error_code: Option<String>,
    pub alipay_cancel_not_exist: Option<bool>,
    pub alipay_close_lost_race: Option<bool>,
    pub wechat_payerror: Option<bool>,
    /// An empty string goes back to the good certificate.
    pub unionpay_cert: Option<String>,
    /// Reseed the generator, to replay a fault pattern.
    pub seed: Option<u64>,
}

/// Why a patch was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FaultError {
    #[error("{0} must be between 0.0 and 1.0")]
    RateOutOfRange(&'static str),
    #[error("latency_ms must be at most 600000")]
    LatencyTooLong,
    #[error("unionpay_cert must be one of expired, untrusted, wrong_owner (or empty)")]
    UnknownCert,
}

/// What happens to one protocol request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FaultPlan {
    #[default]
    None,
    /// Close the connection without an answer (after doing the work).
    Drop,
    /// Answer the channel's "system error" without doing anything.
    Error,
    /// Do the work, then send a truncated body.
    Garble,
    /// Do the work, then send a valid body with a wrong signature.
    BadSignature,
}

/// Settings plus the generator that draws plans from them.
#[derive(Debug)]
pub struct FaultBox {
    inner: Mutex<(Faults, ChaCha8Rng)>,
}

impl FaultBox {
    pub fn new(seed: u64) -> FaultBox {
        FaultBox {
            inner: Mutex::new((Faults::default(), ChaCha8Rng::seed_from_u64(seed))),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (Faults, ChaCha8Rng)> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn get(&self) -> Faults {
        self.lock().0.clone()
    }

    pub fn clear(&self) {
        self.lock().0 = Faults::default();
    }

    pub fn patch(&self, patch: &FaultPatch) -> Result<Faults, FaultError> {
        let rates = [
            ("drop_rate", patch.drop_rate),
            ("error_rate", patch.error_rate),
            ("garble_rate", patch.garble_rate),
            ("bad_signature_rate", patch.bad_signature_rate),
            ("notify_drop_rate", patch.notify_drop_rate),
        ];
        for (name, rate) in rates {
            if let Some(r) = rate {
                if !(0.0..=1.0).contains(&r) {
                    return Err(FaultError::RateOutOfRange(name));
                }
            }
        }
        if patch.latency_ms.is_some_and(|l| l > 600_000) {
            return Err(FaultError::LatencyTooLong);
        }
        let cert = patch.unionpay_cert.as_deref().map(str::trim);
        if cert.is_some_and(|c| !matches!(c, "" | "expired" | "untrusted" | "wrong_owner")) {
            return Err(FaultError::UnknownCert);
        }
        let mut guard = self.lock();
        let (faults, rng) = &mut *guard;
        if let Some(c) = cert {
            faults.unionpay_cert = Some(c.to_owned()).filter(|c| !c.is_empty());
        }
        if let Some(seed) = patch.seed {
            *rng = ChaCha8Rng::seed_from_u64(seed);
        }
        faults.latency_ms = patch.latency_ms.unwrap_or(faults.latency_ms);
        faults.drop_rate = patch.drop_rate.unwrap_or(faults.drop_rate);
        faults.error_rate = patch.error_rate.unwrap_or(faults.error_rate);
        faults.garble_rate = patch.garble_rate.unwrap_or(faults.garble_rate);
        faults.bad_signature_rate = patch
            .bad_signature_rate
            .unwrap_or(faults.bad_signature_rate);
        faults.notify_drop_rate = patch.notify_drop_rate.unwrap_or(faults.notify_drop_rate);
        if let Some(code) = &patch.error_code {
            faults.error_code = Some(code.trim().to_owned()).filter(|c| !c.is_empty());
        }
        faults.alipay_cancel_not_exist = patch
            .alipay_cancel_not_exist
            .unwrap_or(faults.alipay_cancel_not_exist);
        faults.alipay_close_lost_race = patch
            .alipay_close_lost_race
            .unwrap_or(faults.alipay_close_lost_race);
        faults.wechat_payerror = patch.wechat_payerror.unwrap_or(faults.wechat_payerror);
        Ok(faults.clone())
    }

    /// Whether to lose one payment notification.
    pub fn drop_notification(&self) -> bool {
        let mut guard = self.lock();
        let (faults, rng) = &mut *guard;
        faults.notify_drop_rate > 0.0 && rng.gen::<f64>() < faults.notify_drop_rate
    }

    /// Draw the plan and latency for one request.
    pub fn draw(&self) -> (FaultPlan, Duration) {
        let mut guard = self.lock();
        let (faults, rng) = &mut *guard;
        let latency = Duration::from_millis(faults.latency_ms);
        let candidates = [
            (FaultPlan::Drop, faults.drop_rate),
            (FaultPlan::Error, faults.error_rate),
            (FaultPlan::Garble, faults.garble_rate),
            (FaultPlan::BadSignature, faults.bad_signature_rate),
        ];
        for (plan, rate) in candidates {
            // A zero rate draws nothing, so enabling one fault does not shift
            // the sequence another fault sees.
            if rate > 0.0 && rng.gen::<f64>() < rate {
                return (plan, latency);
            }
        }
        (FaultPlan::None, latency)
    }
}

/// Middleware on the protocol routes: wait, hand the plan to the handler
/// (which knows how to fail in its channel's dialect), and cut the
/// connection afterwards for `drop`.
pub async fn apply(State(sim): State<SimState>, mut req: Request, next: Next) -> Response {
    let (plan, latency) = sim.faults().draw();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let conn = req
        .extensions()
        .get::<ConnectInfo<ConnHandle>>()
        .map(|c| c.0.clone());
    req.extensions_mut().insert(plan);
    let response = next.run(req).await;
    if plan == FaultPlan::Drop {
        tracing::debug!("fault: dropping the connection");
        match conn {
            Some(conn) => conn.cut(),
            // Served without the cuttable listener (in-process use): answer
            // only long after any client would have given up.
            None => tokio::time::sleep(Duration::from_secs(120)).await,
        }
    }
    response
}

/// Cut a body short, as a connection lost mid-answer would.
pub fn garble(body: &[u8]) -> Vec<u8> {
    let keep = body.len() / 2;
    let mut out = body[..keep].to_vec();
    out.extend_from_slice(b"\x00\xff");
    out
}
