//! `shouyin hq` and `shouyin enroll` run as an operator would: the admin
//! token kept off the command line, head office serving HTTPS itself, and a
//! terminal refusing plain http:// to another machine.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

fn shouyin(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_shouyin"))
        .args(args)
        .env_remove("SHOUYIN_HQ_ADMIN_TOKEN")
        .output()
        .unwrap()
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).unwrap()
}

/// A running `shouyin hq`, killed on drop.
struct Hq {
    child: Child,
    url: String,
}

impl Hq {
    /// Start `shouyin hq --listen 127.0.0.1:0 --db sqlite://DIR/hq.db ARGS`
    /// with `env`, and read the address it prints.
    fn start(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Hq {
        let db = format!("sqlite://{}", dir.join("hq.db").display());
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_shouyin"));
        cmd.args(["hq", "--listen", "127.0.0.1:0", "--db", &db])
            .args(args)
            .env_remove("SHOUYIN_HQ_ADMIN_TOKEN")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http"))
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_owned();
        Hq { child, url }
    }

    fn addr(&self) -> &str {
        self.url.split("://").nth(1).unwrap()
    }

    /// Stop it and return what it wrote to stderr.
    fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut err = String::new();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        err
    }
}

impl Drop for Hq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The status code of `GET /v1/terminals` with `Authorization: Bearer token`.
fn terminals_status(addr: &str, token: &str) -> u16 {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET /v1/terminals HTTP/1.1\r\nhost: hq\r\nauthorization: Bearer {token}\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status in {answer:?}"))
}

#[test]
fn the_admin_token_comes_from_a_file_or_the_environment_and_the_command_line_warns() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("admin-token");
    std::fs::write(&token_file, "from-the-file\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }

    let hq = Hq::start(
        dir.path(),
        &["--admin-token-file", token_file.to_str().unwrap()],
        &[],
    );
    assert_eq!(terminals_status(hq.addr(), "from-the-file"), 200);
    assert_eq!(terminals_status(hq.addr(), "something-else"), 401);
    let err = hq.stop();
    assert!(!err.contains("visible"), "no warning for a file: {err}");

    let hq = Hq::start(
        dir.path(),
        &[],
        &[("SHOUYIN_HQ_ADMIN_TOKEN", "from-the-env")],
    );
    assert_eq!(terminals_status(hq.addr(), "from-the-env"), 200);
    assert_eq!(terminals_status(hq.addr(), "from-the-file"), 401);
    let err = hq.stop();
    assert!(
        !err.contains("visible"),
        "no warning for the environment: {err}"
    );

    // The command line still works, with a warning.
    let hq = Hq::start(dir.path(), &["--admin-token", "on-the-line"], &[]);
    assert_eq!(terminals_status(hq.addr(), "on-the-line"), 200);
    let err = hq.stop();
    assert!(
        err.contains("visible") && err.contains("--admin-token-file"),
        "the command-line token must warn: {err}"
    );

    // Both at once is a mistake, and an empty file is refused.
    let o = shouyin(&[
        "hq",
        "--db",
        "sqlite:///nonexistent/hq.db",
        "--admin-token",
        "x",
        "--admin-token-file",
        token_file.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    let empty = dir.path().join("empty-token");
    std::fs::write(&empty, "\n").unwrap();
    let db = format!("sqlite://{}", dir.path().join("hq.db").display());
    let o = shouyin(&[
        "hq",
        "--listen",
        "127.0.0.1:0",
        "--db",
        &db,
        "--admin-token-file",
        empty.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("empty"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn a_terminal_enrols_and_syncs_with_head_office_over_https() {
    let dir = tempfile::tempdir().unwrap();
    let shop = shouyin_testkit::tls::private_ca(dir.path());
    let (ca, cert, key) = (shop.ca, shop.cert, shop.key);
    let hq = Hq::start(
        dir.path(),
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
        &[],
    );
    assert!(hq.url.starts_with("https://127.0.0.1:"), "{}", hq.url);

    let hq_db = format!("sqlite://{}", dir.path().join("hq.db").display());
    let code = ok(&shouyin(&[
        "hq",
        "enroll-code",
        "--db",
        &hq_db,
        "--store",
        "SH01",
    ]));
    let code = code.trim();
    let ledger = dir.path().join("till.db");
    let ledger = ledger.to_str().unwrap();
    ok(&shouyin(&[
        "init",
        "--db",
        ledger,
        "--store",
        "南京路店",
        "--terminal",
        "T07",
    ]));
    ok(&shouyin(&[
        "shift",
        "open",
        "--db",
        ledger,
        "--cashier",
        "王芳",
        "--float",
        "100",
    ]));
    ok(&shouyin(&[
        "charge",
        "--db",
        ledger,
        "--channel",
        "cash",
        "--amount",
        "12.30",
    ]));

    // Plain http:// to another machine is refused before anything is sent.
    let o = shouyin(&[
        "enroll",
        "--db",
        ledger,
        "--hq",
        "http://192.0.2.1:8788",
        "--code",
        code,
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("https://"), "{err}");

    let out = ok(&shouyin(&[
        "enroll",
        "--db",
        ledger,
        "--hq",
        &hq.url,
        "--code",
        code,
        "--hq-ca-file",
        ca.to_str().unwrap(),
    ]));
    assert!(out.contains("terminal=T07"), "{out}");
    let out = ok(&shouyin(&["sync", "--db", ledger, "--once"]));
    // shift_opened, order_created, order_paid.
    assert!(out.contains("acked_seq=3"), "{out}");
    assert!(out.contains("waiting=0"), "{out}");
}

/// The body of `GET path` with `Authorization: Bearer token`.
fn admin_get(addr: &str, path: &str, token: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nhost: hq\r\nauthorization: Bearer {token}\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    answer
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default()
}

#[test]
fn suspend_channel_and_lift_channel_are_audited_and_seen_by_the_running_head_office() {
    let dir = tempfile::tempdir().unwrap();
    let hq = Hq::start(dir.path(), &[], &[("SHOUYIN_HQ_ADMIN_TOKEN", "tok")]);
    let db = format!("sqlite://{}", dir.path().join("hq.db").display());
    let code = ok(&shouyin(&[
        "hq",
        "enroll-code",
        "--db",
        &db,
        "--store",
        "SH01",
    ]));
    let ledger = dir.path().join("till.db");
    let ledger = ledger.to_str().unwrap();
    ok(&shouyin(&[
        "init",
        "--db",
        ledger,
        "--store",
        "南京路店",
        "--terminal",
        "T07",
    ]));
    ok(&shouyin(&[
        "enroll",
        "--db",
        ledger,
        "--hq",
        &hq.url,
        "--code",
        code.trim(),
    ]));

    let out = ok(&shouyin(&[
        "hq",
        "suspend-channel",
        "--db",
        &db,
        "--store",
        "SH01",
        "--channel",
        "wechat",
        "--reason",
        "微信通道故障，请用支付宝",
        "--by",
        "张经理",
    ]));
    assert!(out.contains("wechat suspended for store SH01"), "{out}");
    let listed = ok(&shouyin(&["hq", "suspensions", "--db", &db]));
    assert!(
        listed.contains("suspended store=SH01 channel=wechat")
            && listed.contains("by=张经理 reason=微信通道故障，请用支付宝"),
        "{listed}"
    );
    // The running server reads the same database.
    let body = admin_get(hq.addr(), "/v1/channels/suspensions", "tok");
    assert!(
        body.contains("\"reason\":\"微信通道故障，请用支付宝\""),
        "{body}"
    );
    assert!(body.contains("\"via\":\"cli\""), "{body}");

    // Bad input: a clear error, nothing written.
    for (args, says) in [
        (vec!["--store", "SH01", "--channel", "wechat"], "reason"),
        (
            vec!["--store", "SH09", "--channel", "wechat", "--reason", "x"],
            "SH09",
        ),
        (
            vec!["--store", "SH01", "--channel", "cash", "--reason", "x"],
            "cash",
        ),
        (vec!["--channel", "wechat", "--reason", "x"], "--store"),
        (
            vec![
                "--store",
                "南京路店",
                "--channel",
                "wechat",
                "--reason",
                "x",
            ],
            "store code",
        ),
    ] {
        let mut all = vec!["hq", "suspend-channel", "--db", &db];
        all.extend(args.iter().copied());
        let o = shouyin(&all);
        assert!(!o.status.success(), "{all:?} should fail");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(says), "{all:?}: {err}");
    }
    let o = shouyin(&[
        "hq",
        "lift-channel",
        "--db",
        &db,
        "--store",
        "SH01",
        "--channel",
        "alipay",
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("not suspended"));

    let out = ok(&shouyin(&[
        "hq",
        "lift-channel",
        "--db",
        &db,
        "--all",
        "--channel",
        "wechat",
        "--by",
        "张经理",
    ]));
    assert!(out.contains("1 suspension(s) removed"), "{out}");
    let listed = ok(&shouyin(&["hq", "suspensions", "--db", &db]));
    assert!(!listed.contains("suspended store="), "{listed}");
    let log: Vec<&str> = listed.lines().filter(|l| l.starts_with("log ")).collect();
    assert_eq!(log.len(), 2, "{listed}");
    assert!(
        log[0].contains("action=lift store=* channel=wechat"),
        "{listed}"
    );
    assert!(
        log[1].contains("by=张经理 via=cli action=suspend store=SH01 channel=wechat"),
        "{listed}"
    );
    drop(hq);
}
