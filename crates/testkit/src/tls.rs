//! A shop's private certificate authority, for head office over HTTPS in
//! tests: the kind of CA a chain runs itself, not a public one.

use std::path::{Path, PathBuf};

/// PEM files written by [`private_ca`].
#[derive(Debug, Clone)]
pub struct PrivateCa {
    /// The CA's certificate: what a terminal is told to trust.
    pub ca: PathBuf,
    /// Head office's certificate, for 127.0.0.1 and localhost, signed by the CA.
    pub cert: PathBuf,
    /// Head office's private key.
    pub key: PathBuf,
}

/// Makes a CA and a server certificate it signs, as PEM files in `dir`.
pub fn private_ca(dir: &Path) -> PrivateCa {
    let failed = |what: &str, e: rcgen::Error| -> ! { panic!("{what}: {e}") };
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new())
        .unwrap_or_else(|e| failed("CA parameters", e));
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Test shop CA");
    let ca_key = rcgen::KeyPair::generate().unwrap_or_else(|e| failed("CA key", e));
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key)
        .unwrap_or_else(|e| failed("CA certificate", e));
    let key = rcgen::KeyPair::generate().unwrap_or_else(|e| failed("server key", e));
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .unwrap_or_else(|e| failed("server parameters", e))
        .signed_by(&key, &ca)
        .unwrap_or_else(|e| failed("server certificate", e));
    let files = PrivateCa {
        ca: dir.join("shop-ca.pem"),
        cert: dir.join("hq-cert.pem"),
        key: dir.join("hq-key.pem"),
    };
    for (path, pem) in [
        (&files.ca, ca.pem()),
        (&files.cert, cert.pem()),
        (&files.key, key.serialize_pem()),
    ] {
        std::fs::write(path, pem).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    }
    files
}
