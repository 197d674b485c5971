//! The channel simulator, started in-process on a loopback port, shared by
//! the channels' integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use shouyin_channels::ChannelsFile;

/// A running simulator and the merchant's credentials for it.
pub struct Sim {
    pub base: String,
    pub creds: ChannelsFile,
    pub control: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

impl Sim {
    pub async fn start() -> Sim {
        let dir = tempfile::tempdir().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let state_dir = dir.path().to_path_buf();
        tokio::spawn(async move {
            let result = shouyin_sim::run(listener, &state_dir, async {
                let _ = stopped.await;
            })
            .await;
            if let Err(e) = result {
                panic!("simulator stopped: {e}");
            }
        });
        let control = reqwest::Client::new();
        // The credentials file is written before the simulator serves.
        let mut ready = false;
        for _ in 0..600 {
            if let Ok(r) = control.get(format!("{base}/_sim/faults")).send().await {
                if r.status().is_success() {
                    ready = true;
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(ready, "simulator did not come up at {base}");
        let creds = ChannelsFile::load(&dir.path().join("credentials.json")).unwrap();
        Sim {
            base,
            creds,
            control,
            stop: Some(stop),
            _dir: dir,
        }
    }

    pub async fn faults(&self, settings: serde_json::Value) {
        let r = self
            .control
            .put(format!("{}/_sim/faults", self.base))
            .json(&settings)
            .send()
            .await
            .unwrap();
        assert!(
            r.status().is_success(),
            "faults refused: {}",
            r.text().await.unwrap()
        );
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
