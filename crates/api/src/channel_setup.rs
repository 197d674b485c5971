//! Importing a channels file at first start. Every channel in the file is
//! asked, with a signed query, for a trade that cannot exist: only a signed
//! "no such trade" proves the merchant id and both keys. The file is then
//! kept in the data directory, readable by this user only, never in the
//! ledger.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use shouyin_channels::{Channel, ChannelError, ChannelsFile, RemoteStatus};
use shouyin_core::ChannelKind;

use crate::{blocking, ApiError, Counter, ErrorCode, CHANNELS_FILE};

/// A channels file is a few keys; anything bigger is the wrong file.
const MAX_FILE_BYTES: u64 = 256 * 1024;

/// A checked channels file, ready to be kept.
pub struct CheckedChannels {
    file: ChannelsFile,
    channels: HashMap<ChannelKind, Arc<dyn Channel>>,
}

impl std::fmt::Debug for CheckedChannels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckedChannels")
            .field("channels", &self.kinds())
            .finish_non_exhaustive()
    }
}

impl CheckedChannels {
    /// The channels the file configures, in a fixed order.
    pub fn kinds(&self) -> Vec<ChannelKind> {
        let mut kinds: Vec<ChannelKind> = self.channels.keys().copied().collect();
        kinds.sort_by_key(|k| k.as_str());
        kinds
    }
}

fn refusal(detail: &str, message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::ChannelCheckFailed, message).detail(detail)
}

/// Read, parse and build a channels file the user named, then query each
/// channel. Nothing is written.
pub async fn check_channels_file(typed: &str) -> Result<CheckedChannels, ApiError> {
    let typed = typed.trim();
    if typed.is_empty() {
        return Err(refusal("no_path", "the channels file's path is empty"));
    }
    let path = PathBuf::from(typed);
    if !path.is_absolute() {
        return Err(refusal(
            "not_absolute",
            format!("{typed}: give the full path of the channels file"),
        )
        .with("path", typed));
    }
    let path_kept = path.clone();
    let file = blocking(move || read_file(&path_kept)).await?;
    // Each section on its own, so a bad key names its channel.
    let mut channels = HashMap::new();
    let sections = [
        ChannelsFile {
            alipay: file.alipay.clone(),
            ..ChannelsFile::default()
        },
        ChannelsFile {
            wechatpay: file.wechatpay.clone(),
            ..ChannelsFile::default()
        },
        ChannelsFile {
            unionpay: file.unionpay.clone(),
            ..ChannelsFile::default()
        },
    ];
    for (kind, section) in [
        ChannelKind::Alipay,
        ChannelKind::Wechat,
        ChannelKind::Unionpay,
    ]
    .into_iter()
    .zip(sections)
    {
        // The key itself is never in the message.
        let built = section.build().map_err(|e| {
            refusal("bad_key", format!("{}: {kind}: {e}", path.display())).with("channel", kind)
        })?;
        channels.extend(built);
    }
    if channels.is_empty() {
        return Err(refusal(
            "empty",
            format!("{}: the file configures no channel", path.display()),
        )
        .with("path", path.display()));
    }
    let checked = CheckedChannels { file, channels };
    for kind in checked.kinds() {
        let channel = checked.channels[&kind].clone();
        // Letters and digits only, as both channels accept.
        let probe = format!("SETUPCHECK{}", chrono::Utc::now().timestamp_millis());
        match channel.query(&probe).await {
            Ok(answer) if answer.status == RemoteStatus::NotFound => {}
            Ok(answer) => {
                return Err(refusal(
                    "unexpected",
                    format!("{kind}: a trade that cannot exist was {:?}", answer.status),
                )
                .with("channel", kind));
            }
            Err(e) => return Err(channel_refusal(kind, &e)),
        }
    }
    Ok(checked)
}

fn read_file(path: &Path) -> Result<ChannelsFile, ApiError> {
    let shown = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|e| {
        refusal("unreadable", format!("cannot read {shown}: {e}")).with("path", &shown)
    })?;
    if !meta.is_file() {
        return Err(refusal("not_a_file", format!("{shown} is not a file")).with("path", &shown));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(
            refusal("invalid", format!("{shown} is too big for a channels file"))
                .with("path", &shown),
        );
    }
    let text = std::fs::read_to_string(path).map_err(|e| {
        refusal("unreadable", format!("cannot read {shown}: {e}")).with("path", &shown)
    })?;
    ChannelsFile::from_json(&text)
        .map_err(|e| refusal("invalid", format!("{shown}: {e}")).with("path", &shown))
}

/// What a channel's answer to the check says about the file. Alipay's
/// gateway answers a bad signature or an unknown app id unsigned; the code
/// it claims only picks the words, the file is refused either way.
fn channel_refusal(kind: ChannelKind, e: &ChannelError) -> ApiError {
    let message = format!("{kind}: {e}");
    let code = e.definite_code().or_else(|| e.unsigned_claim());
    let detail = match (e, code) {
        (
            ChannelError::Definite { .. } | ChannelError::Untrusted { .. },
            Some(
                "isv.invalid-app-id"
                | "isv.missing-app-id"
                | "MCH_NOT_EXISTS"
                | "APPID_MCHID_NOT_MATCH",
            ),
        ) => "unknown_merchant",
        (
            ChannelError::Definite { .. } | ChannelError::Untrusted { .. },
            Some("isv.invalid-signature" | "SIGN_ERROR"),
        ) => "bad_signature",
        (ChannelError::Definite { .. }, _) => "refused",
        (ChannelError::Untrusted { .. }, _) => "untrusted",
        (ChannelError::Indeterminate { .. }, _) => "unreachable",
        (ChannelError::Config(_), _) => "bad_key",
    };
    let mut error = refusal(detail, message).with("channel", kind);
    if let Some(code) = code {
        error = error.with("channel_code", code);
    }
    error
}

impl Counter {
    /// Keep a checked channels file in the data directory (0600, written
    /// whole then renamed) and take its channels into use at once.
    pub(crate) async fn keep_channels(&self, checked: CheckedChannels) -> Result<(), ApiError> {
        let Some(dir) = self.data_dir().map(Path::to_owned) else {
            return Err(ApiError::internal(
                "this counter has no data directory to keep a channels file in",
            ));
        };
        let text = checked.file.to_json()?;
        blocking(move || write_private(&dir.join(CHANNELS_FILE), text.as_bytes())).await?;
        let was_empty = {
            let mut now = self
                .inner
                .channels
                .write()
                .unwrap_or_else(|p| p.into_inner());
            let was_empty = now.is_empty();
            // Counted like the channels the counter started with.
            now.extend(checked.channels.into_iter().map(|(k, c)| {
                let metered = crate::channel_calls::Metered::wrap(
                    c,
                    self.inner.calls.clone(),
                    self.inner.clock.clone(),
                );
                (k, metered)
            }));
            was_empty
        };
        if was_empty {
            self.spawn_prober();
        }
        Ok(())
    }

    /// The channels in use, as they are now.
    pub(crate) fn channels_now(&self) -> HashMap<ChannelKind, Arc<dyn Channel>> {
        self.inner
            .channels
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// Write a file only this user can read, replacing any old one whole.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), ApiError> {
    let storage = |e: std::io::Error| {
        ApiError::new(
            ErrorCode::Storage,
            format!("cannot write {}: {e}", path.display()),
        )
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut builder = tempfile::Builder::new();
    builder.prefix(".channels");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o600));
    }
    let mut tmp = builder.tempfile_in(dir).map_err(storage)?;
    tmp.write_all(bytes).map_err(storage)?;
    tmp.as_file().sync_all().map_err(storage)?;
    tmp.persist(path).map_err(|e| storage(e.error))?;
    Ok(())
}
