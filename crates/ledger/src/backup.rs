//! Copies of the ledger, taken while the till keeps selling, and putting one
//! back.
//!
//! A copy is made with SQLite's online backup API from a connection of its
//! own, in a single step: that step reads one snapshot of the WAL-mode file,
//! so the copy is the ledger as of one commit, and the till's writes go on
//! meanwhile (a WAL reader never blocks the writer). The copy is written to
//! a temporary file beside its destination, checked with `PRAGMA
//! integrity_check`, made durable and only then renamed into place: a crash
//! leaves the old file or the new one, never half of one.
//!
//! [`BackupSet`] keeps a rotating set of such copies in one directory (the
//! newest [`BACKUP_KEEP`]); [`restore`] puts a copy back, keeping the file
//! it replaces.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags, OptionalExtension};

use crate::{check_file, check_schema, ts, Ledger, LedgerError, Result, BUSY_TIMEOUT};

/// How many copies a [`BackupSet`] keeps.
pub const BACKUP_KEEP: usize = 14;
/// Every file of a [`BackupSet`] starts with this and ends with `.db`.
const SET_PREFIX: &str = "ledger-";

/// A copy that was written and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupInfo {
    pub path: PathBuf,
    pub bytes: u64,
    /// The last event the copy holds: it holds every event up to here.
    pub last_seq: i64,
    pub schema_version: i64,
    pub took: Duration,
}

/// What checking a copy found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyCheck {
    pub schema_version: i64,
    pub last_seq: i64,
    pub bytes: u64,
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> LedgerError + '_ {
    move |source| LedgerError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Copy the ledger at `src` to `dest` (which must not exist) while other
/// connections keep writing to it, then check the copy.
pub fn copy_ledger(src: &Path, dest: &Path) -> Result<BackupInfo> {
    let started = Instant::now();
    if dest.exists() {
        return Err(LedgerError::AlreadyExists(dest.to_owned()));
    }
    if same_file(src, dest) {
        return Err(LedgerError::Invalid(
            "a backup cannot be written over the ledger itself".into(),
        ));
    }
    check_file(src)?;
    let source = Connection::open_with_flags(
        src,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    source.busy_timeout(BUSY_TIMEOUT)?;
    check_schema(&source, src)?;
    let partial = partial_path(dest);
    let _ = fs::remove_file(&partial);
    let result = (|| {
        {
            let mut target = Connection::open(&partial)?;
            {
                let backup = Backup::new(&source, &mut target)?;
                // All pages in one step: one read snapshot, so the copy is
                // one commit's ledger. Busy only while a checkpoint resets
                // the WAL; try again shortly.
                let mut tries = 0;
                loop {
                    match backup.step(-1)? {
                        StepResult::Done => break,
                        _ => {
                            tries += 1;
                            if tries > 200 {
                                return Err(LedgerError::Locked);
                            }
                            std::thread::sleep(Duration::from_millis(10));
                        }
                    }
                }
            }
            // A copy is one self-contained file.
            target.query_row("PRAGMA journal_mode = DELETE", [], |_| Ok(()))?;
        }
        let check = check_copy(&partial)?;
        File::open(&partial)
            .and_then(|f| f.sync_all())
            .map_err(io_error(&partial))?;
        fs::rename(&partial, dest).map_err(io_error(dest))?;
        sync_dir(dest)?;
        Ok(check)
    })();
    match result {
        Ok(check) => Ok(BackupInfo {
            path: dest.to_owned(),
            bytes: check.bytes,
            last_seq: check.last_seq,
            schema_version: check.schema_version,
            took: started.elapsed(),
        }),
        Err(e) => {
            let _ = fs::remove_file(&partial);
            Err(e)
        }
    }
}

/// Check a copy: an SQLite file, a ledger of a schema this program knows,
/// and `PRAGMA integrity_check` answers `ok`.
pub fn check_copy(path: &Path) -> Result<CopyCheck> {
    check_file(path)?;
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let schema_version = check_schema(&conn, path)?;
    let problems: Vec<String> = {
        let mut stmt = conn.prepare("PRAGMA integrity_check")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    if problems != ["ok"] {
        return Err(LedgerError::Damaged {
            path: path.to_owned(),
            problems: problems.join("; "),
        });
    }
    let last_seq: i64 =
        conn.query_row("SELECT COALESCE(MAX(seq), 0) FROM events", [], |r| r.get(0))?;
    let bytes = fs::metadata(path).map_err(io_error(path))?.len();
    Ok(CopyCheck {
        schema_version,
        last_seq,
        bytes,
    })
}

/// What [`restore`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    /// The ledger that was replaced, kept here (`None` if there was none).
    pub kept: Option<PathBuf>,
    /// The restored ledger's last event.
    pub last_seq: i64,
}

/// Put the copy at `from` back as the ledger at `ledger`. The caller must
/// hold the ledger's lock (no program may have it open). The ledger being
/// replaced is first copied, with its WAL, to
/// `<ledger>.replaced-<time>.db` and checked; only then is it removed.
pub fn restore(from: &Path, ledger: &Path, now: DateTime<Utc>) -> Result<Restored> {
    if same_file(from, ledger) {
        return Err(LedgerError::Invalid(
            "the backup to restore is the ledger itself".into(),
        ));
    }
    let check = check_copy(from)?;
    let kept = if ledger.exists() {
        let kept = sibling(ledger, &format!(".replaced-{}.db", stamp(now)));
        copy_ledger(ledger, &kept)?;
        Some(kept)
    } else {
        None
    };
    let incoming = partial_path(ledger);
    let _ = fs::remove_file(&incoming);
    fs::copy(from, &incoming).map_err(io_error(&incoming))?;
    File::open(&incoming)
        .and_then(|f| f.sync_all())
        .map_err(io_error(&incoming))?;
    // The old WAL belongs to the old file: it must not be replayed into
    // the restored one.
    for suffix in ["-wal", "-shm"] {
        let side = sibling(ledger, suffix);
        match fs::remove_file(&side) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_error(&side)(e)),
        }
    }
    fs::rename(&incoming, ledger).map_err(io_error(ledger))?;
    sync_dir(ledger)?;
    // Opening once migrates an older copy and puts it back in WAL mode.
    Ledger::open(ledger)?;
    Ok(Restored {
        kept,
        last_seq: check.last_seq,
    })
}

/// A rotating set of copies in one directory.
#[derive(Debug, Clone)]
pub struct BackupSet {
    dir: PathBuf,
    keep: usize,
}

/// One copy of a [`BackupSet`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupFile {
    pub path: PathBuf,
    pub bytes: u64,
}

impl BackupSet {
    pub fn new(dir: impl Into<PathBuf>, keep: usize) -> BackupSet {
        BackupSet {
            dir: dir.into(),
            keep: keep.max(1),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Copy `ledger` into the set as `ledger-<UTC time>-<reason>.db`, then
    /// drop the oldest copies beyond the number kept. `reason` is a short
    /// word (`daily`, `shift`, `manual`).
    pub fn take(&self, ledger: &Path, now: DateTime<Utc>, reason: &str) -> Result<BackupInfo> {
        if reason.is_empty()
            || reason.len() > 16
            || !reason.chars().all(|c| c.is_ascii_lowercase() || c == '-')
        {
            return Err(LedgerError::Invalid(format!(
                "a backup reason is a short lower-case word, not '{reason}'"
            )));
        }
        create_private_dir(&self.dir)?;
        let base = format!("{SET_PREFIX}{}-{reason}", stamp(now));
        let mut dest = self.dir.join(format!("{base}.db"));
        let mut n = 1;
        while dest.exists() {
            n += 1;
            dest = self.dir.join(format!("{base}-{n}.db"));
        }
        let info = copy_ledger(ledger, &dest)?;
        self.prune()?;
        Ok(info)
    }

    /// The copies, oldest first (their names sort by time).
    pub fn list(&self) -> Result<Vec<BackupFile>> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_error(&self.dir)(e)),
        };
        let mut files = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io_error(&self.dir))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if !(name.starts_with(SET_PREFIX) && name.ends_with(".db")) {
                continue;
            }
            let meta = entry.metadata().map_err(io_error(&entry.path()))?;
            if meta.is_file() {
                files.push(BackupFile {
                    path: entry.path(),
                    bytes: meta.len(),
                });
            }
        }
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(files)
    }

    fn prune(&self) -> Result<()> {
        let files = self.list()?;
        let excess = files.len().saturating_sub(self.keep);
        for file in &files[..excess] {
            fs::remove_file(&file.path).map_err(io_error(&file.path))?;
        }
        Ok(())
    }
}

/// A backup as the ledger remembers it (settings show the last one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupRecord {
    pub at: DateTime<Utc>,
    pub reason: String,
    /// The copy, when it was written.
    pub file: Option<String>,
    pub bytes: Option<i64>,
    pub last_seq: Option<i64>,
    pub took_ms: Option<i64>,
    /// Why it failed; `None` for a good copy.
    pub error: Option<String>,
    /// The failure's class, as the app names it (`storage`, …).
    pub error_code: Option<String>,
}

impl Ledger {
    /// Remember a backup, good or failed.
    pub fn record_backup(&mut self, record: &BackupRecord) -> Result<()> {
        self.conn.execute(
            "INSERT INTO backups (at, reason, file, bytes, last_seq, took_ms, error, error_code)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            (
                ts(record.at),
                &record.reason,
                &record.file,
                record.bytes,
                record.last_seq,
                record.took_ms,
                &record.error,
                &record.error_code,
            ),
        )?;
        Ok(())
    }

    /// The newest backup, good or failed.
    pub fn last_backup(&self) -> Result<Option<BackupRecord>> {
        self.backup_where("1 = 1")
    }

    /// The newest good backup.
    pub fn last_good_backup(&self) -> Result<Option<BackupRecord>> {
        self.backup_where("error IS NULL")
    }

    fn backup_where(&self, clause: &str) -> Result<Option<BackupRecord>> {
        let sql = format!(
            "SELECT at, reason, file, bytes, last_seq, took_ms, error, error_code FROM backups
             WHERE {clause} ORDER BY id DESC LIMIT 1"
        );
        let row = self
            .conn
            .query_row(&sql, [], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    BackupRecord {
                        at: DateTime::<Utc>::MIN_UTC,
                        reason: r.get(1)?,
                        file: r.get(2)?,
                        bytes: r.get(3)?,
                        last_seq: r.get(4)?,
                        took_ms: r.get(5)?,
                        error: r.get(6)?,
                        error_code: r.get(7)?,
                    },
                ))
            })
            .optional()?;
        let Some((at, mut record)) = row else {
            return Ok(None);
        };
        record.at = crate::parse_ts(&at)
            .ok_or_else(|| LedgerError::Invalid(format!("backup time '{at}'")))?;
        Ok(Some(record))
    }
}

/// `20261130-103000-123`: sorts as time, and is a valid file name anywhere.
fn stamp(at: DateTime<Utc>) -> String {
    at.format("%Y%m%d-%H%M%S-%3f").to_string()
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(suffix);
    path.with_file_name(name)
}

fn partial_path(dest: &Path) -> PathBuf {
    sibling(dest, ".partial")
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (fs::canonicalize(a), fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Make a rename durable: the directory entry is on disk once its
/// directory is synced.
fn sync_dir(path: &Path) -> Result<()> {
    #[cfg(unix)]
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_error(dir))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Backups hold every sale: readable by their owner only.
fn create_private_dir(dir: &Path) -> Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(io_error(dir))
}

/// Before a migration: a copy of the ledger as the older program left it,
/// beside it (`<ledger>.before-schema-<new>-<time>.db`), never rotated away.
pub(crate) fn before_migration(path: &Path, to_version: i64) -> Result<BackupInfo> {
    let dest = sibling(
        path,
        &format!(".before-schema-{to_version}-{}.db", stamp(Utc::now())),
    );
    copy_ledger(path, &dest)
}
