//! `shouyin backup`, `shouyin restore` and `shouyin rescue`: the ledger's
//! copies by hand, and the rescue file for a till whose network is gone.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use shouyin_api::lock::LedgerLock;
use shouyin_ledger::backup;

/// `shouyin backup --db PATH --out FILE`: a checked copy, taken with the
/// online backup API, so the app may keep selling meanwhile.
pub fn backup(db: &Path, out: &Path) -> anyhow::Result<ExitCode> {
    let info = backup::copy_ledger(db, out)
        .with_context(|| format!("backing up {} to {}", db.display(), out.display()))?;
    println!("file={}", info.path.display());
    println!("bytes={}", info.bytes);
    println!("last_seq={}", info.last_seq);
    println!("schema={}", info.schema_version);
    println!("integrity=ok");
    println!("ms={}", info.took.as_millis());
    Ok(ExitCode::SUCCESS)
}

/// `shouyin restore --db PATH --from FILE`: only while no program holds the
/// ledger; the replaced ledger is kept beside it.
pub fn restore(db: &Path, from: &Path) -> anyhow::Result<ExitCode> {
    let _lock = LedgerLock::acquire(db)?;
    let restored = backup::restore(from, db, chrono::Utc::now())
        .with_context(|| format!("restoring {} from {}", db.display(), from.display()))?;
    println!("restored={}", db.display());
    println!("last_seq={}", restored.last_seq);
    match &restored.kept {
        Some(kept) => println!("kept={}", kept.display()),
        None => println!("kept=-"),
    }
    let hq_file = shouyin_api::sync::hq_file_path(db);
    if let Ok(Some(hq)) = shouyin_api::sync::HqFile::load(&hq_file) {
        if hq.acked_seq > restored.last_seq.max(0) as u64 {
            eprintln!(
                "warning: head office already holds events up to {} but the restored ledger ends \
                 at {}: sync will stop with a conflict; the sales after the backup are in {}",
                hq.acked_seq,
                restored.last_seq,
                restored
                    .kept
                    .as_deref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| "-".into())
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `shouyin rescue --db PATH --out FILE`: every event head office has not
/// acknowledged, signed, for `shouyin hq import-rescue`.
pub async fn rescue(db: &Path, out: &Path) -> anyhow::Result<ExitCode> {
    let counter = crate::open(db).await?;
    let rescue = counter.rescue_export(out).await?;
    println!("file={}", rescue.path.display());
    println!("events={}", rescue.events);
    println!("first_seq={}", rescue.first_seq);
    println!("last_seq={}", rescue.last_seq);
    println!("bytes={}", rescue.bytes);
    Ok(ExitCode::SUCCESS)
}
