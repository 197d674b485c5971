//! SHA256withRSA (PKCS#1 v1.5) signing and verification, and key parsing.
//!
//! Both channels use the same primitive; what differs is the text that is
//! signed, which the channel modules build.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use rsa::pkcs1::{DecodeRsaPrivateKey, DecodeRsaPublicKey};
use rsa::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding,
};
use rsa::{Pkcs1v15Sign, RsaPrivateKey, RsaPublicKey};
use sha2::{Digest, Sha256};

use crate::SimError;

/// Key size of every generated key pair.
pub const KEY_BITS: usize = 2048;

/// Sign `message` and return standard base64 without line breaks.
pub fn sign_base64(key: &RsaPrivateKey, message: &[u8]) -> Result<String, SimError> {
    let digest = Sha256::digest(message);
    let sig = key
        .sign(Pkcs1v15Sign::new::<Sha256>(), &digest)
        .map_err(|e| SimError::Key(format!("signing failed: {e}")))?;
    Ok(B64.encode(sig))
}

/// True when `signature_b64` is a valid signature of `message` by `key`.
/// Malformed base64 is simply not a valid signature.
pub fn verify_base64(key: &RsaPublicKey, message: &[u8], signature_b64: &str) -> bool {
    let Ok(sig) = B64.decode(signature_b64.trim()) else {
        return false;
    };
    let digest = Sha256::digest(message);
    key.verify(Pkcs1v15Sign::new::<Sha256>(), &digest, &sig)
        .is_ok()
}

/// A fresh key pair, private half as PKCS#8 PEM, public half as SPKI PEM.
pub fn generate_pem_pair() -> Result<(String, String), SimError> {
    let mut rng = rand::rngs::OsRng;
    let key = RsaPrivateKey::new(&mut rng, KEY_BITS)
        .map_err(|e| SimError::Key(format!("key generation failed: {e}")))?;
    let private = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| SimError::Key(format!("cannot encode private key: {e}")))?;
    let public = key
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| SimError::Key(format!("cannot encode public key: {e}")))?;
    Ok((private.to_string(), public))
}

/// Parse a private key in PKCS#8 or PKCS#1 PEM, or as the bare base64 the
/// channel consoles hand out.
pub fn parse_private_key(text: &str) -> Result<RsaPrivateKey, SimError> {
    let text = text.trim();
    if let Ok(k) = RsaPrivateKey::from_pkcs8_pem(text) {
        return Ok(k);
    }
    if let Ok(k) = RsaPrivateKey::from_pkcs1_pem(text) {
        return Ok(k);
    }
    if let Ok(der) = B64.decode(strip_whitespace(text)) {
        if let Ok(k) = RsaPrivateKey::from_pkcs8_der(&der) {
            return Ok(k);
        }
        if let Ok(k) = RsaPrivateKey::from_pkcs1_der(&der) {
            return Ok(k);
        }
    }
    Err(SimError::Key(
        "not an RSA private key (PKCS#8 or PKCS#1)".into(),
    ))
}

/// Parse a public key in SPKI or PKCS#1 PEM, or bare base64.
pub fn parse_public_key(text: &str) -> Result<RsaPublicKey, SimError> {
    let text = text.trim();
    if let Ok(k) = RsaPublicKey::from_public_key_pem(text) {
        return Ok(k);
    }
    if let Ok(k) = RsaPublicKey::from_pkcs1_pem(text) {
        return Ok(k);
    }
    if let Ok(der) = B64.decode(strip_whitespace(text)) {
        if let Ok(k) = RsaPublicKey::from_public_key_der(&der) {
            return Ok(k);
        }
        if let Ok(k) = RsaPublicKey::from_pkcs1_der(&der) {
            return Ok(k);
        }
    }
    Err(SimError::Key(
        "not an RSA public key (SPKI or PKCS#1)".into(),
    ))
}

fn strip_whitespace(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn reproduces_the_official_wechat_request_vector_v2() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../testdata/wechatpay_doc_apiclient_test_key.pem"
        );
        let pem = std::fs::read_to_string(path).expect("the repository's testdata/");
        let key = parse_private_key(&pem).unwrap();
        let msg = "GET\n/v3/refund/domestic/refunds/123123123123\n1554208460\n593BEC0C930BF1AFEB40B4A08C8FB242\n\n";
        let sig = sign_base64(&key, msg.as_bytes()).unwrap();
        assert!(sig.starts_with("Lc9VXxmeonkdV8Xk9tmigQFLhl0vRWTerdmoRu01aAnYwIrD"));
        assert!(sig.ends_with("G65G4dMKdFcoA=="));
        assert!(verify_base64(&key.to_public_key(), msg.as_bytes(), &sig));
        assert!(!verify_base64(&key.to_public_key(), b"other", &sig));
        assert!(!verify_base64(
            &key.to_public_key(),
            msg.as_bytes(),
            "not base64!"
        ));
    }
}
