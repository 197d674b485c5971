//! Run the simulator by hand: `cargo run -p shouyin-sim --example serve --
//! 127.0.0.1:8900 /tmp/sim-state`. The `shouyin sim` command does the same.

use std::net::SocketAddr;
use std::path::PathBuf;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let listen: SocketAddr = args.next().as_deref().unwrap_or("127.0.0.1:8900").parse()?;
    let state = PathBuf::from(args.next().unwrap_or_else(|| "sim-state".into()));
    let listener = tokio::net::TcpListener::bind(listen).await?;
    println!("customer page: http://{}/", listener.local_addr()?);
    println!(
        "credentials: {}",
        state.join(shouyin_sim::CREDENTIALS_FILE).display()
    );
    shouyin_sim::run(listener, &state, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}
