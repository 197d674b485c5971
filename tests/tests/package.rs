//! The Debian package, as a shop installs it: built with `scripts/package.sh
//! --debug` (what `make package` runs, on the debug build), inspected with
//! `dpkg-deb`, installed with `dpkg -i` and `apt-get -f install`, the
//! installed `shouyin` and desktop app started (the app under Xvfb, with a
//! fresh home directory), and removed again. Before that, the same package
//! repacked with a lower version is installed and used to keep a ledger,
//! and the package is installed over it as an upgrade: the ledger, its
//! sale and its settings are kept, and the new version opens them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use shouyin_tests::{artifacts_dir, display, serial, workspace_root};

const PACKAGE: &str = "shouyin";

fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A command that changes the system: as root, or through `sudo -n`.
fn privileged(program: &str) -> Command {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    if root {
        Command::new(program)
    } else {
        let mut cmd = Command::new("sudo");
        cmd.args(["-n", program]);
        cmd
    }
}

/// Stops a process however the test ends.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Removes the package however the test ends.
struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = privileged("dpkg")
            .args(["-r", PACKAGE])
            .stdout(Stdio::null())
            .status();
    }
}

fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn the_package_installs_runs_and_is_removed() {
    let _one_at_a_time = serial();
    let started = Instant::now();
    let mut package = Command::new(workspace_root().join("scripts/package.sh"));
    package.arg("--debug").current_dir(workspace_root());
    // The variables cargo sets for this test binary would make the build
    // inside look changed and rebuild the app.
    for (key, _) in std::env::vars() {
        if key.starts_with("CARGO_") && key != "CARGO_TARGET_DIR" && key != "CARGO_HOME" {
            package.env_remove(key);
        }
    }
    let built = run(&mut package);
    let deb = PathBuf::from(text(&built).lines().last().unwrap().trim());
    assert!(deb.is_file(), "{deb:?}");
    let size = std::fs::metadata(&deb).unwrap().len();
    println!(
        "package {} built in {:.0} s: {:.1} MiB (debug build)",
        deb.display(),
        started.elapsed().as_secs_f64(),
        size as f64 / 1024.0 / 1024.0
    );

    // What it says and what it holds.
    let info = text(&run(Command::new("dpkg-deb").arg("-I").arg(&deb)));
    assert!(info.contains(&format!("Package: {PACKAGE}")), "{info}");
    let depends = text(&run(Command::new("dpkg-deb")
        .args(["-f"])
        .arg(&deb)
        .arg("Depends")));
    for dep in [
        "libwebkit2gtk-4.1-0",
        "libjavascriptcoregtk-4.1-0",
        "libsoup-3.0-0",
        "libgtk-3-0",
        "fonts-noto-cjk",
    ] {
        assert!(depends.contains(dep), "Depends lacks {dep}: {depends}");
    }
    let listing = text(&run(Command::new("dpkg-deb").arg("-c").arg(&deb)));
    let mut wanted = vec![
        "./usr/bin/shouyin-app".to_owned(),
        "./usr/bin/shouyin".to_owned(),
        "./usr/share/applications/Shouyin.desktop".to_owned(),
        "./usr/lib/systemd/system/shouyin-hq.service".to_owned(),
        "./usr/share/doc/shouyin/hq.env.example".to_owned(),
    ];
    for size in [16, 32, 48, 64, 128, 256, 512] {
        wanted.push(format!(
            "./usr/share/icons/hicolor/{size}x{size}/apps/shouyin-app.png"
        ));
    }
    for path in &wanted {
        assert!(
            listing
                .lines()
                .any(|l| l.ends_with(path.trim_start_matches("./"))),
            "the package lacks {path}:\n{listing}"
        );
    }
    assert!(
        !listing.lines().any(|l| l.contains(" etc/")),
        "nothing in /etc: the service's settings file is the shop's own"
    );

    // An older release, as far as dpkg can tell: the same files under a
    // lower version. Only the package's control member is rewritten (a
    // .deb is an `ar` archive), so the 100 MB of data is not unpacked.
    let upgrade_started = Instant::now();
    let version = text(&run(Command::new("dpkg-deb")
        .args(["-f"])
        .arg(&deb)
        .arg("Version")))
    .trim()
    .to_owned();
    let old_version = "0.0.1";
    let old = tempfile::tempdir().unwrap();
    let old_deb = old.path().join("shouyin-old.deb");
    std::fs::copy(&deb, &old_deb).unwrap();
    let members = text(&run(Command::new("ar").arg("t").arg(&deb)));
    let control_member = members
        .lines()
        .find(|m| m.starts_with("control.tar"))
        .unwrap_or_else(|| panic!("no control member in {members}"))
        .to_owned();
    assert_eq!(control_member, "control.tar.gz", "{members}");
    run(Command::new("ar")
        .arg("x")
        .arg(&deb)
        .arg(&control_member)
        .current_dir(old.path()));
    let control_dir = old.path().join("control");
    std::fs::create_dir(&control_dir).unwrap();
    run(Command::new("tar")
        .arg("-xzf")
        .arg(old.path().join(&control_member))
        .arg("-C")
        .arg(&control_dir));
    let control_path = control_dir.join("control");
    let control = std::fs::read_to_string(&control_path).unwrap();
    let control = control
        .lines()
        .map(|l| {
            if l.starts_with("Version:") {
                format!("Version: {old_version}")
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n";
    std::fs::write(&control_path, control).unwrap();
    let names: Vec<String> = std::fs::read_dir(&control_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    run(Command::new("tar")
        .args(["--owner=0", "--group=0", "-czf"])
        .arg(old.path().join(&control_member))
        .arg("-C")
        .arg(&control_dir)
        .args(&names));
    // `ar r` replaces the member where it stands: the order dpkg needs is kept.
    run(Command::new("ar")
        .arg("r")
        .arg(&old_deb)
        .arg(&control_member)
        .current_dir(old.path()));
    let repacked = text(&run(Command::new("dpkg-deb")
        .args(["-f"])
        .arg(&old_deb)
        .arg("Version")));
    assert_eq!(repacked.trim(), old_version);
    let installed_version = || {
        text(&run(Command::new("dpkg-query").args([
            "-W",
            "-f",
            "${Version}",
            PACKAGE,
        ])))
    };

    // The older release keeps a shop's ledger: a sale in an open shift,
    // and the receipt printer set.
    let installed = Installed;
    // Its dependencies are those of the package proper: `apt-get -f` only
    // when dpkg leaves them missing (on a machine that has them, it costs
    // seconds for nothing).
    let old_install = privileged("dpkg").arg("-i").arg(&old_deb).output().unwrap();
    if !old_install.status.success() {
        run(privileged("apt-get").args(["-f", "install", "-y", "-qq"]));
    }
    assert_eq!(installed_version(), old_version);
    let shop = tempfile::tempdir().unwrap();
    let kept_ledger = shop.path().join("shouyin/ledger.db");
    std::fs::create_dir_all(kept_ledger.parent().unwrap()).unwrap();
    run(Command::new("/usr/bin/shouyin")
        .args(["init", "--store", "升级测试店", "--terminal", "T01", "--db"])
        .arg(&kept_ledger));
    run(Command::new("/usr/bin/shouyin")
        .args(["shift", "open", "--cashier", "李娜", "--float", "0", "--db"])
        .arg(&kept_ledger));
    run(Command::new("/usr/bin/shouyin")
        .args(["charge", "--channel", "cash", "--amount", "12.34", "--db"])
        .arg(&kept_ledger));
    run(Command::new("/usr/bin/shouyin")
        .args(["printer-set", "--printer", "tcp://127.0.0.1:9100"])
        .args(["--width", "58", "--db"])
        .arg(&kept_ledger));
    let orders_before = text(&run(Command::new("/usr/bin/shouyin")
        .args(["orders", "--json", "--db"])
        .arg(&kept_ledger)));

    // Install as a shop would: over the older release.
    run(privileged("dpkg").arg("-i").arg(&deb));
    run(privileged("apt-get").args(["-f", "install", "-y", "-qq"]));
    let status = text(&run(Command::new("dpkg-query").args([
        "-W",
        "-f",
        "${Status}",
        PACKAGE,
    ])));
    assert_eq!(status, "install ok installed");
    assert_eq!(installed_version(), version, "upgraded");

    // The upgrade kept the ledger, and the new version opens it: the same
    // orders, the printer as set, and it sells on.
    let orders_after = text(&run(Command::new("/usr/bin/shouyin")
        .args(["orders", "--json", "--db"])
        .arg(&kept_ledger)));
    assert_eq!(orders_after, orders_before);
    assert!(
        orders_after.contains("1234"),
        "the sale of ¥12.34: {orders_after}"
    );
    let printer = text(&run(Command::new("/usr/bin/shouyin")
        .args(["printer-set", "--printer", "tcp://127.0.0.1:9100"])
        .arg("--db")
        .arg(&kept_ledger)));
    assert!(
        printer.contains("paper_mm=58"),
        "the paper width kept: {printer}"
    );
    run(Command::new("/usr/bin/shouyin")
        .args(["charge", "--channel", "cash", "--amount", "1.00", "--db"])
        .arg(&kept_ledger));
    println!(
        "upgrade over an older release (repack, install, use, upgrade, check): {:.1} s",
        upgrade_started.elapsed().as_secs_f64()
    );
    let desktop = std::fs::read_to_string("/usr/share/applications/Shouyin.desktop").unwrap();
    assert!(desktop.contains("Exec=shouyin-app"), "{desktop}");
    assert!(desktop.contains("Name[zh_CN]=收银"), "{desktop}");
    assert!(desktop.contains("Icon=shouyin-app"), "{desktop}");

    // The service is installed, disabled, and valid.
    let unit = std::fs::read_to_string("/usr/lib/systemd/system/shouyin-hq.service").unwrap();
    assert!(unit.contains("StateDirectory=shouyin-hq"), "{unit}");
    assert!(
        unit.contains("EnvironmentFile=-/etc/shouyin/hq.env"),
        "{unit}"
    );
    assert!(
        !Path::new("/etc/systemd/system/multi-user.target.wants/shouyin-hq.service").exists(),
        "the service must be disabled after installation"
    );
    run(Command::new("systemd-analyze")
        .args(["verify", "/usr/lib/systemd/system/shouyin-hq.service"]));

    // The installed command: a ledger, a sale, a backup.
    let work = tempfile::tempdir().unwrap();
    let version = text(&run(Command::new("/usr/bin/shouyin").arg("--version")));
    assert!(version.starts_with("shouyin "), "{version}");
    let ledger = work.path().join("ledger.db");
    run(Command::new("/usr/bin/shouyin")
        .args(["init", "--store", "安装测试店", "--terminal", "T01", "--db"])
        .arg(&ledger));
    // Cash moves only inside an open shift (开班).
    run(Command::new("/usr/bin/shouyin")
        .args(["shift", "open", "--cashier", "李娜", "--float", "0", "--db"])
        .arg(&ledger));
    run(Command::new("/usr/bin/shouyin")
        .args(["charge", "--channel", "cash", "--amount", "9.90", "--db"])
        .arg(&ledger));
    let backup = text(&run(Command::new("/usr/bin/shouyin")
        .args(["backup", "--db"])
        .arg(&ledger)
        .arg("--out")
        .arg(work.path().join("copy.db"))));
    assert!(backup.contains("integrity=ok"), "{backup}");

    // Head office as the unit runs it: the unit's environment, data in a
    // folder of this test instead of /var/lib/shouyin-hq.
    let mut hq = Command::new("/usr/bin/shouyin");
    hq.arg("hq").env_clear().env("PATH", "/usr/bin:/bin");
    for line in unit.lines() {
        if let Some((k, v)) = line
            .strip_prefix("Environment=")
            .and_then(|kv| kv.split_once('='))
        {
            hq.env(k, v);
        }
    }
    let hq_db = format!("sqlite://{}", work.path().join("hq.db").display());
    let mut hq = hq
        .env("SHOUYIN_HQ_LISTEN", "127.0.0.1:0")
        .env("SHOUYIN_HQ_DB", &hq_db)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(hq.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _ = hq.kill();
    let _ = hq.wait();
    assert!(line.contains("listening on http://127.0.0.1:"), "{line}");

    // The installed app on a fresh home directory, under Xvfb: its window
    // opens, its ledger is in the XDG data directory, its log in the XDG
    // state directory.
    let home = work.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let cwd = work.path().join("cwd");
    std::fs::create_dir_all(&cwd).unwrap();
    let display = display().unwrap();
    let mut app = Running(
        Command::new("/usr/bin/shouyin-app")
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", &home)
            .env("DISPLAY", &display)
            .env("SHOUYIN_LANG", "zh")
            .env("WEBKIT_DISABLE_COMPOSITING_MODE", "1")
            .current_dir(&cwd)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let data = home.join(".local/share/shouyin");
    wait_until(
        "the ledger in ~/.local/share/shouyin",
        Duration::from_secs(60),
        || data.join("ledger.db").is_file(),
    );
    wait_until("the app's window", Duration::from_secs(60), || {
        Command::new("xdotool")
            // The Latin part: the legacy title property of a window whose
            // process runs in the C locale cannot carry the Chinese one.
            .args(["search", "--name", "Shouyin"])
            .env("DISPLAY", &display)
            .output()
            .map(|o| o.status.success() && !o.stdout.is_empty())
            .unwrap_or(false)
    });
    assert!(app.0.try_wait().unwrap().is_none(), "the app is running");
    let logs = home.join(".local/state/shouyin");
    wait_until(
        "a log file in ~/.local/state/shouyin",
        Duration::from_secs(20),
        || {
            std::fs::read_dir(&logs)
                .map(|d| {
                    d.filter_map(|e| e.ok()).any(|e| {
                        let name = e.file_name().to_string_lossy().into_owned();
                        name.starts_with("shouyin.") && name.ends_with(".log")
                    })
                })
                .unwrap_or(false)
        },
    );
    assert!(
        !Path::new("/usr/bin/ledger.db").exists()
            && std::fs::read_dir(&cwd).unwrap().next().is_none(),
        "nothing is written beside the binary or in the working directory"
    );
    std::thread::sleep(Duration::from_secs(2));
    std::fs::create_dir_all(artifacts_dir()).unwrap();
    let shot = artifacts_dir().join("installed-app.png");
    run(Command::new("import")
        .args(["-display", &display, "-window", "root"])
        .arg(&shot));
    drop(app);

    // And it goes away again.
    drop(installed);
    assert!(!Path::new("/usr/bin/shouyin-app").exists());
    assert!(!Path::new("/usr/bin/shouyin").exists());
    assert!(!Path::new("/usr/lib/systemd/system/shouyin-hq.service").exists());
}
