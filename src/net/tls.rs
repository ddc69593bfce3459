//! TLS for outbound connections (model providers, chat APIs): rustls on ring with the Mozilla root
//! set compiled in, plus any extra roots named by `SSL_CERT_FILE` or `NODE_EXTRA_CA_CERTS` (a
//! corporate proxy's CA, or a test's self-signed one). The client config is built on first use, so
//! a gateway that never dials out never pays for it.

use futures_rustls::TlsConnector;
use futures_rustls::rustls::pki_types::pem::PemObject;
use futures_rustls::rustls::pki_types::{CertificateDer, ServerName};
use futures_rustls::rustls::{ClientConfig, RootCertStore};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

pub type TlsStream<S> = futures_rustls::client::TlsStream<S>;

/// Environment variables naming PEM files with extra trusted roots (OpenSSL's and Node's names).
pub const EXTRA_ROOTS_ENV: &[&str] = &["SSL_CERT_FILE", "NODE_EXTRA_CA_CERTS"];

fn connector() -> &'static TlsConnector {
    static CONNECTOR: OnceLock<TlsConnector> = OnceLock::new();
    CONNECTOR.get_or_init(|| {
        let extra: Vec<(&str, PathBuf)> = EXTRA_ROOTS_ENV
            .iter()
            .filter_map(|var| std::env::var_os(var).filter(|p| !p.is_empty()).map(|p| (*var, PathBuf::from(p))))
            .collect();
        build_connector(&extra)
    })
}

/// A connector trusting the built-in roots plus the PEM files in `extra` (named by where the
/// path came from, for the log).
fn build_connector(extra: &[(&str, PathBuf)]) -> TlsConnector {
    let mut roots = RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    for (origin, path) in extra {
        match load_pem_roots(path) {
            Ok(certs) => {
                let (added, ignored) = roots.add_parsable_certificates(certs);
                log::debug!(target: "tls", "{origin}: {added} extra root(s) trusted, {ignored} unusable");
            }
            Err(e) => log::warn!(target: "tls", "{origin}={}: {e}; using the built-in roots only", path.display()),
        }
    }
    let provider = Arc::new(futures_rustls::rustls::crypto::ring::default_provider());
    #[allow(clippy::expect_used)] // Invariant: the ring provider supports the default TLS versions.
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    TlsConnector::from(Arc::new(config))
}

fn load_pem_roots(path: &Path) -> io::Result<Vec<CertificateDer<'static>>> {
    let bytes = std::fs::read(path)?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&bytes).filter_map(Result::ok).collect();
    if certs.is_empty() {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "no PEM certificates in the file"));
    }
    Ok(certs)
}

/// Runs the TLS handshake over `stream` for `host` (a DNS name or an IP address).
pub async fn connect<S>(host: &str, stream: S) -> io::Result<TlsStream<S>>
where
    S: smol::io::AsyncRead + smol::io::AsyncWrite + Unpin,
{
    connect_with(connector(), host, stream).await
}

async fn connect_with<S>(connector: &TlsConnector, host: &str, stream: S) -> io::Result<TlsStream<S>>
where
    S: smol::io::AsyncRead + smol::io::AsyncWrite + Unpin,
{
    let name = ServerName::try_from(host.to_string())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, format!("invalid TLS server name {host:?}")))?;
    connector.connect(name, stream).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_rustls::TlsAcceptor;
    use futures_rustls::rustls::ServerConfig;
    use futures_rustls::rustls::pki_types::PrivateKeyDer;
    use smol::Async;
    use smol::io::{AsyncReadExt, AsyncWriteExt};
    use std::net::{TcpListener, TcpStream};

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls").join(name)
    }

    fn acceptor() -> TlsAcceptor {
        let certs = load_pem_roots(&fixture("server.pem")).unwrap();
        let key = PrivateKeyDer::from_pem_file(fixture("server.key")).unwrap();
        let provider = Arc::new(futures_rustls::rustls::crypto::ring::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
        TlsAcceptor::from(Arc::new(config))
    }

    /// Serves one TLS connection that echoes a line back; returns the port.
    fn echo_server() -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            smol::block_on(async {
                let listener = Async::new(listener).unwrap();
                while let Ok((tcp, _)) = listener.accept().await {
                    let Ok(mut tls) = acceptor().accept(tcp).await else { continue };
                    let mut buf = [0u8; 5];
                    if tls.read_exact(&mut buf).await.is_ok() {
                        let _ = tls.write_all(&buf).await;
                        let _ = tls.flush().await;
                    }
                }
            })
        });
        port
    }

    #[test]
    fn trusts_an_extra_root_and_refuses_unknown_issuers() {
        let port = echo_server();
        smol::block_on(async {
            let trusting = build_connector(&[("test", fixture("ca.pem"))]);
            let tcp = Async::<TcpStream>::connect(([127, 0, 0, 1], port)).await.unwrap();
            let mut tls = connect_with(&trusting, "localhost", tcp).await.unwrap();
            tls.write_all(b"hello").await.unwrap();
            tls.flush().await.unwrap();
            let mut back = [0u8; 5];
            tls.read_exact(&mut back).await.unwrap();
            assert_eq!(&back, b"hello");

            let default_roots = build_connector(&[]);
            let tcp = Async::<TcpStream>::connect(([127, 0, 0, 1], port)).await.unwrap();
            let Err(err) = connect_with(&default_roots, "localhost", tcp).await else { panic!("an unknown issuer is refused") };
            assert!(err.to_string().to_lowercase().contains("certificate"), "{err}");

            let tcp = Async::<TcpStream>::connect(([127, 0, 0, 1], port)).await.unwrap();
            let Err(err) = connect_with(&trusting, "example.com", tcp).await else { panic!("a name mismatch is refused") };
            assert!(err.to_string().to_lowercase().contains("certificate"), "{err}");
        });
    }
}
