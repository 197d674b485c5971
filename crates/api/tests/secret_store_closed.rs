//! A Secret Service whose default collection is not open (no login keyring
//! here) is not chosen: keeping a secret there would prompt at the till, so
//! the keys stay in private files. Its own test binary: libdbus reads the
//! session bus address once per process.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use shouyin_api::{Counter, SecretStore};
use shouyin_testkit::SecretService;

#[tokio::test]
async fn a_keyring_without_an_open_default_collection_is_not_chosen() {
    let closed = SecretService::start_without_login_keyring();
    std::env::remove_var(shouyin_secrets::STORE_ENV);
    std::env::set_var("DBUS_SESSION_BUS_ADDRESS", closed.address());
    assert_eq!(SecretStore::detect(), SecretStore::PrivateFiles);
    let data = tempfile::tempdir().unwrap();
    let counter = Counter::open_app(data.path(), false).await.unwrap();
    assert_eq!(counter.secret_store(), SecretStore::PrivateFiles);
    let status = counter.channels_status().await.unwrap();
    assert_eq!(status.secret_store, "private_files");
    counter.shutdown().await;
}
