//! Importing a channels file at first start. Every channel in the file is
//! asked, with a signed query, for a trade that cannot exist: only a signed
//! "no such trade" proves the merchant id and both keys. The file is then
//! kept in the data directory, readable by this user only, never in the
//! ledger.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use shouyin_channels::{Channel, ChannelError, ChannelsFile, RemoteStatus, SecretText};
use shouyin_core::ChannelKind;

use crate::{blocking, ApiError, Counter, ErrorCode, SecretStore, CHANNELS_FILE};

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
    check_parsed(file, &path.display().to_string()).await
}

/// Build each channel of `file` on its own (so a bad key names its
/// channel), then query each. `origin` names where the file came from.
pub(crate) async fn check_parsed(
    file: ChannelsFile,
    origin: &str,
) -> Result<CheckedChannels, ApiError> {
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
            refusal("bad_key", format!("{origin}: {kind}: {e}")).with("channel", kind)
        })?;
        channels.extend(built);
    }
    if channels.is_empty() {
        return Err(
            refusal("empty", format!("{origin}: no channel is configured")).with("path", origin),
        );
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
    /// Keep a checked channels file in the data directory and take its
    /// channels into use at once. Its private keys and APIv3 key go to the
    /// counter's secret store: with the Secret Service the file holds only
    /// references; either way the file is this user's only (0600, written
    /// whole then renamed). A channel the file does not configure keeps the
    /// section it had.
    pub(crate) async fn keep_channels(&self, checked: CheckedChannels) -> Result<(), ApiError> {
        let Some(dir) = self.data_dir().map(Path::to_owned) else {
            return Err(ApiError::internal(
                "this counter has no data directory to keep a channels file in",
            ));
        };
        let store = self.secret_store();
        let file = checked.file.clone();
        blocking(move || keep_file(&dir.join(CHANNELS_FILE), file, store)).await?;
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

fn storage(path: &Path, e: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        ErrorCode::Storage,
        format!("cannot keep {}: {e}", path.display()),
    )
}

/// The secrets of a channels file, each with its name in the keyring.
fn secrets_of(file: &mut ChannelsFile) -> Vec<(&'static str, &mut SecretText)> {
    let mut secrets = Vec::new();
    if let Some(a) = file.alipay.as_mut() {
        secrets.push(("alipay-private-key", &mut a.app_private_key_pem));
    }
    if let Some(w) = file.wechatpay.as_mut() {
        secrets.push(("wechatpay-private-key", &mut w.merchant_private_key_pem));
        secrets.push(("wechatpay-apiv3-key", &mut w.apiv3_key));
    }
    secrets
}

/// Put the Secret Service's secrets back in place of their references.
pub(crate) fn resolve_secrets(file: &mut ChannelsFile) -> Result<(), shouyin_secrets::SecretError> {
    for (_, secret) in secrets_of(file) {
        if shouyin_secrets::is_reference(secret.expose()) {
            *secret = SecretText::new(shouyin_secrets::resolve(secret.expose())?);
        }
    }
    Ok(())
}

/// Write `new` over the channels file at `path` (sections it leaves out are
/// kept from the old file), its secrets handed to `store`; the secrets of
/// the sections it replaces are then dropped from the Secret Service.
fn keep_file(path: &Path, mut new: ChannelsFile, store: SecretStore) -> Result<(), ApiError> {
    let old = if path.exists() {
        Some(ChannelsFile::load(path).map_err(|e| storage(path, e))?)
    } else {
        None
    };
    let mut replaced = ChannelsFile::default();
    if let Some(old) = old {
        match new.alipay {
            Some(_) => replaced.alipay = old.alipay,
            None => new.alipay = old.alipay,
        }
        match new.wechatpay {
            Some(_) => replaced.wechatpay = old.wechatpay,
            None => new.wechatpay = old.wechatpay,
        }
    }
    for (what, secret) in secrets_of(&mut new) {
        if !shouyin_secrets::is_reference(secret.expose()) {
            let kept = store
                .keep(what, secret.expose())
                .map_err(|e| storage(path, e))?;
            *secret = SecretText::new(kept);
        }
    }
    let text = new.to_json().map_err(|e| storage(path, e))?;
    shouyin_secrets::write_private(path, text.as_bytes()).map_err(|e| storage(path, e))?;
    for (_, secret) in secrets_of(&mut replaced) {
        if let Err(e) = shouyin_secrets::forget(secret.expose()) {
            tracing::warn!("an old channel key stays in the Secret Service: {e}");
        }
    }
    Ok(())
}
