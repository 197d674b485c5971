//! Channels imported at first start, each checked with a signed query to the
//! simulator over loopback before anything is kept; kept 0600 in the data
//! directory, never in the ledger.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use serde_json::Value;
use shouyin_api::channel_entry::{AlipayEntry, ChannelEntries, WechatEntry};
use shouyin_api::roles::StoreSetupRequest;
use shouyin_api::{ApiError, ChargeRequest, Counter, ErrorCode, CHANNELS_FILE, LEDGER_FILE};
use shouyin_core::ChannelKind;
use shouyin_testkit::Sim;

fn request(channels_file: &Path) -> StoreSetupRequest {
    StoreSetupRequest {
        store: "老街便利店".into(),
        terminal: "T07".into(),
        timezone: "Asia/Shanghai".into(),
        day_cutoff: "04:00".into(),
        manager: "陈静".into(),
        pin: "2468".into(),
        pin_again: "2468".into(),
        channels_file: Some(channels_file.display().to_string()),
        channels: None,
    }
}

fn write(dir: &Path, name: &str, creds: &Value) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_string_pretty(creds).unwrap()).unwrap();
    path
}

/// The refusal names its case and channel, and nothing was kept.
async fn refused(
    counter: &Counter,
    data: &Path,
    path: &Path,
    detail: &str,
    channel: Option<&str>,
) -> ApiError {
    let e = counter.setup_store(request(path)).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::ChannelCheckFailed, "{e:?}");
    assert_eq!(
        e.fields.get("detail").map(String::as_str),
        Some(detail),
        "{e:?}"
    );
    assert_eq!(
        e.fields.get("channel").map(String::as_str),
        channel,
        "{e:?}"
    );
    assert!(
        !data.join(CHANNELS_FILE).exists(),
        "a refused file was kept"
    );
    let t = counter.terminal_get().await.unwrap();
    assert!(t.needs_setup, "the store was set up despite the refusal");
    assert!(
        t.channels
            .iter()
            .filter(|c| c.channel != ChannelKind::Cash)
            .all(|c| !c.available),
        "{:?}",
        t.channels
    );
    e
}

#[tokio::test]
async fn a_channels_file_is_checked_with_the_channel_before_it_is_kept() {
    // These look at the keys in the kept file: the same on a machine whose
    // session runs a keyring (tests/secret_store.rs covers that case).
    std::env::set_var(shouyin_secrets::STORE_ENV, "files");
    let sim = Sim::start().await;
    let files = tempfile::tempdir().unwrap();
    let data_dir = tempfile::tempdir().unwrap();
    let data = data_dir.path();
    let counter = Counter::open_app(data, false).await.unwrap();
    let good = sim.credentials();

    // The file itself: missing, a directory, not JSON, a relative path.
    refused(
        &counter,
        data,
        &files.path().join("nope.json"),
        "unreadable",
        None,
    )
    .await;
    refused(&counter, data, files.path(), "not_a_file", None).await;
    let garbage = files.path().join("garbage.json");
    std::fs::write(&garbage, "{\"alipay\": {\"app_id\": 1").unwrap();
    refused(&counter, data, &garbage, "invalid", None).await;
    let e = counter
        .setup_store(StoreSetupRequest {
            channels_file: Some("channels.json".into()),
            ..request(&garbage)
        })
        .await
        .unwrap_err();
    assert_eq!(e.fields["detail"], "not_absolute", "{e:?}");

    // A private key that is a valid key but not the merchant's: the
    // channel refuses the signature. Alipay gets WeChat's key and back.
    let mut wrong = good.clone();
    wrong["alipay"]["app_private_key_pem"] = good["wechatpay"]["merchant_private_key_pem"].clone();
    let path = write(files.path(), "alipay-wrong-key.json", &wrong);
    let e = refused(&counter, data, &path, "bad_signature", Some("alipay")).await;
    assert_eq!(e.fields["channel_code"], "isv.invalid-signature");
    let mut wrong = good.clone();
    wrong["wechatpay"]["merchant_private_key_pem"] = good["alipay"]["app_private_key_pem"].clone();
    let path = write(files.path(), "wechat-wrong-key.json", &wrong);
    refused(&counter, data, &path, "bad_signature", Some("wechat")).await;

    // The channel's public key is not the channel's: its answer does not
    // verify, which is an alarm, not a pass.
    let mut wrong = good.clone();
    wrong["alipay"]["alipay_public_key_pem"] = good["wechatpay"]["platform_public_key_pem"].clone();
    let path = write(files.path(), "alipay-wrong-public.json", &wrong);
    refused(&counter, data, &path, "untrusted", Some("alipay")).await;

    // A merchant id the channel does not know.
    let mut wrong = good.clone();
    wrong["alipay"]["app_id"] = Value::from("2021000000000000");
    let path = write(files.path(), "alipay-wrong-id.json", &wrong);
    let e = refused(&counter, data, &path, "unknown_merchant", Some("alipay")).await;
    assert!(e.message.contains("alipay"), "{}", e.message);
    // WeChat Pay binds the merchant id to the signature: a wrong 商户号 is
    // a signature refusal.
    let mut wrong = good.clone();
    wrong["wechatpay"]["mchid"] = Value::from("1900000000");
    let path = write(files.path(), "wechat-wrong-id.json", &wrong);
    refused(&counter, data, &path, "bad_signature", Some("wechat")).await;

    // A key that is not a key at all is found before anything is sent.
    let mut wrong = good.clone();
    wrong["wechatpay"]["apiv3_key"] = Value::from("short");
    let path = write(files.path(), "wechat-bad-apiv3.json", &wrong);
    let e = refused(&counter, data, &path, "bad_key", Some("wechat")).await;
    assert!(!e.message.contains("short"), "{}", e.message);
    let mut wrong = good.clone();
    wrong["alipay"]["app_private_key_pem"] = Value::from("not a key");
    let path = write(files.path(), "alipay-bad-key.json", &wrong);
    refused(&counter, data, &path, "bad_key", Some("alipay")).await;
    // A file with no channel in it.
    let path = write(files.path(), "empty.json", &serde_json::json!({}));
    refused(&counter, data, &path, "empty", None).await;

    // The simulator's own file passes, and is kept private.
    let manager = counter
        .setup_store(request(&sim.credentials_path()))
        .await
        .unwrap();
    assert_eq!(manager.name, "陈静");
    let kept = data.join(CHANNELS_FILE);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&kept).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "channels.json is {mode:o}");
    }
    let kept_json: Value = serde_json::from_str(&std::fs::read_to_string(&kept).unwrap()).unwrap();
    assert_eq!(kept_json["alipay"]["app_id"], good["alipay"]["app_id"]);
    assert_eq!(kept_json["wechatpay"]["mchid"], good["wechatpay"]["mchid"]);
    assert_eq!(kept_json["unionpay"]["mer_id"], good["unionpay"]["mer_id"]);
    assert_eq!(
        kept_json["alipay"]["app_private_key_pem"],
        good["alipay"]["app_private_key_pem"]
    );

    // The channels are in use at once.
    let t = counter.terminal_get().await.unwrap();
    assert!(!t.needs_setup);
    for kind in [
        ChannelKind::Alipay,
        ChannelKind::Wechat,
        ChannelKind::Unionpay,
    ] {
        let c = t.channels.iter().find(|c| c.channel == kind).unwrap();
        assert!(c.available, "{c:?}");
    }
    counter
        .shift_open("陈静".into(), "100".into())
        .await
        .unwrap();
    let order = counter
        .order_charge(ChargeRequest {
            amount: "12.30".into(),
            channel: ChannelKind::Alipay,
            cashier: Some("陈静".into()),
            note: None,
            force: false,
            tendered: None,
        })
        .await
        .unwrap();
    assert!(
        sim.trade(&order.order_no).await.is_some(),
        "the QR was not made at the channel"
    );
    counter.shutdown().await;
    drop(counter);

    // No private key reached the ledger (its file or its WAL).
    let key_line = good["alipay"]["app_private_key_pem"]
        .as_str()
        .unwrap()
        .lines()
        .nth(2)
        .unwrap()
        .to_owned();
    for name in [LEDGER_FILE.to_owned(), format!("{LEDGER_FILE}-wal")] {
        let Ok(bytes) = std::fs::read(data.join(&name)) else {
            continue;
        };
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(&key_line), "a private key is in {name}");
        assert!(!text.contains("PRIVATE KEY"), "a private key is in {name}");
    }

    // Once set up, a second import is refused before any channel is asked.
    let again = Counter::open_app(data, false).await.unwrap();
    let e = again
        .setup_store(request(&sim.credentials_path()))
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::Forbidden);
}

fn entered(creds: &Value, alipay_key_file: &Path) -> ChannelEntries {
    let s = |v: &Value| v.as_str().unwrap().to_owned();
    ChannelEntries {
        alipay: Some(AlipayEntry {
            app_id: s(&creds["alipay"]["app_id"]),
            // The private key by the path of its file, the public key pasted.
            private_key: alipay_key_file.display().to_string(),
            alipay_public_key: s(&creds["alipay"]["alipay_public_key_pem"]),
            gateway: s(&creds["alipay"]["gateway"]),
        }),
        wechat: Some(WechatEntry {
            mchid: s(&creds["wechatpay"]["mchid"]),
            appid: s(&creds["wechatpay"]["appid"]),
            serial_no: s(&creds["wechatpay"]["merchant_serial_no"]),
            apiv3_key: s(&creds["wechatpay"]["apiv3_key"]),
            private_key: s(&creds["wechatpay"]["merchant_private_key_pem"]),
            platform_public_key: s(&creds["wechatpay"]["platform_public_key_pem"]),
            platform_public_key_id: s(&creds["wechatpay"]["platform_public_key_id"]),
            base_url: s(&creds["wechatpay"]["base_url"]),
        }),
    }
}

fn by_hand(entries: ChannelEntries) -> StoreSetupRequest {
    StoreSetupRequest {
        channels_file: None,
        channels: Some(entries),
        ..request(Path::new("/unused"))
    }
}

/// Entered channels refused: the code, case, channel and field, and
/// nothing kept.
async fn entry_refused(
    counter: &Counter,
    data: &Path,
    entries: ChannelEntries,
    detail: &str,
    channel: &str,
    field: Option<&str>,
) -> ApiError {
    let e = counter.setup_store(by_hand(entries)).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::ChannelCheckFailed, "{e:?}");
    assert_eq!(
        e.fields.get("detail").map(String::as_str),
        Some(detail),
        "{e:?}"
    );
    assert_eq!(
        e.fields.get("channel").map(String::as_str),
        Some(channel),
        "{e:?}"
    );
    assert_eq!(e.fields.get("field").map(String::as_str), field, "{e:?}");
    assert!(
        !data.join(CHANNELS_FILE).exists(),
        "refused entries were kept"
    );
    assert!(counter.terminal_get().await.unwrap().needs_setup);
    e
}

#[tokio::test]
async fn channels_entered_by_hand_are_checked_field_by_field_then_with_the_channel() {
    // These look at the keys in the kept file: the same on a machine whose
    // session runs a keyring (tests/secret_store.rs covers that case).
    std::env::set_var(shouyin_secrets::STORE_ENV, "files");
    let sim = Sim::start().await;
    let files = tempfile::tempdir().unwrap();
    let data_dir = tempfile::tempdir().unwrap();
    let data = data_dir.path();
    let counter = Counter::open_app(data, false).await.unwrap();
    let creds = sim.credentials();
    let key_file = files.path().join("app_private_key.pem");
    std::fs::write(
        &key_file,
        creds["alipay"]["app_private_key_pem"].as_str().unwrap(),
    )
    .unwrap();
    let good = entered(&creds, &key_file);

    // Fields are checked before anything is sent, each error naming its field.
    let mut e = good.clone();
    e.alipay.as_mut().unwrap().app_id = "2021 abc".into();
    entry_refused(&counter, data, e, "bad_field", "alipay", Some("app_id")).await;
    let mut e = good.clone();
    e.alipay.as_mut().unwrap().private_key = "/nowhere/app_private_key.pem".into();
    let err = entry_refused(
        &counter,
        data,
        e,
        "field_unreadable",
        "alipay",
        Some("private_key"),
    )
    .await;
    assert_eq!(err.fields["path"], "/nowhere/app_private_key.pem");
    let mut e = good.clone();
    e.alipay.as_mut().unwrap().alipay_public_key =
        "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA".into();
    entry_refused(
        &counter,
        data,
        e,
        "bad_field",
        "alipay",
        Some("alipay_public_key"),
    )
    .await;
    let mut e = good.clone();
    e.wechat.as_mut().unwrap().mchid = " ".into();
    entry_refused(&counter, data, e, "missing_field", "wechat", Some("mchid")).await;
    let mut e = good.clone();
    e.wechat.as_mut().unwrap().apiv3_key = "short".into();
    let err = entry_refused(&counter, data, e, "bad_field", "wechat", Some("apiv3_key")).await;
    assert!(!err.message.contains("short"), "{}", err.message);
    let mut e = good.clone();
    e.wechat.as_mut().unwrap().private_key =
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----".into();
    entry_refused(
        &counter,
        data,
        e,
        "bad_field",
        "wechat",
        Some("private_key"),
    )
    .await;
    let mut e = good.clone();
    e.wechat.as_mut().unwrap().platform_public_key = "A".repeat(100_000);
    entry_refused(
        &counter,
        data,
        e,
        "bad_field",
        "wechat",
        Some("platform_public_key"),
    )
    .await;
    let mut e = good.clone();
    e.wechat.as_mut().unwrap().base_url = "ftp://example".into();
    entry_refused(&counter, data, e, "bad_field", "wechat", Some("base_url")).await;

    // Well-formed but wrong: the channel says so to the signed query.
    let mut e = good.clone();
    e.alipay.as_mut().unwrap().private_key = creds["wechatpay"]["merchant_private_key_pem"]
        .as_str()
        .unwrap()
        .into();
    let err = entry_refused(&counter, data, e, "bad_signature", "alipay", None).await;
    assert_eq!(err.fields["channel_code"], "isv.invalid-signature");
    let mut e = good.clone();
    e.alipay.as_mut().unwrap().app_id = "2021000000000000".into();
    entry_refused(&counter, data, e, "unknown_merchant", "alipay", None).await;
    let mut e = good.clone();
    e.wechat.as_mut().unwrap().mchid = "1900000000".into();
    entry_refused(&counter, data, e, "bad_signature", "wechat", None).await;
    let mut e = good.clone();
    e.wechat.as_mut().unwrap().platform_public_key = creds["alipay"]["alipay_public_key_pem"]
        .as_str()
        .unwrap()
        .into();
    entry_refused(&counter, data, e, "untrusted", "wechat", None).await;

    // The right entries pass, are kept private and are in use at once.
    let manager = counter.setup_store(by_hand(good.clone())).await.unwrap();
    assert_eq!(manager.name, "陈静");
    let kept = data.join(CHANNELS_FILE);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&kept).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "channels.json is {mode:o}");
    }
    let t = counter.terminal_get().await.unwrap();
    for kind in [ChannelKind::Alipay, ChannelKind::Wechat] {
        let c = t.channels.iter().find(|c| c.channel == kind).unwrap();
        assert!(c.available, "{c:?}");
    }
    let status = counter.channels_status().await.unwrap();
    assert_eq!(
        status.alipay_app_id.as_ref(),
        creds["alipay"]["app_id"]
            .as_str()
            .map(str::to_owned)
            .as_ref()
    );
    assert_eq!(
        status.wechat_mchid.as_deref(),
        creds["wechatpay"]["mchid"].as_str()
    );
    assert_eq!(status.secret_store, "private_files");

    // Settings: a wrong entry changes nothing; a right one replaces only
    // its own channel.
    let before = std::fs::read_to_string(&kept).unwrap();
    let mut e = good.clone();
    e.alipay = None;
    e.wechat.as_mut().unwrap().serial_no = "ABCDEF0123".into();
    let err = counter.channels_configure(e).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::ChannelCheckFailed, "{err:?}");
    assert_eq!(std::fs::read_to_string(&kept).unwrap(), before);
    let mut e = good.clone();
    e.alipay = None;
    let status = counter.channels_configure(e).await.unwrap();
    assert_eq!(
        status.alipay_app_id.as_deref(),
        creds["alipay"]["app_id"].as_str()
    );
    assert_eq!(
        status.wechat_mchid.as_deref(),
        creds["wechatpay"]["mchid"].as_str()
    );
}
