//! The demo merchant accounts.
//!
//! Two files in the state directory:
//! * `credentials.json` is the *merchant's* view, in the shape the app and the
//!   CLI read as their channels file: merchant private keys, platform public
//!   keys, ids and the endpoint URLs. It is a public interface.
//! * `simulator.json` is the *platform's* view: the platform private keys and
//!   the merchant public keys the simulator verifies requests with.
//!
//! Keys are made once (fresh 2048-bit pairs per side and channel) and reused;
//! on each start only the URLs are brought up to date with the bound port.

use std::fmt;
use std::path::Path;

use rand::Rng;
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde::{Deserialize, Serialize};

use crate::pki::{self, Pki};
use crate::sign::{generate_pem_pair, parse_private_key, parse_public_key};
use crate::{SimError, CREDENTIALS_FILE, SIM_KEYS_FILE};

/// `credentials.json`.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Credentials {
    pub alipay: AlipayCredentials,
    pub wechatpay: WechatpayCredentials,
    /// Absent only in files written before the simulator spoke UnionPay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unionpay: Option<UnionpayCredentials>,
}

/// The UnionPay part of `credentials.json`.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct UnionpayCredentials {
    pub mer_id: String,
    pub merchant_private_key_pem: String,
    /// The merchant's signing certificate (its serial is the `certId`).
    pub merchant_cert_pem: String,
    pub root_cert_pem: String,
    pub middle_cert_pem: String,
    /// `http://<addr>`; the ACP paths are added by the client.
    pub gateway: String,
    /// `http://<addr>/filedownload/`: where the reconciliation file is
    /// fetched (UnionPay's `filedownload.95516.com`).
    pub file_gateway: String,
}

impl fmt::Debug for UnionpayCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnionpayCredentials")
            .field("mer_id", &self.mer_id)
            .field("gateway", &self.gateway)
            .finish_non_exhaustive()
    }
}

/// The Alipay part of `credentials.json`.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AlipayCredentials {
    pub app_id: String,
    pub app_private_key_pem: String,
    pub alipay_public_key_pem: String,
    /// `http://<addr>/gateway.do`
    pub gateway: String,
}

/// The WeChat Pay part of `credentials.json`.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct WechatpayCredentials {
    pub mchid: String,
    pub appid: String,
    pub merchant_private_key_pem: String,
    pub merchant_serial_no: String,
    pub apiv3_key: String,
    pub platform_public_key_pem: String,
    pub platform_public_key_id: String,
    /// `http://<addr>`
    pub base_url: String,
}

// Key material never reaches a log line.
impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("alipay", &self.alipay)
            .field("wechatpay", &self.wechatpay)
            .field("unionpay", &self.unionpay)
            .finish()
    }
}

impl fmt::Debug for AlipayCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlipayCredentials")
            .field("app_id", &self.app_id)
            .field("gateway", &self.gateway)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for WechatpayCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WechatpayCredentials")
            .field("mchid", &self.mchid)
            .field("appid", &self.appid)
            .field("merchant_serial_no", &self.merchant_serial_no)
            .field("platform_public_key_id", &self.platform_public_key_id)
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    /// Read a `credentials.json`.
    pub fn load(path: &Path) -> Result<Credentials, SimError> {
        let text = read(path)?;
        serde_json::from_str(&text).map_err(|source| SimError::StateFile {
            path: path.to_path_buf(),
            source,
        })
    }
}

/// `simulator.json`: what only the platform side knows.
#[derive(Clone, Serialize, Deserialize)]
struct SimFile {
    merchant_name: String,
    alipay: AlipaySide,
    wechatpay: WechatSide,
    /// Made on the first start that knows UnionPay.
    #[serde(default)]
    unionpay: Option<UnionpaySide>,
}

#[derive(Clone, Serialize, Deserialize)]
struct UnionpaySide {
    mer_id: String,
    merchant_public_key_pem: String,
    merchant_cert_id: String,
    sign_private_key_pem: String,
    pki: Pki,
}

#[derive(Clone, Serialize, Deserialize)]
struct AlipaySide {
    app_id: String,
    /// The merchant's partner id (2088…), which names the bill files.
    pid: String,
    app_public_key_pem: String,
    alipay_private_key_pem: String,
    alipay_public_key_pem: String,
}

#[derive(Clone, Serialize, Deserialize)]
struct WechatSide {
    mchid: String,
    appid: String,
    merchant_serial_no: String,
    merchant_public_key_pem: String,
    apiv3_key: String,
    platform_private_key_pem: String,
    platform_public_key_pem: String,
    platform_public_key_id: String,
}

/// Parsed keys and ids the handlers use.
pub struct SimKeys {
    pub merchant_name: String,
    pub alipay_app_id: String,
    pub alipay_pid: String,
    pub alipay_app_public: RsaPublicKey,
    pub alipay_private: RsaPrivateKey,
    pub wechat_mchid: String,
    pub wechat_appid: String,
    pub wechat_merchant_serial_no: String,
    pub wechat_merchant_public: RsaPublicKey,
    pub wechat_platform_private: RsaPrivateKey,
    pub wechat_platform_public_key_id: String,
    /// The merchant's APIv3 key: notifications are encrypted with it.
    pub wechat_apiv3_key: String,
    pub unionpay_mer_id: String,
    pub unionpay_merchant_public: RsaPublicKey,
    /// The serial (decimal) of the merchant's certificate: its `certId`.
    pub unionpay_merchant_cert_id: String,
    pub unionpay_sign_private: RsaPrivateKey,
    pub unionpay_pki: Pki,
}

impl fmt::Debug for SimKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimKeys")
            .field("alipay_app_id", &self.alipay_app_id)
            .field("wechat_mchid", &self.wechat_mchid)
            .finish_non_exhaustive()
    }
}

/// Load both files, creating whatever is missing, and point the URLs in
/// `credentials.json` at `base_url`.
pub fn load_or_create(dir: &Path, base_url: &str) -> Result<SimKeys, SimError> {
    let sim_path = dir.join(SIM_KEYS_FILE);
    let cred_path = dir.join(CREDENTIALS_FILE);
    let gateway = format!("{base_url}/gateway.do");
    let file_gateway = format!("{base_url}/filedownload/");

    let (mut sim, fresh) = if sim_path.exists() {
        let text = read(&sim_path)?;
        let sim: SimFile = serde_json::from_str(&text).map_err(|source| SimError::StateFile {
            path: sim_path.clone(),
            source,
        })?;
        (sim, false)
    } else {
        (new_sim_file()?, true)
    };
    let mut sim_changed = false;
    if sim.unionpay.is_none() {
        sim.unionpay = Some(new_unionpay_side()?);
        sim_changed = true;
    }

    if !fresh && cred_path.exists() {
        // Later start: keep every key, only follow the port.
        let text = read(&cred_path)?;
        let mut value: serde_json::Value =
            serde_json::from_str(&text).map_err(|source| SimError::StateFile {
                path: cred_path.clone(),
                source,
            })?;
        let mut changed = false;
        if value.get("unionpay").is_none_or(|u| u.is_null()) {
            // A file from before UnionPay: give the merchant its part.
            let side = unionpay_side(&mut sim)?;
            let creds = issue_unionpay_merchant(side, base_url)?;
            if let Some(obj) = value.as_object_mut() {
                obj.insert(
                    "unionpay".to_owned(),
                    serde_json::to_value(creds).map_err(|source| SimError::StateFile {
                        path: cred_path.clone(),
                        source,
                    })?,
                );
            }
            sim_changed = true;
            changed = true;
        }
        for (section, field, url) in [
            ("alipay", "gateway", gateway.as_str()),
            ("wechatpay", "base_url", base_url),
            ("unionpay", "gateway", base_url),
            ("unionpay", "file_gateway", file_gateway.as_str()),
        ] {
            if let Some(obj) = value.get_mut(section).and_then(|v| v.as_object_mut()) {
                if obj.get(field).and_then(|v| v.as_str()) != Some(url) {
                    obj.insert(field.to_owned(), serde_json::Value::String(url.to_owned()));
                    changed = true;
                }
            }
        }
        if sim_changed {
            write_json(&sim_path, &sim)?;
        }
        if changed {
            write_json(&cred_path, &value)?;
        }
    } else {
        // First start, or the merchant's file was lost: issue new merchant
        // keys (the platform keeps its own) and write the merchant's view.
        let [(app_private, app_public), (mch_private, mch_public)] = generate_pairs()?;
        let unionpay = issue_unionpay_merchant(unionpay_side(&mut sim)?, base_url)?;
        sim.alipay.app_public_key_pem = app_public;
        sim.wechatpay.merchant_public_key_pem = mch_public;
        let creds = Credentials {
            alipay: AlipayCredentials {
                app_id: sim.alipay.app_id.clone(),
                app_private_key_pem: app_private,
                alipay_public_key_pem: sim.alipay.alipay_public_key_pem.clone(),
                gateway,
            },
            wechatpay: WechatpayCredentials {
                mchid: sim.wechatpay.mchid.clone(),
                appid: sim.wechatpay.appid.clone(),
                merchant_private_key_pem: mch_private,
                merchant_serial_no: sim.wechatpay.merchant_serial_no.clone(),
                apiv3_key: sim.wechatpay.apiv3_key.clone(),
                platform_public_key_pem: sim.wechatpay.platform_public_key_pem.clone(),
                platform_public_key_id: sim.wechatpay.platform_public_key_id.clone(),
                base_url: base_url.to_owned(),
            },
            unionpay: Some(unionpay),
        };
        // The platform file first: if we stop in between, the next start
        // sees no credentials and issues merchant keys again.
        write_json(&sim_path, &sim)?;
        write_json(&cred_path, &creds)?;
    }

    let up = unionpay_side(&mut sim)?.clone();
    Ok(SimKeys {
        unionpay_mer_id: up.mer_id.clone(),
        unionpay_merchant_public: parse_public_key(&up.merchant_public_key_pem)?,
        unionpay_merchant_cert_id: up.merchant_cert_id.clone(),
        unionpay_sign_private: parse_private_key(&up.sign_private_key_pem)?,
        unionpay_pki: up.pki,
        merchant_name: sim.merchant_name.clone(),
        alipay_app_id: sim.alipay.app_id.clone(),
        alipay_pid: sim.alipay.pid.clone(),
        alipay_app_public: parse_public_key(&sim.alipay.app_public_key_pem)?,
        alipay_private: parse_private_key(&sim.alipay.alipay_private_key_pem)?,
        wechat_mchid: sim.wechatpay.mchid.clone(),
        wechat_appid: sim.wechatpay.appid.clone(),
        wechat_merchant_serial_no: sim.wechatpay.merchant_serial_no.clone(),
        wechat_merchant_public: parse_public_key(&sim.wechatpay.merchant_public_key_pem)?,
        wechat_platform_private: parse_private_key(&sim.wechatpay.platform_private_key_pem)?,
        wechat_platform_public_key_id: sim.wechatpay.platform_public_key_id.clone(),
        wechat_apiv3_key: sim.wechatpay.apiv3_key.clone(),
    })
}

fn new_sim_file() -> Result<SimFile, SimError> {
    // Two platform keys now; the merchant keys are made by the caller.
    let [(ali_private, ali_public), (wx_private, wx_public)] = generate_pairs()?;
    let mut rng = rand::thread_rng();
    let mchid = format!("19{}", digits(&mut rng, 8));
    let today = chrono::Utc::now().format("%Y%m%d");
    Ok(SimFile {
        merchant_name: "收银演示商户 Shouyin Demo Store".into(),
        alipay: AlipaySide {
            app_id: format!("2021{}", digits(&mut rng, 12)),
            pid: format!("2088{}", digits(&mut rng, 12)),
            app_public_key_pem: String::new(),
            alipay_private_key_pem: ali_private,
            alipay_public_key_pem: ali_public,
        },
        wechatpay: WechatSide {
            appid: format!("wx{}", hex::encode(rng.gen::<[u8; 8]>())),
            merchant_serial_no: hex::encode_upper(rng.gen::<[u8; 20]>()),
            merchant_public_key_pem: String::new(),
            apiv3_key: crate::trade::random_alnum(32),
            platform_private_key_pem: wx_private,
            platform_public_key_pem: wx_public,
            platform_public_key_id: format!("PUB_KEY_ID_0114{mchid}{today}{}", digits(&mut rng, 8)),
            mchid,
        },
        unionpay: None,
    })
}

fn unionpay_side(sim: &mut SimFile) -> Result<&mut UnionpaySide, SimError> {
    sim.unionpay
        .as_mut()
        .ok_or_else(|| SimError::Key("the UnionPay platform keys are missing".into()))
}

/// UnionPay's signing key and its certificate chain; the merchant's part
/// is issued by [`issue_unionpay_merchant`].
fn new_unionpay_side() -> Result<UnionpaySide, SimError> {
    let (sign_private, _) = generate_pem_pair()?;
    let pki = pki::create(&sign_private)?;
    let mut rng = rand::thread_rng();
    Ok(UnionpaySide {
        mer_id: format!("777290058{}", digits(&mut rng, 6)),
        merchant_public_key_pem: String::new(),
        merchant_cert_id: String::new(),
        sign_private_key_pem: sign_private,
        pki,
    })
}

/// A new merchant key and certificate; the platform keeps the public half.
fn issue_unionpay_merchant(
    side: &mut UnionpaySide,
    base_url: &str,
) -> Result<UnionpayCredentials, SimError> {
    let (private, public) = generate_pem_pair()?;
    let (cert_pem, cert_id) = pki::merchant_cert(&side.pki, &side.mer_id, &private)?;
    side.merchant_public_key_pem = public;
    side.merchant_cert_id = cert_id;
    Ok(UnionpayCredentials {
        mer_id: side.mer_id.clone(),
        merchant_private_key_pem: private,
        merchant_cert_pem: cert_pem,
        root_cert_pem: side.pki.root_cert_pem.clone(),
        middle_cert_pem: side.pki.middle_cert_pem.clone(),
        gateway: base_url.to_owned(),
        file_gateway: format!("{base_url}/filedownload/"),
    })
}

/// Two key pairs, made on two threads (key generation is the slow part of a
/// first start).
fn generate_pairs() -> Result<[(String, String); 2], SimError> {
    let (a, b) = std::thread::scope(|scope| {
        let other = scope.spawn(generate_pem_pair);
        let a = generate_pem_pair();
        let b = other
            .join()
            .unwrap_or_else(|_| Err(SimError::Key("key generation thread panicked".into())));
        (a, b)
    });
    Ok([a?, b?])
}

fn digits(rng: &mut impl Rng, n: usize) -> String {
    (0..n)
        .map(|_| char::from(b'0' + rng.gen_range(0..10u8)))
        .collect()
}

fn read(path: &Path) -> Result<String, SimError> {
    std::fs::read_to_string(path).map_err(|source| SimError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Write through a temporary file and rename, so a reader (the app reading
/// its channels file) never sees half a file.
fn write_json(path: &Path, value: &impl Serialize) -> Result<(), SimError> {
    let text = serde_json::to_string_pretty(value).map_err(|source| SimError::StateFile {
        path: path.to_path_buf(),
        source,
    })?;
    let tmp = path.with_extension("json.tmp");
    let io = |source| SimError::Io {
        path: path.to_path_buf(),
        source,
    };
    std::fs::write(&tmp, text + "\n").map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}
