//! What Shouyin's tests (and the CLI's benchmarks) start, written once.
//!
//! - [`sim`] — the channel simulator on a loopback port. [`sim::Sim::start`]
//!   returns once the simulator's keys and `credentials.json` exist and its
//!   port accepts connections, so there is nothing to poll for.
//! - [`hq`] — head office on a SQLite file or on a database of a throwaway
//!   PostgreSQL cluster, served on its own runtime so a test can kill it
//!   mid-request as if the process died, with a direct handle on its store
//!   for enrolment codes, revocation and checks.
//! - [`pg`] — that throwaway PostgreSQL cluster: installs the server package
//!   if missing, runs it as an unprivileged user, stops it with the process.
//! - [`ledger`] — a terminal's ledger in a temporary directory.
//! - [`clock`] — a clock that stays where a test puts it, for the api, the
//!   channels and head office alike.
//! - [`bench_sync`] — the load generator behind `shouyin bench sync`;
//!   [`bench_channels`] — the one behind `shouyin bench channels`.
//! - [`tls`] — a shop's private CA and head office's certificate.
//! - [`secret_service`] — a private D-Bus session with GNOME Keyring on it.
//!
//! Everything here is for tests and benchmarks: a set-up that fails panics
//! with what went wrong (a failed set-up is a failed test), except the
//! PostgreSQL cluster and the benchmark, which the CLI reports as errors.
//! The desktop app never links this crate.

pub mod bench_channels;
pub mod bench_sync;
pub mod clock;
pub mod hq;
pub mod ledger;
pub mod pg;
pub mod secret_service;
pub mod sim;
pub mod tls;

pub use clock::FixedClock;
pub use hq::{Backend, Hq};
pub use ledger::TempLedger;
pub use pg::PgCluster;
pub use secret_service::SecretService;
pub use sim::Sim;
