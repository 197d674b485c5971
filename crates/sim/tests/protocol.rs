//! The simulator driven over real HTTP on loopback, with requests signed
//! here by test-only code (plain `rsa`), never by the client crate.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use reqwest::StatusCode;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::{Pkcs1v15Sign, RsaPrivateKey, RsaPublicKey};
use serde_json::{json, Value};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use shouyin_sim::{Credentials, SimError};

// ---------------------------------------------------------------- harness

/// A running simulator and the merchant's view of it.
struct Sim {
    addr: SocketAddr,
    /// The state directory, removed when the last holder drops it.
    dir: tempfile::TempDir,
    creds: Credentials,
    http: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), SimError>>,
    ali: Ali,
    wx: Wx,
}

/// Keys are slow to make; every test but the first-start one begins from a
/// copy of one prepared state directory.
fn template() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        shouyin_sim::SimState::open(
            dir.path(),
            "127.0.0.1:9".parse().unwrap(),
            shouyin_sim::SimConfig::default(),
        )
        .unwrap();
        dir
    })
    .path()
}

fn fresh_dir() -> tempfile::TempDir {
    let t = template();
    let dir = tempfile::tempdir().unwrap();
    for f in [shouyin_sim::SIM_KEYS_FILE, shouyin_sim::CREDENTIALS_FILE] {
        std::fs::copy(t.join(f), dir.path().join(f)).unwrap();
    }
    dir
}

async fn start() -> Sim {
    start_in(fresh_dir()).await
}

async fn start_in(tmp: tempfile::TempDir) -> Sim {
    let dir = tmp.path().to_path_buf();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let state_dir = dir.clone();
    let task = tokio::spawn(async move {
        shouyin_sim::run(listener, &state_dir, async {
            let _ = rx.await;
        })
        .await
    });
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    // Ready once it answers (key generation may take a few seconds).
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Ok(r) = http.get(format!("http://{addr}/_sim/trades")).send().await {
            if r.status() == StatusCode::OK {
                break;
            }
        }
        assert!(Instant::now() < deadline, "simulator did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let creds = Credentials::load(&dir.join(shouyin_sim::CREDENTIALS_FILE)).unwrap();
    let ali = Ali::new(&creds);
    let wx = Wx::new(&creds);
    Sim {
        addr,
        dir: tmp,
        creds,
        http,
        stop: Some(tx),
        task,
        ali,
        wx,
    }
}

impl Sim {
    /// Shut down and hand back the state directory (for a restart).
    async fn stop(mut self) -> tempfile::TempDir {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        drop(self.http);
        tokio::time::timeout(Duration::from_secs(20), self.task)
            .await
            .expect("simulator stops on shutdown")
            .unwrap()
            .unwrap();
        self.dir
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    async fn pay(&self, out_trade_no: &str) -> StatusCode {
        self.http
            .post(self.url(&format!("/_sim/trades/{out_trade_no}/pay")))
            .send()
            .await
            .unwrap()
            .status()
    }

    async fn decline(&self, out_trade_no: &str) -> StatusCode {
        self.http
            .post(self.url(&format!("/_sim/trades/{out_trade_no}/decline")))
            .send()
            .await
            .unwrap()
            .status()
    }

    async fn faults(&self, body: Value) {
        let r = self
            .http
            .put(self.url("/_sim/faults"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    }

    async fn clear_faults(&self) {
        let r = self
            .http
            .delete(self.url("/_sim/faults"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }

    async fn trades(&self) -> Vec<Value> {
        let r = self
            .http
            .get(self.url("/_sim/trades"))
            .send()
            .await
            .unwrap();
        r.json::<Vec<Value>>().await.unwrap()
    }

    async fn page(&self, path_and_query: &str) -> (StatusCode, String) {
        let r = self
            .http
            .get(self.url(path_and_query))
            .send()
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap())
    }

    /// Alipay call; returns the verified response object.
    async fn alipay(&self, method: &str, biz: Value) -> Value {
        let (body, _) = self
            .ali
            .send(&self.http, method, &biz.to_string(), Via::Post)
            .await;
        self.ali.open(method, &body)
    }

    async fn wechat(&self, method: &str, path: &str, body: Option<Value>) -> WxReply {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        self.wx
            .send(
                &self.http,
                &self.creds.wechatpay.base_url,
                method,
                path,
                &body,
            )
            .await
    }
}

fn sign(key: &RsaPrivateKey, msg: &[u8]) -> String {
    let digest = Sha256::digest(msg);
    B64.encode(key.sign(Pkcs1v15Sign::new::<Sha256>(), &digest).unwrap())
}

fn verify(key: &RsaPublicKey, msg: &[u8], sig_b64: &str) -> bool {
    let Ok(sig) = B64.decode(sig_b64) else {
        return false;
    };
    let digest = Sha256::digest(msg);
    key.verify(Pkcs1v15Sign::new::<Sha256>(), &digest, &sig)
        .is_ok()
}

fn private_key(pem: &str) -> RsaPrivateKey {
    RsaPrivateKey::from_pkcs8_pem(pem)
        .or_else(|_| RsaPrivateKey::from_pkcs1_pem(pem))
        .unwrap()
}

fn china_now(offset_secs: i64) -> String {
    let t = chrono::Utc::now() + chrono::Duration::seconds(offset_secs);
    t.with_timezone(&chrono_tz::Asia::Shanghai)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

fn today_china() -> String {
    chrono::Utc::now()
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .format("%Y-%m-%d")
        .to_string()
}

// ---------------------------------------------------------------- alipay client (test-only)

struct Ali {
    app_id: String,
    gateway: String,
    key: RsaPrivateKey,
    platform: RsaPublicKey,
}

#[derive(Clone, Copy, PartialEq)]
enum Via {
    /// Everything in the query string (python-alipay-sdk style).
    Get,
    /// Common params in the query, biz_content in the form body.
    Post,
}

impl Ali {
    fn new(c: &Credentials) -> Ali {
        Ali {
            app_id: c.alipay.app_id.clone(),
            gateway: c.alipay.gateway.clone(),
            key: private_key(&c.alipay.app_private_key_pem),
            platform: RsaPublicKey::from_public_key_pem(&c.alipay.alipay_public_key_pem).unwrap(),
        }
    }

    fn params(&self, method: &str, biz: &str) -> BTreeMap<String, String> {
        let mut p = BTreeMap::new();
        p.insert("app_id".to_owned(), self.app_id.clone());
        p.insert("method".to_owned(), method.to_owned());
        p.insert("format".to_owned(), "JSON".to_owned());
        p.insert("charset".to_owned(), "utf-8".to_owned());
        p.insert("sign_type".to_owned(), "RSA2".to_owned());
        p.insert("timestamp".to_owned(), china_now(0));
        p.insert("version".to_owned(), "1.0".to_owned());
        p.insert("biz_content".to_owned(), biz.to_owned());
        p
    }

    fn signed_params(&self, method: &str, biz: &str) -> BTreeMap<String, String> {
        let mut p = self.params(method, biz);
        let content = p
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        p.insert("sign".to_owned(), sign(&self.key, content.as_bytes()));
        p
    }

    async fn send(
        &self,
        http: &reqwest::Client,
        method: &str,
        biz: &str,
        via: Via,
    ) -> (String, StatusCode) {
        let p = self.signed_params(method, biz);
        send_params(http, &self.gateway, &p, via).await
    }

    /// Split `{"<key>":{...},"sign":"..."}` by hand (the raw object bytes, as
    /// the official SDKs do), verify, and return the object.
    fn open(&self, method: &str, body: &str) -> Value {
        let (obj, sig) = split_signed(body, &format!("{}_response", method.replace('.', "_")))
            .unwrap_or_else(|| panic!("not a signed alipay answer: {body}"));
        assert!(
            verify(&self.platform, obj.as_bytes(), &sig),
            "bad response signature: {body}"
        );
        serde_json::from_str(obj).unwrap()
    }
}

async fn send_params(
    http: &reqwest::Client,
    gateway: &str,
    p: &BTreeMap<String, String>,
    via: Via,
) -> (String, StatusCode) {
    let enc = |m: &BTreeMap<String, String>| {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in m {
            s.append_pair(k, v);
        }
        s.finish()
    };
    let r = match via {
        Via::Get => http
            .get(format!("{gateway}?{}", enc(p)))
            .send()
            .await
            .unwrap(),
        Via::Post => {
            let (body, query): (BTreeMap<_, _>, BTreeMap<_, _>) =
                p.clone().into_iter().partition(|(k, _)| k == "biz_content");
            http.post(format!("{gateway}?{}", enc(&query)))
                .header(
                    "content-type",
                    "application/x-www-form-urlencoded;charset=utf-8",
                )
                .body(enc(&body))
                .send()
                .await
                .unwrap()
        }
    };
    let status = r.status();
    (r.text().await.unwrap(), status)
}

/// The raw JSON object after `"<key>":` (brace matching outside strings) and
/// the `sign` that follows it.
fn split_signed<'a>(body: &'a str, key: &str) -> Option<(&'a str, String)> {
    let start = body.find(&format!("\"{key}\""))? + key.len() + 2;
    let rest = &body[start..];
    let open = start + rest.find('{')?;
    let bytes = body.as_bytes();
    let (mut depth, mut in_str, mut escaped) = (0i32, false, false);
    let mut end = None;
    for (i, &b) in bytes.iter().enumerate().skip(open) {
        if in_str {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_str = true,
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    end = Some(i + 1);
                    break;
                }
            }
            _ => {}
        }
    }
    let end = end?;
    let tail: Value = serde_json::from_str(body).ok()?;
    let sig = tail.get("sign")?.as_str()?.to_owned();
    // The sign must come after the object, as the real gateway writes it.
    if !body[end..].contains("\"sign\"") {
        return None;
    }
    Some((&body[open..end], sig))
}

// ---------------------------------------------------------------- wechat client (test-only)

struct Wx {
    mchid: String,
    appid: String,
    serial: String,
    key: RsaPrivateKey,
    platform: RsaPublicKey,
    platform_id: String,
}

struct WxReply {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl WxReply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&self.body)))
    }

    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The five Wechatpay-* headers verify with the platform key.
    fn verified(&self, wx: &Wx) -> bool {
        let mut msg = format!(
            "{}\n{}\n",
            self.header("wechatpay-timestamp"),
            self.header("wechatpay-nonce")
        )
        .into_bytes();
        msg.extend_from_slice(&self.body);
        msg.push(b'\n');
        self.header("wechatpay-serial") == wx.platform_id
            && self.header("wechatpay-signature-type") == "WECHATPAY2-SHA256-RSA2048"
            && !self.header("request-id").is_empty()
            && verify(&wx.platform, &msg, self.header("wechatpay-signature"))
    }
}

impl Wx {
    fn new(c: &Credentials) -> Wx {
        Wx {
            mchid: c.wechatpay.mchid.clone(),
            appid: c.wechatpay.appid.clone(),
            serial: c.wechatpay.merchant_serial_no.clone(),
            key: private_key(&c.wechatpay.merchant_private_key_pem),
            platform: RsaPublicKey::from_public_key_pem(&c.wechatpay.platform_public_key_pem)
                .unwrap(),
            platform_id: c.wechatpay.platform_public_key_id.clone(),
        }
    }

    fn authorization(&self, method: &str, path: &str, body: &str) -> String {
        let ts = chrono::Utc::now().timestamp().to_string();
        let nonce = format!("{:032X}", rand_u128());
        let msg = format!("{method}\n{path}\n{ts}\n{nonce}\n{body}\n");
        let signature = sign(&self.key, msg.as_bytes());
        // wechatpay-go's field order, not the doc's: the server must not care.
        format!(
            "WECHATPAY2-SHA256-RSA2048 mchid=\"{}\",nonce_str=\"{nonce}\",timestamp=\"{ts}\",serial_no=\"{}\",signature=\"{signature}\"",
            self.mchid, self.serial
        )
    }

    async fn send(
        &self,
        http: &reqwest::Client,
        base: &str,
        method: &str,
        path: &str,
        body: &str,
    ) -> WxReply {
        let auth = self.authorization(method, path, body);
        self.send_with(http, base, method, path, body, Some(auth))
            .await
    }

    async fn send_with(
        &self,
        http: &reqwest::Client,
        base: &str,
        method: &str,
        path: &str,
        body: &str,
        auth: Option<String>,
    ) -> WxReply {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut rb = http
            .request(m, format!("{base}{path}"))
            .header("accept", "application/json")
            .header("user-agent", "shouyin-sim-tests");
        if let Some(a) = auth {
            rb = rb.header("authorization", a);
        }
        if !body.is_empty() {
            rb = rb
                .header("content-type", "application/json")
                .body(body.to_owned());
        }
        let r = rb.send().await.unwrap();
        WxReply {
            status: r.status(),
            headers: r.headers().clone(),
            body: r.bytes().await.unwrap().to_vec(),
        }
    }

    fn native(&self, out_trade_no: &str, total: i64) -> Value {
        json!({
            "appid": self.appid,
            "mchid": self.mchid,
            "description": "收银测试-咖啡",
            "out_trade_no": out_trade_no,
            "notify_url": "https://example.invalid/notify",
            "amount": {"total": total, "currency": "CNY"}
        })
    }
}

fn rand_u128() -> u128 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(chrono::Utc::now().timestamp_nanos_opt().unwrap() as u64);
    (u128::from(h.finish()) << 64) | u128::from(h.finish().rotate_left(17))
}

fn precreate_biz(no: &str, amount: &str) -> Value {
    json!({"out_trade_no": no, "total_amount": amount, "subject": "收银测试 咖啡", "store_id": "S01", "terminal_id": "T01"})
}

// ---------------------------------------------------------------- tests

#[tokio::test]
async fn first_start_writes_credentials_in_the_published_shape_and_follows_the_port() {
    let sim = start_in(tempfile::tempdir().unwrap()).await;
    let dir = sim.dir.path().to_path_buf();
    let raw: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("credentials.json")).unwrap())
            .unwrap();
    let keys = |v: &Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(&raw), ["alipay", "unionpay", "wechatpay"]);
    assert_eq!(
        keys(&raw["unionpay"]),
        [
            "file_gateway",
            "gateway",
            "mer_id",
            "merchant_cert_pem",
            "merchant_private_key_pem",
            "middle_cert_pem",
            "root_cert_pem"
        ]
    );
    assert_eq!(
        keys(&raw["alipay"]),
        [
            "alipay_public_key_pem",
            "app_id",
            "app_private_key_pem",
            "gateway"
        ]
    );
    assert_eq!(
        keys(&raw["wechatpay"]),
        [
            "apiv3_key",
            "appid",
            "base_url",
            "mchid",
            "merchant_private_key_pem",
            "merchant_serial_no",
            "platform_public_key_id",
            "platform_public_key_pem"
        ]
    );
    let c = &sim.creds;
    assert_eq!(c.alipay.gateway, format!("http://{}/gateway.do", sim.addr));
    assert_eq!(c.wechatpay.base_url, format!("http://{}", sim.addr));
    assert!(c
        .wechatpay
        .platform_public_key_id
        .starts_with("PUB_KEY_ID_0114"));
    assert_eq!(c.wechatpay.apiv3_key.len(), 32);
    for pem in [
        &c.alipay.app_private_key_pem,
        &c.wechatpay.merchant_private_key_pem,
    ] {
        let k = private_key(pem);
        assert_eq!(rsa::traits::PublicKeyParts::size(&k), 256, "2048-bit keys");
    }
    // The platform's private keys stay in the simulator's own file.
    let sim_file = std::fs::read_to_string(dir.join(shouyin_sim::SIM_KEYS_FILE)).unwrap();
    let cred_file = std::fs::read_to_string(dir.join("credentials.json")).unwrap();
    assert_eq!(
        cred_file.matches("PRIVATE KEY-----").count(),
        6,
        "three merchant private keys only"
    );
    assert!(sim_file.contains("PRIVATE KEY"));
    let old = sim.creds.clone();
    let tmp = sim.stop().await;

    // Same dir, new port: same keys, new URLs, and the keys still work.
    let sim = start_in(tmp).await;
    assert_ne!(sim.creds.alipay.gateway, old.alipay.gateway);
    assert_eq!(
        sim.creds.alipay.gateway,
        format!("http://{}/gateway.do", sim.addr)
    );
    assert_eq!(sim.creds.wechatpay.base_url, format!("http://{}", sim.addr));
    let up = sim.creds.unionpay.clone().unwrap();
    assert_eq!(up.gateway, format!("http://{}", sim.addr));
    assert_eq!(
        up.file_gateway,
        format!("http://{}/filedownload/", sim.addr)
    );
    assert_eq!(up, {
        let mut o = old.unionpay.clone().unwrap();
        o.gateway = up.gateway.clone();
        o.file_gateway = up.file_gateway.clone();
        o
    });
    assert_eq!(
        sim.creds.alipay.app_private_key_pem,
        old.alipay.app_private_key_pem
    );
    assert_eq!(
        sim.creds.wechatpay.platform_public_key_pem,
        old.wechatpay.platform_public_key_pem
    );
    let r = sim
        .alipay("alipay.trade.precreate", precreate_biz("KEEP_1", "1.00"))
        .await;
    assert_eq!(r["code"], "10000");
    sim.stop().await;
}

/// A state directory from before the simulator spoke UnionPay gains the
/// UnionPay accounts on its next start and keeps everything else.
#[tokio::test]
async fn an_older_state_gains_unionpay_and_keeps_its_keys() {
    let sim = start_in(tempfile::tempdir().unwrap()).await;
    let old = sim.creds.clone();
    let tmp = sim.stop().await;
    for file in ["credentials.json", shouyin_sim::SIM_KEYS_FILE] {
        let path = tmp.path().join(file);
        let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        v.as_object_mut().unwrap().remove("unionpay");
        std::fs::write(&path, v.to_string()).unwrap();
    }
    let sim = start_in(tmp).await;
    assert_eq!(
        sim.creds.alipay.app_private_key_pem,
        old.alipay.app_private_key_pem
    );
    let up = sim.creds.unionpay.clone().expect("a UnionPay section");
    assert!(up.mer_id.starts_with("777290058"), "{up:?}");
    assert!(up.root_cert_pem.contains("BEGIN CERTIFICATE"));
    assert_ne!(up.root_cert_pem, old.unionpay.unwrap().root_cert_pem);
    sim.stop().await;
}

#[tokio::test]
async fn alipay_precreate_exists_only_after_the_scan_then_pays_and_refunds_idempotently() {
    let sim = start().await;
    let r = sim
        .alipay(
            "alipay.trade.precreate",
            precreate_biz("ALI_LIFE_1", "12.30"),
        )
        .await;
    assert_eq!(r["code"], "10000", "{r}");
    let qr = r["qr_code"].as_str().unwrap().to_owned();
    assert!(qr.starts_with("https://qr.alipay.com/bax"), "{qr}");
    // Retry with the same params: same code. Different amount: refused.
    let again = sim
        .alipay(
            "alipay.trade.precreate",
            precreate_biz("ALI_LIFE_1", "12.30"),
        )
        .await;
    assert_eq!(again["qr_code"], qr.as_str());
    let clash = sim
        .alipay(
            "alipay.trade.precreate",
            precreate_biz("ALI_LIFE_1", "12.31"),
        )
        .await;
    assert_eq!(clash["sub_code"], "ACQ.CONTEXT_INCONSISTENT");

    // Not scanned: the trade does not exist at the channel yet.
    for method in ["alipay.trade.query", "alipay.trade.close"] {
        let r = sim
            .alipay(method, json!({"out_trade_no": "ALI_LIFE_1"}))
            .await;
        assert_eq!(
            (r["code"].as_str(), r["sub_code"].as_str()),
            (Some("40004"), Some("ACQ.TRADE_NOT_EXIST")),
            "{method}: {r}"
        );
    }
    // The control API shows it, not yet scanned.
    let listed = sim.trades().await;
    let t = listed
        .iter()
        .find(|t| t["out_trade_no"] == "ALI_LIFE_1")
        .unwrap();
    assert_eq!(
        (
            t["channel"].as_str(),
            t["amount_fen"].as_i64(),
            t["state"].as_str()
        ),
        (Some("alipay"), Some(1230), Some("created"))
    );

    // Opening the code on the customer page is the scan.
    let (status, html) = sim.page(&format!("/pay?code={}", urlenc(&qr))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("¥12.30") && html.contains("ALI_LIFE_1"),
        "{html}"
    );
    let r = sim
        .alipay("alipay.trade.query", json!({"out_trade_no": "ALI_LIFE_1"}))
        .await;
    assert_eq!(r["trade_status"], "WAIT_BUYER_PAY", "{r}");
    let trade_no = r["trade_no"].as_str().unwrap().to_owned();

    assert_eq!(sim.pay("ALI_LIFE_1").await, StatusCode::OK);
    // Query by trade_no (which wins over out_trade_no).
    let r = sim
        .alipay(
            "alipay.trade.query",
            json!({"trade_no": trade_no, "out_trade_no": "nonsense"}),
        )
        .await;
    assert_eq!(r["trade_status"], "TRADE_SUCCESS", "{r}");
    assert_eq!(r["total_amount"], "12.30");
    assert_eq!(r["receipt_amount"], "12.30");
    assert!(r["send_pay_date"].as_str().unwrap().len() == 19);
    let r = sim
        .alipay("alipay.trade.close", json!({"out_trade_no": "ALI_LIFE_1"}))
        .await;
    assert_eq!(
        r["sub_code"], "ACQ.TRADE_STATUS_ERROR",
        "close of a paid trade: {r}"
    );
    let r = sim
        .alipay(
            "alipay.trade.precreate",
            precreate_biz("ALI_LIFE_1", "12.30"),
        )
        .await;
    assert_eq!(r["sub_code"], "ACQ.TRADE_HAS_SUCCESS");

    // Refunds: the same request number moves money once.
    let refund = |amount: &str, no: &str| json!({"out_trade_no": "ALI_LIFE_1", "refund_amount": amount, "out_request_no": no, "refund_reason": "顾客退货"});
    let r = sim
        .alipay("alipay.trade.refund", refund("2.30", "R1"))
        .await;
    assert_eq!(
        (r["fund_change"].as_str(), r["refund_fee"].as_str()),
        (Some("Y"), Some("2.30")),
        "{r}"
    );
    let r = sim
        .alipay("alipay.trade.refund", refund("2.30", "R1"))
        .await;
    assert_eq!(
        (r["fund_change"].as_str(), r["refund_fee"].as_str()),
        (Some("N"), Some("2.30")),
        "{r}"
    );
    let r = sim
        .alipay("alipay.trade.refund", refund("10.01", "R2"))
        .await;
    assert_eq!(r["sub_code"], "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "{r}");
    let r = sim
        .alipay("alipay.trade.query", json!({"out_trade_no": "ALI_LIFE_1"}))
        .await;
    assert_eq!(
        r["trade_status"], "TRADE_SUCCESS",
        "part refunded is still success"
    );
    let r = sim
        .alipay("alipay.trade.refund", refund("10.00", "R3"))
        .await;
    assert_eq!(
        (r["fund_change"].as_str(), r["refund_fee"].as_str()),
        (Some("Y"), Some("12.30")),
        "{r}"
    );
    let r = sim
        .alipay("alipay.trade.query", json!({"out_trade_no": "ALI_LIFE_1"}))
        .await;
    assert_eq!(r["trade_status"], "TRADE_CLOSED", "fully refunded: {r}");

    let rq = |no: &str| json!({"out_trade_no": "ALI_LIFE_1", "out_request_no": no});
    let r = sim
        .alipay("alipay.trade.fastpay.refund.query", rq("R1"))
        .await;
    assert_eq!(
        (r["refund_amount"].as_str(), r["refund_status"].as_str()),
        (Some("2.30"), Some("REFUND_SUCCESS")),
        "{r}"
    );
    // The Chinese reason is echoed: the raw-object signature covers UTF-8.
    assert_eq!(r["refund_reason"], "顾客退货");
    let r = sim
        .alipay("alipay.trade.fastpay.refund.query", rq("R9"))
        .await;
    assert_eq!(r["code"], "10000");
    assert!(
        r.get("refund_amount").is_none(),
        "unknown request: no refund: {r}"
    );

    let listed = sim.trades().await;
    let t = listed
        .iter()
        .find(|t| t["out_trade_no"] == "ALI_LIFE_1")
        .unwrap();
    assert_eq!(t["state"], "refunded");
    sim.stop().await;
}

fn urlenc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn alipay_accepts_get_and_post_and_rejects_bad_signatures_unsigned() {
    let sim = start().await;
    // python-alipay-sdk style: everything in the query, ASCII-escaped JSON.
    let biz = r#"{"out_trade_no":"ALI_GET_1","total_amount":"0.01","subject":"\u6d4b\u8bd5"}"#;
    let (body, status) = sim
        .ali
        .send(&sim.http, "alipay.trade.precreate", biz, Via::Get)
        .await;
    assert_eq!(status, StatusCode::OK);
    let r = sim.ali.open("alipay.trade.precreate", &body);
    assert_eq!(r["code"], "10000", "{body}");
    let listed = sim.trades().await;
    let t = listed
        .iter()
        .find(|t| t["out_trade_no"] == "ALI_GET_1")
        .unwrap();
    assert_eq!(t["subject"], "测试");

    // Everything in the form body, nothing in the query.
    let p = sim
        .ali
        .signed_params("alipay.trade.query", r#"{"out_trade_no":"ALI_GET_1"}"#);
    let form = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&p)
        .finish();
    let r = sim
        .http
        .post(&sim.creds.alipay.gateway)
        .header(
            "content-type",
            "application/x-www-form-urlencoded;charset=utf-8",
        )
        .body(form)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let r = sim.ali.open("alipay.trade.query", &r);
    assert_eq!(r["sub_code"], "ACQ.TRADE_NOT_EXIST");

    // A tampered parameter, a foreign signature, or no signature at all.
    let mut tampered = sim
        .ali
        .signed_params("alipay.trade.query", r#"{"out_trade_no":"ALI_GET_1"}"#);
    tampered.insert(
        "biz_content".into(),
        r#"{"out_trade_no":"ALI_GET_2"}"#.into(),
    );
    let mut foreign = sim.ali.signed_params("alipay.trade.query", "{}");
    let other = private_key(
        &std::fs::read_to_string(vector("python_alipay_sdk_tests_app_app_private_key.pem"))
            .unwrap(),
    );
    foreign.insert("sign".into(), sign(&other, b"app_id=1"));
    let mut unsigned = sim.ali.signed_params("alipay.trade.query", "{}");
    unsigned.remove("sign");
    for (name, p) in [
        ("tampered", tampered),
        ("foreign", foreign),
        ("unsigned", unsigned),
    ] {
        for via in [Via::Get, Via::Post] {
            let (body, status) = send_params(&sim.http, &sim.creds.alipay.gateway, &p, via).await;
            assert_eq!(status, StatusCode::OK, "{name}");
            let v: Value = serde_json::from_str(&body).unwrap();
            let e = &v["error_response"];
            assert_eq!(
                (e["code"].as_str(), e["sub_code"].as_str()),
                (Some("40002"), Some("isv.invalid-signature")),
                "{name}: {body}"
            );
            assert!(e["sub_msg"].as_str().unwrap().starts_with("验签出错"));
            assert!(v.get("sign").is_none(), "refusals are unsigned: {body}");
        }
    }
    sim.stop().await;
}

#[tokio::test]
async fn alipay_cancel_closes_an_unscanned_trade_for_good_and_refunds_a_paid_one() {
    let sim = start().await;
    let r = sim
        .alipay("alipay.trade.precreate", precreate_biz("ALI_CXL_1", "5.00"))
        .await;
    let qr = r["qr_code"].as_str().unwrap().to_owned();
    let r = sim
        .alipay("alipay.trade.cancel", json!({"out_trade_no": "ALI_CXL_1"}))
        .await;
    assert_eq!(
        (
            r["code"].as_str(),
            r["action"].as_str(),
            r["retry_flag"].as_str()
        ),
        (Some("10000"), Some("close"), Some("N")),
        "{r}"
    );
    assert_eq!(
        sim.pay("ALI_CXL_1").await,
        StatusCode::CONFLICT,
        "a cancelled code cannot be paid"
    );
    let (_, html) = sim.page(&format!("/pay?code={}", urlenc(&qr))).await;
    assert!(
        html.contains("已撤销") && !html.contains("确认支付"),
        "{html}"
    );
    let r = sim
        .alipay("alipay.trade.query", json!({"out_trade_no": "ALI_CXL_1"}))
        .await;
    assert_eq!(r["trade_status"], "TRADE_CLOSED");
    let r = sim
        .alipay("alipay.trade.cancel", json!({"out_trade_no": "ALI_CXL_1"}))
        .await;
    assert_eq!(r["action"], "close", "repeat cancel: same answer");

    sim.alipay("alipay.trade.precreate", precreate_biz("ALI_CXL_2", "7.00"))
        .await;
    assert_eq!(
        sim.pay("ALI_CXL_2").await,
        StatusCode::OK,
        "pay = scan and pay"
    );
    let r = sim
        .alipay("alipay.trade.cancel", json!({"out_trade_no": "ALI_CXL_2"}))
        .await;
    assert_eq!(
        (r["action"].as_str(), r["retry_flag"].as_str()),
        (Some("refund"), Some("N")),
        "{r}"
    );
    let r = sim
        .alipay("alipay.trade.query", json!({"out_trade_no": "ALI_CXL_2"}))
        .await;
    assert_eq!(r["trade_status"], "TRADE_CLOSED");
    let r = sim
        .alipay(
            "alipay.trade.cancel",
            json!({"out_trade_no": "ALI_CXL_NONE"}),
        )
        .await;
    assert_eq!(r["sub_code"], "ACQ.TRADE_NOT_EXIST");

    // A scanned, unpaid trade can be closed; declining closes it too.
    let r = sim
        .alipay("alipay.trade.precreate", precreate_biz("ALI_CXL_3", "1.00"))
        .await;
    sim.page(&format!(
        "/pay?code={}",
        urlenc(r["qr_code"].as_str().unwrap())
    ))
    .await;
    let r = sim
        .alipay("alipay.trade.close", json!({"out_trade_no": "ALI_CXL_3"}))
        .await;
    assert_eq!(
        (r["code"].as_str(), r["out_trade_no"].as_str()),
        (Some("10000"), Some("ALI_CXL_3")),
        "{r}"
    );
    let r = sim
        .alipay("alipay.trade.close", json!({"out_trade_no": "ALI_CXL_3"}))
        .await;
    assert_eq!(r["sub_code"], "ACQ.TRADE_STATUS_ERROR");
    sim.alipay("alipay.trade.precreate", precreate_biz("ALI_CXL_4", "1.00"))
        .await;
    assert_eq!(sim.decline("ALI_CXL_4").await, StatusCode::OK);
    let r = sim
        .alipay("alipay.trade.query", json!({"out_trade_no": "ALI_CXL_4"}))
        .await;
    assert_eq!(r["trade_status"], "TRADE_CLOSED");
    sim.stop().await;
}

#[tokio::test]
async fn unpaid_trades_expire_on_both_channels() {
    let sim = start().await;
    let mut biz = precreate_biz("ALI_EXP_1", "3.00");
    biz["time_expire"] = json!(china_now(3));
    assert_eq!(
        sim.alipay("alipay.trade.precreate", biz).await["code"],
        "10000"
    );
    let mut biz = precreate_biz("ALI_EXP_2", "3.00");
    biz["timeout_express"] = json!("1m");
    assert_eq!(
        sim.alipay("alipay.trade.precreate", biz).await["code"],
        "10000"
    );
    let mut biz = precreate_biz("ALI_EXP_3", "3.00");
    biz["timeout_express"] = json!("30s");
    assert_eq!(
        sim.alipay("alipay.trade.precreate", biz).await["sub_code"],
        "ACQ.INVALID_PARAMETER"
    );
    let r = sim.trades().await;
    let t = r.iter().find(|t| t["out_trade_no"] == "ALI_EXP_1").unwrap();
    assert!(t["expires_at"].as_str().unwrap().ends_with("+08:00"));
    // Paying a code nobody scanned scans it first.
    assert_eq!(sim.pay("ALI_EXP_1").await, StatusCode::OK);
    // Scan only (via the page) so that it exists, then let it lapse.
    let mut biz = precreate_biz("ALI_EXP_4", "3.00");
    biz["time_expire"] = json!(china_now(3));
    let qr = sim.alipay("alipay.trade.precreate", biz).await["qr_code"]
        .as_str()
        .unwrap()
        .to_owned();
    sim.page(&format!("/pay?code={}", urlenc(&qr))).await;

    let mut order = sim.wx.native("WX_EXP_0001", 300);
    let expire = (chrono::Utc::now() + chrono::Duration::seconds(3))
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, false);
    order["time_expire"] = json!(expire);
    let r = sim
        .wechat("POST", "/v3/pay/transactions/native", Some(order))
        .await;
    assert_eq!(r.status, StatusCode::OK);

    tokio::time::sleep(Duration::from_millis(3500)).await;
    let r = sim
        .alipay("alipay.trade.query", json!({"out_trade_no": "ALI_EXP_4"}))
        .await;
    assert_eq!(r["trade_status"], "TRADE_CLOSED", "{r}");
    assert_eq!(sim.pay("ALI_EXP_4").await, StatusCode::CONFLICT);
    let r = sim
        .wechat(
            "GET",
            &format!(
                "/v3/pay/transactions/out-trade-no/WX_EXP_0001?mchid={}",
                sim.wx.mchid
            ),
            None,
        )
        .await;
    assert_eq!(r.json()["trade_state"], "CLOSED");
    assert_eq!(sim.pay("WX_EXP_0001").await, StatusCode::CONFLICT);
    // The 1-minute one is still open.
    assert_eq!(sim.pay("ALI_EXP_2").await, StatusCode::OK);
    sim.stop().await;
}

#[tokio::test]
async fn wechat_native_life_cycle_with_signed_answers() {
    let sim = start().await;
    let order = sim.wx.native("WX_LIFE_0001", 1230);
    let r = sim
        .wechat("POST", "/v3/pay/transactions/native", Some(order.clone()))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.verified(&sim.wx), "signed 200");
    let code_url = r.json()["code_url"].as_str().unwrap().to_owned();
    assert!(
        code_url.starts_with("weixin://wxpay/bizpayurl?pr="),
        "{code_url}"
    );
    let r = sim
        .wechat("POST", "/v3/pay/transactions/native", Some(order))
        .await;
    assert_eq!(
        r.json()["code_url"],
        code_url.as_str(),
        "same order, same code"
    );
    let r = sim
        .wechat(
            "POST",
            "/v3/pay/transactions/native",
            Some(sim.wx.native("WX_LIFE_0001", 1231)),
        )
        .await;
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("OUT_TRADE_NO_USED"))
    );

    let q = format!(
        "/v3/pay/transactions/out-trade-no/WX_LIFE_0001?mchid={}",
        sim.wx.mchid
    );
    let r = sim.wechat("GET", &q, None).await;
    assert!(r.verified(&sim.wx));
    let v = r.json();
    assert_eq!(
        (v["trade_state"].as_str(), v["amount"]["total"].as_i64()),
        (Some("NOTPAY"), Some(1230))
    );
    assert!(v.get("transaction_id").is_none());

    // The customer page lists it with the WeChat colours.
    let (_, html) = sim.page("/").await;
    assert!(html.contains("WX_LIFE_0001") && html.contains("¥12.30") && html.contains("#07C160"));
    let (status, _) = sim.page(&format!("/pay?code={}", urlenc(&code_url))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(sim.pay("WX_LIFE_0001").await, StatusCode::OK);
    assert_eq!(
        sim.pay("WX_LIFE_0001").await,
        StatusCode::CONFLICT,
        "paid once"
    );

    let v = sim.wechat("GET", &q, None).await.json();
    assert_eq!(v["trade_state"], "SUCCESS", "{v}");
    assert_eq!(v["trade_type"], "NATIVE");
    assert!(v["success_time"].as_str().unwrap().ends_with("+08:00"));
    assert!(!v["payer"]["openid"].as_str().unwrap().is_empty());
    let tx = v["transaction_id"].as_str().unwrap().to_owned();
    let r = sim
        .wechat(
            "GET",
            &format!("/v3/pay/transactions/id/{tx}?mchid={}", sim.wx.mchid),
            None,
        )
        .await;
    assert_eq!(r.json()["out_trade_no"], "WX_LIFE_0001");

    let close = json!({"mchid": sim.wx.mchid});
    let r = sim
        .wechat(
            "POST",
            "/v3/pay/transactions/out-trade-no/WX_LIFE_0001/close",
            Some(close),
        )
        .await;
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("ORDERPAID"))
    );

    let refund = |no: &str, amount: i64| {
        json!({"out_trade_no": "WX_LIFE_0001", "out_refund_no": no, "reason": "退货",
               "amount": {"refund": amount, "total": 1230, "currency": "CNY"}})
    };
    let r = sim
        .wechat(
            "POST",
            "/v3/refund/domestic/refunds",
            Some(refund("WXR_1", 300)),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.verified(&sim.wx));
    let first = r.json();
    assert_eq!(
        (first["status"].as_str(), first["amount"]["refund"].as_i64()),
        (Some("SUCCESS"), Some(300))
    );
    let again = sim
        .wechat(
            "POST",
            "/v3/refund/domestic/refunds",
            Some(refund("WXR_1", 300)),
        )
        .await
        .json();
    assert_eq!(
        again["refund_id"], first["refund_id"],
        "same refund number, same refund"
    );
    let r = sim
        .wechat(
            "POST",
            "/v3/refund/domestic/refunds",
            Some(refund("WXR_2", 931)),
        )
        .await;
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("NOT_ENOUGH"))
    );
    let r = sim
        .wechat(
            "POST",
            "/v3/refund/domestic/refunds",
            Some(refund("WXR_3", 930)),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let v = sim.wechat("GET", &q, None).await.json();
    assert_eq!(v["trade_state"], "REFUND");
    let r = sim
        .wechat("GET", "/v3/refund/domestic/refunds/WXR_1", None)
        .await;
    assert!(r.verified(&sim.wx));
    assert_eq!(r.json()["amount"]["refund"], 300);
    let r = sim
        .wechat("GET", "/v3/refund/domestic/refunds/WXR_NONE", None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let listed = sim.trades().await;
    let t = listed
        .iter()
        .find(|t| t["out_trade_no"] == "WX_LIFE_0001")
        .unwrap();
    assert_eq!(
        (t["channel"].as_str(), t["state"].as_str()),
        (Some("wechat"), Some("refunded"))
    );

    let r = sim
        .wechat(
            "GET",
            &format!(
                "/v3/pay/transactions/out-trade-no/WX_NONE_001?mchid={}",
                sim.wx.mchid
            ),
            None,
        )
        .await;
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("ORDER_NOT_EXIST"))
    );
    sim.stop().await;
}

#[tokio::test]
async fn wechat_close_answers_204_with_signed_headers() {
    let sim = start().await;
    sim.wechat(
        "POST",
        "/v3/pay/transactions/native",
        Some(sim.wx.native("WX_CLOSE_01", 100)),
    )
    .await;
    let r = sim
        .wechat(
            "POST",
            "/v3/pay/transactions/out-trade-no/WX_CLOSE_01/close",
            Some(json!({"mchid": sim.wx.mchid})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(r.body.is_empty());
    assert!(r.verified(&sim.wx), "204 is signed over ts\\nnonce\\n\\n");
    let v = sim
        .wechat(
            "GET",
            &format!(
                "/v3/pay/transactions/out-trade-no/WX_CLOSE_01?mchid={}",
                sim.wx.mchid
            ),
            None,
        )
        .await
        .json();
    assert_eq!(v["trade_state"], "CLOSED");
    assert_eq!(sim.pay("WX_CLOSE_01").await, StatusCode::CONFLICT);
    let r = sim
        .wechat(
            "POST",
            "/v3/pay/transactions/out-trade-no/WX_NONE_01/close",
            Some(json!({"mchid": sim.wx.mchid})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    sim.stop().await;
}

#[tokio::test]
async fn wechat_rejects_bad_signatures_with_401_sign_error() {
    let sim = start().await;
    let base = sim.creds.wechatpay.base_url.clone();
    let path = format!(
        "/v3/pay/transactions/out-trade-no/WX_SIGN_01?mchid={}",
        sim.wx.mchid
    );
    // Signed for another path.
    let wrong_path =
        sim.wx
            .authorization("GET", "/v3/pay/transactions/out-trade-no/OTHER?mchid=1", "");
    // A flipped signature.
    let good = sim.wx.authorization("GET", &path, "");
    let flipped = good.replacen("signature=\"", "signature=\"A", 1);
    // The right signature, wrong serial.
    let wrong_serial = good.replace(&sim.wx.serial, "0000000000000000000000000000000000000000");
    for (name, auth) in [
        ("wrong path", Some(wrong_path)),
        ("flipped", Some(flipped)),
        ("serial", Some(wrong_serial)),
        ("bearer", Some("Bearer x".to_owned())),
        ("missing", None),
    ] {
        let r = sim
            .wx
            .send_with(&sim.http, &base, "GET", &path, "", auth)
            .await;
        assert_eq!(
            (r.status, r.json()["code"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("SIGN_ERROR")),
            "{name}"
        );
    }
    // The doc's field order (signature in the middle) is just as good.
    let ts = chrono::Utc::now().timestamp();
    let msg = format!("GET\n{path}\n{ts}\nNONCE1\n\n");
    let sig = sign(&sim.wx.key, msg.as_bytes());
    let doc_order = format!(
        "WECHATPAY2-SHA256-RSA2048 mchid=\"{}\",nonce_str=\"NONCE1\",signature=\"{sig}\",timestamp=\"{ts}\",serial_no=\"{}\"",
        sim.wx.mchid, sim.wx.serial
    );
    let r = sim
        .wx
        .send_with(&sim.http, &base, "GET", &path, "", Some(doc_order))
        .await;
    assert_eq!(
        r.status,
        StatusCode::NOT_FOUND,
        "signature accepted, order unknown"
    );
    // A body changed after signing.
    let body = sim.wx.native("WX_SIGN_01", 100).to_string();
    let auth = sim
        .wx
        .authorization("POST", "/v3/pay/transactions/native", &body);
    let r = sim
        .wx
        .send_with(
            &sim.http,
            &base,
            "POST",
            "/v3/pay/transactions/native",
            &body.replace("100", "1"),
            Some(auth),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(sim.trades().await.is_empty(), "nothing was created");
    sim.stop().await;
}

#[tokio::test]
async fn trades_survive_a_restart() {
    let sim = start().await;
    sim.alipay(
        "alipay.trade.precreate",
        precreate_biz("ALI_KEEP_1", "8.80"),
    )
    .await;
    assert_eq!(sim.pay("ALI_KEEP_1").await, StatusCode::OK);
    sim.wechat(
        "POST",
        "/v3/pay/transactions/native",
        Some(sim.wx.native("WX_KEEP_01", 660)),
    )
    .await;
    let r = sim
        .alipay(
            "alipay.trade.refund",
            json!({"out_trade_no": "ALI_KEEP_1", "refund_amount": "1.00", "out_request_no": "K1"}),
        )
        .await;
    assert_eq!(r["fund_change"], "Y");
    let tmp = sim.stop().await;

    let sim = start_in(tmp).await;
    let r = sim
        .alipay("alipay.trade.query", json!({"out_trade_no": "ALI_KEEP_1"}))
        .await;
    assert_eq!(
        (r["trade_status"].as_str(), r["total_amount"].as_str()),
        (Some("TRADE_SUCCESS"), Some("8.80"))
    );
    let r = sim
        .alipay(
            "alipay.trade.refund",
            json!({"out_trade_no": "ALI_KEEP_1", "refund_amount": "1.00", "out_request_no": "K1"}),
        )
        .await;
    assert_eq!(
        (r["fund_change"].as_str(), r["refund_fee"].as_str()),
        (Some("N"), Some("1.00")),
        "refund remembered"
    );
    let v = sim
        .wechat(
            "GET",
            &format!(
                "/v3/pay/transactions/out-trade-no/WX_KEEP_01?mchid={}",
                sim.wx.mchid
            ),
            None,
        )
        .await
        .json();
    assert_eq!(v["trade_state"], "NOTPAY");
    assert_eq!(sim.pay("WX_KEEP_01").await, StatusCode::OK);
    assert_eq!(sim.trades().await.len(), 2);
    sim.stop().await;
}

#[tokio::test]
async fn fault_latency_delays_protocol_answers_only() {
    let sim = start().await;
    sim.faults(json!({"latency_ms": 400})).await;
    let t0 = Instant::now();
    let r = sim
        .alipay("alipay.trade.query", json!({"out_trade_no": "NOPE_1"}))
        .await;
    assert_eq!(r["sub_code"], "ACQ.TRADE_NOT_EXIST");
    assert!(
        t0.elapsed() >= Duration::from_millis(400),
        "{:?}",
        t0.elapsed()
    );
    let t0 = Instant::now();
    sim.trades().await;
    assert!(
        t0.elapsed() < Duration::from_millis(400),
        "control API is not delayed"
    );
    let r = sim
        .http
        .put(sim.url("/_sim/faults"))
        .json(&json!({"drop_rate": 1.5}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::BAD_REQUEST,
        "rates are probabilities"
    );
    let current: Value = sim
        .http
        .get(sim.url("/_sim/faults"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            current["latency_ms"].as_u64(),
            current["drop_rate"].as_f64()
        ),
        (Some(400), Some(0.0))
    );
    sim.clear_faults().await;
    sim.stop().await;
}

#[tokio::test]
async fn fault_drop_cuts_the_connection_after_the_work_is_done() {
    let sim = start().await;
    sim.alipay(
        "alipay.trade.precreate",
        precreate_biz("ALI_DROP_1", "4.00"),
    )
    .await;
    assert_eq!(sim.pay("ALI_DROP_1").await, StatusCode::OK);
    sim.faults(json!({"drop_rate": 1.0})).await;
    let p = sim.ali.signed_params(
        "alipay.trade.refund",
        r#"{"out_trade_no":"ALI_DROP_1","refund_amount":"1.50","out_request_no":"D1"}"#,
    );
    let enc = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&p)
        .finish();
    let err = sim
        .http
        .get(format!("{}?{enc}", sim.creds.alipay.gateway))
        .send()
        .await;
    let err = err.expect_err("the connection is dropped without an answer");
    assert!(!err.is_timeout(), "dropped, not timed out: {err:?}");
    let r = sim
        .wechat_raw_get(&format!(
            "/v3/pay/transactions/out-trade-no/X12345?mchid={}",
            sim.wx.mchid
        ))
        .await;
    assert!(r.is_err(), "wechat dropped too");
    // The page and the control API keep working.
    assert_eq!(sim.page("/").await.0, StatusCode::OK);
    sim.clear_faults().await;
    // The refund went through before the drop: a retry moves no money.
    let r = sim
        .alipay(
            "alipay.trade.refund",
            json!({"out_trade_no": "ALI_DROP_1", "refund_amount": "1.50", "out_request_no": "D1"}),
        )
        .await;
    assert_eq!(
        (r["fund_change"].as_str(), r["refund_fee"].as_str()),
        (Some("N"), Some("1.50")),
        "{r}"
    );
    sim.stop().await;
}

impl Sim {
    async fn wechat_raw_get(&self, path: &str) -> Result<reqwest::Response, reqwest::Error> {
        let auth = self.wx.authorization("GET", path, "");
        self.http
            .get(format!("{}{path}", self.creds.wechatpay.base_url))
            .header("authorization", auth)
            .send()
            .await
    }
}

#[tokio::test]
async fn fault_error_answers_system_busy_and_changes_nothing() {
    let sim = start().await;
    sim.faults(json!({"error_rate": 1.0})).await;
    let r = sim
        .alipay("alipay.trade.precreate", precreate_biz("ALI_ERR_1", "2.00"))
        .await;
    assert_eq!(
        (r["code"].as_str(), r["sub_code"].as_str()),
        (Some("20000"), Some("isp.unknow-error")),
        "signed busy answer: {r}"
    );
    let r = sim
        .wechat(
            "POST",
            "/v3/pay/transactions/native",
            Some(sim.wx.native("WX_ERR_001", 200)),
        )
        .await;
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (StatusCode::INTERNAL_SERVER_ERROR, Some("SYSTEM_ERROR"))
    );
    assert!(sim.trades().await.is_empty(), "nothing was created");
    sim.clear_faults().await;
    let r = sim
        .alipay("alipay.trade.precreate", precreate_biz("ALI_ERR_1", "2.00"))
        .await;
    assert_eq!(r["code"], "10000");
    sim.stop().await;
}

#[tokio::test]
async fn fault_garble_and_bad_signature_spoil_the_answer_not_the_work() {
    let sim = start().await;
    sim.faults(json!({"garble_rate": 1.0, "seed": 7})).await;
    let (body, status) = sim
        .ali
        .send(
            &sim.http,
            "alipay.trade.precreate",
            &precreate_biz("ALI_GRB_1", "2.00").to_string(),
            Via::Post,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        serde_json::from_str::<Value>(&body).is_err(),
        "garbled: {body}"
    );
    let r = sim
        .wechat(
            "POST",
            "/v3/pay/transactions/native",
            Some(sim.wx.native("WX_GRB_001", 200)),
        )
        .await;
    assert!(serde_json::from_slice::<Value>(&r.body).is_err() || !r.verified(&sim.wx));
    assert_eq!(sim.trades().await.len(), 2, "the work was done");

    sim.faults(json!({"garble_rate": 0.0, "bad_signature_rate": 1.0}))
        .await;
    let (body, _) = sim
        .ali
        .send(
            &sim.http,
            "alipay.trade.query",
            r#"{"out_trade_no":"ALI_GRB_1"}"#,
            Via::Post,
        )
        .await;
    let (obj, sig) = split_signed(&body, "alipay_trade_query_response").expect("well-formed");
    assert!(
        !verify(&sim.ali.platform, obj.as_bytes(), &sig),
        "signature must not verify"
    );
    assert!(!sig.is_empty() && B64.decode(&sig).is_ok());
    let q = format!(
        "/v3/pay/transactions/out-trade-no/WX_GRB_001?mchid={}",
        sim.wx.mchid
    );
    let r = sim.wechat("GET", &q, None).await;
    assert_eq!(
        (r.status, r.json()["trade_state"].as_str()),
        (StatusCode::OK, Some("NOTPAY"))
    );
    assert!(!r.verified(&sim.wx), "header signature must not verify");
    let r = sim
        .wechat(
            "POST",
            "/v3/pay/transactions/out-trade-no/WX_GRB_001/close",
            Some(json!({"mchid": sim.wx.mchid})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(!r.verified(&sim.wx), "a 204 with a bad signature");

    // Rates in between: a seeded mix, some answers good and some spoiled.
    sim.faults(json!({"bad_signature_rate": 0.5, "seed": 42}))
        .await;
    let mut good = 0;
    for _ in 0..20 {
        let r = sim.wechat("GET", &q, None).await;
        if r.verified(&sim.wx) {
            good += 1;
        }
    }
    assert!(
        (3..=17).contains(&good),
        "{good} of 20 verified at rate 0.5"
    );
    sim.clear_faults().await;
    assert!(sim.wechat("GET", &q, None).await.verified(&sim.wx));
    sim.stop().await;
}

#[tokio::test]
async fn alipay_bill_is_a_zip_of_gbk_csvs_with_the_real_columns() {
    let sim = start().await;
    for (no, amount) in [("ALI_BILL_1", "12.30"), ("ALI_BILL_2", "0.99")] {
        sim.alipay("alipay.trade.precreate", precreate_biz(no, amount))
            .await;
        assert_eq!(sim.pay(no).await, StatusCode::OK);
    }
    sim.alipay(
        "alipay.trade.precreate",
        precreate_biz("ALI_BILL_3", "5.00"),
    )
    .await; // unpaid: not billed
    sim.alipay(
        "alipay.trade.refund",
        json!({"out_trade_no": "ALI_BILL_1", "refund_amount": "2.30", "out_request_no": "BR1"}),
    )
    .await;

    let r = sim
        .alipay(
            "alipay.data.dataservice.bill.downloadurl.query",
            json!({"bill_type": "trade", "bill_date": today_china()}),
        )
        .await;
    let url = r["bill_download_url"]
        .as_str()
        .unwrap_or_else(|| panic!("{r}"))
        .to_owned();
    assert!(url.starts_with(&format!("http://{}/", sim.addr)), "{url}");
    let bytes = sim
        .http
        .get(&url)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let mut files = BTreeMap::new();
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).unwrap();
        let mut raw = Vec::new();
        f.read_to_end(&mut raw).unwrap();
        let (text, _, had_errors) = encoding_rs::GBK.decode(&raw);
        assert!(!had_errors, "GBK");
        assert!(
            std::str::from_utf8(&raw).is_err(),
            "not UTF-8: the file is GBK"
        );
        files.insert(f.name().to_owned(), text.into_owned());
    }
    let date = today_china().replace('-', "");
    let names: Vec<&String> = files.keys().collect();
    assert_eq!(names.len(), 2, "{names:?}");
    let detail = files
        .iter()
        .find(|(n, _)| n.ends_with(&format!("_{date}_业务明细.csv")))
        .unwrap()
        .1;
    let summary = files
        .iter()
        .find(|(n, _)| n.ends_with(&format!("_{date}_业务明细(汇总).csv")))
        .unwrap()
        .1;
    assert!(detail.lines().next().unwrap().starts_with('#'));
    assert!(detail.lines().last().unwrap().starts_with('#'));
    let body: String = detail
        .lines()
        .filter(|l| !l.starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    let mut rdr = csv::Reader::from_reader(body.as_bytes());
    let header: Vec<String> = rdr.headers().unwrap().iter().map(String::from).collect();
    for col in [
        "支付宝交易号",
        "商户订单号",
        "业务类型",
        "商品名称",
        "创建时间",
        "完成时间",
        "门店编号",
        "门店名称",
        "操作员",
        "终端号",
        "对方账户",
        "订单金额（元）",
        "商家实收（元）",
        "退款批次号/请求号",
        "服务费（元）",
        "备注",
    ] {
        assert!(header.iter().any(|h| h == col), "missing column {col}");
    }
    let idx = |name: &str| header.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = rdr.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 3, "two trades and a refund");
    let row = |no: &str, kind: &str| {
        rows.iter()
            .find(|r| r[idx("商户订单号")].trim() == no && &r[idx("业务类型")] == kind)
            .unwrap()
    };
    let t1 = row("ALI_BILL_1", "交易");
    assert_eq!(
        (&t1[idx("订单金额（元）")], &t1[idx("商家实收（元）")]),
        ("12.30", "12.30")
    );
    assert_eq!(&t1[idx("门店编号")], "S01");
    let r1 = row("ALI_BILL_1", "退款");
    assert_eq!(
        (&r1[idx("商家实收（元）")], &r1[idx("退款批次号/请求号")]),
        ("-2.30", "BR1\t")
    );
    assert_eq!(&row("ALI_BILL_2", "交易")[idx("商家实收（元）")], "0.99");
    assert!(
        detail.contains("#交易合计：2笔，商家实收：13.29元"),
        "{detail}"
    );
    assert!(
        detail.contains("#退款合计：1笔，商家实收：-2.30元"),
        "{detail}"
    );
    let total_line = summary.lines().find(|l| l.starts_with("合计")).unwrap();
    assert!(
        total_line.starts_with("合计,,2,1,13.29,10.99,"),
        "{total_line}"
    );

    // The link is for the date asked; a future day has no bill.
    let r = sim
        .alipay(
            "alipay.data.dataservice.bill.downloadurl.query",
            json!({"bill_type": "trade", "bill_date": "2999-01-01"}),
        )
        .await;
    assert_eq!(r["sub_code"], "isp.bill_not_exist");
    let bad = sim
        .http
        .get(format!(
            "http://{}/alipay/bill/download?token=nope",
            sim.addr
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::NOT_FOUND);
    sim.stop().await;
}

#[tokio::test]
async fn wechat_bill_is_a_backtick_csv_with_a_sha1_and_an_unsigned_download() {
    let sim = start().await;
    for (no, fen) in [("WX_BILL_001", 1230), ("WX_BILL_002", 99)] {
        sim.wechat(
            "POST",
            "/v3/pay/transactions/native",
            Some(sim.wx.native(no, fen)),
        )
        .await;
        assert_eq!(sim.pay(no).await, StatusCode::OK);
    }
    let refund = json!({"out_trade_no": "WX_BILL_001", "out_refund_no": "WXBR_1", "amount": {"refund": 230, "total": 1230, "currency": "CNY"}});
    assert_eq!(
        sim.wechat("POST", "/v3/refund/domestic/refunds", Some(refund))
            .await
            .status,
        StatusCode::OK
    );

    let r = sim
        .wechat(
            "GET",
            &format!(
                "/v3/bill/tradebill?bill_date={}&bill_type=ALL",
                today_china()
            ),
            None,
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert!(r.verified(&sim.wx));
    let v = r.json();
    assert_eq!(v["hash_type"], "SHA1");
    let url = v["download_url"].as_str().unwrap().to_owned();
    let path = url
        .strip_prefix(&sim.creds.wechatpay.base_url)
        .unwrap()
        .to_owned();
    assert!(path.starts_with("/v3/billdownload/file?token="), "{url}");

    // The download needs a valid Authorization like any other call.
    let base = sim.creds.wechatpay.base_url.clone();
    let r = sim
        .wx
        .send_with(&sim.http, &base, "GET", &path, "", None)
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = sim.wechat("GET", &path, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.headers.get("wechatpay-signature").is_none(),
        "the file is not signed"
    );
    assert_eq!(
        hex::encode(Sha1::digest(&r.body)),
        v["hash_value"].as_str().unwrap()
    );

    let text = String::from_utf8(r.body.clone()).unwrap();
    let text = text.strip_prefix('\u{feff}').expect("BOM");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注"
    );
    assert_eq!(
        lines.len(),
        1 + 3 + 2,
        "header, 2 trades + 1 refund, 2 summary lines"
    );
    let header: Vec<&str> = lines[0].split(',').collect();
    let col = |line: &str, name: &str| -> String {
        let i = header.iter().position(|h| *h == name).unwrap();
        line.split(',').nth(i).unwrap().to_owned()
    };
    for line in &lines[1..4] {
        assert!(
            line.split(',').all(|f| f.starts_with('`')),
            "every field backticked: {line}"
        );
    }
    let t1 = lines[1..4]
        .iter()
        .find(|l| col(l, "商户订单号") == "`WX_BILL_001" && col(l, "交易状态") == "`SUCCESS")
        .unwrap();
    assert_eq!(
        (
            col(t1, "应结订单金额"),
            col(t1, "订单金额"),
            col(t1, "交易类型")
        ),
        ("`12.30".into(), "`12.30".into(), "`NATIVE".into())
    );
    let r1 = lines[1..4]
        .iter()
        .find(|l| col(l, "交易状态") == "`REFUND")
        .unwrap();
    assert_eq!(
        (
            col(r1, "商户退款单号"),
            col(r1, "退款金额"),
            col(r1, "申请退款金额")
        ),
        ("`WXBR_1".into(), "`2.30".into(), "`2.30".into())
    );
    assert_eq!(lines[4], "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额");
    assert!(
        lines[5].starts_with("`3,`13.29,`2.30,`0.00,"),
        "{}",
        lines[5]
    );

    // tar_type=GZIP: a gzip stream whose hash is the uncompressed bill's.
    let plain = r.body.clone();
    let r = sim
        .wechat(
            "GET",
            &format!(
                "/v3/bill/tradebill?bill_date={}&bill_type=ALL&tar_type=GZIP",
                today_china()
            ),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let v = r.json();
    let url = v["download_url"].as_str().unwrap().to_owned();
    let path = url
        .strip_prefix(&sim.creds.wechatpay.base_url)
        .unwrap()
        .to_owned();
    let packed = sim.wechat("GET", &path, None).await.body;
    assert!(packed.starts_with(&[0x1f, 0x8b]), "a gzip stream");
    let mut unpacked = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(packed.as_slice()),
        &mut unpacked,
    )
    .unwrap();
    assert_eq!(unpacked, plain);
    assert_eq!(
        hex::encode(Sha1::digest(&unpacked)),
        v["hash_value"].as_str().unwrap()
    );

    // SUCCESS and REFUND bills have their own column sets; a REFUND
    // bill's rows carry the refund's times beside the payment's 交易时间.
    for (bill_type, first_line, rows, footer) in [
        (
            "SUCCESS",
            "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,商品名称,商户数据包,手续费,费率,订单金额,费率备注",
            2,
            "总交易单数,应结订单总金额,手续费总金额,订单总金额",
        ),
        (
            "REFUND",
            "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,退款申请时间,退款成功时间,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注",
            1,
            "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额",
        ),
    ] {
        let r = sim
            .wechat(
                "GET",
                &format!(
                    "/v3/bill/tradebill?bill_date={}&bill_type={bill_type}",
                    today_china()
                ),
                None,
            )
            .await;
        let url = r.json()["download_url"].as_str().unwrap().to_owned();
        let path = url
            .strip_prefix(&sim.creds.wechatpay.base_url)
            .unwrap()
            .to_owned();
        let file = sim.wechat("GET", &path, None).await;
        let text = String::from_utf8(file.body.clone()).unwrap();
        let lines: Vec<&str> = text.trim_start_matches('\u{feff}').lines().collect();
        assert_eq!(lines[0], first_line, "{bill_type}");
        assert_eq!(lines.len(), 1 + rows + 2, "{bill_type}: {text}");
        let width = lines[0].split(',').count();
        for line in &lines[1..=rows] {
            assert_eq!(line.split(',').count(), width, "{bill_type}: {line}");
        }
        assert_eq!(lines[rows + 1], footer, "{bill_type}");
        assert_eq!(
            lines[rows + 2].split(',').count(),
            footer.split(',').count(),
            "{bill_type}"
        );
        if bill_type == "REFUND" {
            let header: Vec<&str> = lines[0].split(',').collect();
            let at = |name: &str| -> String {
                let i = header.iter().position(|h| *h == name).unwrap();
                lines[1].split(',').nth(i).unwrap().to_owned()
            };
            assert_eq!(at("交易时间"), col(t1, "交易时间"), "the payment's time");
            assert_eq!(at("退款成功时间"), col(r1, "交易时间"), "the refund's time");
            assert_eq!(at("交易状态"), "`REFUND");
        }
    }

    // A day without business has no bill.
    let r = sim
        .wechat(
            "GET",
            "/v3/bill/tradebill?bill_date=2020-01-01&bill_type=ALL",
            None,
        )
        .await;
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("NO_STATEMENT_EXIST"))
    );
    sim.stop().await;
}

#[tokio::test]
async fn customer_page_lists_pending_payments_and_its_buttons_work() {
    let sim = start().await;
    sim.alipay(
        "alipay.trade.precreate",
        precreate_biz("PAGE_0001", "12.30"),
    )
    .await;
    sim.wechat(
        "POST",
        "/v3/pay/transactions/native",
        Some(sim.wx.native("PAGE_0001", 4560)),
    )
    .await;
    let (status, html) = sim.page("/").await;
    assert_eq!(status, StatusCode::OK);
    for s in [
        "¥12.30",
        "¥45.60",
        "支付宝 Alipay",
        "微信支付 WeChat Pay",
        "#1677FF",
        "#07C160",
        "确认支付 Pay",
        "拒绝 Decline",
        "http-equiv=refresh",
    ] {
        assert!(html.contains(s), "page lacks {s}");
    }
    // Same number on both channels: the control API wants the channel.
    assert_eq!(sim.pay("PAGE_0001").await, StatusCode::CONFLICT);
    // The page's own form post: pay, then back to the page.
    let no_redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = no_redirect
        .post(sim.url("/_sim/trades/PAGE_0001/pay?channel=wechat"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("return_to=%2F")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/");
    let r = sim
        .http
        .post(sim.url("/_sim/trades/PAGE_0001/decline?channel=alipay"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["state"], "closed");
    let (_, html) = sim.page("/").await;
    assert!(html.contains("No payments waiting"), "nothing pending now");
    assert!(html.contains("已支付 Paid") && html.contains("已拒绝 Declined"));
    let (status, _) = sim
        .page("/pay?code=weixin%3A%2F%2Fwxpay%2Fbizpayurl%3Fpr%3Dnothing")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    sim.stop().await;
}

// ---------------------------------------------------------------- published vectors

fn vector(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata")
        .join(name)
}

#[test]
fn published_alipay_test_key_pairs_interoperate_with_the_simulator_signing() {
    let read = |n: &str| std::fs::read_to_string(vector(n)).unwrap();
    for side in ["app_app", "ali_ali"] {
        let private = shouyin_sim::sign::parse_private_key(&read(&format!(
            "python_alipay_sdk_tests_{side}_private_key.pem"
        )))
        .unwrap();
        let public = shouyin_sim::sign::parse_public_key(&read(&format!(
            "python_alipay_sdk_tests_{side}_public_key.pem"
        )))
        .unwrap();
        let msg = "app_id=2016080300158026&biz_content={\"subject\":\"测试\"}&charset=utf-8&method=alipay.trade.precreate&sign_type=RSA2";
        let sig = shouyin_sim::sign::sign_base64(&private, msg.as_bytes()).unwrap();
        // Verified by the simulator's code and independently by plain rsa.
        assert!(
            shouyin_sim::sign::verify_base64(&public, msg.as_bytes(), &sig),
            "{side}"
        );
        assert!(verify(&public, msg.as_bytes(), &sig), "{side}");
        assert!(!verify(&public, b"app_id=2016080300158027", &sig));
        // PKCS#1 v1.5 is deterministic: the test-side signer agrees byte for byte.
        assert_eq!(
            sign(
                &private_key(&read(&format!(
                    "python_alipay_sdk_tests_{side}_private_key.pem"
                ))),
                msg.as_bytes()
            ),
            sig
        );
    }
    // V7: a full Alipay request string signed with a published key.
    let key =
        shouyin_sim::sign::parse_private_key(&read("yansongda_pay_tests_alipayAppSecret.pem"))
            .unwrap();
    let content = "alipay_root_cert_sn=687b59193f3f462dd5336e5abf83c5d8_02941eef3187dddf3d3b83462e1dfcf6&app_cert_sn=e90dd23a37c5c7b616e003970817ff82&app_id=9021000122682882&biz_content={\"out_trade_no\":\"1703141270\"}&charset=utf-8&format=JSON&method=alipay.trade.query&notify_url=http://hk.ysdor.cn/index.php&return_url=http://hk.ysdor.cn/index.php&sign_type=RSA2&timestamp=2023-12-21 06:54:37&version=1.0";
    let sig = shouyin_sim::sign::sign_base64(&key, content.as_bytes()).unwrap();
    assert!(sig.starts_with("FrzUwXziVWK2x5glZkGoQ6dGR87O33APv3D/lWjVqPrFnMwcYjOYyln1B1bw5VuOwokLRmqcwWuTumBg8Q+n4FkV"), "{sig}");
    assert!(sig.ends_with("JC4wpTRk8PQeu5EMR4yyc1atxso3CMovjkGr5LzDtqLNseyqqorYW+Gfu3ugHSs9aqkwAAysg79O6TsvuFa9OHq64Tg=="), "{sig}");
}

#[tokio::test]
async fn a_simulator_keyed_with_the_published_pairs_serves_a_signed_precreate() {
    // Put the python-alipay-sdk pairs in place of generated keys: the app
    // pair as the merchant's, the "ali" pair as the platform's.
    let tmp = fresh_dir();
    let dir = tmp.path();
    let read = |n: &str| std::fs::read_to_string(vector(n)).unwrap();
    let sim_path = dir.join(shouyin_sim::SIM_KEYS_FILE);
    let mut sim_file: Value =
        serde_json::from_str(&std::fs::read_to_string(&sim_path).unwrap()).unwrap();
    sim_file["alipay"]["app_public_key_pem"] =
        json!(read("python_alipay_sdk_tests_app_app_public_key.pem"));
    sim_file["alipay"]["alipay_private_key_pem"] =
        json!(read("python_alipay_sdk_tests_ali_ali_private_key.pem"));
    sim_file["alipay"]["alipay_public_key_pem"] =
        json!(read("python_alipay_sdk_tests_ali_ali_public_key.pem"));
    std::fs::write(&sim_path, sim_file.to_string()).unwrap();
    let cred_path = dir.join(shouyin_sim::CREDENTIALS_FILE);
    let mut creds: Value =
        serde_json::from_str(&std::fs::read_to_string(&cred_path).unwrap()).unwrap();
    creds["alipay"]["app_private_key_pem"] =
        json!(read("python_alipay_sdk_tests_app_app_private_key.pem"));
    creds["alipay"]["alipay_public_key_pem"] =
        json!(read("python_alipay_sdk_tests_ali_ali_public_key.pem"));
    std::fs::write(&cred_path, creds.to_string()).unwrap();

    let sim = start_in(tmp).await;
    let r = sim
        .alipay("alipay.trade.precreate", precreate_biz("VEC_0001", "0.01"))
        .await;
    assert_eq!(
        r["code"], "10000",
        "signed with the published app key, verified with its pair: {r}"
    );
    let ali_public =
        RsaPublicKey::from_public_key_pem(&read("python_alipay_sdk_tests_ali_ali_public_key.pem"))
            .unwrap();
    assert_eq!(
        sim.ali.platform, ali_public,
        "answers verified with the published ali public key"
    );
    sim.stop().await;
}
