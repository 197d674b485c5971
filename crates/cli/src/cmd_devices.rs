//! The receipt printer from a terminal: `shouyin printer` (the virtual
//! printer), `shouyin receipt` (print an order's receipt) and `shouyin
//! drawer` (the drawer's kick pulse). The till's own "open drawer" asks for
//! a manager; this is the back office's tool.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use shouyin_api::devices::{self, PrinterUri};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// A virtual ESC/POS printer on raw TCP: each job is written to DIR as
    /// text and a PNG picture of the paper. Runs until Ctrl-C.
    Printer {
        #[arg(long, default_value = "127.0.0.1:9100")]
        listen: SocketAddr,
        #[arg(long)]
        out: PathBuf,
    },
    /// Print an order's receipt; exits non-zero with the reason if the
    /// printer fails.
    Receipt {
        #[arg(long)]
        db: PathBuf,
        #[arg(long)]
        order: String,
        /// tcp://HOST:PORT, file:/dev/usb/lp0 or cups:QUEUE
        #[arg(long)]
        printer: String,
        /// Paper width in mm: 58 or 80 (default: the till's setting).
        #[arg(long, value_parser = ["58", "80"])]
        width: Option<String>,
    },
    /// Send the cash drawer's kick pulse through the printer.
    Drawer {
        #[arg(long)]
        printer: String,
    },
    /// Set the till's receipt printer (as Settings does), e.g. for the demo.
    PrinterSet {
        #[arg(long)]
        db: PathBuf,
        /// tcp://HOST:PORT, file:/dev/usb/lp0 or cups:QUEUE
        #[arg(long)]
        printer: String,
        #[arg(long, value_parser = ["58", "80"])]
        width: Option<String>,
    },
}

fn printer(uri: &str) -> anyhow::Result<PrinterUri> {
    Ok(PrinterUri::parse(uri)?)
}

pub async fn run(cmd: Command) -> anyhow::Result<()> {
    match cmd {
        Command::Printer { listen, out } => {
            let fonts = Arc::new(shouyin_vprinter::Fonts::system()?);
            let jobs = Arc::new(shouyin_vprinter::JobDir::open(&out, fonts)?);
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("cannot listen on {listen}"))?;
            println!("printer=tcp://{}", listener.local_addr()?);
            println!("out={}", out.display());
            use std::io::Write;
            std::io::stdout().flush()?;
            shouyin_vprinter::run(listener, jobs, async {
                if tokio::signal::ctrl_c().await.is_err() {
                    std::future::pending::<()>().await;
                }
            })
            .await
            .context("the virtual printer stopped with an error")
        }
        Command::Receipt {
            db,
            order,
            printer: uri,
            width,
        } => {
            let uri = printer(&uri)?;
            let width = width.map(|w| w.parse::<u32>()).transpose()?;
            let target = uri.to_string();
            tokio::task::spawn_blocking(move || {
                devices::print_receipt_from_ledger(&db, &order, width, &uri)
            })
            .await??;
            println!("printed={target}");
            Ok(())
        }
        Command::PrinterSet { db, printer, width } => {
            let counter = shouyin_api::Counter::open_ledger(
                &db,
                shouyin_api::CounterOptions {
                    exclusive: true,
                    ..shouyin_api::CounterOptions::default()
                },
            )
            .await?;
            let mut settings = counter.device_settings().await?;
            settings.printer = Some(printer);
            if let Some(w) = width {
                settings.paper_mm = w.parse()?;
            }
            let settings = counter.device_settings_set(settings).await?;
            println!("printer={}", settings.printer.unwrap_or_default());
            println!("paper_mm={}", settings.paper_mm);
            Ok(())
        }
        Command::Drawer { printer: uri } => {
            let uri = printer(&uri)?;
            let target = uri.to_string();
            tokio::task::spawn_blocking(move || devices::drawer_pulse_to(&uri)).await??;
            println!("drawer_pulse={target}");
            Ok(())
        }
    }
}
