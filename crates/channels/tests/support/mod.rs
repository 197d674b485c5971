//! The channel simulator of the test kit, with the merchant's credentials
//! parsed as the channel clients read them.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use shouyin_channels::ChannelsFile;

/// A running simulator and the merchant's credentials for it.
pub struct Sim {
    kit: shouyin_testkit::Sim,
    pub creds: ChannelsFile,
    /// For the simulator's control API.
    pub control: reqwest::Client,
}

impl std::ops::Deref for Sim {
    type Target = shouyin_testkit::Sim;
    fn deref(&self) -> &Self::Target {
        &self.kit
    }
}

impl Sim {
    pub async fn start() -> Sim {
        let kit = shouyin_testkit::Sim::start().await;
        let creds = kit.channels_file();
        let control = kit.http.clone();
        Sim {
            kit,
            creds,
            control,
        }
    }
}
