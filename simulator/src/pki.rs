//! A throwaway PKI for the demo, the benchmarks and the tests: a CA and a server certificate for
//! `localhost` and 127.0.0.1 signed by it (rcgen, ring), written as PEM files.

use anyhow::Result;
use std::path::{Path, PathBuf};

pub struct Pki {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Pki {
    pub fn create(dir: &Path) -> Result<Pki> {
        let ca_key = rcgen::KeyPair::generate()?;
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new())?;
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca.distinguished_name.push(rcgen::DnType::CommonName, "Tote throwaway CA");
        let ca = ca.self_signed(&ca_key)?;
        let key = rcgen::KeyPair::generate()?;
        let leaf = rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])?.signed_by(&key, &ca, &ca_key)?;
        std::fs::create_dir_all(dir)?;
        let pki = Pki { ca: dir.join("ca.pem"), cert: dir.join("server.pem"), key: dir.join("server.key") };
        std::fs::write(&pki.ca, ca.pem())?;
        std::fs::write(&pki.cert, leaf.pem())?;
        std::fs::write(&pki.key, key.serialize_pem())?;
        Ok(pki)
    }

    /// The TOML inline table for a `tls` setting.
    pub fn toml(&self) -> String {
        format!("{{ cert_file = \"{}\", key_file = \"{}\" }}", self.cert.display(), self.key.display())
    }

    /// An HTTP client that trusts this CA and nothing else.
    pub fn client(&self) -> Result<reqwest::Client> {
        let ca = reqwest::Certificate::from_pem(&std::fs::read(&self.ca)?)?;
        Ok(reqwest::Client::builder()
            .tls_built_in_root_certs(false)
            .add_root_certificate(ca)
            .pool_max_idle_per_host(64)
            .timeout(std::time::Duration::from_secs(30))
            .build()?)
    }
}
