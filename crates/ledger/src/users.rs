//! The people at the till: names, roles and Argon2-hashed PINs.
//!
//! A PIN is 4 to 6 digits and is only ever stored as an Argon2id hash (PHC
//! string), so approvals work offline and a stolen ledger does not hand out
//! PINs. Checking is constant-time (the argon2 crate compares in constant
//! time); an unknown name is checked against a dummy hash so its answer takes
//! as long as a wrong PIN.
//!
//! Lockout: after [`MAX_ATTEMPTS`] consecutive wrong PINs the user is locked
//! for [`FIRST_LOCK`], doubling with every further lockout up to
//! [`MAX_LOCK`]; a correct PIN resets both counts. Time is passed in, so
//! tests do not sleep.
//!
//! The slow hash is computed outside any transaction: callers read the user
//! ([`Ledger::user`]), verify ([`verify_pin`]) without holding the ledger,
//! then record the outcome ([`Ledger::record_pin_attempt`]).

use std::fmt;
use std::str::FromStr;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use rusqlite::{params, OptionalExtension, Row, TransactionBehavior};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit::{append_audit, NewAudit};
use crate::{parse_ts, ts, Ledger, LedgerError, Result};

/// Consecutive wrong PINs that lock a user.
pub const MAX_ATTEMPTS: i64 = 5;
/// The first lock lasts this long; each further one twice as long.
pub const FIRST_LOCK: Duration = Duration::seconds(30);
/// No lock lasts longer than this.
pub const MAX_LOCK: Duration = Duration::hours(1);

/// What a user may do. A user may hold several.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// 收银员: takes sales.
    Cashier,
    /// 店长: approves refunds, voids, manual confirmations, drawer openings
    /// and changes of settings.
    Manager,
    /// 财务: reports, exports, reconciliation.
    Accountant,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Cashier, Role::Manager, Role::Accountant];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Cashier => "cashier",
            Role::Manager => "manager",
            Role::Accountant => "accountant",
        }
    }

    /// The word on screens (GLOSSARY.md).
    pub fn label_zh(self) -> &'static str {
        match self {
            Role::Cashier => "收银员",
            Role::Manager => "店长",
            Role::Accountant => "财务",
        }
    }

    /// Parse `manager,cashier`: sorted, without repeats, at least one.
    pub fn parse_list(text: &str) -> Result<Vec<Role>> {
        let mut roles = text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(Role::from_str)
            .collect::<Result<Vec<_>>>()?;
        roles.sort();
        roles.dedup();
        if roles.is_empty() {
            return Err(LedgerError::Invalid(
                "a user needs at least one role (cashier, manager, accountant)".into(),
            ));
        }
        Ok(roles)
    }

    pub fn join(roles: &[Role]) -> String {
        roles
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl FromStr for Role {
    type Err = LedgerError;
    fn from_str(s: &str) -> Result<Role> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                LedgerError::Invalid(format!(
                    "'{s}' is not a role (one of: cashier, manager, accountant)"
                ))
            })
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A user as stored (without the hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub name: String,
    pub roles: Vec<Role>,
    pub active: bool,
    pub failed_attempts: i64,
    pub lockouts: i64,
    pub locked_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl User {
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    pub fn is_locked(&self, now: DateTime<Utc>) -> bool {
        self.locked_until.is_some_and(|until| until > now)
    }
}

/// What a PIN check did to the user's record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinAttempt {
    Accepted,
    /// Wrong; this many attempts are left before a lock.
    Wrong {
        attempts_left: i64,
    },
    /// Wrong, and the user is now locked until then.
    LockedNow {
        until: DateTime<Utc>,
    },
    /// The user was locked when the attempt was recorded (by attempts
    /// made at the same time, from this program or another): refused
    /// whether the PIN was right or not.
    Locked {
        until: DateTime<Utc>,
    },
}

/// A PIN is 4 to 6 ASCII digits.
pub fn check_pin_format(pin: &str) -> Result<()> {
    if (4..=6).contains(&pin.len()) && pin.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(LedgerError::Invalid("a PIN is 4 to 6 digits".into()))
    }
}

/// How much work one PIN hash costs (Argon2id memory in KiB, passes,
/// lanes). A 4–6 digit PIN has at most a million values, so what protects
/// the hashes of a stolen ledger is this cost: at the production figure an
/// attacker spends about half a CPU-second per guess (see the README,
/// "What a stolen ledger exposes"). Checking a PIN costs the same, once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PinCost {
    pub memory_kib: u32,
    pub passes: u32,
    pub lanes: u32,
}

impl PinCost {
    /// Measured at about 0.5 s per hash on the reference till (2 cores),
    /// `cargo test -p shouyin-ledger --test pin_cost -- --nocapture` prints
    /// it (argon2 is built at opt-level 3 even in debug builds).
    pub const PRODUCTION: PinCost = PinCost {
        memory_kib: 64 * 1024,
        passes: 12,
        lanes: 1,
    };

    /// Test suites only: the smallest cost Argon2 allows, so tests that add
    /// users and check PINs stay fast. Never for a real ledger: hashes made
    /// with it are cheap to brute-force.
    pub const fn cheap_for_tests() -> PinCost {
        PinCost {
            memory_kib: 8,
            passes: 1,
            lanes: 1,
        }
    }

    fn hasher(self) -> Result<Argon2<'static>> {
        let params = argon2::Params::new(self.memory_kib, self.passes, self.lanes, None)
            .map_err(|e| LedgerError::Invalid(format!("PIN hash parameters: {e}")))?;
        Ok(Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            params,
        ))
    }
}

impl Default for PinCost {
    fn default() -> Self {
        PinCost::PRODUCTION
    }
}

/// Hash a PIN with Argon2id at the production cost and a random salt.
pub fn hash_pin(pin: &str) -> Result<String> {
    hash_pin_with(pin, PinCost::PRODUCTION)
}

/// Hash a PIN with Argon2id at `cost` and a random salt.
pub fn hash_pin_with(pin: &str, cost: PinCost) -> Result<String> {
    check_pin_format(pin)?;
    let mut salt = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt)
        .map_err(|e| LedgerError::Invalid(format!("PIN salt: {e}")))?;
    cost.hasher()?
        .hash_password(pin.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| LedgerError::Invalid(format!("PIN hash: {e}")))
}

/// Check a PIN against a stored hash in constant time, at the cost the
/// hash itself names. A malformed stored hash never verifies.
pub fn verify_pin(pin: &str, stored_hash: &str) -> bool {
    match PasswordHash::new(stored_hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(pin.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// Spend the time of a real check when the name is unknown, so timing does
/// not reveal which names exist.
pub fn verify_pin_against_nobody(pin: &str) {
    let _ = verify_pin(pin, DUMMY_HASH);
}

/// A well-formed hash (production parameters) that no PIN matches in practice.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=65536,t=12,p=1$c2hvdXlpbmR1bW15c2FsdA$0FnfUhXp9HDVBBQoyp0Tcg0Y8mR7YwLDOeXi1K4xN0o";

/// How long the `lockouts`-th lock (counting from 1) lasts.
pub fn lock_length(lockouts: i64) -> Duration {
    let doublings = (lockouts - 1).clamp(0, 20) as u32;
    let secs = FIRST_LOCK
        .num_seconds()
        .saturating_mul(1i64 << doublings)
        .min(MAX_LOCK.num_seconds());
    Duration::seconds(secs)
}

const USER_COLUMNS: &str =
    "id, name, roles, active, failed_attempts, lockouts, locked_until, created_at";

fn user_from_row(row: &Row<'_>) -> rusqlite::Result<User> {
    let bad = |i: usize, what: &str| {
        rusqlite::Error::FromSqlConversionFailure(
            i,
            rusqlite::types::Type::Text,
            format!("bad {what} in users").into(),
        )
    };
    let roles: String = row.get(2)?;
    let locked: Option<String> = row.get(6)?;
    let created: String = row.get(7)?;
    Ok(User {
        id: row.get(0)?,
        name: row.get(1)?,
        roles: Role::parse_list(&roles).map_err(|_| bad(2, "roles"))?,
        active: row.get::<_, i64>(3)? != 0,
        failed_attempts: row.get(4)?,
        lockouts: row.get(5)?,
        locked_until: match locked {
            Some(s) => Some(parse_ts(&s).ok_or_else(|| bad(6, "time"))?),
            None => None,
        },
        created_at: parse_ts(&created).ok_or_else(|| bad(7, "time"))?,
    })
}

/// A name as people type it: trimmed, 1 to 32 characters, no control
/// characters (it is printed on receipts and in CSV).
pub fn clean_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 32 || name.chars().any(char::is_control) {
        return Err(LedgerError::Invalid(
            "a user name is 1 to 32 characters".into(),
        ));
    }
    Ok(name.to_owned())
}

impl Ledger {
    /// Add a user with an already hashed PIN, writing the audit entry
    /// (`user_added`, by `actor`, approved by `approver`) in the same
    /// transaction.
    pub fn add_user(
        &mut self,
        name: &str,
        roles: &[Role],
        pin_hash: &str,
        actor: &str,
        approver: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<User> {
        let name = clean_name(name)?;
        if roles.is_empty() {
            return Err(LedgerError::Invalid(
                "a user needs at least one role".into(),
            ));
        }
        let mut roles = roles.to_vec();
        roles.sort();
        roles.dedup();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let exists: i64 =
            tx.query_row("SELECT count(*) FROM users WHERE name = ?1", [&name], |r| {
                r.get(0)
            })?;
        if exists > 0 {
            return Err(LedgerError::Invalid(format!(
                "a user named {name} already exists"
            )));
        }
        tx.execute(
            "INSERT INTO users (name, roles, pin_hash, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![name, Role::join(&roles), pin_hash, ts(now)],
        )?;
        let id = tx.last_insert_rowid();
        append_audit(
            &tx,
            &NewAudit::new(
                actor,
                "user_added",
                json!({ "name": name, "roles": Role::join(&roles) }),
            )
            .approved_by(approver.map(str::to_owned)),
            None,
            now,
        )?;
        let user = tx.query_row(
            &format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"),
            [id],
            user_from_row,
        )?;
        tx.commit()?;
        Ok(user)
    }

    /// Every user, by name.
    pub fn users(&self) -> Result<Vec<User>> {
        let mut stmt = self
            .conn
            .prepare(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY name"))?;
        let rows = stmt.query_map([], user_from_row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    pub fn user_count(&self) -> Result<i64> {
        Ok(self
            .conn
            .query_row("SELECT count(*) FROM users", [], |r| r.get(0))?)
    }

    /// A user and their PIN hash, for checking a PIN outside the ledger.
    pub fn user(&self, name: &str) -> Result<Option<(User, String)>> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {USER_COLUMNS}, pin_hash FROM users WHERE name = ?1"),
                [name.trim()],
                |r| Ok((user_from_row(r)?, r.get::<_, String>(8)?)),
            )
            .optional()?)
    }

    /// Record the outcome of a PIN check: reset on success; on failure count
    /// it and lock the user after [`MAX_ATTEMPTS`] in a row.
    ///
    /// The lock is decided here, inside one IMMEDIATE transaction, and not
    /// by the caller's earlier read of the user: the slow hash runs between
    /// the two, and attempts made at the same time (threads, or another
    /// program on the same file) may have locked the user meanwhile. So
    /// every wrong attempt is counted, and a right PIN recorded while the
    /// user is locked is refused and resets nothing.
    pub fn record_pin_attempt(
        &mut self,
        user_id: i64,
        correct: bool,
        now: DateTime<Utc>,
    ) -> Result<PinAttempt> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let (failed, lockouts, locked_until): (i64, i64, Option<String>) = tx
            .query_row(
                "SELECT failed_attempts, lockouts, locked_until FROM users WHERE id = ?1",
                [user_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?
            .ok_or_else(|| LedgerError::Invalid(format!("no user with id {user_id}")))?;
        let locked = locked_until
            .as_deref()
            .and_then(parse_ts)
            .filter(|until| *until > now);
        if correct {
            if let Some(until) = locked {
                tx.commit()?;
                return Ok(PinAttempt::Locked { until });
            }
            tx.execute(
                "UPDATE users SET failed_attempts = 0, lockouts = 0, locked_until = NULL WHERE id = ?1",
                [user_id],
            )?;
            tx.commit()?;
            return Ok(PinAttempt::Accepted);
        }
        let failed = failed + 1;
        let outcome = if failed >= MAX_ATTEMPTS {
            // A lock that is already running is extended, never shortened.
            let lockouts = lockouts + 1;
            let until = (now + lock_length(lockouts)).max(locked.unwrap_or(now));
            tx.execute(
                "UPDATE users SET failed_attempts = 0, lockouts = ?2, locked_until = ?3 WHERE id = ?1",
                params![user_id, lockouts, ts(until)],
            )?;
            PinAttempt::LockedNow { until }
        } else if let Some(until) = locked {
            tx.execute(
                "UPDATE users SET failed_attempts = ?2 WHERE id = ?1",
                params![user_id, failed],
            )?;
            PinAttempt::Locked { until }
        } else {
            tx.execute(
                "UPDATE users SET failed_attempts = ?2 WHERE id = ?1",
                params![user_id, failed],
            )?;
            PinAttempt::Wrong {
                attempts_left: MAX_ATTEMPTS - failed,
            }
        };
        tx.commit()?;
        Ok(outcome)
    }

    /// Switch a user on or off (a user who left keeps their history).
    pub fn set_user_active(
        &mut self,
        name: &str,
        active: bool,
        actor: &str,
        approver: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<User> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let changed = tx.execute(
            "UPDATE users SET active = ?2 WHERE name = ?1",
            params![name.trim(), i64::from(active)],
        )?;
        if changed == 0 {
            return Err(LedgerError::Invalid(format!("no user named {name}")));
        }
        append_audit(
            &tx,
            &NewAudit::new(
                actor,
                if active {
                    "user_activated"
                } else {
                    "user_deactivated"
                },
                json!({ "name": name.trim() }),
            )
            .approved_by(approver.map(str::to_owned)),
            None,
            now,
        )?;
        let user = tx.query_row(
            &format!("SELECT {USER_COLUMNS} FROM users WHERE name = ?1"),
            [name.trim()],
            user_from_row,
        )?;
        tx.commit()?;
        Ok(user)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn pins_hash_and_verify() {
        let h = hash_pin_with("1234", PinCost::cheap_for_tests()).unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_pin("1234", &h));
        assert!(!verify_pin("1235", &h));
        assert!(!verify_pin("1234", "not a hash"));
        assert!(hash_pin("123").is_err());
        assert!(hash_pin("1234567").is_err());
        assert!(hash_pin("12a4").is_err());
        // Salted: the same PIN hashes differently each time.
        assert_ne!(
            h,
            hash_pin_with("1234", PinCost::cheap_for_tests()).unwrap()
        );
    }

    #[test]
    fn the_dummy_hash_costs_a_real_check() {
        // If it did not parse, unknown names would answer faster.
        let parsed = PasswordHash::new(DUMMY_HASH).unwrap();
        assert_eq!(parsed.algorithm.as_str(), "argon2id");
        let real = hash_pin("1234").unwrap();
        let params = |h: &str| h.split('$').nth(3).unwrap().to_owned();
        assert_eq!(params(DUMMY_HASH), params(&real));
    }

    #[test]
    fn locks_grow_and_are_capped() {
        assert_eq!(lock_length(1), Duration::seconds(30));
        assert_eq!(lock_length(2), Duration::seconds(60));
        assert_eq!(lock_length(3), Duration::seconds(120));
        assert_eq!(lock_length(8), Duration::seconds(3600));
        assert_eq!(lock_length(40), Duration::seconds(3600));
    }

    #[test]
    fn role_lists() {
        assert_eq!(
            Role::parse_list("manager, cashier,manager").unwrap(),
            vec![Role::Cashier, Role::Manager]
        );
        assert!(Role::parse_list("").is_err());
        assert!(Role::parse_list("boss").is_err());
    }
}
