//! Terminal secrets, enrolment codes and the server's sealing key.
//!
//! The server must know a terminal's secret to check its HMAC, so a one-way
//! hash of the secret would not do. Instead the database holds no secret at
//! all: each terminal row has a random public salt, and the secret is
//! `HMAC-SHA256(sealing key, terminal id ‖ salt)`. The sealing key lives
//! outside the database (environment or a key file), so someone who can read
//! the database — a backup, a replica, a reporting login — cannot sign as a
//! terminal. Every server process sharing a database must be given the same
//! key. Enrolment codes are kept only as SHA-256 hashes; they are random
//! enough (100 bits) that a plain hash cannot be reversed.

use std::fmt;
use std::path::Path;

use rand::Rng;
use sha2::{Digest, Sha256};
use shouyin_core::TerminalId;

/// Environment variable holding the sealing key as 64 hex characters.
pub const SEAL_KEY_ENV: &str = "SHOUYIN_HQ_SEAL_KEY";

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the sealing key must be 64 hex characters (32 bytes)")]
    BadKey,
    #[error("sealing key file {path}: {source}")]
    File {
        path: String,
        source: std::io::Error,
    },
}

/// The server's key from which terminal secrets are derived. Never printed.
#[derive(Clone)]
pub struct SealKey([u8; 32]);

impl fmt::Debug for SealKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealKey(<redacted>)")
    }
}

impl SealKey {
    pub fn from_hex(hex_text: &str) -> Result<SealKey, KeyError> {
        let bytes = hex::decode(hex_text.trim()).map_err(|_| KeyError::BadKey)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| KeyError::BadKey)?;
        Ok(SealKey(key))
    }

    pub fn generate<R: Rng + ?Sized>(rng: &mut R) -> SealKey {
        SealKey(rng.gen())
    }

    /// Read the key from `path`, or create the file (mode 0600) with a new
    /// random key if it does not exist.
    pub fn load_or_create(path: &Path) -> Result<SealKey, KeyError> {
        let err = |source| KeyError::File {
            path: path.display().to_string(),
            source,
        };
        match std::fs::read_to_string(path) {
            Ok(text) => SealKey::from_hex(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(err)?;
                }
                let key = SealKey::generate(&mut rand::thread_rng());
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                {
                    use std::os::unix::fs::OpenOptionsExt;
                    options.mode(0o600);
                }
                use std::io::Write;
                let mut file = options.open(path).map_err(err)?;
                file.write_all(hex::encode(key.0).as_bytes()).map_err(err)?;
                file.sync_all().map_err(err)?;
                Ok(key)
            }
            Err(e) => Err(err(e)),
        }
    }

    /// `SHOUYIN_HQ_SEAL_KEY` if set, else the key file at `path` (created on
    /// first use).
    pub fn from_env_or_file(path: &Path) -> Result<SealKey, KeyError> {
        match std::env::var(SEAL_KEY_ENV) {
            Ok(v) if !v.trim().is_empty() => SealKey::from_hex(&v),
            _ => SealKey::load_or_create(path),
        }
    }

    /// The secret of `terminal` enrolled with `salt`.
    pub fn terminal_secret(&self, terminal: &TerminalId, salt: &str) -> [u8; 32] {
        use hmac::{Hmac, Mac};
        let text = format!("shouyin-hq terminal secret v1\n{terminal}\n{salt}");
        match Hmac::<Sha256>::new_from_slice(&self.0) {
            Ok(mut mac) => {
                mac.update(text.as_bytes());
                mac.finalize().into_bytes().into()
            }
            // Unreachable: HMAC accepts any key length.
            Err(_) => Sha256::digest(text.as_bytes()).into(),
        }
    }
}

/// Crockford's base32 alphabet: no I, L, O or U, so a code read aloud or
/// typed from paper is hard to get wrong.
const CODE_ALPHABET: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A new one-time enrolment code, `XXXXX-XXXXX-XXXXX-XXXXX` (100 bits).
pub fn new_enroll_code<R: Rng + ?Sized>(rng: &mut R) -> String {
    let mut out = String::with_capacity(23);
    for i in 0..20 {
        if i > 0 && i % 5 == 0 {
            out.push('-');
        }
        let idx = rng.gen_range(0..CODE_ALPHABET.len());
        out.push(char::from(CODE_ALPHABET[idx]));
    }
    out
}

/// What is stored for a code: the SHA-256 of its normalised form (upper
/// case, no dashes or spaces), so "abcde-fghjk…" and "ABCDEFGHJK…" match.
pub fn enroll_code_hash(code: &str) -> String {
    let normal: String = code
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    hex::encode(Sha256::digest(normal.as_bytes()))
}

/// A new terminal id: `T` and seven base-36 characters (fits core's 8-char
/// limit; 78 billion values, and a clash is retried).
pub fn new_terminal_id<R: Rng + ?Sized>(rng: &mut R) -> Option<TerminalId> {
    const ALNUM: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut id = String::from("T");
    for _ in 0..7 {
        id.push(char::from(ALNUM[rng.gen_range(0..ALNUM.len())]));
    }
    TerminalId::parse(&id).ok()
}

/// A new random salt (hex).
pub fn new_salt<R: Rng + ?Sized>(rng: &mut R) -> String {
    let bytes: [u8; 16] = rng.gen();
    hex::encode(bytes)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn codes_normalise_and_secrets_depend_on_key_and_salt() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let code = new_enroll_code(&mut rng);
        assert_eq!(code.len(), 23);
        assert_eq!(
            enroll_code_hash(&code),
            enroll_code_hash(&code.to_lowercase().replace('-', " "))
        );
        let t = new_terminal_id(&mut rng).unwrap();
        let k1 = SealKey::generate(&mut rng);
        let k2 = SealKey::generate(&mut rng);
        assert_ne!(k1.terminal_secret(&t, "a"), k2.terminal_secret(&t, "a"));
        assert_ne!(k1.terminal_secret(&t, "a"), k1.terminal_secret(&t, "b"));
        assert_eq!(
            k1.terminal_secret(&t, "a"),
            k1.clone().terminal_secret(&t, "a")
        );
        assert_eq!(format!("{k1:?}"), "SealKey(<redacted>)");
    }

    #[test]
    fn key_file_is_created_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/hq-seal.key");
        let t = TerminalId::parse("T1").unwrap();
        let a = SealKey::load_or_create(&path).unwrap();
        let b = SealKey::load_or_create(&path).unwrap();
        assert_eq!(a.terminal_secret(&t, "s"), b.terminal_secret(&t, "s"));
        assert!(SealKey::from_hex("abc").is_err());
    }
}
