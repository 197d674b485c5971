//! Where the bytes go: a network printer's raw port (`tcp://host:9100`), a
//! USB printer's device file (`file:/dev/usb/lp0`) or a CUPS queue in raw
//! mode (`cups:QUEUE`, through `lp -d QUEUE -o raw`).

use std::io::Write;
use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// `lp` waits on the CUPS scheduler without a limit of its own; a scheduler
/// that accepts and never answers must not hold the print queue forever.
pub const LP_TIMEOUT: Duration = Duration::from_secs(10);

/// A printer address as typed in Settings or given to the CLI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrinterUri {
    Tcp { host: String, port: u16 },
    File(PathBuf),
    Cups(String),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PrinterUriError {
    #[error("printer address {0:?}: use tcp://HOST:PORT, file:/dev/usb/lp0 or cups:QUEUE")]
    Form(String),
    #[error("printer address {0:?}: the port must be a number from 1 to 65535")]
    Port(String),
    #[error("printer address {0:?}: a device file path must be absolute")]
    RelativePath(String),
    #[error("printer address {0:?}: a CUPS queue name has letters, digits, '-', '_' and '.' only")]
    Queue(String),
}

/// Sending a job failed: the printer is off, unplugged, out of reach or
/// refused it. Printing is retried by hand; the sale is never affected.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("printer {uri} unreachable: {detail}")]
    Unreachable { uri: String, detail: String },
    #[error("printer {uri} refused the job: {detail}")]
    Refused { uri: String, detail: String },
}

impl PrinterUri {
    pub fn parse(text: &str) -> Result<PrinterUri, PrinterUriError> {
        let t = text.trim();
        if let Some(rest) = t.strip_prefix("tcp://") {
            let rest = rest.trim_end_matches('/');
            let (host, port) = match rest.rsplit_once(':') {
                Some((h, p)) if !h.is_empty() => (
                    h,
                    p.parse::<u16>()
                        .ok()
                        .filter(|p| *p > 0)
                        .ok_or_else(|| PrinterUriError::Port(t.to_owned()))?,
                ),
                // Network receipt printers listen on 9100 unless told otherwise.
                Some(_) => return Err(PrinterUriError::Form(t.to_owned())),
                None => (rest, 9100),
            };
            if host.is_empty() || host.contains('/') || host.contains(char::is_whitespace) {
                return Err(PrinterUriError::Form(t.to_owned()));
            }
            let host = host.trim_start_matches('[').trim_end_matches(']');
            return Ok(PrinterUri::Tcp {
                host: host.to_owned(),
                port,
            });
        }
        if let Some(path) = t.strip_prefix("file:") {
            let path = path.strip_prefix("//").unwrap_or(path);
            if !path.starts_with('/') {
                return Err(PrinterUriError::RelativePath(t.to_owned()));
            }
            return Ok(PrinterUri::File(PathBuf::from(path)));
        }
        if let Some(queue) = t.strip_prefix("cups:") {
            let ok = !queue.is_empty()
                && queue.len() <= 127
                && queue
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
            if !ok {
                return Err(PrinterUriError::Queue(t.to_owned()));
            }
            return Ok(PrinterUri::Cups(queue.to_owned()));
        }
        Err(PrinterUriError::Form(t.to_owned()))
    }

    /// Send a whole job; blocks up to a few seconds.
    pub fn send(&self, bytes: &[u8]) -> Result<(), SendError> {
        let uri = self.to_string();
        let unreachable = |detail: String| SendError::Unreachable {
            uri: uri.clone(),
            detail,
        };
        match self {
            PrinterUri::Tcp { host, port } => {
                let addrs: Vec<_> = (host.as_str(), *port)
                    .to_socket_addrs()
                    .map_err(|e| unreachable(e.to_string()))?
                    .collect();
                let mut last = String::from("no address");
                for addr in addrs {
                    match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
                        Ok(mut s) => {
                            s.set_write_timeout(Some(WRITE_TIMEOUT))
                                .map_err(|e| unreachable(e.to_string()))?;
                            s.write_all(bytes).map_err(|e| unreachable(e.to_string()))?;
                            s.flush().map_err(|e| unreachable(e.to_string()))?;
                            return Ok(());
                        }
                        Err(e) => last = e.to_string(),
                    }
                }
                Err(unreachable(last))
            }
            PrinterUri::File(path) => {
                // Never create the file: a missing device means the printer
                // is unplugged, not that a new file should appear.
                let mut f = std::fs::OpenOptions::new()
                    .append(true)
                    .open(path)
                    .map_err(|e| unreachable(e.to_string()))?;
                f.write_all(bytes).map_err(|e| unreachable(e.to_string()))?;
                f.flush().map_err(|e| unreachable(e.to_string()))?;
                Ok(())
            }
            PrinterUri::Cups(queue) => {
                let mut child = Command::new("lp")
                    .args(["-d", queue, "-o", "raw", "-s"])
                    .stdin(Stdio::piped())
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .map_err(|e| {
                        unreachable(format!("cannot run lp (Debian package cups-client): {e}"))
                    })?;
                // Written from its own thread: a job larger than the pipe
                // would otherwise block here, before the deadline is watched.
                let writer = child.stdin.take().map(|mut stdin| {
                    let job = bytes.to_vec();
                    std::thread::spawn(move || stdin.write_all(&job))
                });
                let deadline = std::time::Instant::now() + LP_TIMEOUT;
                let status = loop {
                    match child.try_wait() {
                        Ok(Some(status)) => break status,
                        Ok(None) if std::time::Instant::now() < deadline => {
                            std::thread::sleep(Duration::from_millis(20));
                        }
                        Ok(None) => {
                            let _ = child.kill();
                            let _ = child.wait();
                            return Err(unreachable(format!(
                                "the CUPS scheduler did not take the job within {} s",
                                LP_TIMEOUT.as_secs()
                            )));
                        }
                        Err(e) => return Err(unreachable(e.to_string())),
                    }
                };
                if let Some(Ok(Err(e))) = writer.map(|w| w.join()) {
                    return Err(unreachable(e.to_string()));
                }
                let mut stderr = String::new();
                if let Some(mut pipe) = child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
                }
                if status.success() {
                    Ok(())
                } else {
                    Err(SendError::Refused {
                        uri: uri.clone(),
                        detail: stderr.trim().to_owned(),
                    })
                }
            }
        }
    }
}

impl std::fmt::Display for PrinterUri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PrinterUri::Tcp { host, port } if host.contains(':') => {
                write!(f, "tcp://[{host}]:{port}")
            }
            PrinterUri::Tcp { host, port } => write!(f, "tcp://{host}:{port}"),
            PrinterUri::File(p) => write!(f, "file:{}", p.display()),
            PrinterUri::Cups(q) => write!(f, "cups:{q}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printer_addresses_parse_or_say_why_not() {
        assert_eq!(
            PrinterUri::parse("tcp://192.168.1.50:9100"),
            Ok(PrinterUri::Tcp {
                host: "192.168.1.50".into(),
                port: 9100
            })
        );
        assert_eq!(
            PrinterUri::parse("tcp://printer.local"),
            Ok(PrinterUri::Tcp {
                host: "printer.local".into(),
                port: 9100
            })
        );
        assert_eq!(
            PrinterUri::parse("file:/dev/usb/lp0"),
            Ok(PrinterUri::File("/dev/usb/lp0".into()))
        );
        assert_eq!(
            PrinterUri::parse("cups:XP-58"),
            Ok(PrinterUri::Cups("XP-58".into()))
        );
        assert!(matches!(
            PrinterUri::parse("tcp://host:0"),
            Err(PrinterUriError::Port(_))
        ));
        assert!(matches!(
            PrinterUri::parse("tcp://host:99999"),
            Err(PrinterUriError::Port(_))
        ));
        assert!(matches!(
            PrinterUri::parse("file:lp0"),
            Err(PrinterUriError::RelativePath(_))
        ));
        assert!(matches!(
            PrinterUri::parse("cups:a b;rm"),
            Err(PrinterUriError::Queue(_))
        ));
        assert!(matches!(
            PrinterUri::parse("http://x"),
            Err(PrinterUriError::Form(_))
        ));
        assert!(matches!(
            PrinterUri::parse(""),
            Err(PrinterUriError::Form(_))
        ));
        for text in ["tcp://192.168.1.50:9100", "file:/dev/usb/lp0", "cups:XP-58"] {
            assert_eq!(PrinterUri::parse(text).unwrap().to_string(), text);
        }
    }

    #[test]
    fn a_printer_that_is_down_is_unreachable_not_a_hang() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let err = PrinterUri::Tcp {
            host: "127.0.0.1".into(),
            port,
        }
        .send(b"x")
        .unwrap_err();
        assert!(matches!(err, SendError::Unreachable { .. }), "{err}");
        let err = PrinterUri::File("/nonexistent/lp0".into())
            .send(b"x")
            .unwrap_err();
        assert!(matches!(err, SendError::Unreachable { .. }), "{err}");
    }

    #[test]
    fn a_device_file_receives_the_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lp0");
        std::fs::write(&path, b"").unwrap();
        PrinterUri::File(path.clone())
            .send(b"\x1b@hello\n")
            .unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"\x1b@hello\n");
    }
}
