//! TLS from PEM files, for whatever a daemon serves (HTTPS, MQTT over TLS) and the clients that
//! verify it against a private CA. rustls on the ring provider, chosen explicitly so the
//! process-wide default (which depends on the features other crates switch on) never matters.

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A server's certificate chain and private key, as PEM files.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// The certificate chain, leaf first (PEM).
    pub cert_file: PathBuf,
    /// Its private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read certificates from {path}: {why}")]
    Certificates { path: PathBuf, why: String },
    #[error("cannot read a private key from {path}: {why}")]
    Key { path: PathBuf, why: String },
    #[error("the certificate and key do not make a TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Every certificate in a PEM file (at least one).
pub fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let why = |why: String| TlsError::Certificates { path: path.to_owned(), why };
    let certs = CertificateDer::pem_file_iter(path).map_err(|e| why(e.to_string()))?.collect::<Result<Vec<_>, _>>().map_err(|e| why(e.to_string()))?;
    if certs.is_empty() {
        return Err(why("no CERTIFICATE block".into()));
    }
    Ok(certs)
}

/// The server side: TLS 1.2 and 1.3, no client certificates, HTTP/1.1 offered by ALPN when
/// `alpn` names it.
pub fn server_config(files: &TlsFiles, alpn: &[&[u8]]) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let chain = certificates(&files.cert_file)?;
    let key = PrivateKeyDer::from_pem_file(&files.key_file).map_err(|e| TlsError::Key { path: files.key_file.clone(), why: e.to_string() })?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// An acceptor for `files`, or None when the daemon serves plain TCP.
pub fn acceptor(files: Option<&TlsFiles>, alpn: &[&[u8]]) -> Result<Option<tokio_rustls::TlsAcceptor>, TlsError> {
    files.map(|f| server_config(f, alpn).map(tokio_rustls::TlsAcceptor::from)).transpose()
}

/// The client side, trusting only the CA certificates in `ca_file` (a private PKI: the
/// system's roots are not consulted).
pub fn client_config(ca_file: &Path) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in certificates(ca_file)? {
        roots.add(cert)?;
    }
    let config = rustls::ClientConfig::builder_with_provider(provider()).with_safe_default_protocol_versions()?.with_root_certificates(roots).with_no_client_auth();
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A CA and a server certificate for `localhost`/127.0.0.1 signed by it, written to `dir`.
    fn pki(dir: &Path) -> (TlsFiles, PathBuf) {
        let ca_key = rcgen::KeyPair::generate().expect("a CA key");
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = ca.self_signed(&ca_key).expect("a CA certificate");
        let key = rcgen::KeyPair::generate().expect("a server key");
        let leaf = rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).expect("leaf params").signed_by(&key, &ca, &ca_key).expect("a server certificate");
        let files = TlsFiles { cert_file: dir.join("server.pem"), key_file: dir.join("server.key") };
        std::fs::write(&files.cert_file, leaf.pem()).expect("write cert");
        std::fs::write(&files.key_file, key.serialize_pem()).expect("write key");
        std::fs::write(dir.join("ca.pem"), ca.pem()).expect("write CA");
        (files, dir.join("ca.pem"))
    }

    #[tokio::test]
    async fn a_client_trusting_the_ca_talks_to_the_server() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let (files, ca) = pki(dir.path());
        let acceptor = acceptor(Some(&files), &[]).expect("server config").expect("an acceptor");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.expect("accept");
            let mut tls = acceptor.accept(tcp).await.expect("handshake");
            let mut buf = [0u8; 5];
            tls.read_exact(&mut buf).await.expect("read");
            tls.write_all(&buf).await.expect("echo");
            tls.shutdown().await.expect("close");
        });
        let connector = tokio_rustls::TlsConnector::from(client_config(&ca).expect("client config"));
        let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let mut tls = connector.connect(rustls_pki_types::ServerName::try_from("localhost").expect("name"), tcp).await.expect("client handshake");
        tls.write_all(b"hello").await.expect("write");
        let mut echoed = Vec::new();
        tls.read_to_end(&mut echoed).await.expect("read back");
        assert_eq!(echoed, b"hello");
        server.await.expect("server task");
    }

    #[tokio::test]
    async fn a_client_trusting_another_ca_refuses_the_server() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let (files, _) = pki(dir.path());
        let other = tempfile::tempdir().expect("another temp dir");
        let (_, other_ca) = pki(other.path());
        let acceptor = acceptor(Some(&files), &[]).expect("server config").expect("an acceptor");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.expect("accept");
            acceptor.accept(tcp).await.is_err()
        });
        let connector = tokio_rustls::TlsConnector::from(client_config(&other_ca).expect("client config"));
        let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let outcome = connector.connect(rustls_pki_types::ServerName::try_from("localhost").expect("name"), tcp).await;
        let refused = outcome.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(refused.contains("invalid peer certificate"), "a server whose CA the client does not trust is refused: {refused:?}");
        assert!(server.await.expect("server task"), "the server sees the handshake fail");
    }

    #[test]
    fn missing_or_empty_files_are_named() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "").expect("write");
        let files = TlsFiles { cert_file: empty.clone(), key_file: dir.path().join("none.key") };
        assert!(matches!(server_config(&files, &[]), Err(TlsError::Certificates { path, .. }) if path == empty));
        let (good, _) = pki(dir.path());
        let files = TlsFiles { cert_file: good.cert_file, key_file: dir.path().join("none.key") };
        assert!(matches!(server_config(&files, &[]), Err(TlsError::Key { .. })));
    }
}
