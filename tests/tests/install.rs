//! A shop's own machine in the real app: the first-start set-up of a real
//! store (in both languages, with Alipay from a channels file and WeChat
//! Pay's ids and keys entered by hand, each checked against the simulator),
//! where the keys are kept (the desktop keyring, when the app's session has
//! one), and the backup status on the settings page
//! (and its warning when a backup fails). Screenshots are saved under
//! artifacts/e2e/.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use shouyin_tests::{serial, App, Sim};

const SHORT: Duration = Duration::from_secs(15);
/// A check asks each channel once; on a loaded machine that takes longer.
const LONG: Duration = Duration::from_secs(40);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn settings_show_the_last_backup_and_a_failed_one_as_a_warning() {
    let _one_at_a_time = serial();
    let result: anyhow::Result<()> = runtime().block_on(async {
        let dir = tempfile::tempdir()?;
        let app = App::launch(dir.path(), &[]).await?;
        app.login("店长 李娜", "9999").await?;
        app.open_shift("200").await?;
        app.cash_sale("25.50", "30").await?;

        app.click("[data-testid=nav-settings]").await?;
        app.wait_for("[data-testid=backup-panel]", SHORT).await?;
        app.click("[data-testid=backup-now]").await?;
        app.wait_for("[data-testid=backup-status][data-state=ok]", SHORT)
            .await?;
        let last = app.text("[data-testid=backup-last]").await?;
        assert!(!last.contains("还没有"), "a time is shown: {last}");
        let size = app.text("[data-testid=backup-size]").await?;
        assert!(size.ends_with("KB") || size.ends_with("MB"), "{size}");
        // The copy is in the data directory's rotating set.
        let copies: Vec<_> = std::fs::read_dir(dir.path().join("backups"))?
            .filter_map(|e| e.ok())
            .collect();
        assert!(!copies.is_empty());
        app.screenshot("settings-backup").await?;

        // The folder is gone and a file sits in its place: the next backup
        // fails, and the page says so.
        std::fs::remove_dir_all(dir.path().join("backups"))?;
        std::fs::write(dir.path().join("backups"), b"not a folder")?;
        app.click("[data-testid=backup-now]").await?;
        app.wait_for("[data-testid=backup-status][data-state=failing]", SHORT)
            .await?;
        app.wait_for("[data-testid=backup-warning]", SHORT).await?;
        app.screenshot("settings-backup-failed").await?;
        app.quit().await?;
        Ok(())
    });
    result.unwrap();
}

#[test]
fn a_new_store_is_set_up_on_first_start_in_either_language() {
    let _one_at_a_time = serial();
    let result: anyhow::Result<()> = runtime().block_on(async {
        // English first, on its own fresh data directory.
        let dir = tempfile::tempdir()?;
        let app = App::launch(dir.path(), &[("SHOUYIN_DEMO", "0"), ("SHOUYIN_LANG", "en")]).await?;
        app.wait_for("[data-testid=setup-store]", SHORT).await?;
        app.wait_for_text("[data-testid=setup] h1", "First start", SHORT)
            .await?;
        app.screenshot("first-start-en").await?;
        app.click("[data-testid=ch-alipay-on]").await?;
        app.click("[data-testid=ch-wechat-on]").await?;
        app.wait_for("[data-testid=ch-wechat-mchid]", SHORT).await?;
        app.screenshot("first-start-en-channels").await?;
        app.quit().await?;

        let dir = tempfile::tempdir()?;
        let app = App::launch(dir.path(), &[("SHOUYIN_DEMO", "0")]).await?;
        app.wait_for_text("[data-testid=setup] h1", "首次使用", SHORT)
            .await?;
        // Nothing sells before the set-up.
        let sale = app
            .invoke(
                "order_charge",
                serde_json::json!({ "req": { "amount": "1.00", "channel": "cash" } }),
            )
            .await?;
        assert_eq!(sale["err"]["code"], "not_logged_in", "{sale}");
        app.fill("[data-testid=setup-store]", "老街便利店").await?;
        app.fill("[data-testid=setup-terminal]", "T07").await?;
        app.fill("[data-testid=setup-cutoff]", "05:00").await?;
        app.fill("[data-testid=setup-name]", "店长 陈静").await?;
        app.fill("[data-testid=setup-pin]", "2468").await?;
        app.fill("[data-testid=setup-pin-again]", "2468").await?;
        app.screenshot("first-start-zh").await?;
        // A till number the backend refuses: a clear error, nothing set up.
        app.fill("[data-testid=setup-terminal]", "T 07").await?;
        app.click("[data-testid=setup-submit]").await?;
        app.wait_for("[data-testid=setup-error]", SHORT).await?;
        app.fill("[data-testid=setup-terminal]", "T07").await?;
        // The channels file, typed as a path: a copy of the simulator's
        // with Alipay signing with another merchant's key is refused by
        // the channel, named, and nothing is kept.
        let sim_dir = tempfile::tempdir()?;
        let sim = Sim::start(sim_dir.path()).await?;
        let mut creds: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(sim.credentials_path())?)?;
        creds["alipay"]["app_private_key_pem"] =
            creds["wechatpay"]["merchant_private_key_pem"].clone();
        let wrong = sim_dir.path().join("channels-wrong-key.json");
        std::fs::write(&wrong, creds.to_string())?;
        app.fill(
            "[data-testid=setup-channels-file]",
            &wrong.display().to_string(),
        )
        .await?;
        app.click("[data-testid=setup-submit]").await?;
        app.wait_for_text("[data-testid=setup-error]", "支付宝拒绝了签名", LONG)
            .await?;
        app.screenshot("first-start-channels-refused").await?;
        assert!(!dir.path().join("channels.json").exists());
        // Alipay from a channels file, WeChat Pay entered by hand: its
        // private key by the path of its file, its public key pasted.
        let good: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(sim.credentials_path())?)?;
        let alipay_only = sim_dir.path().join("channels-alipay.json");
        std::fs::write(
            &alipay_only,
            serde_json::json!({ "alipay": good["alipay"] }).to_string(),
        )?;
        app.fill(
            "[data-testid=setup-channels-file]",
            &alipay_only.display().to_string(),
        )
        .await?;
        let wx = &good["wechatpay"];
        let wx_key = sim_dir.path().join("apiclient_key.pem");
        std::fs::write(
            &wx_key,
            wx["merchant_private_key_pem"].as_str().unwrap_or(""),
        )?;
        let text = |v: &serde_json::Value| v.as_str().unwrap_or("").to_owned();
        app.click("[data-testid=ch-wechat-on]").await?;
        app.fill("[data-testid=ch-wechat-mchid]", &text(&wx["mchid"]))
            .await?;
        app.fill("[data-testid=ch-wechat-appid]", &text(&wx["appid"]))
            .await?;
        app.fill(
            "[data-testid=ch-wechat-serial]",
            &text(&wx["merchant_serial_no"]),
        )
        .await?;
        app.fill(
            "[data-testid=ch-wechat-private-key]",
            &wx_key.display().to_string(),
        )
        .await?;
        app.fill(
            "[data-testid=ch-wechat-public-key]",
            &text(&wx["platform_public_key_pem"]),
        )
        .await?;
        app.fill(
            "[data-testid=ch-wechat-public-key-id]",
            &text(&wx["platform_public_key_id"]),
        )
        .await?;
        app.fill("[data-testid=ch-wechat-base-url]", &text(&wx["base_url"]))
            .await?;
        // An APIv3 key of the wrong length: named, nothing sent or kept.
        app.fill("[data-testid=ch-wechat-apiv3]", "short").await?;
        app.click("[data-testid=setup-submit]").await?;
        app.wait_for_text("[data-testid=setup-error]", "APIv3 密钥", LONG)
            .await?;
        app.screenshot("first-start-paste-refused").await?;
        assert!(!dir.path().join("channels.json").exists());
        app.fill("[data-testid=ch-wechat-apiv3]", &text(&wx["apiv3_key"]))
            .await?;
        // Head office with a code it never gave: the store is set up (the
        // manager exists), enrolment is refused and can be tried again.
        let hq = shouyin_testkit::Hq::start(shouyin_testkit::Backend::Sqlite).await;
        let code = hq.enroll_code("SH01").await;
        app.fill("[data-testid=setup-hq-url]", &hq.base()).await?;
        app.fill("[data-testid=setup-hq-code]", "NOT-A-CODE")
            .await?;
        app.click("[data-testid=setup-submit]").await?;
        app.wait_for("[data-testid=setup-hq-failed]", LONG).await?;
        app.wait_for("[data-testid=setup-error]", SHORT).await?;
        app.screenshot("first-start-hq-refused").await?;
        app.fill("[data-testid=setup-hq-code]", &code).await?;
        app.click("[data-testid=setup-submit]").await?;
        // The new manager is at the till of the store just named.
        if let Err(e) = app.wait_for("[data-testid=amount]", SHORT).await {
            app.screenshot("first-start-failed").await?;
            return Err(e);
        }
        app.wait_for_text("[data-testid=current-user]", "店长 陈静", SHORT)
            .await?;
        let terminal = app.invoke("terminal_get", serde_json::json!({})).await?;
        assert_eq!(terminal["ok"]["store"], "老街便利店", "{terminal}");
        assert_eq!(terminal["ok"]["terminal"], "T07", "{terminal}");
        assert_eq!(terminal["ok"]["day_cutoff"], "05:00", "{terminal}");
        // The checked channels are in use at once, kept private.
        for channel in ["alipay", "wechat"] {
            let c = terminal["ok"]["channels"]
                .as_array()
                .and_then(|all| all.iter().find(|c| c["channel"] == channel))
                .cloned()
                .unwrap_or_default();
            assert_eq!(c["available"], true, "{terminal}");
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("channels.json"))?
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "channels.json is {mode:o}");
        }
        // Enrolled as the new manager, with the till number chosen here.
        let status = app.invoke("sync_status", serde_json::json!({})).await?;
        assert_eq!(status["ok"]["enrolled"], true, "{status}");
        assert_eq!(hq.terminal("T07").await.id.as_str(), "T07");
        // Alipay came from the file, WeChat Pay from the form: both kept.
        let kept: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("channels.json"))?)?;
        assert_eq!(kept["alipay"]["app_id"], good["alipay"]["app_id"]);
        assert_eq!(kept["wechatpay"]["mchid"], good["wechatpay"]["mchid"]);
        // Selling starts with the shift's float.
        app.open_shift("200").await?;
        app.screenshot("first-start-channels-ready").await?;
        // Settings say where the keys are kept and which ids are set up.
        app.click("[data-testid=nav-settings]").await?;
        app.wait_for("[data-testid=secret-store]", SHORT).await?;
        app.wait_for_text("[data-testid=channels-wechat]", &text(&wx["mchid"]), SHORT)
            .await?;
        let store = app.text("[data-testid=secret-store]").await?;
        assert!(
            store.contains("密钥环") || store.contains("0600"),
            "{store}"
        );
        app.client
            .execute(
                "document.querySelector('[data-testid=channels-panel]').scrollIntoView({ block: 'start' });",
                vec![],
            )
            .await?;
        app.screenshot("settings-channels").await?;
        app.click("[data-testid=lang]").await?;
        app.wait_for_text("[data-testid=channels-panel] h2", "Payment channels", SHORT)
            .await?;
        app.screenshot("settings-channels-en").await?;
        app.click("[data-testid=lang]").await?;
        app.click("[data-testid=nav-cashier]").await?;
        app.cash_sale("3.50", "5").await?;
        app.screenshot("first-start-done").await?;
        app.quit().await?;
        Ok(())
    });
    result.unwrap();
}

#[test]
fn the_real_app_keeps_channel_keys_in_the_desktop_keyring() {
    let _one_at_a_time = serial();
    let result: anyhow::Result<()> = runtime().block_on(async {
        // A desktop session of its own with GNOME Keyring on it, handed to
        // the app through the environment, as a desktop login does.
        let keyring = shouyin_testkit::SecretService::start();
        let dir = tempfile::tempdir()?;
        let app = App::launch(
            dir.path(),
            &[
                ("SHOUYIN_DEMO", "0"),
                ("DBUS_SESSION_BUS_ADDRESS", keyring.address()),
            ],
        )
        .await?;
        app.wait_for("[data-testid=setup-store]", SHORT).await?;
        let sim_dir = tempfile::tempdir()?;
        let sim = Sim::start(sim_dir.path()).await?;
        app.fill("[data-testid=setup-store]", "老街便利店").await?;
        app.fill("[data-testid=setup-name]", "店长 陈静").await?;
        app.fill("[data-testid=setup-pin]", "2468").await?;
        app.fill("[data-testid=setup-pin-again]", "2468").await?;
        app.fill(
            "[data-testid=setup-channels-file]",
            &sim.credentials_path().display().to_string(),
        )
        .await?;
        app.click("[data-testid=setup-submit]").await?;
        if let Err(e) = app.wait_for("[data-testid=amount]", LONG).await {
            app.screenshot("keyring-setup-failed").await?;
            return Err(e);
        }
        // The file the app keeps holds references, not keys.
        let creds: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(sim.credentials_path())?)?;
        let kept_text = std::fs::read_to_string(dir.path().join("channels.json"))?;
        let kept: serde_json::Value = serde_json::from_str(&kept_text)?;
        for (section, field) in [
            ("alipay", "app_private_key_pem"),
            ("wechatpay", "merchant_private_key_pem"),
            ("wechatpay", "apiv3_key"),
        ] {
            let value = kept[section][field].as_str().unwrap_or_default();
            assert!(value.starts_with("secret-service:shouyin/"), "{section}.{field}: {value}");
        }
        let apiv3 = creds["wechatpay"]["apiv3_key"].as_str().unwrap_or("-");
        assert!(!kept_text.contains(apiv3), "the APIv3 key is in channels.json");
        let terminal = app.invoke("terminal_get", serde_json::json!({})).await?;
        for channel in ["alipay", "wechat"] {
            let c = terminal["ok"]["channels"]
                .as_array()
                .and_then(|all| all.iter().find(|c| c["channel"] == channel))
                .cloned()
                .unwrap_or_default();
            assert_eq!(c["available"], true, "{terminal}");
        }
        app.open_shift("0").await?;
        app.click("[data-testid=nav-settings]").await?;
        app.wait_for("[data-testid=secret-store][data-store=secret_service]", SHORT)
            .await?;
        app.wait_for_text("[data-testid=secret-store]", "系统密钥环", SHORT)
            .await?;
        app.client
            .execute(
                "document.querySelector('[data-testid=channels-panel]').scrollIntoView({ block: 'start' });",
                vec![],
            )
            .await?;
        app.screenshot("settings-keyring").await?;
        app.quit().await?;
        Ok(())
    });
    result.unwrap();
}
