//! Test certificates made at test time with `rcgen` (no openssl): a CA, a
//! server certificate for `localhost` and 127.0.0.1 signed by it, a client
//! certificate signed by it, and an unrelated CA. Written as PEM files to a
//! fresh directory that is removed on drop.

use std::path::{Path, PathBuf};

use anyhow::Context;
use passer::security::TlsFiles;
use rcgen::{BasicConstraints, Certificate, CertificateParams, DnType, IsCa, KeyPair};

/// PEM files of a test PKI.
pub struct TestPki {
    dir: PathBuf,
}

struct Authority {
    cert: Certificate,
    key: KeyPair,
}

fn authority(name: &str) -> anyhow::Result<Authority> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    Ok(Authority { cert: params.self_signed(&key)?, key })
}

fn leaf(issuer: &Authority, name: &str, alt_names: &[&str]) -> anyhow::Result<(String, String)> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(alt_names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())?;
    params.distinguished_name.push(DnType::CommonName, name);
    let cert = params.signed_by(&key, &issuer.cert, &issuer.key)?;
    Ok((cert.pem(), key.serialize_pem()))
}

impl TestPki {
    /// Generates the certificates into a new temporary directory.
    pub fn generate() -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(crate::unique_name("passer-pki"));
        std::fs::create_dir_all(&dir).context("create the pki directory")?;
        let ca = authority("passer test CA")?;
        let other = authority("some other CA")?;
        let (server_cert, server_key) = leaf(&ca, "passer server", &["localhost", "127.0.0.1"])?;
        let (client_cert, client_key) = leaf(&ca, "passer client", &["passer-client"])?;
        let files = [
            ("ca.pem", ca.cert.pem()),
            ("other-ca.pem", other.cert.pem()),
            ("server.pem", server_cert),
            ("server.key", server_key),
            ("client.pem", client_cert),
            ("client.key", client_key),
        ];
        for (name, contents) in files {
            std::fs::write(dir.join(name), contents).with_context(|| format!("write {name}"))?;
        }
        Ok(Self { dir })
    }

    /// The path of one of the files.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The directory holding the files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Server flags: TLS with the server certificate, peers checked against
    /// the CA; with `mutual`, clients must present a certificate of the CA.
    pub fn server_args(&self, mutual: bool) -> Vec<String> {
        let mut args = vec![
            "--tls-cert".to_owned(),
            self.path("server.pem").display().to_string(),
            "--tls-key".to_owned(),
            self.path("server.key").display().to_string(),
            "--tls-ca".to_owned(),
            self.path("ca.pem").display().to_string(),
        ];
        if mutual {
            args.extend(["--tls-client-ca".to_owned(), self.path("ca.pem").display().to_string()]);
        }
        args
    }

    /// Client TLS trusting `ca_file`, with the client certificate if `with_cert`.
    pub fn client(&self, ca_file: &str, with_cert: bool) -> TlsFiles {
        TlsFiles {
            ca: Some(self.path(ca_file)),
            cert: with_cert.then(|| self.path("client.pem")),
            key: with_cert.then(|| self.path("client.key")),
            domain: None,
        }
    }
}

impl Drop for TestPki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
