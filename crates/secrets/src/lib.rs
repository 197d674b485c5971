//! Where Shouyin keeps what must never be in the ledger or the synced data:
//! the channels' private keys, WeChat Pay's APIv3 key and the terminal's
//! head-office secret.
//!
//! Where the desktop runs a Secret Service (GNOME Keyring, KeePassXC…) on
//! its session bus, each secret goes there and the file that needs it holds
//! only a reference (`secret-service:shouyin/<name>`). Otherwise the secret
//! stays in that file, which only this user can read (0600, in a 0700
//! directory). Either way the ledger never sees it.

use std::io::Write;
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use rand::RngCore;

/// What a file holds instead of a secret kept in the Secret Service.
pub const REFERENCE_PREFIX: &str = "secret-service:";
/// The Secret Service's `service` attribute of every item Shouyin keeps.
pub const SERVICE: &str = "shouyin";
/// Set to `files` to keep secrets in private files even where a Secret
/// Service runs.
pub const STORE_ENV: &str = "SHOUYIN_SECRET_STORE";
/// A Secret Service that does not answer within this is taken as absent:
/// a till must open even when the desktop's keyring hangs.
const PROBE_LIMIT: Duration = Duration::from_secs(3);

/// Why a secret could not be kept or read back.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("the Secret Service refused to keep {what}: {reason}")]
    Keep { what: String, reason: String },
    #[error("the Secret Service has no secret {reference}")]
    Missing { reference: String },
    #[error("cannot read {reference} from the Secret Service: {reason}")]
    Read { reference: String, reason: String },
    #[error("{reference} is not a secret reference")]
    BadReference { reference: String },
}

/// Where this counter keeps its secrets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretStore {
    /// The desktop's Secret Service, over the session bus.
    SecretService,
    /// Files only this user can read.
    PrivateFiles,
}

impl SecretStore {
    /// The Secret Service when one answers on the session bus with its
    /// default collection unlocked (and [`STORE_ENV`] does not say
    /// `files`), else private files. Only a bus the session names is asked:
    /// none is started for the question.
    pub fn detect() -> SecretStore {
        if std::env::var(STORE_ENV).is_ok_and(|v| v.trim() == "files") {
            return SecretStore::PrivateFiles;
        }
        if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_none_or(|v| v.is_empty()) {
            return SecretStore::PrivateFiles;
        }
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(default_collection_is_open());
        });
        match rx.recv_timeout(PROBE_LIMIT) {
            Ok(true) => SecretStore::SecretService,
            _ => SecretStore::PrivateFiles,
        }
    }

    /// A short name for settings and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            SecretStore::SecretService => "secret_service",
            SecretStore::PrivateFiles => "private_files",
        }
    }

    /// Keep `secret` (named `what` for the keyring's list, e.g.
    /// `alipay-private-key`) and return what the file should hold in its
    /// place: a reference, or the secret itself for a private file.
    pub fn keep(self, what: &str, secret: &str) -> Result<String, SecretError> {
        match self {
            SecretStore::PrivateFiles => Ok(secret.to_owned()),
            SecretStore::SecretService => {
                let mut id = [0u8; 8];
                rand::thread_rng().fill_bytes(&mut id);
                let name = format!("{what}-{}", hex::encode(id));
                let failed = |e: keyring::Error| SecretError::Keep {
                    what: what.to_owned(),
                    reason: e.to_string(),
                };
                keyring::Entry::new(SERVICE, &name)
                    .and_then(|e| e.set_password(secret))
                    .map_err(failed)?;
                Ok(format!("{REFERENCE_PREFIX}{SERVICE}/{name}"))
            }
        }
    }
}

/// A Secret Service answers and its default collection (the login keyring)
/// exists and is unlocked: keeping a secret then needs no prompt. Metadata
/// only, so the session is not encrypted.
fn default_collection_is_open() -> bool {
    use dbus_secret_service::{EncryptionType, SecretService};
    let Ok(service) = SecretService::connect(EncryptionType::Plain) else {
        return false;
    };
    service
        .get_default_collection()
        .and_then(|c| c.is_locked())
        .is_ok_and(|locked| !locked)
}

/// Whether a file's value is a reference to the Secret Service.
pub fn is_reference(value: &str) -> bool {
    value.starts_with(REFERENCE_PREFIX)
}

fn entry_of(reference: &str) -> Result<keyring::Entry, SecretError> {
    let bad = || SecretError::BadReference {
        reference: reference.to_owned(),
    };
    let rest = reference.strip_prefix(REFERENCE_PREFIX).ok_or_else(bad)?;
    let (service, name) = rest.split_once('/').ok_or_else(bad)?;
    if service.is_empty() || name.is_empty() {
        return Err(bad());
    }
    keyring::Entry::new(service, name).map_err(|e| SecretError::Read {
        reference: reference.to_owned(),
        reason: e.to_string(),
    })
}

/// The secret a file's value stands for: the value itself, or what the
/// Secret Service keeps under the reference.
pub fn resolve(value: &str) -> Result<String, SecretError> {
    if !is_reference(value) {
        return Ok(value.to_owned());
    }
    entry_of(value)?.get_password().map_err(|e| match e {
        keyring::Error::NoEntry => SecretError::Missing {
            reference: value.to_owned(),
        },
        other => SecretError::Read {
            reference: value.to_owned(),
            reason: other.to_string(),
        },
    })
}

/// Drop the secret a reference stands for (when the file that held it is
/// replaced). A plain value or an entry already gone is nothing to do.
pub fn forget(value: &str) -> Result<(), SecretError> {
    if !is_reference(value) {
        return Ok(());
    }
    match entry_of(value)?.delete_credential() {
        Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
        Err(e) => Err(SecretError::Read {
            reference: value.to_owned(),
            reason: e.to_string(),
        }),
    }
}

/// Make `dir` (and any missing parents) and leave it readable by this user
/// only.
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir)?.permissions().mode() & 0o777;
        if mode != 0o700 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
    }
    Ok(())
}

/// Write a file only this user can read, replacing any old one whole
/// (written aside, synced, renamed). Its directory is left as it is: the
/// app makes its data directory private with [`private_dir`], and a ledger
/// the CLI was pointed at may sit in a directory that is not ours to close.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".private");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o600));
    }
    let mut tmp = builder.tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    // The rename is durable once the directory is.
    #[cfg(unix)]
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn private_files_are_the_owners_only() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("data");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        private_dir(&dir).unwrap();
        let file = dir.join("keys.json");
        write_private(&file, b"one").unwrap();
        write_private(&file, b"two").unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), b"two");
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&file), 0o600);
        assert_eq!(mode(&dir), 0o700);
        // Nothing left beside it.
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
    }

    #[test]
    fn plain_values_are_their_own_secret() {
        assert_eq!(resolve("-----BEGIN").unwrap(), "-----BEGIN");
        assert_eq!(
            SecretStore::PrivateFiles.keep("k", "s3cret").unwrap(),
            "s3cret"
        );
        forget("plain").unwrap();
        assert!(matches!(
            resolve("secret-service:nothing"),
            Err(SecretError::BadReference { .. })
        ));
    }
}
