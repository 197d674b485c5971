//! The virtual receipt printer: a raw TCP listener (as a network printer's
//! port 9100) that decodes each ESC/POS job with `shouyin-escpos`'s decoder
//! and writes it as a text file and a PNG picture of the paper. The demo
//! prints to it and the tests read what it wrote.
//!
//! One connection is one job (a network printer's host sends a job and
//! closes). Files are `job-NNNN.txt`, `job-NNNN.png` and the raw bytes
//! `job-NNNN.bin`; the text file is written last, so a reader that sees it
//! sees the whole job. A job that does not decode gets `job-NNNN.error.txt`.

mod paper;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use shouyin_escpos::{decode, layout, Align, Element};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

pub use paper::{Fonts, PaperError};

/// A job that is idle this long is taken as complete even if the sender
/// keeps the connection open.
const IDLE_END: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum PrinterError {
    #[error("cannot write to {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Paper(#[from] PaperError),
}

/// A decoded job: the paper as text, and its picture.
#[derive(Debug)]
pub struct RenderedJob {
    pub elements: Vec<Element>,
    pub text: String,
    pub png: Vec<u8>,
}

/// The paper width a job was meant for: its longest text line decides
/// (more than 32 columns is an 80 mm roll).
pub fn columns_of(elements: &[Element]) -> usize {
    let widest = elements
        .iter()
        .filter_map(|e| match e {
            Element::Text(t) => Some(layout::width(&t.text) * if t.double { 2 } else { 1 }),
            _ => None,
        })
        .max()
        .unwrap_or(0);
    if widest > 32 {
        48
    } else {
        32
    }
}

/// The paper as text: lines laid out by their alignment, and bracketed
/// notes for what is not text (barcode, QR, cut, drawer pulse).
pub fn paper_text(elements: &[Element]) -> String {
    let cols = columns_of(elements);
    let mut out = String::new();
    for e in elements {
        match e {
            Element::Text(t) => {
                let scale = if t.double { 2 } else { 1 };
                let room = cols / scale;
                let w = layout::width(&t.text);
                let pad = match t.align {
                    Align::Left => 0,
                    Align::Centre => room.saturating_sub(w) / 2,
                    Align::Right => room.saturating_sub(w),
                };
                out.push_str(&" ".repeat(pad * scale));
                out.push_str(&t.text);
                if t.bold || t.double {
                    out.push_str(&format!(
                        "  [{}]",
                        match (t.bold, t.double) {
                            (true, true) => "bold double",
                            (true, false) => "bold",
                            _ => "double",
                        }
                    ));
                }
                out.push('\n');
            }
            Element::Feed(n) => {
                for _ in 0..*n {
                    out.push('\n');
                }
            }
            Element::Barcode { system, data, .. } => {
                let kind = if *system == 73 { "CODE128" } else { "barcode" };
                out.push_str(&format!("[{kind} {data}]\n"));
            }
            Element::Qr { data, .. } => out.push_str(&format!("[QR {data}]\n")),
            Element::Cut => out.push_str("[CUT]\n"),
            Element::DrawerPulse { pin, on_ms, off_ms } => {
                out.push_str(&format!("[DRAWER pin {pin} {on_ms}ms/{off_ms}ms]\n"))
            }
        }
    }
    out
}

/// Decode and draw one job.
pub fn render(bytes: &[u8], fonts: &Fonts) -> Result<RenderedJob, shouyin_escpos::DecodeError> {
    let elements = decode(bytes)?;
    let text = paper_text(&elements);
    let png = paper::draw(&elements, columns_of(&elements), fonts);
    Ok(RenderedJob {
        elements,
        text,
        png,
    })
}

/// Where jobs go, numbered on from what the directory already holds.
#[derive(Debug)]
pub struct JobDir {
    dir: PathBuf,
    next: AtomicU32,
    fonts: Arc<Fonts>,
}

impl JobDir {
    pub fn open(dir: &Path, fonts: Arc<Fonts>) -> Result<JobDir, PrinterError> {
        std::fs::create_dir_all(dir).map_err(|source| PrinterError::Write {
            path: dir.to_owned(),
            source,
        })?;
        let last = std::fs::read_dir(dir)
            .map_err(|source| PrinterError::Write {
                path: dir.to_owned(),
                source,
            })?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name.strip_prefix("job-")?.get(..4)?.parse::<u32>().ok()
            })
            .max()
            .unwrap_or(0);
        Ok(JobDir {
            dir: dir.to_owned(),
            next: AtomicU32::new(last + 1),
            fonts,
        })
    }

    /// Write one received job; returns the path of its text file.
    pub fn store(&self, bytes: &[u8]) -> Result<PathBuf, PrinterError> {
        let n = self.next.fetch_add(1, Ordering::SeqCst);
        let base = self.dir.join(format!("job-{n:04}"));
        let write = |ext: &str, data: &[u8]| {
            let path = base.with_extension(ext);
            std::fs::write(&path, data).map_err(|source| PrinterError::Write { path, source })
        };
        write("bin", bytes)?;
        match render(bytes, &self.fonts) {
            Ok(job) => {
                write("png", &job.png)?;
                write("txt", job.text.as_bytes())?;
                Ok(base.with_extension("txt"))
            }
            Err(e) => {
                tracing::warn!("job {n} does not decode: {e}");
                write("error.txt", format!("{e}\n").as_bytes())?;
                Ok(base.with_extension("error.txt"))
            }
        }
    }
}

/// Serve the printer on `listener` until `shutdown` completes.
pub async fn run(
    listener: TcpListener,
    jobs: Arc<JobDir>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => return Ok(()),
            accepted = listener.accept() => {
                let (mut socket, peer) = accepted?;
                let jobs = Arc::clone(&jobs);
                tokio::spawn(async move {
                    let mut bytes = Vec::new();
                    let mut buf = [0u8; 8192];
                    loop {
                        match tokio::time::timeout(IDLE_END, socket.read(&mut buf)).await {
                            Ok(Ok(0)) | Err(_) => break,
                            Ok(Ok(n)) => bytes.extend_from_slice(&buf[..n]),
                            Ok(Err(e)) => {
                                tracing::warn!(%peer, "job read failed: {e}");
                                break;
                            }
                        }
                    }
                    if bytes.is_empty() {
                        return;
                    }
                    let stored = tokio::task::spawn_blocking(move || jobs.store(&bytes)).await;
                    match stored {
                        Ok(Ok(path)) => tracing::info!(%peer, "job written: {}", path.display()),
                        Ok(Err(e)) => tracing::error!(%peer, "{e}"),
                        Err(e) => tracing::error!(%peer, "job task failed: {e}"),
                    }
                });
            }
        }
    }
}
