//! Trust in the certificate a UnionPay answer carries (`signPubKeyCert`).
//!
//! UnionPay signs each answer with a key whose certificate travels in the
//! answer itself, so the certificate is only as good as its chain: it must
//! be issued by the configured intermediate, which must be issued by the
//! configured root; all three must be within their validity; the signing
//! certificate must not be a CA, must allow digital signatures, and its
//! subject CN (`…@…@<owner>@…`) must name UnionPay (docs/PROTOCOLS.md §10).

use chrono::{DateTime, Utc};
use rsa::pkcs8::DecodePublicKey;
use rsa::RsaPublicKey;
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::{ASN1Time, FromDer};

use crate::ChannelError;

/// The owner UnionPay's production signing certificates name in the third
/// `@`-separated part of their CN.
pub const UNIONPAY_CN_OWNER: &str = "中国银联股份有限公司";

/// The configured root and intermediate certificates and the expected owner.
#[derive(Clone)]
pub struct TrustAnchors {
    root_der: Vec<u8>,
    middle_der: Vec<u8>,
    owner: String,
}

impl std::fmt::Debug for TrustAnchors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustAnchors")
            .field("owner", &self.owner)
            .finish_non_exhaustive()
    }
}

/// The DER of the first certificate in a PEM text.
pub fn pem_to_der(pem: &str) -> Option<Vec<u8>> {
    let (_, block) = x509_parser::pem::parse_x509_pem(pem.trim().as_bytes()).ok()?;
    (block.label == "CERTIFICATE").then_some(block.contents)
}

fn parse(der: &[u8]) -> Option<X509Certificate<'_>> {
    X509Certificate::from_der(der)
        .ok()
        .filter(|(rest, _)| rest.is_empty())
        .map(|(_, c)| c)
}

/// The certificate's serial number in decimal: UnionPay's `certId`.
pub fn cert_id(pem: &str) -> Result<String, ChannelError> {
    let der = pem_to_der(pem).ok_or_else(|| ChannelError::config("not a PEM certificate"))?;
    let cert = parse(&der).ok_or_else(|| ChannelError::config("not an X.509 certificate"))?;
    Ok(cert.tbs_certificate.serial.to_str_radix(10))
}

/// The owner part of a UnionPay CN: the third `@`-separated field.
pub fn cn_owner(cn: &str) -> Option<&str> {
    cn.split('@').nth(2)
}

fn at(now: DateTime<Utc>) -> Result<ASN1Time, ChannelError> {
    ASN1Time::from_timestamp(now.timestamp())
        .map_err(|e| ChannelError::config(format!("the clock is out of range: {e}")))
}

impl TrustAnchors {
    /// Read the root and intermediate and check, once, that the
    /// intermediate is a CA issued by the root.
    pub fn new(root_pem: &str, middle_pem: &str, owner: &str) -> Result<Self, ChannelError> {
        let root_der = pem_to_der(root_pem)
            .ok_or_else(|| ChannelError::config("the root certificate is not a PEM certificate"))?;
        let middle_der = pem_to_der(middle_pem).ok_or_else(|| {
            ChannelError::config("the intermediate certificate is not a PEM certificate")
        })?;
        let root = parse(&root_der)
            .ok_or_else(|| ChannelError::config("the root certificate is not X.509"))?;
        let middle = parse(&middle_der)
            .ok_or_else(|| ChannelError::config("the intermediate certificate is not X.509"))?;
        if !is_ca(&root) || !is_ca(&middle) {
            return Err(ChannelError::config(
                "the root and intermediate certificates must both be CA certificates",
            ));
        }
        issued_by(&middle, &root).map_err(|why| {
            ChannelError::config(format!("the intermediate is not issued by the root: {why}"))
        })?;
        if owner.trim().is_empty() {
            return Err(ChannelError::config(
                "the expected certificate owner is empty",
            ));
        }
        Ok(TrustAnchors {
            root_der,
            middle_der,
            owner: owner.to_owned(),
        })
    }

    /// The RSA key of `cert_pem` if it may sign UnionPay answers at `now`;
    /// otherwise [`ChannelError::Untrusted`] saying why.
    pub fn signer_key(
        &self,
        cert_pem: &str,
        now: DateTime<Utc>,
    ) -> Result<RsaPublicKey, ChannelError> {
        let untrusted = |why: &str| ChannelError::untrusted(format!("signPubKeyCert: {why}"));
        let der = pem_to_der(cert_pem).ok_or_else(|| untrusted("not a PEM certificate"))?;
        let cert = parse(&der).ok_or_else(|| untrusted("not an X.509 certificate"))?;
        let (root, middle) = match (parse(&self.root_der), parse(&self.middle_der)) {
            (Some(r), Some(m)) => (r, m),
            _ => {
                return Err(ChannelError::config(
                    "the configured certificates no longer parse",
                ))
            }
        };
        issued_by(&cert, &middle).map_err(|why| {
            untrusted(&format!(
                "not issued by the configured intermediate ({why})"
            ))
        })?;
        let now = at(now)?;
        for (name, c) in [
            ("signing", &cert),
            ("intermediate", &middle),
            ("root", &root),
        ] {
            if !c.validity().is_valid_at(now) {
                return Err(untrusted(&format!(
                    "the {name} certificate is not valid now (valid {} to {})",
                    c.validity().not_before,
                    c.validity().not_after
                )));
            }
        }
        if is_ca(&cert) {
            return Err(untrusted("a CA certificate cannot sign answers"));
        }
        if let Ok(Some(usage)) = cert.key_usage() {
            if !usage.value.digital_signature() {
                return Err(untrusted(
                    "the certificate does not allow digital signatures",
                ));
            }
        }
        let cn = cert
            .subject()
            .iter_common_name()
            .next()
            .and_then(|a| a.as_str().ok())
            .unwrap_or("");
        if cn_owner(cn) != Some(self.owner.as_str()) {
            return Err(untrusted(&format!(
                "the certificate's CN {cn:?} does not name {}",
                self.owner
            )));
        }
        RsaPublicKey::from_public_key_der(cert.public_key().raw)
            .map_err(|_| untrusted("the certificate's key is not an RSA key"))
    }
}

fn is_ca(c: &X509Certificate<'_>) -> bool {
    matches!(c.basic_constraints(), Ok(Some(bc)) if bc.value.ca)
}

fn issued_by(child: &X509Certificate<'_>, issuer: &X509Certificate<'_>) -> Result<(), String> {
    if child.issuer().as_raw() != issuer.subject().as_raw() {
        return Err(format!(
            "issuer {} is not {}",
            child.issuer(),
            issuer.subject()
        ));
    }
    child
        .verify_signature(Some(issuer.public_key()))
        .map_err(|e| format!("the issuer's signature does not verify: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_owner_is_the_third_part_of_the_cn() {
        assert_eq!(
            cn_owner("041@Z2026@中国银联股份有限公司@00000001"),
            Some(UNIONPAY_CN_OWNER)
        );
        assert_eq!(cn_owner("041@00040000:SIGN"), None);
        assert_eq!(cn_owner("plain name"), None);
    }
}
