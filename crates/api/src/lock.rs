//! One process per ledger.
//!
//! Two programs resolving the same open payments would close each other's
//! live codes, so the app, and the CLI commands that settle payments, hold
//! an exclusive lock on the ledger while they run: an OS advisory lock
//! (`flock`/`LockFileEx` through [`std::fs::File::try_lock`]) on a file
//! beside it, `<ledger>.lock`. The file holds the holder's process id, so a
//! refused opener can say who holds it; the pid is only for people — the
//! lock itself is the kernel's, released when the holder exits or is
//! killed, so a stale file never blocks anyone.
//!
//! Readers (reports, export) do not take the lock: SQLite's WAL lets them
//! read beside the writer.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::{ApiError, ErrorCode};

/// The lock file that guards `ledger`.
pub fn lock_path(ledger: &Path) -> PathBuf {
    let mut name = ledger.file_name().unwrap_or_default().to_owned();
    name.push(".lock");
    ledger.with_file_name(name)
}

/// An exclusive hold on a ledger, released when dropped (or when the
/// process ends, however it ends).
#[derive(Debug)]
pub struct LedgerLock {
    /// Holding the open file is holding the lock.
    _file: File,
    path: PathBuf,
}

impl LedgerLock {
    /// Take the lock on `ledger`, or say which process holds it.
    pub fn acquire(ledger: &Path) -> Result<LedgerLock, ApiError> {
        let path = lock_path(ledger);
        let storage = |e: std::io::Error| {
            ApiError::new(
                ErrorCode::Storage,
                format!("cannot use the lock file {}: {e}", path.display()),
            )
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(storage)?;
        // `File::try_lock` is newer than the declared rust-version (1.89
        // against 1.85); the installed toolchain has it, and no other
        // toolchain can be used here.
        #[allow(clippy::incompatible_msrv)]
        let locked = file.try_lock();
        match locked {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                let who = if holder.is_empty() {
                    "another program".to_owned()
                } else {
                    format!("another program (pid {holder})")
                };
                return Err(ApiError::new(
                    ErrorCode::LedgerLocked,
                    format!(
                        "the ledger {} is in use by {who}; close that program first (only one program may take payments on a ledger at a time)",
                        ledger.display()
                    ),
                ));
            }
            Err(TryLockError::Error(e)) => return Err(storage(e)),
        }
        file.set_len(0).map_err(storage)?;
        file.seek(SeekFrom::Start(0)).map_err(storage)?;
        writeln!(file, "{}", std::process::id()).map_err(storage)?;
        file.sync_all().map_err(storage)?;
        Ok(LedgerLock { _file: file, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn a_second_hold_is_refused_naming_the_holder_and_freed_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = dir.path().join("ledger.db");
        let first = LedgerLock::acquire(&ledger).unwrap();
        assert_eq!(first.path(), dir.path().join("ledger.db.lock"));
        let e = LedgerLock::acquire(&ledger).unwrap_err();
        assert_eq!(e.code, ErrorCode::LedgerLocked);
        assert!(
            e.message.contains(&format!("pid {}", std::process::id())),
            "{e}"
        );
        drop(first);
        LedgerLock::acquire(&ledger).unwrap();
    }
}
