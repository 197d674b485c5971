//! Channels entered by hand (the set-up screen, and Settings for a
//! manager): merchant ids and keys, each key pasted or named by the full
//! path of its file. Every field is checked here, with an error naming it,
//! before the channel is asked the same signed query as for a channels
//! file ([`crate::channel_setup`]); only then is anything kept.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::json;
use shouyin_channels::{keys, ChannelsFile};
use shouyin_core::ChannelKind;
use ts_rs::TS;

use crate::channel_setup::{check_parsed, CheckedChannels};
use crate::{blocking, ApiError, Counter, ErrorCode, CHANNELS_FILE};

/// A key file is a few kilobytes; anything bigger is the wrong file.
const MAX_KEY_FILE_BYTES: u64 = 64 * 1024;
/// Where the channels answer when the form's address is left empty.
pub const ALIPAY_GATEWAY: &str = "https://openapi.alipay.com/gateway.do";
pub const WECHATPAY_BASE_URL: &str = "https://api.mch.weixin.qq.com";

/// Alipay as entered. Keys: PEM or the console's bare base64, pasted, or
/// the full path of a file holding it.
#[derive(Clone, Default, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct AlipayEntry {
    pub app_id: String,
    pub private_key: String,
    pub alipay_public_key: String,
    /// Empty: Alipay's production gateway.
    #[serde(default)]
    pub gateway: String,
}

/// WeChat Pay (API v3) as entered.
#[derive(Clone, Default, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct WechatEntry {
    pub mchid: String,
    pub appid: String,
    /// The merchant API certificate's serial number.
    pub serial_no: String,
    pub apiv3_key: String,
    pub private_key: String,
    /// WeChat Pay's public key (or platform certificate), PEM or path.
    pub platform_public_key: String,
    pub platform_public_key_id: String,
    /// Empty: WeChat Pay's production address.
    #[serde(default)]
    pub base_url: String,
}

/// The channels entered: either or both.
#[derive(Clone, Default, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ChannelEntries {
    #[serde(default)]
    #[ts(optional)]
    pub alipay: Option<AlipayEntry>,
    #[serde(default)]
    #[ts(optional)]
    pub wechat: Option<WechatEntry>,
}

impl std::fmt::Debug for AlipayEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlipayEntry")
            .field("app_id", &self.app_id)
            .field("gateway", &self.gateway)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for WechatEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WechatEntry")
            .field("mchid", &self.mchid)
            .field("serial_no", &self.serial_no)
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for ChannelEntries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelEntries")
            .field("alipay", &self.alipay.as_ref().map(|a| &a.app_id))
            .field("wechat", &self.wechat.as_ref().map(|w| &w.mchid))
            .finish_non_exhaustive()
    }
}

/// What Settings shows of the channels: ids, never keys.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ChannelsStatusDto {
    /// `secret_service` or `private_files`.
    pub secret_store: String,
    pub alipay_app_id: Option<String>,
    pub wechat_mchid: Option<String>,
    pub wechat_serial_no: Option<String>,
}

fn field_error(kind: ChannelKind, field: &str, detail: &str, message: String) -> ApiError {
    ApiError::new(ErrorCode::ChannelCheckFailed, message)
        .detail(detail)
        .with("channel", kind)
        .with("field", field)
}

fn required(kind: ChannelKind, field: &str, value: &str) -> Result<String, ApiError> {
    let value = value.trim();
    // Nothing that belongs in these fields is this long: a pasted file of
    // the wrong kind, say.
    if value.len() as u64 > MAX_KEY_FILE_BYTES {
        return Err(field_error(
            kind,
            field,
            "bad_field",
            format!("{kind}: {field} is far too long"),
        ));
    }
    if value.is_empty() {
        return Err(field_error(
            kind,
            field,
            "missing_field",
            format!("{kind}: {field} must be given"),
        ));
    }
    Ok(value.to_owned())
}

/// A value of the given shape, or an error naming the field.
fn shaped(
    kind: ChannelKind,
    field: &str,
    value: &str,
    fits: impl Fn(&str) -> bool,
) -> Result<String, ApiError> {
    let value = required(kind, field, value)?;
    if !fits(&value) {
        return Err(field_error(
            kind,
            field,
            "bad_field",
            format!("{kind}: {field} is not of the right form"),
        ));
    }
    Ok(value)
}

fn digits(v: &str) -> bool {
    v.len() <= 32 && v.bytes().all(|b| b.is_ascii_digit())
}

fn id_text(v: &str) -> bool {
    v.len() <= 64 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn address(kind: ChannelKind, field: &str, value: &str, default: &str) -> Result<String, ApiError> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(default.to_owned());
    }
    match url::Url::parse(value) {
        Ok(u) if matches!(u.scheme(), "https" | "http") && u.host().is_some() => {
            Ok(value.to_owned())
        }
        _ => Err(field_error(
            kind,
            field,
            "bad_field",
            format!("{kind}: {field} is not an http(s) address"),
        )),
    }
}

/// Which key a field must hold.
#[derive(Clone, Copy)]
enum KeyKind {
    Private,
    Public,
}

/// A key pasted in the field, or read from the file whose full path is in
/// it; parsed before it is taken. The key never reaches a message.
fn key(kind: ChannelKind, field: &str, value: &str, wanted: KeyKind) -> Result<String, ApiError> {
    let value = required(kind, field, value)?;
    let looks_like_path = value.starts_with('/') && !value.contains(char::is_whitespace);
    let text = if looks_like_path && Path::new(&value).is_file() {
        let unreadable = |e: String| {
            field_error(
                kind,
                field,
                "field_unreadable",
                format!("{kind}: {field}: cannot read {value}: {e}"),
            )
            .with("path", &value)
        };
        let meta = std::fs::metadata(&value).map_err(|e| unreadable(e.to_string()))?;
        if meta.len() > MAX_KEY_FILE_BYTES {
            return Err(unreadable("too big for a key file".into()));
        }
        std::fs::read_to_string(&value).map_err(|e| unreadable(e.to_string()))?
    } else {
        value.clone()
    };
    let parsed = match wanted {
        KeyKind::Private => keys::parse_private_key(&text).map(|_| ()),
        KeyKind::Public => keys::parse_public_key(&text).map(|_| ()),
    };
    match parsed {
        Ok(()) => Ok(text.trim().to_owned()),
        // A path that names nothing: say so, not "bad key".
        Err(_) if looks_like_path => Err(field_error(
            kind,
            field,
            "field_unreadable",
            format!("{kind}: {field}: {value} is not a file"),
        )
        .with("path", &value)),
        Err(e) => Err(field_error(
            kind,
            field,
            "bad_field",
            format!("{kind}: {field}: {e}"),
        )),
    }
}

/// Check every field and turn the entries into a channels file. Reads key
/// files: run it on the blocking pool.
fn entries_file(entries: &ChannelEntries) -> Result<ChannelsFile, ApiError> {
    let mut file = json!({});
    if let Some(a) = &entries.alipay {
        let kind = ChannelKind::Alipay;
        file["alipay"] = json!({
            "app_id": shaped(kind, "app_id", &a.app_id, digits)?,
            "app_private_key_pem": key(kind, "private_key", &a.private_key, KeyKind::Private)?,
            "alipay_public_key_pem":
                key(kind, "alipay_public_key", &a.alipay_public_key, KeyKind::Public)?,
            "gateway": address(kind, "gateway", &a.gateway, ALIPAY_GATEWAY)?,
        });
    }
    if let Some(w) = &entries.wechat {
        let kind = ChannelKind::Wechat;
        let apiv3 = required(kind, "apiv3_key", &w.apiv3_key)?;
        // AES-256-GCM: the key is 32 characters.
        if apiv3.len() != 32 || !apiv3.is_ascii() {
            return Err(field_error(
                kind,
                "apiv3_key",
                "bad_field",
                format!("{kind}: apiv3_key must be 32 characters"),
            ));
        }
        file["wechatpay"] = json!({
            "mchid": shaped(kind, "mchid", &w.mchid, digits)?,
            "appid": shaped(kind, "appid", &w.appid, id_text)?,
            "merchant_serial_no": shaped(kind, "serial_no", &w.serial_no, |v| {
                v.len() <= 64 && v.bytes().all(|b| b.is_ascii_hexdigit())
            })?,
            "apiv3_key": apiv3,
            "merchant_private_key_pem": key(kind, "private_key", &w.private_key, KeyKind::Private)?,
            "platform_public_key_pem":
                key(kind, "platform_public_key", &w.platform_public_key, KeyKind::Public)?,
            "platform_public_key_id":
                shaped(kind, "platform_public_key_id", &w.platform_public_key_id, id_text)?,
            "base_url": address(kind, "base_url", &w.base_url, WECHATPAY_BASE_URL)?,
        });
    }
    ChannelsFile::from_json(&file.to_string())
        .map_err(|e| ApiError::internal(format!("entered channels: {e}")))
}

/// Check channels entered by hand: each field, then a signed query to each
/// channel. Nothing is written.
pub async fn check_channel_entries(entries: ChannelEntries) -> Result<CheckedChannels, ApiError> {
    let file = blocking(move || entries_file(&entries)).await?;
    check_parsed(file, "entered channels").await
}

impl Counter {
    /// A manager enters or replaces a channel in Settings: checked as at
    /// set-up, then kept and taken into use at once.
    pub async fn channels_configure(
        &self,
        entries: ChannelEntries,
    ) -> Result<ChannelsStatusDto, ApiError> {
        let checked = check_channel_entries(entries).await?;
        self.keep_channels(checked).await?;
        self.channels_status().await
    }

    /// Where secrets are kept and which merchant ids are set up.
    pub async fn channels_status(&self) -> Result<ChannelsStatusDto, ApiError> {
        let store = self.secret_store();
        let path = self.data_dir().map(|d| d.join(CHANNELS_FILE));
        let file = blocking(move || match path {
            Some(p) if p.exists() => ChannelsFile::load(&p)
                .map(Some)
                .map_err(|e| ApiError::new(ErrorCode::Storage, e.to_string())),
            _ => Ok(None),
        })
        .await?
        .unwrap_or_default();
        Ok(ChannelsStatusDto {
            secret_store: store.as_str().to_owned(),
            alipay_app_id: file.alipay.as_ref().map(|a| a.app_id.clone()),
            wechat_mchid: file.wechatpay.as_ref().map(|w| w.mchid.clone()),
            wechat_serial_no: file
                .wechatpay
                .as_ref()
                .map(|w| w.merchant_serial_no.clone()),
        })
    }
}
