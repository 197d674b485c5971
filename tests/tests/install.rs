//! A shop's own machine: the backup status on the settings page of the real
//! app (and its warning when a backup fails). Screenshots are saved under
//! artifacts/e2e/.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use shouyin_tests::{serial, App};

const SHORT: Duration = Duration::from_secs(15);

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
        app.key_amount("25.50").await?;
        app.click("[data-testid=channel-cash]").await?;
        app.wait_for("[data-testid=cash-done]", SHORT).await?;

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
