//! Payment notifications: when a trade becomes paid and it was created with
//! a `notify_url`, the channel POSTs a signed notification there.
//!
//! * WeChat Pay v3: a JSON event `TRANSACTION.SUCCESS` whose `resource` is
//!   the transaction (the query answer's JSON) sealed with AEAD_AES_256_GCM
//!   under the merchant's APIv3 key, and the five `Wechatpay-*` headers
//!   signed over `TIMESTAMP\nNONCE\nBODY\n` with the platform key. Delivered
//!   when the merchant answers any 2xx.
//! * Alipay: a form POST (`notify_type=trade_status_sync`, …) signed by the
//!   "V1 rule": every non-empty parameter except `sign` and `sign_type`,
//!   sorted, `k=v` joined by `&`, RSA2 with the Alipay private key.
//!   Delivered only when the merchant answers 200 with the body `success`.
//!
//! Delivery runs in its own task, so paying never waits for the merchant.
//! The real channels retry over hours; the simulator keeps their shape on a
//! compressed schedule (by default 1 s, 2 s, 4 s, 8 s, 16 s, then gives up).
//! Every attempt is kept in a bounded in-memory log for `GET /_sim/notifications`.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use rand::Rng;
use serde::Serialize;
use serde_json::json;
use shouyin_core::format_fen;

use crate::sign::sign_base64;
use crate::trade::{china_rfc3339, china_time, random_alnum, Channel, Trade};
use crate::{SimError, SimState};

/// Attempts kept for `GET /_sim/notifications`; older ones are forgotten.
pub const LOG_CAPACITY: usize = 1000;

/// The default pauses between attempts: five retries, then give up.
pub fn default_retry_delays() -> Vec<Duration> {
    [1, 2, 4, 8, 16].map(Duration::from_secs).to_vec()
}

/// One delivery attempt (or one notification lost to the fault knob).
#[derive(Debug, Clone, Serialize)]
pub struct Attempt {
    pub out_trade_no: String,
    pub channel: Channel,
    pub url: String,
    /// 1 for the first send, 2 for the first retry, …; 0 when the
    /// notification was dropped by `notify_drop_rate` and never sent.
    pub attempt: u32,
    /// The merchant's HTTP status, when one came back.
    pub status: Option<u16>,
    /// Why the attempt did not count as delivered, when it did not.
    pub error: Option<String>,
    pub delivered: bool,
    /// When the attempt finished, RFC 3339 in China time.
    pub at: String,
}

/// The HTTP client and the log of attempts.
#[derive(Debug)]
pub(crate) struct Notifier {
    http: reqwest::Client,
    delays: Vec<Duration>,
    log: Mutex<VecDeque<Attempt>>,
}

impl Notifier {
    pub fn new(delays: Vec<Duration>) -> Result<Notifier, SimError> {
        let http = reqwest::Client::builder()
            // A merchant that is not listening refuses at once; one that
            // hangs must not hold a delivery task for long.
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(5))
            // Notification URLs are usually loopback in tests and demos.
            .no_proxy()
            .user_agent("Mozilla/4.0 (shouyin payment simulator)")
            .build()
            .map_err(|e| SimError::Startup(format!("cannot build the notification client: {e}")))?;
        Ok(Notifier {
            http,
            delays,
            log: Mutex::new(VecDeque::new()),
        })
    }

    fn record(&self, attempt: Attempt) {
        let mut log = self
            .log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if log.len() >= LOG_CAPACITY {
            log.pop_front();
        }
        log.push_back(attempt);
    }

    /// Every kept attempt, oldest first.
    pub fn attempts(&self) -> Vec<Attempt> {
        self.log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .cloned()
            .collect()
    }
}

/// Called whenever a trade has just become paid. Returns at once; the
/// notification is built, signed and delivered in a spawned task.
pub(crate) fn trade_paid(sim: &SimState, t: &Trade) {
    if t.notify_url.is_empty() {
        return;
    }
    if sim.faults().drop_notification() {
        tracing::info!(out_trade_no = %t.out_trade_no, channel = t.channel.as_str(), "fault: payment notification dropped");
        sim.notifier().record(Attempt {
            out_trade_no: t.out_trade_no.clone(),
            channel: t.channel,
            url: t.notify_url.clone(),
            attempt: 0,
            status: None,
            error: Some("dropped by the notify_drop_rate fault".into()),
            delivered: false,
            at: china_rfc3339(sim.now()),
        });
        return;
    }
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        tracing::warn!(out_trade_no = %t.out_trade_no, "no async runtime: payment notification not sent");
        return;
    };
    runtime.spawn(deliver(sim.clone(), t.clone()));
}

/// What goes over the wire, minus per-attempt headers.
enum Prepared {
    /// The form body, signed once: Alipay resends the same notification.
    Alipay(String),
    /// The JSON body; its signature headers are made fresh for each attempt
    /// so the timestamp stays inside the merchant's replay window.
    Wechat(String),
}

async fn deliver(sim: SimState, t: Trade) {
    let prepared = match t.channel {
        Channel::Alipay => alipay_form(&sim, &t).map(Prepared::Alipay),
        Channel::Wechat => wechat_body(&sim, &t).map(Prepared::Wechat),
        // The counter polls UnionPay; its trades carry no notify URL.
        Channel::Unionpay => return,
    };
    let prepared = match prepared {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, out_trade_no = %t.out_trade_no, "cannot build the payment notification");
            return;
        }
    };
    let notifier = sim.notifier();
    let mut attempt: u32 = 1;
    loop {
        let (status, error) = send(&sim, &notifier.http, &t.notify_url, &prepared).await;
        let delivered = error.is_none();
        notifier.record(Attempt {
            out_trade_no: t.out_trade_no.clone(),
            channel: t.channel,
            url: t.notify_url.clone(),
            attempt,
            status,
            error: error.clone(),
            delivered,
            at: china_rfc3339(sim.now()),
        });
        if delivered {
            tracing::info!(out_trade_no = %t.out_trade_no, channel = t.channel.as_str(), attempt, "payment notification delivered");
            return;
        }
        let Some(pause) = notifier.delays.get((attempt - 1) as usize).copied() else {
            tracing::warn!(out_trade_no = %t.out_trade_no, channel = t.channel.as_str(), attempt, error = error.as_deref().unwrap_or(""), "payment notification given up");
            return;
        };
        tracing::info!(out_trade_no = %t.out_trade_no, channel = t.channel.as_str(), attempt, error = error.as_deref().unwrap_or(""), retry_in_ms = pause.as_millis() as u64, "payment notification not taken");
        tokio::time::sleep(pause).await;
        attempt += 1;
    }
}

/// One POST. Returns the status (if any) and why it does not count as
/// delivered (`None` when it does).
async fn send(
    sim: &SimState,
    http: &reqwest::Client,
    url: &str,
    prepared: &Prepared,
) -> (Option<u16>, Option<String>) {
    let request = match prepared {
        Prepared::Alipay(form) => http
            .post(url)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded; charset=utf-8",
            )
            .body(form.clone()),
        Prepared::Wechat(body) => {
            let mut request = http
                .post(url)
                .header(reqwest::header::CONTENT_TYPE, "application/json");
            match wechat_headers(sim, body) {
                Ok(headers) => {
                    for (name, value) in headers {
                        request = request.header(name, value);
                    }
                }
                Err(e) => return (None, Some(e.to_string())),
            }
            request.body(body.clone())
        }
    };
    let response = match request.send().await {
        Ok(r) => r,
        Err(e) => return (None, Some(transport_error(&e))),
    };
    let status = response.status().as_u16();
    let body = match response.bytes().await {
        Ok(b) => b,
        Err(e) => return (Some(status), Some(transport_error(&e))),
    };
    let error = match prepared {
        Prepared::Wechat(_) if (200..300).contains(&status) => None,
        Prepared::Wechat(_) => Some(format!("HTTP {status}")),
        Prepared::Alipay(_) if status == 200 && body.as_ref() == b"success" => None,
        Prepared::Alipay(_) => Some(format!(
            "HTTP {status} with body {:?} (Alipay wants 200 and exactly \"success\")",
            String::from_utf8_lossy(&body[..body.len().min(64)])
        )),
    };
    (Some(status), error)
}

fn transport_error(e: &reqwest::Error) -> String {
    let kind = if e.is_connect() {
        "could not connect"
    } else if e.is_timeout() {
        "timed out"
    } else {
        "transport failure"
    };
    format!("{kind}: {e}")
}

/// The Alipay `trade_status_sync` form, signed by the V1 rule.
fn alipay_form(sim: &SimState, t: &Trade) -> Result<String, SimError> {
    let keys = sim.keys();
    let now = sim.now();
    let amount = format_fen(t.amount_fen);
    let paid_at = t.paid_at.unwrap_or(now);
    let mut params: BTreeMap<&str, String> = BTreeMap::new();
    params.insert("notify_time", china_time(now));
    params.insert("notify_type", "trade_status_sync".into());
    params.insert("notify_id", random_alnum(32).to_ascii_lowercase());
    params.insert("app_id", keys.alipay_app_id.clone());
    params.insert("auth_app_id", keys.alipay_app_id.clone());
    params.insert("charset", "utf-8".into());
    params.insert("version", "1.0".into());
    params.insert("sign_type", "RSA2".into());
    params.insert("trade_no", t.trade_no.clone());
    params.insert("out_trade_no", t.out_trade_no.clone());
    params.insert("trade_status", "TRADE_SUCCESS".into());
    params.insert("total_amount", amount.clone());
    params.insert("receipt_amount", amount.clone());
    params.insert("invoice_amount", amount.clone());
    params.insert("buyer_pay_amount", amount.clone());
    params.insert("point_amount", format_fen(0));
    params.insert("gmt_create", china_time(t.created_at));
    params.insert("gmt_payment", china_time(paid_at));
    params.insert("seller_id", keys.alipay_pid.clone());
    params.insert("buyer_id", t.buyer_id.clone());
    params.insert("buyer_logon_id", t.buyer_logon.clone());
    params.insert("subject", t.subject.clone());
    params.insert("body", t.attach.clone());
    params.insert(
        "fund_bill_list",
        json!([{"amount": amount, "fundChannel": "ALIPAYACCOUNT"}]).to_string(),
    );
    params.insert("store_id", t.store_id.clone());
    params.insert("terminal_id", t.terminal_id.clone());
    params.retain(|_, v| !v.is_empty());
    let content = params
        .iter()
        .filter(|(k, _)| **k != "sign_type")
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let sign = sign_base64(&keys.alipay_private, content.as_bytes())?;
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in &params {
        form.append_pair(k, v);
    }
    form.append_pair("sign", &sign);
    Ok(form.finish())
}

/// The WeChat `TRANSACTION.SUCCESS` event with its resource sealed under
/// the merchant's APIv3 key.
fn wechat_body(sim: &SimState, t: &Trade) -> Result<String, SimError> {
    let keys = sim.keys();
    let plaintext = crate::wechat::transaction_json(sim, t).to_string();
    let nonce = random_alnum(12);
    let associated_data = "transaction";
    let cipher = Aes256Gcm::new_from_slice(keys.wechat_apiv3_key.as_bytes())
        .map_err(|_| SimError::Key("the APIv3 key is not 32 bytes".into()))?;
    let sealed = cipher
        .encrypt(
            Nonce::from_slice(nonce.as_bytes()),
            Payload {
                msg: plaintext.as_bytes(),
                aad: associated_data.as_bytes(),
            },
        )
        .map_err(|_| SimError::Key("cannot encrypt the notification resource".into()))?;
    let id = hex::encode(rand::thread_rng().gen::<[u8; 16]>());
    Ok(json!({
        "id": format!("{}-{}-{}-{}-{}", &id[..8], &id[8..12], &id[12..16], &id[16..20], &id[20..]),
        "create_time": china_rfc3339(sim.now()),
        "resource_type": "encrypt-resource",
        "event_type": "TRANSACTION.SUCCESS",
        "summary": "支付成功",
        "resource": {
            "original_type": "transaction",
            "algorithm": "AEAD_AES_256_GCM",
            "ciphertext": B64.encode(sealed),
            "associated_data": associated_data,
            "nonce": nonce,
        },
    })
    .to_string())
}

/// The `Wechatpay-*` headers over `body`, as the query answers carry them.
fn wechat_headers(sim: &SimState, body: &str) -> Result<Vec<(&'static str, String)>, SimError> {
    let keys = sim.keys();
    let timestamp = sim.now().timestamp().to_string();
    let nonce = hex::encode_upper(rand::thread_rng().gen::<[u8; 16]>());
    let message = format!("{timestamp}\n{nonce}\n{body}\n");
    let signature = sign_base64(&keys.wechat_platform_private, message.as_bytes())?;
    Ok(vec![
        ("Wechatpay-Timestamp", timestamp),
        ("Wechatpay-Nonce", nonce),
        ("Wechatpay-Signature", signature),
        (
            "Wechatpay-Serial",
            keys.wechat_platform_public_key_id.clone(),
        ),
        (
            "Wechatpay-Signature-Type",
            "WECHATPAY2-SHA256-RSA2048".to_owned(),
        ),
        (
            "Request-ID",
            format!("08{}", random_alnum(30).to_ascii_uppercase()),
        ),
    ])
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn the_log_keeps_the_newest_attempts() {
        let notifier = Notifier::new(default_retry_delays()).unwrap();
        for i in 0..(LOG_CAPACITY + 5) {
            notifier.record(Attempt {
                out_trade_no: format!("T{i}"),
                channel: Channel::Wechat,
                url: "http://127.0.0.1:1/n".into(),
                attempt: 1,
                status: None,
                error: Some("could not connect".into()),
                delivered: false,
                at: String::new(),
            });
        }
        let log = notifier.attempts();
        assert_eq!(log.len(), LOG_CAPACITY);
        assert_eq!(log[0].out_trade_no, "T5");
        assert_eq!(
            log.last().map(|a| a.out_trade_no.as_str()),
            Some(format!("T{}", LOG_CAPACITY + 4).as_str())
        );
    }

    #[test]
    fn the_default_schedule_is_compressed() {
        let total: Duration = default_retry_delays().iter().sum();
        assert_eq!(default_retry_delays().len(), 5);
        assert_eq!(total, Duration::from_secs(31));
    }
}
