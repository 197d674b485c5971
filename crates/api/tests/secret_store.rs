//! Channel keys and the head-office secret are kept out of the ledger and
//! out of every file of the data directory when a Secret Service runs (a
//! private D-Bus session with GNOME Keyring, started here), and in files
//! only this user can read when none does.
//!
//! One test: the Secret Service is chosen from the process's environment,
//! which the test sets, so nothing else may run beside it in this binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use serde_json::Value;
use shouyin_api::channel_entry::{ChannelEntries, WechatEntry};
use shouyin_api::roles::StoreSetupRequest;
use shouyin_api::sync::hq_file_path;
use shouyin_api::{Counter, SecretStore, CHANNELS_FILE, LEDGER_FILE};
use shouyin_core::ChannelKind;
use shouyin_testkit::{hq::Backend, Hq, SecretService, Sim};

fn request(channels_file: &Path, terminal: &str) -> StoreSetupRequest {
    StoreSetupRequest {
        store: "老街便利店".into(),
        terminal: terminal.into(),
        timezone: "Asia/Shanghai".into(),
        day_cutoff: "04:00".into(),
        manager: "陈静".into(),
        pin: "2468".into(),
        pin_again: "2468".into(),
        channels_file: Some(channels_file.display().to_string()),
        channels: None,
    }
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files_under(&path));
        } else {
            found.push(path);
        }
    }
    found
}

/// The long middle line of a PEM: unique to that key.
fn pem_line(pem: &str) -> String {
    pem.lines()
        .filter(|l| !l.starts_with("-----"))
        .nth(3)
        .unwrap()
        .to_owned()
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Set up a store with the simulator's channels, enrol it at head office,
/// and sell once through sync: the counter reads every secret back.
async fn set_up_and_enrol(data: &Path, terminal: &str, sim: &Sim, hq: &Hq) -> Counter {
    let counter = Counter::open_app(data, false).await.unwrap();
    counter
        .setup_store(request(&sim.credentials_path(), terminal))
        .await
        .unwrap();
    let status = counter
        .sync_enroll(hq.base(), hq.enroll_code("SH01").await)
        .await
        .unwrap();
    assert!(status.enrolled, "{status:?}");
    counter
}

/// The counter, opened again from its data directory alone, has both
/// channels and signs to head office: the secrets were read back.
async fn reopened_uses_its_secrets(data: &Path) {
    let counter = Counter::open_app(data, false).await.unwrap();
    let t = counter.terminal_get().await.unwrap();
    for kind in [ChannelKind::Alipay, ChannelKind::Wechat] {
        let c = t.channels.iter().find(|c| c.channel == kind).unwrap();
        assert!(c.available, "{c:?}");
    }
    let pass = counter.sync_now().await.unwrap();
    assert_eq!(pass.last_error, None, "{pass:?}");
    assert!(pass.acked_seq > 0, "{pass:?}");
    close(counter).await;
}

/// Stop the counter and wait until its tasks let go of the ledger.
async fn close(counter: Counter) {
    counter.shutdown().await;
    drop(counter);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
}

#[tokio::test]
async fn secrets_go_to_the_secret_service_or_to_private_files() {
    let sim = Sim::start().await;
    let hq = Hq::start(Backend::Sqlite).await;
    let creds = sim.credentials();
    let alipay_key = creds["alipay"]["app_private_key_pem"].as_str().unwrap();
    let wechat_key = creds["wechatpay"]["merchant_private_key_pem"]
        .as_str()
        .unwrap();
    let apiv3 = creds["wechatpay"]["apiv3_key"].as_str().unwrap();

    // --- With a Secret Service on the session bus. (libdbus reads the
    // bus address once per process: it is set before any D-Bus call.)
    std::env::remove_var(shouyin_secrets::STORE_ENV);
    let keyring = SecretService::start();
    std::env::set_var("DBUS_SESSION_BUS_ADDRESS", keyring.address());
    assert_eq!(SecretStore::detect(), SecretStore::SecretService);

    let data_dir = tempfile::tempdir().unwrap();
    let data = data_dir.path().join("shouyin");
    let counter = set_up_and_enrol(&data, "T07", &sim, &hq).await;
    assert_eq!(counter.secret_store(), SecretStore::SecretService);
    counter.backup_now("test").await.unwrap();
    close(counter).await;

    // The files hold references, and the references lead to the secrets.
    let kept: Value =
        serde_json::from_str(&std::fs::read_to_string(data.join(CHANNELS_FILE)).unwrap()).unwrap();
    let references = [
        (&kept["alipay"]["app_private_key_pem"], alipay_key),
        (&kept["wechatpay"]["merchant_private_key_pem"], wechat_key),
        (&kept["wechatpay"]["apiv3_key"], apiv3),
    ];
    for (reference, secret) in references {
        let reference = reference.as_str().unwrap();
        assert!(
            reference.starts_with("secret-service:shouyin/"),
            "{reference}"
        );
        assert_eq!(shouyin_secrets::resolve(reference).unwrap(), secret);
    }
    assert_eq!(kept["alipay"]["app_id"], creds["alipay"]["app_id"]);
    let hq_file = hq_file_path(&data.join(LEDGER_FILE));
    let hq_json: Value = serde_json::from_str(&std::fs::read_to_string(&hq_file).unwrap()).unwrap();
    let hq_reference = hq_json["secret"].as_str().unwrap();
    assert!(
        hq_reference.starts_with("secret-service:shouyin/hq-secret-"),
        "{hq_reference}"
    );
    let hq_secret = shouyin_secrets::resolve(hq_reference).unwrap();
    assert_eq!(hq_secret.len(), 64, "32 bytes in hex");

    // No file of the data directory (ledger, WAL, backups, settings)
    // holds any of the secrets, in any form the program writes them.
    let needles = [
        pem_line(alipay_key),
        pem_line(wechat_key),
        apiv3.to_owned(),
        hq_secret.clone(),
        hq_secret.to_uppercase(),
    ];
    let files = files_under(&data);
    assert!(files.iter().any(|f| f.ends_with(LEDGER_FILE)), "{files:?}");
    assert!(
        files.iter().any(|f| f.starts_with(data.join("backups"))),
        "a backup was written: {files:?}"
    );
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        for needle in &needles {
            assert!(
                !text.contains(needle.as_str()),
                "{} holds a secret",
                file.display()
            );
        }
        assert!(
            !bytes
                .windows(32)
                .any(|w| w == hex::decode(&hq_secret).unwrap()),
            "{} holds the hq secret in binary",
            file.display()
        );
    }
    // The keyring's own files are elsewhere, and encrypted.
    let keyring_files = files_under(&keyring.keyring_dir());
    assert!(!keyring_files.is_empty());
    for file in keyring_files {
        let text = String::from_utf8_lossy(&std::fs::read(&file).unwrap()).into_owned();
        assert!(
            !text.contains(apiv3),
            "{} holds a key in clear",
            file.display()
        );
    }
    #[cfg(unix)]
    {
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&data.join(CHANNELS_FILE)), 0o600);
        assert_eq!(mode(&hq_file), 0o600);
    }
    reopened_uses_its_secrets(&data).await;

    // WeChat Pay entered again in Settings: its new keys go to the keyring,
    // the ones they replace are dropped, Alipay's stay.
    let counter = Counter::open_app(&data, false).await.unwrap();
    let s = |v: &Value| v.as_str().unwrap().to_owned();
    let wx = &creds["wechatpay"];
    counter
        .channels_configure(ChannelEntries {
            alipay: None,
            wechat: Some(WechatEntry {
                mchid: s(&wx["mchid"]),
                appid: s(&wx["appid"]),
                serial_no: s(&wx["merchant_serial_no"]),
                apiv3_key: s(&wx["apiv3_key"]),
                private_key: s(&wx["merchant_private_key_pem"]),
                platform_public_key: s(&wx["platform_public_key_pem"]),
                platform_public_key_id: s(&wx["platform_public_key_id"]),
                base_url: s(&wx["base_url"]),
            }),
        })
        .await
        .unwrap();
    close(counter).await;
    let now: Value =
        serde_json::from_str(&std::fs::read_to_string(data.join(CHANNELS_FILE)).unwrap()).unwrap();
    assert_eq!(
        now["alipay"]["app_private_key_pem"],
        kept["alipay"]["app_private_key_pem"]
    );
    for key in ["merchant_private_key_pem", "apiv3_key"] {
        let old = kept["wechatpay"][key].as_str().unwrap();
        let new = now["wechatpay"][key].as_str().unwrap();
        assert_ne!(old, new);
        assert!(new.starts_with("secret-service:shouyin/"), "{new}");
        assert!(matches!(
            shouyin_secrets::resolve(old),
            Err(shouyin_secrets::SecretError::Missing { .. })
        ));
    }
    assert_eq!(
        shouyin_secrets::resolve(now["wechatpay"]["apiv3_key"].as_str().unwrap()).unwrap(),
        apiv3
    );
    reopened_uses_its_secrets(&data).await;

    // The keyring lost the head-office secret: sync says so, and enrolling
    // again (with force, at a new head office) puts a new one in its place.
    shouyin_secrets::forget(hq_reference).unwrap();
    let counter = Counter::open_app(&data, false).await.unwrap();
    let lost = counter.sync_now().await.unwrap_err();
    assert!(lost.message.contains("Secret Service"), "{lost:?}");
    let other_hq = Hq::start(Backend::Sqlite).await;
    let again = counter
        .sync_enroll_with(other_hq.base(), other_hq.enroll_code("SH01").await, true)
        .await
        .unwrap();
    assert!(again.enrolled, "{again:?}");
    let hq_json: Value = serde_json::from_str(&std::fs::read_to_string(&hq_file).unwrap()).unwrap();
    let new_reference = hq_json["secret"].as_str().unwrap();
    assert_ne!(new_reference, hq_reference);
    assert_eq!(shouyin_secrets::resolve(new_reference).unwrap().len(), 64);
    // Enrolling elsewhere once more drops the secret it replaces.
    let third_hq = Hq::start(Backend::Sqlite).await;
    counter
        .sync_enroll_with(third_hq.base(), third_hq.enroll_code("SH01").await, true)
        .await
        .unwrap();
    assert!(matches!(
        shouyin_secrets::resolve(new_reference),
        Err(shouyin_secrets::SecretError::Missing { .. })
    ));
    close(counter).await;
    reopened_uses_its_secrets(&data).await;

    // --- Without one: the secrets stay in files only this user can read.
    std::env::set_var(shouyin_secrets::STORE_ENV, "files");
    assert_eq!(SecretStore::detect(), SecretStore::PrivateFiles);
    let data = data_dir.path().join("files");
    std::fs::create_dir(&data).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // A directory made by hand, open to all: closed on first start.
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let counter = set_up_and_enrol(&data, "T08", &sim, &hq).await;
    assert_eq!(counter.secret_store(), SecretStore::PrivateFiles);
    close(counter).await;
    let kept: Value =
        serde_json::from_str(&std::fs::read_to_string(data.join(CHANNELS_FILE)).unwrap()).unwrap();
    assert_eq!(kept["wechatpay"]["apiv3_key"], apiv3);
    let hq_file = hq_file_path(&data.join(LEDGER_FILE));
    let hq_json: Value = serde_json::from_str(&std::fs::read_to_string(&hq_file).unwrap()).unwrap();
    assert_eq!(hq_json["secret"].as_str().unwrap().len(), 64);
    #[cfg(unix)]
    {
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&data.join(CHANNELS_FILE)), 0o600);
        assert_eq!(mode(&hq_file), 0o600);
    }
    // Even so, the ledger has none of them.
    let ledger = std::fs::read(data.join(LEDGER_FILE)).unwrap();
    let ledger = String::from_utf8_lossy(&ledger);
    assert!(!ledger.contains(apiv3));
    assert!(!ledger.contains(&pem_line(alipay_key)));
    reopened_uses_its_secrets(&data).await;
}
