//! A private desktop Secret Service: a D-Bus session bus of its own with
//! GNOME Keyring's secrets component on it, its login keyring created and
//! unlocked with a password given on stdin, all under a temporary home.
//! Nothing of the machine's own session is touched. Both daemons stop when
//! the value is dropped.
//!
//! `dbus-daemon` and `gnome-keyring-daemon` are installed by
//! `scripts/setup.sh`; a machine without them fails the test that asks.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The private session and its keyring.
#[derive(Debug)]
pub struct SecretService {
    bus: Child,
    keyring: Child,
    address: String,
    home: tempfile::TempDir,
}

const START_LIMIT: Duration = Duration::from_secs(20);

impl SecretService {
    /// Start the bus, then the keyring daemon on it, and wait until the
    /// keyring owns `org.freedesktop.secrets`. Panics with what failed.
    pub fn start() -> SecretService {
        SecretService::start_with(true)
    }

    /// As [`SecretService::start`], but the keyring has no login keyring
    /// (no default collection): keeping a secret there would prompt.
    pub fn start_without_login_keyring() -> SecretService {
        SecretService::start_with(false)
    }

    fn start_with(unlock: bool) -> SecretService {
        let home = tempfile::tempdir().unwrap_or_else(|e| panic!("temporary home: {e}"));
        let mut bus = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--print-address=1"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start dbus-daemon (scripts/setup.sh installs it): {e}")
            });
        let mut address = String::new();
        let stdout = bus
            .stdout
            .take()
            .unwrap_or_else(|| panic!("dbus-daemon has no stdout"));
        BufReader::new(stdout)
            .read_line(&mut address)
            .unwrap_or_else(|e| panic!("reading the bus address: {e}"));
        let address = address.trim().to_owned();
        assert!(!address.is_empty(), "dbus-daemon printed no address");
        let runtime = home.path().join("run");
        std::fs::create_dir_all(&runtime).unwrap_or_else(|e| panic!("{e}"));
        let mut keyring = Command::new("gnome-keyring-daemon");
        keyring.args(["--foreground", "--components=secrets"]);
        if unlock {
            keyring.arg("--unlock");
        }
        let mut keyring = keyring
            .env("DBUS_SESSION_BUS_ADDRESS", &address)
            .env("HOME", home.path())
            .env("XDG_DATA_HOME", home.path().join("data"))
            .env("XDG_RUNTIME_DIR", &runtime)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start gnome-keyring-daemon (scripts/setup.sh installs it): {e}")
            });
        // The login keyring's password; closing stdin ends it.
        let mut stdin = keyring
            .stdin
            .take()
            .unwrap_or_else(|| panic!("keyring has no stdin"));
        stdin
            .write_all(b"test-keyring-password")
            .unwrap_or_else(|e| panic!("giving the keyring its password: {e}"));
        drop(stdin);
        let service = SecretService {
            bus,
            keyring,
            address,
            home,
        };
        service.wait_for_name();
        service
    }

    fn wait_for_name(&self) {
        let started = Instant::now();
        loop {
            let owner = Command::new("dbus-send")
                .args([
                    "--session",
                    "--print-reply",
                    "--dest=org.freedesktop.DBus",
                    "/org/freedesktop/DBus",
                    "org.freedesktop.DBus.NameHasOwner",
                    "string:org.freedesktop.secrets",
                ])
                .env("DBUS_SESSION_BUS_ADDRESS", &self.address)
                .output()
                .unwrap_or_else(|e| panic!("cannot run dbus-send: {e}"));
            if String::from_utf8_lossy(&owner.stdout).contains("boolean true") {
                return;
            }
            assert!(
                started.elapsed() < START_LIMIT,
                "gnome-keyring-daemon did not take org.freedesktop.secrets within {START_LIMIT:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The private bus, for `DBUS_SESSION_BUS_ADDRESS`.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Where the keyring keeps its files (encrypted), to be told apart from
    /// the app's.
    pub fn keyring_dir(&self) -> PathBuf {
        self.home.path().join("data").join("keyrings")
    }

    /// The temporary home of the keyring.
    pub fn home(&self) -> &Path {
        self.home.path()
    }
}

impl Drop for SecretService {
    fn drop(&mut self) {
        let _ = self.keyring.kill();
        let _ = self.keyring.wait();
        let _ = self.bus.kill();
        let _ = self.bus.wait();
    }
}
