//! WeChat Pay API v2 request signing (MD5 or HMAC-SHA256), still needed by
//! some partner set-ups. Only the signature is implemented here.

use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use sha2::Sha256;

/// Which v2 signature (`sign_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum V2SignType {
    Md5,
    HmacSha256,
}

/// The v2 `sign`: non-empty parameters except `sign`, sorted by key bytes,
/// joined `k=v&…`, then `&key=<API v2 key>`; MD5 or HMAC-SHA256 (keyed with
/// the API key), upper-case hex.
pub fn v2_sign<K: AsRef<str>, V: AsRef<str>>(
    params: &[(K, V)],
    api_key: &str,
    sign_type: V2SignType,
) -> String {
    let mut kept: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_ref(), v.as_ref()))
        .filter(|(k, v)| *k != "sign" && !k.is_empty() && !v.is_empty())
        .collect();
    kept.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut text = kept
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    text.push_str("&key=");
    text.push_str(api_key);
    let digest = match sign_type {
        V2SignType::Md5 => Md5::digest(text.as_bytes()).to_vec(),
        V2SignType::HmacSha256 => {
            // HMAC accepts keys of any length; the error case cannot occur.
            match <Hmac<Sha256> as Mac>::new_from_slice(api_key.as_bytes()) {
                Ok(mut mac) => {
                    mac.update(text.as_bytes());
                    mac.finalize().into_bytes().to_vec()
                }
                Err(_) => Vec::new(),
            }
        }
    };
    hex::encode_upper(digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// V6: the official v2 security-spec example.
    #[test]
    fn v6_official_example() {
        let params = [
            ("appid", "wxd930ea5d5a258f4f"),
            ("mch_id", "10000100"),
            ("device_info", "1000"),
            ("body", "test"),
            ("nonce_str", "ibuaiVcKdpRxkhJA"),
            ("sign", "ignored"),
            ("empty", ""),
        ];
        let key = "192006250b4c09247ec02edce69f6a2d";
        assert_eq!(
            v2_sign(&params, key, V2SignType::Md5),
            "9A0A8659F005D6984697E2CA0A9CF3B7"
        );
        assert_eq!(
            v2_sign(&params, key, V2SignType::HmacSha256),
            "6A9AE1657590FD6257D693A078E1C3E4BB6BA4DC30B23E0EE2496E54170DACD6"
        );
    }
}
