//! `shouyin receipt --printer cups:QUEUE` through a real CUPS scheduler: a
//! private cupsd (its own configuration, spool, cache and logs in a temporary
//! directory, on a free loopback port) with a raw queue whose device is the
//! virtual printer, so the receipt travels lp → cupsd → socket backend → the
//! printer's raw port, and is read back decoded.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const QUEUE: &str = "shouyin_test";

fn value(out: &str, key: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key}= in {out}"))
        .to_owned()
}

/// A CUPS program by name; administrative ones live in sbin, which a
/// non-root PATH often lacks. Missing is a failure: scripts/setup.sh
/// installs them.
fn cups_tool(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("{name} not found: run scripts/setup.sh (Debian packages cups-daemon, cups)")
        })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A throwaway scheduler, killed on drop even when the test fails.
struct Cupsd {
    child: Child,
    server: String,
    error_log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Cupsd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Cupsd {
    fn start() -> Cupsd {
        let cupsd = cups_tool("cupsd");
        let tempdir = tempfile::tempdir().unwrap();
        let dir = tempdir.path();
        let sub = |name: &str| {
            let p = dir.join(name);
            std::fs::create_dir_all(&p).unwrap();
            p
        };
        let root = sub("etc");
        let (spool, cache, state, tmp, logs) = (
            sub("spool"),
            sub("cache"),
            sub("state"),
            sub("tmp"),
            sub("log"),
        );
        // Raw jobs are typed application/vnd.cups-raw by these two files,
        // which Debian keeps in the system's ServerRoot.
        for f in ["raw.types", "raw.convs"] {
            let from = Path::new("/etc/cups").join(f);
            if from.exists() {
                std::fs::copy(&from, root.join(f)).unwrap();
            }
        }
        let port = free_port();
        let conf = root.join("cupsd.conf");
        std::fs::write(
            &conf,
            format!(
                "Listen 127.0.0.1:{port}\n\
                 ServerName 127.0.0.1\n\
                 LogLevel debug\n\
                 Browsing No\n\
                 WebInterface No\n\
                 DefaultAuthType None\n\
                 <Location />\n  Order allow,deny\n  Allow all\n</Location>\n\
                 <Policy default>\n  <Limit All>\n    Order deny,allow\n    Allow all\n  </Limit>\n</Policy>\n"
            ),
        )
        .unwrap();
        let files = root.join("cups-files.conf");
        let error_log = logs.join("error_log");
        std::fs::write(
            &files,
            format!(
                "ServerRoot {}\nRequestRoot {}\nCacheDir {}\nStateDir {}\nTempDir {}\n\
                 AccessLog {}\nErrorLog {}\nPageLog {}\n",
                root.display(),
                spool.display(),
                cache.display(),
                state.display(),
                tmp.display(),
                logs.join("access_log").display(),
                error_log.display(),
                logs.join("page_log").display(),
            ),
        )
        .unwrap();
        let child = Command::new(cupsd)
            .arg("-f")
            .arg("-c")
            .arg(&conf)
            .arg("-s")
            .arg(&files)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut d = Cupsd {
            child,
            server: format!("127.0.0.1:{port}"),
            error_log,
            _dir: tempdir,
        };
        let addr: SocketAddr = d.server.parse().unwrap();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = d.child.try_wait().unwrap() {
                panic!("cupsd exited ({status}):\n{}", d.log());
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return d;
            }
            assert!(
                Instant::now() < deadline,
                "cupsd never listened:\n{}",
                d.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The end of the scheduler's log, for a failure's message.
    fn log(&self) -> String {
        let log = std::fs::read_to_string(&self.error_log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(80)..].join("\n")
    }

    /// A raw queue: the bytes go to the device unchanged, no driver.
    fn add_raw_queue(&self, name: &str, device: &str) {
        let o = Command::new(cups_tool("lpadmin"))
            .args([
                "-h",
                &self.server,
                "-p",
                name,
                "-E",
                "-v",
                device,
                "-m",
                "raw",
            ])
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "lpadmin: {}\n{}",
            String::from_utf8_lossy(&o.stderr),
            self.log()
        );
    }
}

struct Printer {
    child: Child,
    uri: String,
    _stdout: BufReader<std::process::ChildStdout>,
}

impl Drop for Printer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn printer(out: &Path) -> Printer {
    let mut child = Command::new(env!("CARGO_BIN_EXE_shouyin"))
        .args([
            "printer",
            "--listen",
            "127.0.0.1:0",
            "--out",
            out.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    stdout.read_line(&mut line).unwrap();
    let uri = value(&line, "printer");
    Printer {
        child,
        uri,
        _stdout: stdout,
    }
}

fn shouyin(args: &[&str], cups_server: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_shouyin"))
        .args(args)
        .env("CUPS_SERVER", cups_server)
        .output()
        .unwrap()
}

#[test]
fn a_receipt_printed_to_a_raw_cups_queue_reaches_the_printer() {
    let dir = tempfile::tempdir().unwrap();
    let cupsd = Cupsd::start();
    let paper = dir.path().join("paper");
    let p = printer(&paper);
    let port = p.uri.rsplit_once(':').unwrap().1;
    cupsd.add_raw_queue(QUEUE, &format!("socket://127.0.0.1:{port}"));
    let server = cupsd.server.clone();
    let server = server.as_str();

    let db = dir.path().join("ledger.db");
    let db_s = db.to_str().unwrap();
    for args in [
        &[
            "init",
            "--db",
            db_s,
            "--store",
            "南京路店",
            "--terminal",
            "T07",
        ][..],
        &[
            "shift",
            "open",
            "--db",
            db_s,
            "--cashier",
            "王芳",
            "--float",
            "0",
        ],
    ] {
        let o = shouyin(args, server);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let o = shouyin(
        &[
            "charge",
            "--db",
            db_s,
            "--channel",
            "cash",
            "--amount",
            "12.30",
            "--cashier",
            "王芳",
            "--tendered",
            "20",
        ],
        server,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let order_no = value(&String::from_utf8_lossy(&o.stdout), "order_no");

    let queue = format!("cups:{QUEUE}");
    let o = shouyin(
        &[
            "receipt",
            "--db",
            db_s,
            "--order",
            &order_no,
            "--printer",
            &queue,
            "--width",
            "58",
        ],
        server,
    );
    assert!(
        o.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&o.stderr),
        cupsd.log()
    );

    // The scheduler hands the job to the backend on its own time.
    let job = paper.join("job-0001.txt");
    let deadline = Instant::now() + Duration::from_secs(30);
    let text = loop {
        if let Ok(s) = std::fs::read_to_string(&job) {
            if s.contains("[CUT]") {
                break s;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the printer never received the job through CUPS:\n{}",
            cupsd.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    for expected in [
        "南京路店",
        "T07",
        "王芳",
        order_no.as_str(),
        "现金 Cash",
        "￥12.30",
        "￥20.00",
        "找零 Change",
        "￥7.70",
        "[CUT]",
    ] {
        assert!(text.contains(expected), "{expected:?} missing from\n{text}");
    }
    // It went through the scheduler, not around it.
    assert!(
        std::fs::read_to_string(&cupsd.error_log)
            .unwrap()
            .lines()
            .any(|l| l.contains("[Job 1] Started backend") && l.contains("/backend/socket")),
        "cupsd logged no job:\n{}",
        cupsd.log()
    );

    // A queue the scheduler does not have: the reason, and a non-zero exit.
    let o = shouyin(
        &[
            "receipt",
            "--db",
            db_s,
            "--order",
            &order_no,
            "--printer",
            "cups:no_such_queue",
        ],
        server,
    );
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("cups:no_such_queue") && err.contains("does not exist"),
        "{err}"
    );

    // The scheduler itself is gone: still a reason and a non-zero exit.
    drop(cupsd);
    let o = shouyin(
        &[
            "receipt",
            "--db",
            db_s,
            "--order",
            &order_no,
            "--printer",
            &queue,
        ],
        server,
    );
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(&queue), "{err}");
    assert!(
        !paper.join("job-0002.txt").exists(),
        "nothing more was printed"
    );

    // A scheduler that takes the connection and never answers: `lp` would
    // wait for ever; the job fails after a bounded time, naming the printer.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_addr = silent.local_addr().unwrap().to_string();
    let held = std::thread::spawn(move || {
        let mut kept = Vec::new();
        silent.set_nonblocking(true).unwrap();
        let until = Instant::now() + Duration::from_secs(40);
        while Instant::now() < until {
            if let Ok((conn, _)) = silent.accept() {
                kept.push(conn);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    let started = Instant::now();
    let o = shouyin(
        &[
            "receipt",
            "--db",
            db_s,
            "--order",
            &order_no,
            "--printer",
            &queue,
        ],
        &silent_addr,
    );
    let took = started.elapsed();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&queue) && err.contains("did not take the job"),
        "{err}"
    );
    assert!(took < Duration::from_secs(30), "took {took:?}");
    drop(held);
}
