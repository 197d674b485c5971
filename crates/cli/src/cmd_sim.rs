//! `shouyin sim --listen ADDR --state DIR`: run the payment-channel
//! simulator in the foreground until Ctrl-C.
//!
//! The state directory keeps the demo merchant accounts and every trade, so
//! a restart (even on another port) carries on where it stopped; the
//! `credentials.json` in it is the channels file the app and the CLI read.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;

/// Bind, open (or create) the state, print where things are, and serve.
pub async fn run(
    listen: SocketAddr,
    state: PathBuf,
    alipay_code_window: std::time::Duration,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let addr = listener.local_addr()?;
    let dir = state.clone();
    // The first start generates RSA keys, which takes a few seconds.
    let sim = tokio::task::spawn_blocking(move || {
        shouyin_sim::SimState::open(
            &dir,
            addr,
            shouyin_sim::SimConfig {
                alipay_code_window,
                ..shouyin_sim::SimConfig::default()
            },
        )
    })
    .await
    .context("simulator start-up task failed")?
    .with_context(|| format!("cannot open simulator state in {}", state.display()))?;
    println!("customer page: {}/", sim.base_url());
    println!(
        "credentials: {}",
        state.join(shouyin_sim::CREDENTIALS_FILE).display()
    );
    shouyin_sim::serve(listener, sim, async {
        // If Ctrl-C cannot be watched, keep serving until the process is killed.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    })
    .await
    .context("simulator stopped with an error")
}
