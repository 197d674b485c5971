//! The simulated UnionPay's certificates: a test root CA, an intermediate
//! it issued, and certificates the intermediate issued for UnionPay's
//! signing key and for the merchant's key.
//!
//! The CAs use P-256 keys (quick to make); the signing and merchant keys are
//! RSA-2048 because ACP `signMethod=01` is RSA. Three extra certificates for
//! the same signing key let the fault switch `unionpay_cert` present an
//! expired one, one from a CA nobody configured, and one naming another
//! owner, each of which a client must refuse.

use rand::Rng;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SerialNumber,
};
use serde::{Deserialize, Serialize};

use crate::SimError;

/// The owner a UnionPay production signing certificate names in its CN.
pub const UNIONPAY_OWNER: &str = "中国银联股份有限公司";

const MIDDLE_CN: &str = "Shouyin Simulator UnionPay Test Intermediate";

/// Everything the simulator keeps about its UnionPay PKI.
#[derive(Clone, Serialize, Deserialize)]
pub struct Pki {
    pub root_cert_pem: String,
    pub middle_cert_pem: String,
    /// The intermediate's key, to issue a merchant certificate again when
    /// the merchant's credentials are lost.
    pub middle_key_pem: String,
    pub sign_cert_pem: String,
    pub expired_cert_pem: String,
    pub rogue_cert_pem: String,
    pub wrong_owner_cert_pem: String,
}

// The intermediate's private key never reaches a log line.
impl std::fmt::Debug for Pki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pki").finish_non_exhaustive()
    }
}

fn err(what: &str) -> impl FnOnce(rcgen::Error) -> SimError + '_ {
    move |e| SimError::Key(format!("{what}: {e}"))
}

/// A positive serial whose decimal form is the `certId`.
fn serial() -> (SerialNumber, String) {
    let mut rng = rand::thread_rng();
    // The top byte in 0x10..0x7f keeps the DER integer positive and minimal.
    let n: u64 = (u64::from(rng.gen_range(0x10u8..0x7f)) << 56) | rng.gen_range(0..1u64 << 56);
    (SerialNumber::from_slice(&n.to_be_bytes()), n.to_string())
}

fn ca_params(cn: &str) -> Result<CertificateParams, SimError> {
    let mut p = CertificateParams::new(Vec::<String>::new()).map_err(err("CA parameters"))?;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, cn);
    p.distinguished_name
        .push(DnType::OrganizationName, "Shouyin Simulator");
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p.not_before = rcgen::date_time_ymd(2024, 1, 1);
    p.not_after = rcgen::date_time_ymd(2050, 1, 1);
    p.serial_number = Some(serial().0);
    Ok(p)
}

/// A leaf for an RSA key (PKCS#8 PEM), valid `years`, with `cn`.
fn leaf(
    key_pem: &str,
    cn: &str,
    years: (i32, i32),
    issuer: &Issuer<'_, KeyPair>,
) -> Result<(String, String), SimError> {
    let key = KeyPair::from_pkcs8_pem_and_sign_algo(key_pem, &rcgen::PKCS_RSA_SHA256)
        .map_err(err("RSA key"))?;
    let mut p = CertificateParams::new(Vec::<String>::new()).map_err(err("leaf parameters"))?;
    p.is_ca = IsCa::ExplicitNoCa;
    p.distinguished_name.push(DnType::CommonName, cn);
    p.distinguished_name
        .push(DnType::OrganizationName, "Shouyin Simulator");
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::ContentCommitment,
    ];
    p.not_before = rcgen::date_time_ymd(years.0, 1, 1);
    p.not_after = rcgen::date_time_ymd(years.1, 1, 1);
    let (serial, cert_id) = serial();
    p.serial_number = Some(serial);
    let cert = p.signed_by(&key, issuer).map_err(err("leaf certificate"))?;
    Ok((cert.pem(), cert_id))
}

/// A fresh PKI around UnionPay's signing key (PKCS#8 PEM).
pub fn create(sign_key_pem: &str) -> Result<Pki, SimError> {
    let root_key = KeyPair::generate().map_err(err("root key"))?;
    let root =
        CertifiedIssuer::self_signed(ca_params("Shouyin Simulator UnionPay Test Root")?, root_key)
            .map_err(err("root certificate"))?;
    let middle_key = KeyPair::generate().map_err(err("intermediate key"))?;
    let middle_key_pem = middle_key.serialize_pem();
    let middle = CertifiedIssuer::signed_by(ca_params(MIDDLE_CN)?, middle_key, &root)
        .map_err(err("intermediate certificate"))?;
    let signer_cn = format!("041@Z2024@{UNIONPAY_OWNER}@00000001");
    let (sign_cert_pem, _) = leaf(sign_key_pem, &signer_cn, (2024, 2046), &middle)?;
    let (expired_cert_pem, _) = leaf(sign_key_pem, &signer_cn, (2020, 2021), &middle)?;
    let (wrong_owner_cert_pem, _) = leaf(
        sign_key_pem,
        "041@Z2024@Someone Else Ltd@00000001",
        (2024, 2046),
        &middle,
    )?;
    // A look-alike chain nobody configured: same names, other keys.
    let rogue_root = CertifiedIssuer::self_signed(
        ca_params("Shouyin Simulator UnionPay Test Root")?,
        KeyPair::generate().map_err(err("rogue root key"))?,
    )
    .map_err(err("rogue root"))?;
    let rogue_middle = CertifiedIssuer::signed_by(
        ca_params(MIDDLE_CN)?,
        KeyPair::generate().map_err(err("rogue intermediate key"))?,
        &rogue_root,
    )
    .map_err(err("rogue intermediate"))?;
    let (rogue_cert_pem, _) = leaf(sign_key_pem, &signer_cn, (2024, 2046), &rogue_middle)?;
    Ok(Pki {
        root_cert_pem: root.pem(),
        middle_cert_pem: middle.pem(),
        middle_key_pem,
        sign_cert_pem,
        expired_cert_pem,
        rogue_cert_pem,
        wrong_owner_cert_pem,
    })
}

/// The intermediate as an issuer again, from what [`Pki`] kept.
fn middle_issuer(pki: &Pki) -> Result<Issuer<'static, KeyPair>, SimError> {
    let key = KeyPair::from_pem(&pki.middle_key_pem).map_err(err("intermediate key"))?;
    // The same names and key as when it was made: what an issuer is.
    Ok(Issuer::new(ca_params(MIDDLE_CN)?, key))
}

/// Issue the merchant's signing certificate for its RSA key (PKCS#8 PEM):
/// `(certificate PEM, certId)`.
pub fn merchant_cert(pki: &Pki, mer_id: &str, key_pem: &str) -> Result<(String, String), SimError> {
    let issuer = middle_issuer(pki)?;
    leaf(
        key_pem,
        &format!("041@Z2024@{mer_id}@00000001"),
        (2024, 2046),
        &issuer,
    )
}
