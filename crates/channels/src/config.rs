//! The channel credentials file (`channels.json`, also written by the
//! simulator as `credentials.json`). Its JSON shape is a public interface:
//!
//! ```json
//! {"alipay": {"app_id", "app_private_key_pem", "alipay_public_key_pem", "gateway"},
//!  "wechatpay": {"mchid", "appid", "merchant_private_key_pem", "merchant_serial_no",
//!                "apiv3_key", "platform_public_key_pem", "platform_public_key_id", "base_url"},
//!  "unionpay": {"mer_id", "merchant_private_key_pem", "merchant_cert_pem", "root_cert_pem",
//!               "middle_cert_pem", "gateway"}}
//! ```
//!
//! Each section is optional; timeouts and a few other knobs are optional
//! extras with defaults. Private keys and the APIv3 key are [`SecretText`],
//! which never prints.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use shouyin_core::ChannelKind;

use crate::alipay::Alipay;
use crate::clock::{Clock, SystemClock};
use crate::unionpay::Unionpay;
use crate::wechatpay::WechatPay;
use crate::{Channel, ChannelError};

/// Text that must never reach a log: `Debug` prints `[redacted]`. It still
/// serialises in clear, because writing the credentials file is its purpose.
#[derive(Clone)]
pub struct SecretText(SecretString);

impl SecretText {
    pub fn new(text: impl Into<String>) -> SecretText {
        SecretText(SecretString::from(text.into()))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for SecretText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Serialize for SecretText {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.expose())
    }
}

impl<'de> Deserialize<'de> for SecretText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(SecretText::new)
    }
}

/// Connect and whole-request limits, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timeouts {
    #[serde(default = "default_connect_ms")]
    pub connect_timeout_ms: u64,
    #[serde(default = "default_total_ms")]
    pub timeout_ms: u64,
}

fn default_connect_ms() -> u64 {
    3_000
}
fn default_total_ms() -> u64 {
    8_000
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect_timeout_ms: default_connect_ms(),
            timeout_ms: default_total_ms(),
        }
    }
}

impl Timeouts {
    pub fn connect(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }
    pub fn total(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AlipayConfig {
    pub app_id: String,
    pub app_private_key_pem: SecretText,
    pub alipay_public_key_pem: String,
    /// The full gateway URL, e.g. `https://openapi.alipay.com/gateway.do`.
    pub gateway: String,
    #[serde(default, flatten)]
    pub timeouts: Timeouts,
    /// Pause between `alipay.trade.cancel` retries while `retry_flag=Y`
    /// (the official demo waits 2 s).
    #[serde(default = "default_cancel_gap_ms")]
    pub cancel_retry_gap_ms: u64,
    /// How many extra cancel calls to make while `retry_flag=Y`.
    #[serde(default = "default_cancel_retries")]
    pub cancel_max_retries: u32,
}

fn default_cancel_gap_ms() -> u64 {
    2_000
}
fn default_cancel_retries() -> u32 {
    3
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WechatPayConfig {
    pub mchid: String,
    pub appid: String,
    pub merchant_private_key_pem: SecretText,
    pub merchant_serial_no: String,
    pub apiv3_key: SecretText,
    pub platform_public_key_pem: String,
    pub platform_public_key_id: String,
    /// e.g. `https://api.mch.weixin.qq.com` (no trailing slash needed).
    pub base_url: String,
    #[serde(default, flatten)]
    pub timeouts: Timeouts,
    /// WeChat requires a notify URL on every order even though the counter
    /// polls and never receives notifications.
    #[serde(default = "default_notify_url")]
    pub notify_url: String,
}

fn default_notify_url() -> String {
    "https://localhost/shouyin/wechatpay/notify".to_owned()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UnionpayConfig {
    /// The 15-character merchant number (`merId`).
    pub mer_id: String,
    /// The private key of the merchant's signing certificate.
    pub merchant_private_key_pem: SecretText,
    /// The merchant's signing certificate; its serial is the `certId`.
    pub merchant_cert_pem: String,
    /// UnionPay's root certificate, the anchor of `signPubKeyCert`.
    pub root_cert_pem: String,
    /// UnionPay's intermediate certificate, issued by the root.
    pub middle_cert_pem: String,
    /// e.g. `https://gateway.95516.com` (the paths are added).
    pub gateway: String,
    /// Where the reconciliation file is fetched (`fileTransfer`), e.g.
    /// `https://filedownload.95516.com`; the gateway when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_gateway: Option<String>,
    /// The owner UnionPay's signing certificate names in its CN.
    #[serde(default = "default_unionpay_owner")]
    pub sign_cert_owner: String,
    /// ACP asks for a `backUrl` even though the counter polls.
    #[serde(default = "default_unionpay_back_url")]
    pub back_url: String,
    #[serde(default, flatten)]
    pub timeouts: Timeouts,
}

fn default_unionpay_owner() -> String {
    crate::unionpay::cert::UNIONPAY_CN_OWNER.to_owned()
}

fn default_unionpay_back_url() -> String {
    "https://localhost/shouyin/unionpay/notify".to_owned()
}

/// The whole credentials file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ChannelsFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alipay: Option<AlipayConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wechatpay: Option<WechatPayConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unionpay: Option<UnionpayConfig>,
}

impl ChannelsFile {
    /// Read and parse a credentials file.
    pub fn load(path: &Path) -> Result<ChannelsFile, ChannelError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ChannelError::config(format!("cannot read {}: {e}", path.display())))?;
        ChannelsFile::from_json(&text)
            .map_err(|e| ChannelError::config(format!("{}: {e}", path.display())))
    }

    pub fn from_json(text: &str) -> Result<ChannelsFile, ChannelError> {
        serde_json::from_str(text).map_err(|e| {
            // serde_json's message names the field and position, never a value.
            ChannelError::config(format!("not a valid channels file: {e}"))
        })
    }

    pub fn to_json(&self) -> Result<String, ChannelError> {
        serde_json::to_string_pretty(self).map_err(|e| ChannelError::config(e.to_string()))
    }

    /// One client per configured channel, on the system clock.
    pub fn build(&self) -> Result<HashMap<ChannelKind, Arc<dyn Channel>>, ChannelError> {
        self.build_with_clock(Arc::new(SystemClock))
    }

    /// As [`ChannelsFile::build`], with the clock passed in.
    pub fn build_with_clock(
        &self,
        clock: Arc<dyn Clock>,
    ) -> Result<HashMap<ChannelKind, Arc<dyn Channel>>, ChannelError> {
        let mut channels: HashMap<ChannelKind, Arc<dyn Channel>> = HashMap::new();
        if let Some(config) = &self.alipay {
            channels.insert(
                ChannelKind::Alipay,
                Arc::new(Alipay::new(config, clock.clone())?),
            );
        }
        if let Some(config) = &self.wechatpay {
            channels.insert(
                ChannelKind::Wechat,
                Arc::new(WechatPay::new(config, clock.clone())?),
            );
        }
        if let Some(config) = &self.unionpay {
            channels.insert(
                ChannelKind::Unionpay,
                Arc::new(Unionpay::new(config, clock.clone())?),
            );
        }
        Ok(channels)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::keys::tests::vector;

    pub(crate) fn sample() -> ChannelsFile {
        ChannelsFile {
            alipay: Some(AlipayConfig {
                app_id: "2014072300007148".into(),
                app_private_key_pem: SecretText::new(vector(
                    "python_alipay_sdk_tests_app_app_private_key.pem",
                )),
                alipay_public_key_pem: vector("python_alipay_sdk_tests_ali_ali_public_key.pem"),
                gateway: "http://127.0.0.1:9/gateway.do".into(),
                timeouts: Timeouts::default(),
                cancel_retry_gap_ms: 10,
                cancel_max_retries: 3,
            }),
            wechatpay: Some(WechatPayConfig {
                mchid: "1230000109".into(),
                appid: "wxd678efh567hg6787".into(),
                merchant_private_key_pem: SecretText::new(vector(
                    "wechatpay_doc_apiclient_test_key_pkcs8.pem",
                )),
                merchant_serial_no: "408B07E79B8269FEC3D5D3E6AB8ED163A6A380DB".into(),
                apiv3_key: SecretText::new("testMchAPIv3Key0testMchAPIv3Key0"),
                platform_public_key_pem: vector("wechatpay_go_test_platform_cert.pem"),
                platform_public_key_id: "PUB_KEY_ID_0000".into(),
                base_url: "http://127.0.0.1:9".into(),
                timeouts: Timeouts::default(),
                notify_url: default_notify_url(),
            }),
            unionpay: None,
        }
    }

    #[test]
    fn debug_and_logs_never_show_secrets() {
        let file = sample();
        let debug = format!("{file:?}");
        let pretty = format!("{file:#?}");
        for text in [&debug, &pretty] {
            assert!(!text.contains("MIIE"), "a private key leaked into Debug");
            assert!(!text.contains("testMchAPIv3Key0"), "the APIv3 key leaked");
            assert!(text.contains("[redacted]"));
        }
        // The built clients print no secrets either.
        let built = file.build().unwrap();
        for channel in built.values() {
            let text = format!("{channel:?}");
            assert!(!text.contains("testMchAPIv3Key0"), "{text}");
            assert!(!text.contains("MIIE"), "{text}");
        }
    }

    #[test]
    fn exact_json_shape_round_trips() {
        let json = r#"{
          "alipay": {"app_id": "2021", "app_private_key_pem": "K1",
                     "alipay_public_key_pem": "P1", "gateway": "http://127.0.0.1:1/gateway.do"},
          "wechatpay": {"mchid": "19", "appid": "wx1", "merchant_private_key_pem": "K2",
                        "merchant_serial_no": "AB", "apiv3_key": "V3", "platform_public_key_pem": "P2",
                        "platform_public_key_id": "PUB_KEY_ID_1", "base_url": "http://127.0.0.1:1"}
        }"#;
        let file = ChannelsFile::from_json(json).unwrap();
        let alipay = file.alipay.as_ref().unwrap();
        assert_eq!(alipay.app_private_key_pem.expose(), "K1");
        assert_eq!(alipay.timeouts, Timeouts::default());
        let wx = file.wechatpay.as_ref().unwrap();
        assert_eq!(wx.apiv3_key.expose(), "V3");
        let back: serde_json::Value = serde_json::from_str(&file.to_json().unwrap()).unwrap();
        assert_eq!(back["alipay"]["app_private_key_pem"], "K1");
        assert_eq!(back["wechatpay"]["apiv3_key"], "V3");
        assert_eq!(back["wechatpay"]["platform_public_key_id"], "PUB_KEY_ID_1");
        assert_eq!(back["alipay"]["gateway"], "http://127.0.0.1:1/gateway.do");

        let only_wx = ChannelsFile::from_json(r#"{"wechatpay": null}"#).unwrap();
        assert!(only_wx.alipay.is_none() && only_wx.wechatpay.is_none());
        let with_timeouts = ChannelsFile::from_json(
            r#"{"alipay": {"app_id": "1", "app_private_key_pem": "K", "alipay_public_key_pem": "P",
                "gateway": "http://x/gateway.do", "connect_timeout_ms": 100, "timeout_ms": 200}}"#,
        )
        .unwrap();
        assert_eq!(
            with_timeouts.alipay.unwrap().timeouts,
            Timeouts {
                connect_timeout_ms: 100,
                timeout_ms: 200
            }
        );
    }

    #[test]
    fn load_gives_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.json");
        let err = ChannelsFile::load(&missing).unwrap_err().to_string();
        assert!(
            err.contains("cannot read") && err.contains("nope.json"),
            "{err}"
        );

        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, r#"{"alipay": {"app_id": "1"}}"#).unwrap();
        let err = ChannelsFile::load(&bad).unwrap_err().to_string();
        assert!(err.contains("missing field"), "{err}");

        let good = dir.path().join("good.json");
        std::fs::write(&good, sample().to_json().unwrap()).unwrap();
        let loaded = ChannelsFile::load(&good).unwrap();
        assert_eq!(loaded.build().unwrap().len(), 2);
    }

    #[test]
    fn bad_keys_fail_at_construction() {
        let mut file = sample();
        if let Some(a) = file.alipay.as_mut() {
            a.app_private_key_pem = SecretText::new("garbage");
        }
        assert!(matches!(file.build(), Err(ChannelError::Config(_))));
        let mut file = sample();
        if let Some(w) = file.wechatpay.as_mut() {
            w.apiv3_key = SecretText::new("short");
        }
        let err = file.build().unwrap_err();
        assert!(matches!(err, ChannelError::Config(_)));
        assert!(
            !err.to_string().contains("short"),
            "the key itself must not be echoed"
        );
    }
}
