//! Every parser of channel answers and bill files gets random input and
//! must answer with a value or an error, never a panic.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{TimeZone, Utc};
use proptest::prelude::*;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use crate::keys::tests::vector;
use crate::keys::{parse_private_key, parse_public_key, sign_sha256};
use crate::wechatpay::wire::{self, open_reply, PlatformVerifier, Reply};
use crate::{Channel, ChannelError};

fn platform() -> (rsa::RsaPrivateKey, PlatformVerifier) {
    let key = parse_private_key(&vector("wechatpay_go_test_private_key_pkcs8.pem")).unwrap();
    let verifier = PlatformVerifier::new().with_key(
        "PUB_KEY_ID_TEST",
        parse_public_key(&vector("wechatpay_go_test_platform_cert.pem")).unwrap(),
    );
    (key, verifier)
}

fn signed_headers(key: &rsa::RsaPrivateKey, ts: i64, body: &[u8]) -> HeaderMap {
    let mut message = format!("{ts}\nn0nce\n").into_bytes();
    message.extend_from_slice(body);
    message.push(b'\n');
    let mut h = HeaderMap::new();
    h.insert(
        "Wechatpay-Timestamp",
        HeaderValue::from_str(&ts.to_string()).unwrap(),
    );
    h.insert("Wechatpay-Nonce", HeaderValue::from_static("n0nce"));
    h.insert(
        "Wechatpay-Serial",
        HeaderValue::from_static("PUB_KEY_ID_TEST"),
    );
    h.insert(
        "Wechatpay-Signature-Type",
        HeaderValue::from_static(wire::SCHEME),
    );
    h.insert(
        "Wechatpay-Signature",
        HeaderValue::from_str(&sign_sha256(key, &message)).unwrap(),
    );
    h
}

const NOW: i64 = 1_800_000_000;

#[test]
fn wechat_reply_classification() {
    let (key, verifier) = platform();
    let now = Utc.timestamp_opt(NOW, 0).unwrap();
    let open = |status: u16, headers: &HeaderMap, body: &[u8]| {
        open_reply(status, headers, body.to_vec(), &verifier, now)
    };

    let ok = br#"{"code_url":"weixin://wxpay/bizpayurl?pr=p4lpSuKzz"}"#;
    assert_eq!(
        open(200, &signed_headers(&key, NOW, ok), ok),
        Ok(Reply::Ok(ok.to_vec()))
    );
    assert_eq!(
        open(204, &signed_headers(&key, NOW, b""), b""),
        Ok(Reply::Ok(vec![]))
    );

    let not_found = r#"{"code":"ORDER_NOT_EXIST","message":"订单不存在"}"#.as_bytes();
    match open(404, &signed_headers(&key, NOW, not_found), not_found) {
        Ok(Reply::Refused { status: 404, error }) => assert_eq!(error.code, "ORDER_NOT_EXIST"),
        other => panic!("{other:?}"),
    }
    // An unsigned refusal is untrusted and says what it claimed.
    let e = open(
        400,
        &HeaderMap::new(),
        br#"{"code":"ORDERPAID","message":"paid"}"#,
    )
    .unwrap_err();
    assert!(
        matches!(&e, ChannelError::Untrusted { reason } if reason.contains("ORDERPAID")),
        "{e}"
    );
    // 5xx is indeterminate whatever it carries.
    for body in [
        &b""[..],
        b"{\"code\":\"SYSTEM_ERROR\",\"message\":\"x\"}",
        b"<html>",
    ] {
        assert!(matches!(
            open(500, &HeaderMap::new(), body),
            Err(ChannelError::Indeterminate { .. })
        ));
    }
    // A cut-off body is indeterminate even though its signature cannot match.
    assert!(matches!(
        open(200, &signed_headers(&key, NOW, ok), &ok[..20]),
        Err(ChannelError::Indeterminate { .. })
    ));
    assert!(matches!(
        open(403, &HeaderMap::new(), b"Forbidden"),
        Err(ChannelError::Indeterminate { .. })
    ));
    assert!(matches!(
        open(302, &HeaderMap::new(), b""),
        Err(ChannelError::Indeterminate { .. })
    ));
    // A readable body with a wrong or stale signature is untrusted.
    let tampered = br#"{"code_url":"weixin://wxpay/bizpayurl?pr=EVIL00000"}"#;
    assert!(matches!(
        open(200, &signed_headers(&key, NOW, ok), tampered),
        Err(ChannelError::Untrusted { .. })
    ));
    assert!(matches!(
        open(200, &signed_headers(&key, NOW - 300, ok), ok),
        Err(ChannelError::Untrusted { .. })
    ));
    assert!(open(200, &signed_headers(&key, NOW + 299, ok), ok).is_ok());
}

fn header_strategy() -> impl Strategy<Value = Vec<(String, String)>> {
    let names = prop::sample::select(vec![
        "Wechatpay-Timestamp",
        "Wechatpay-Nonce",
        "Wechatpay-Signature",
        "Wechatpay-Serial",
        "Wechatpay-Signature-Type",
        "Request-ID",
    ]);
    prop::collection::vec((names.prop_map(str::to_owned), "[ -~]{0,40}"), 0..8)
}

fn to_headers(pairs: &[(String, String)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            h.append(name, value);
        }
    }
    h
}

/// Bodies that look a little like JSON, to reach the deeper branches.
fn jsonish() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,80}",
        "[{}\\[\\]\":,\\\\a-z_0-9 ]{0,80}",
        ("[a-z_]{0,30}", "[{}\":,\\\\a-z0-9 ]{0,60}").prop_map(|(k, v)| format!(
            "{{\"{k}_response\":{{\"code\":\"10000\",\"x\":\"{v}\"}},\"sign\":\"{v}\"}}"
        )),
        "[{}\":,a-z0-9]{0,60}".prop_map(|v| format!("{{\"code\":\"{v}\",\"message\":{v}}}")),
    ]
}

/// One client per channel, configured with the test keys, shared by the
/// notification cases below.
fn clients() -> &'static (crate::alipay::Alipay, crate::wechatpay::WechatPay) {
    use crate::config::{AlipayConfig, SecretText, Timeouts, WechatPayConfig};
    static CLIENTS: std::sync::OnceLock<(crate::alipay::Alipay, crate::wechatpay::WechatPay)> =
        std::sync::OnceLock::new();
    CLIENTS.get_or_init(|| {
        let clock = std::sync::Arc::new(crate::FixedClock::new(Utc.timestamp_opt(NOW, 0).unwrap()));
        let alipay = crate::alipay::Alipay::new(
            &AlipayConfig {
                app_id: "2014072300007148".into(),
                app_private_key_pem: SecretText::new(vector(
                    "python_alipay_sdk_tests_app_app_private_key.pem",
                )),
                alipay_public_key_pem: vector("python_alipay_sdk_tests_ali_ali_public_key.pem"),
                gateway: "http://127.0.0.1:9/gateway.do".into(),
                timeouts: Timeouts::default(),
                cancel_retry_gap_ms: 10,
                cancel_max_retries: 1,
            },
            clock.clone(),
        )
        .unwrap();
        let wechat = crate::wechatpay::WechatPay::new(
            &WechatPayConfig {
                mchid: "1230000109".into(),
                appid: "wxd678efh567hg6787".into(),
                merchant_private_key_pem: SecretText::new(vector(
                    "wechatpay_doc_apiclient_test_key_pkcs8.pem",
                )),
                merchant_serial_no: "408B07E79B8269FEC3D5D3E6AB8ED163A6A380DB".into(),
                apiv3_key: SecretText::new("0123456789abcdef0123456789abcdef"),
                platform_public_key_pem: vector("wechatpay_go_test_platform_cert.pem"),
                platform_public_key_id: "PUB_KEY_ID_TEST".into(),
                base_url: "http://127.0.0.1:9".into(),
                timeouts: Timeouts::default(),
                notify_url: "https://localhost/notify".into(),
            },
            clock,
        )
        .unwrap();
        (alipay, wechat)
    })
}

/// Header lists with any spelling of the names WeChat signs, plus noise.
fn notify_headers() -> impl Strategy<Value = Vec<(String, String)>> {
    let names = prop::sample::select(vec![
        "Wechatpay-Timestamp",
        "wechatpay-nonce",
        "WECHATPAY-SIGNATURE",
        "Wechatpay-Serial",
        "Wechatpay-Signature-Type",
        "Content-Type",
        "",
        "bad name\n",
    ]);
    prop::collection::vec((names.prop_map(str::to_owned), "\\PC{0,40}"), 0..8)
}

/// Form bodies made of the names an Alipay notification carries.
fn alipay_form() -> impl Strategy<Value = Vec<(String, String)>> {
    let names = prop::sample::select(vec![
        "sign",
        "sign_type",
        "app_id",
        "notify_type",
        "out_trade_no",
        "trade_no",
        "trade_status",
        "total_amount",
        "gmt_payment",
        "charset",
    ]);
    let values = prop_oneof![
        "\\PC{0,30}",
        Just("2014072300007148".to_owned()),
        Just("RSA2".to_owned()),
        Just("TRADE_SUCCESS".to_owned()),
        Just("trade_status_sync".to_owned()),
        "[0-9.\\-e]{0,8}",
    ];
    prop::collection::vec((names.prop_map(str::to_owned), values), 0..12)
}

/// One valid ZM row of the UnionPay file: a payment of 12.30.
fn unionpay_row() -> Vec<u8> {
    use crate::unionpay_bill::{field, ZM_FIELDS};
    let mut values = vec![String::new(); ZM_FIELDS.len()];
    values[field::CODE] = "S56".into();
    values[field::TRACE_TIME] = "1231235959".into();
    values[field::AMOUNT] = "000000001230".into();
    values[field::QUERY_ID] = "612612310000000000001".into();
    values[field::ORDER_ID] = "U1".into();
    values[field::FEE] = "D000000000007".into();
    values[field::SETTLE] = "C000000001223".into();
    values[field::TXN_TYPE] = "01".into();
    let cells: Vec<Vec<u8>> = values
        .iter()
        .zip(ZM_FIELDS)
        .map(|(v, (_, width))| {
            let mut cell = v.as_bytes().to_vec();
            cell.resize(width, b' ');
            cell
        })
        .collect();
    cells.join(&b' ')
}

fn form_encode(pairs: &[(String, String)]) -> String {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        form.append_pair(k, v);
    }
    form.finish()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn raw_json_walker_never_panics(body in jsonish()) {
        let _ = crate::rawjson::top_level_members(&body);
    }

    #[test]
    fn alipay_answers_never_panic(body in jsonish(), method in "[a-z.]{0,30}") {
        let public = parse_public_key(&vector("python_alipay_sdk_tests_ali_ali_public_key.pem")).unwrap();
        let _ = crate::alipay::wire::open_response(&body, &method, &public);
        let _ = crate::alipay::wire::open_response(&body, "alipay.trade.query", &public);
        if let Ok(answer) = crate::alipay::wire::Answer::open(body.clone(), "alipay.trade.query", &public) {
            let _ = answer.read::<crate::alipay::wire::QueryResp>();
        }
    }

    #[test]
    fn wechat_answers_never_panic(status in 0u16..700, headers in header_strategy(), body in jsonish()) {
        let (_, verifier) = platform();
        let now = Utc.timestamp_opt(NOW, 0).unwrap();
        let h = to_headers(&headers);
        let _ = open_reply(status, &h, body.clone().into_bytes(), &verifier, now);
        let _ = verifier.verify(&h, body.as_bytes(), now);
        let _ = wire::open_notification(&verifier, b"0123456789abcdef0123456789abcdef", &h, body.as_bytes(), now);
    }

    #[test]
    fn decryption_never_panics(key in prop::collection::vec(any::<u8>(), 0..40), nonce in "\\PC{0,16}", aad in "\\PC{0,10}", ct in "[A-Za-z0-9+/=]{0,64}") {
        let _ = wire::decrypt_resource(&key, &nonce, &aad, &ct);
    }

    #[test]
    fn bill_parsers_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300), text in "[`#,\\n0-9.\\-a-zA-Z交易退款时间商户订单号状态金额微信支付宝业务类型完成（）元 ]{0,300}") {
        let _ = crate::alipay::parse_bill_file(&bytes);
        let _ = crate::wechatpay::parse_bill_file(&bytes);
        let _ = crate::alipay::parse_bill_file(text.as_bytes());
        let _ = crate::wechatpay::parse_bill_file(text.as_bytes());
        let mut zip = b"PK\x03\x04".to_vec();
        zip.extend_from_slice(&bytes);
        let _ = crate::alipay::parse_bill_file(&zip);
        let _ = crate::wechatpay::parse_bill_file(&zip);
        let mut gz = vec![0x1f, 0x8b];
        gz.extend_from_slice(&bytes);
        let _ = crate::alipay::parse_bill_file(&gz);
        let _ = crate::wechatpay::parse_bill_file(&gz);
    }

    #[test]
    fn unionpay_bill_parser_never_panics(
        bytes in prop::collection::vec(any::<u8>(), 0..700),
        at in 0usize..700,
        splice in prop::collection::vec(any::<u8>(), 0..40),
        b64 in "[A-Za-z0-9+/= ]{0,80}",
    ) {
        let date = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        let parse = |b: &[u8]| { let _ = crate::unionpay_bill::parse_unionpay_bill(b, date); };
        parse(&bytes);
        for prefix in [&b"PK\x03\x04"[..], &[0x78, 0x9c], &[0x1f, 0x8b]] {
            let mut packed = prefix.to_vec();
            packed.extend_from_slice(&bytes);
            parse(&packed);
        }
        // A valid row with random bytes written over part of it.
        let row = unionpay_row();
        prop_assert_eq!(
            crate::unionpay_bill::parse_unionpay_bill(&row, date).map(|b| b.lines.len()),
            Ok(1)
        );
        let mut edited = row.clone();
        let start = at.min(edited.len());
        let end = (start + splice.len()).min(edited.len());
        edited.splice(start..end, splice.iter().copied());
        parse(&edited);
        let mut two = row;
        two.extend_from_slice(b"\r\n");
        two.extend_from_slice(&edited);
        parse(&two);
        let _ = crate::unionpay_bill::decode_file_content(&b64);
    }

    #[test]
    fn key_parsers_never_panic(text in "\\PC{0,200}", der in prop::collection::vec(any::<u8>(), 0..200)) {
        use base64::Engine as _;
        let armoured = base64::engine::general_purpose::STANDARD.encode(&der);
        let _ = crate::keys::parse_public_key(&format!("-----BEGIN CERTIFICATE-----\n{armoured}\n-----END CERTIFICATE-----"));
        let _ = crate::keys::parse_private_key(&armoured);
        let _ = crate::keys::parse_private_key(&text);
        let _ = crate::keys::parse_public_key(&text);
        let _ = crate::keys::parse_public_key(&format!("-----BEGIN CERTIFICATE-----\n{text}\n-----END CERTIFICATE-----"));
    }

    #[test]
    fn notification_verifiers_never_panic(
        headers in notify_headers(),
        body in jsonish(),
        bytes in prop::collection::vec(any::<u8>(), 0..200),
        form in alipay_form(),
    ) {
        let (alipay, wechat) = clients();
        let now = Utc.timestamp_opt(NOW, 0).unwrap();
        for raw in [body.as_bytes(), bytes.as_slice(), form_encode(&form).as_bytes()] {
            let _ = alipay.open_notification(&headers, raw, now);
            let _ = wechat.open_notification(&headers, raw, now);
        }
    }

    /// Validly signed notifications with random contents reach the readers
    /// behind the signature checks.
    #[test]
    fn signed_notifications_with_random_contents_never_panic(
        form in alipay_form(),
        plaintext in jsonish(),
        state in "[A-Z]{0,8}",
        total in prop_oneof![Just("1230".to_owned()), "[\\-0-9a-z.\"]{0,12}"],
    ) {
        let (alipay, wechat) = clients();
        let now = Utc.timestamp_opt(NOW, 0).unwrap();

        let ali_key = parse_private_key(&vector("python_alipay_sdk_tests_ali_ali_private_key.pem")).unwrap();
        let mut pairs: Vec<(String, String)> = form.into_iter().filter(|(k, _)| k != "sign").collect();
        let sign = sign_sha256(&ali_key, crate::alipay::notify_sign_content(&pairs).as_bytes());
        pairs.push(("sign".into(), sign));
        let _ = alipay.open_notification(&[], form_encode(&pairs).as_bytes(), now);

        use aes_gcm::aead::{Aead, KeyInit, Payload};
        use base64::Engine as _;
        let transaction = format!(
            r#"{{"mchid":"1230000109","appid":"wxd678efh567hg6787","out_trade_no":"T1","trade_state":"{state}","amount":{{"total":{total}}}}}"#
        );
        for plain in [plaintext.as_str(), transaction.as_str()] {
            let ct = aes_gcm::Aes256Gcm::new_from_slice(b"0123456789abcdef0123456789abcdef")
                .unwrap()
                .encrypt(aes_gcm::Nonce::from_slice(b"abcdefghijkl"), Payload { msg: plain.as_bytes(), aad: b"" })
                .unwrap();
            let body = serde_json::json!({
                "id": "x", "event_type": "TRANSACTION.SUCCESS", "resource_type": "encrypt-resource",
                "resource": {"algorithm": "AEAD_AES_256_GCM", "original_type": "transaction",
                             "ciphertext": base64::engine::general_purpose::STANDARD.encode(ct),
                             "associated_data": "", "nonce": "abcdefghijkl"}
            })
            .to_string();
            let (key, _) = platform();
            let headers: Vec<(String, String)> = signed_headers(&key, NOW, body.as_bytes())
                .iter()
                .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
                .collect();
            let opened = wechat.open_notification(&headers, body.as_bytes(), now);
            if plain == transaction && state == "SUCCESS" && total == "1230" {
                prop_assert_eq!(opened.map(|n| (n.paid, n.amount_fen)), Ok((true, Some(1230))));
            }
        }
    }
}
