//! `shouyin enroll` and `shouyin sync`: the terminal's side of sync to head
//! office, over the same api the desktop app uses. The terminal secret is
//! kept in the ledger's head-office file and never printed.

use std::path::Path;
use std::process::ExitCode;

use shouyin_api::dto::{SyncPassDto, SyncStatusDto};

/// `shouyin enroll --db PATH --hq URL --code CODE [--force] [--hq-ca-file FILE]`
pub async fn enroll(
    db: &Path,
    hq: String,
    code: String,
    force: bool,
    hq_ca_file: Option<std::path::PathBuf>,
) -> anyhow::Result<ExitCode> {
    let counter = crate::open(db).await?;
    let status = counter
        .sync_enroll_trusting(hq, code, force, hq_ca_file)
        .await?;
    println!("terminal={}", status.terminal_id.as_deref().unwrap_or("-"));
    println!("store={}", status.store.as_deref().unwrap_or("-"));
    println!("hq={}", status.hq_url.as_deref().unwrap_or("-"));
    println!("hq_file={}", shouyin_api::sync::hq_file_path(db).display());
    println!("waiting={}", status.waiting);
    Ok(ExitCode::SUCCESS)
}

fn print_status(status: &SyncStatusDto) {
    println!("state={}", state_name(status));
    println!("acked_seq={}", status.acked_seq);
    println!("waiting={}", status.waiting);
    if let Some(at) = &status.oldest_waiting_at {
        println!("oldest_waiting_at={at}");
    }
    if let Some(since) = &status.offline_since {
        println!("offline_since={since}");
    }
}

fn state_name(status: &SyncStatusDto) -> String {
    serde_json::to_value(status.state)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn print_pass(pass: &SyncPassDto) {
    println!("sent={}", pass.sent);
    print_status(&pass.status);
    if let Some(error) = &pass.error {
        println!("error={error}");
    }
}

/// `shouyin sync --db PATH [--once]`: one pass (exit status 1 if it did not
/// catch up), or the background loop until Ctrl-C, printing each pass.
pub async fn sync(db: &Path, once: bool) -> anyhow::Result<ExitCode> {
    let counter = crate::open(db).await?;
    if once {
        let pass = counter.sync_pass().await?;
        print_pass(&pass);
        if let Some(error) = &pass.error {
            eprintln!("error: {error}");
        }
        return Ok(if pass.ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    let run = counter.sync_run(|pass| {
        // One line per pass that did something or failed, for a log.
        if pass.sent > 0 || !pass.ok {
            println!(
                "sent={} acked_seq={} waiting={} state={}{}",
                pass.sent,
                pass.status.acked_seq,
                pass.status.waiting,
                state_name(&pass.status),
                pass.error
                    .as_deref()
                    .map(|e| format!(" error={e:?}"))
                    .unwrap_or_default()
            );
        }
    });
    tokio::select! {
        _ = run => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    counter.shutdown().await;
    print_status(&counter.sync_status().await?);
    Ok(ExitCode::SUCCESS)
}
