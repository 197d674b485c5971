use shouyin_api::backup::BackupStatusDto;
use shouyin_api::dto::SyncStatusDto;
use shouyin_api::{ApiError, Counter};
use tauri::State;

/// Events not yet at head office, and since when it has been unreachable.
#[tauri::command]
pub async fn sync_status(counter: State<'_, Counter>) -> Result<SyncStatusDto, ApiError> {
    counter.sync_status().await
}

/// Sync now instead of waiting for the background task's next pass.
#[tauri::command]
pub async fn sync_now(counter: State<'_, Counter>) -> Result<SyncStatusDto, ApiError> {
    counter.sync_now().await
}

/// Enrol this terminal with head office using a one-time code.
#[tauri::command]
pub async fn sync_enroll(
    counter: State<'_, Counter>,
    hq_url: String,
    code: String,
) -> Result<SyncStatusDto, ApiError> {
    counter.sync_enroll(hq_url, code).await
}

/// The last backup of the ledger (time, size) and whether the newest
/// attempt failed, for the settings page.
#[tauri::command]
pub async fn backup_status(counter: State<'_, Counter>) -> Result<BackupStatusDto, ApiError> {
    counter.backup_status().await
}

/// Where channel keys and the head-office secret are kept, and which
/// merchant ids are set up, for the settings page.
#[tauri::command]
pub async fn channels_status(
    counter: State<'_, Counter>,
) -> Result<shouyin_api::channel_entry::ChannelsStatusDto, ApiError> {
    counter.channels_status().await
}

/// A manager enters or replaces a channel's merchant ids and keys.
#[tauri::command]
pub async fn channels_configure(
    counter: State<'_, Counter>,
    entries: shouyin_api::channel_entry::ChannelEntries,
) -> Result<shouyin_api::channel_entry::ChannelsStatusDto, ApiError> {
    counter.channels_configure(entries).await
}

/// Back the ledger up now, into the rotating set.
#[tauri::command]
pub async fn backup_now(counter: State<'_, Counter>) -> Result<BackupStatusDto, ApiError> {
    counter.backup_now("manual").await
}
