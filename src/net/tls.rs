//! TLS for outbound connections (model providers, chat APIs): rustls on ring, trusting the roots
//! that [`super::roots`] finds (the system's CA bundle; see there). The client config is built on
//! first use, so a gateway that never dials out never reads a bundle nor holds its roots.

use futures_rustls::TlsConnector;
use futures_rustls::rustls::pki_types::ServerName;
use futures_rustls::rustls::{ClientConfig, RootCertStore};
use std::io;
use std::sync::{Arc, OnceLock};

use super::roots::{self, RootSources};

pub type TlsStream<S> = futures_rustls::client::TlsStream<S>;

/// The connector, built at the first connection. A failure (no CA bundle) is not kept: installing
/// ca-certificates or fixing `SSL_CERT_FILE` takes effect at the next connection, without a
/// restart. The bundle is read synchronously: a few hundred KB from local disk, once.
fn connector() -> io::Result<&'static TlsConnector> {
    static CONNECTOR: OnceLock<TlsConnector> = OnceLock::new();
    if let Some(connector) = CONNECTOR.get() {
        return Ok(connector);
    }
    let roots = roots::load(&RootSources::from_env())?;
    Ok(CONNECTOR.get_or_init(|| connector_trusting(roots)))
}

fn connector_trusting(roots: RootCertStore) -> TlsConnector {
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

/// Runs the TLS handshake over `stream` for `host` (a DNS name or an IP address).
pub async fn connect<S>(host: &str, stream: S) -> io::Result<TlsStream<S>>
where
    S: smol::io::AsyncRead + smol::io::AsyncWrite + Unpin,
{
    connect_with(connector()?, host, stream).await
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
    use futures_rustls::rustls::pki_types::pem::PemObject;
    use futures_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use smol::Async;
    use smol::io::{AsyncReadExt, AsyncWriteExt};
    use std::ffi::OsString;
    use std::net::{TcpListener, TcpStream};
    use std::path::{Path, PathBuf};

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls").join(name)
    }

    fn acceptor() -> TlsAcceptor {
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_file_iter(fixture("server.pem")).unwrap().map(Result::unwrap).collect();
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

    /// A connector as the gateway builds it from an environment holding only `SSL_CERT_FILE`.
    fn connector_with_ssl_cert_file(name: &str) -> TlsConnector {
        let path = fixture(name);
        let vars = |var: &str| (var == "SSL_CERT_FILE").then(|| OsString::from(&path));
        connector_trusting(roots::load(&RootSources::from_vars(vars)).unwrap())
    }

    #[test]
    fn trusts_the_ssl_cert_file_bundle_and_refuses_unknown_issuers() {
        let port = echo_server();
        smol::block_on(async {
            let trusting = connector_with_ssl_cert_file("ca.pem");
            let tcp = Async::<TcpStream>::connect(([127, 0, 0, 1], port)).await.unwrap();
            let mut tls = connect_with(&trusting, "localhost", tcp).await.unwrap();
            tls.write_all(b"hello").await.unwrap();
            tls.flush().await.unwrap();
            let mut back = [0u8; 5];
            tls.read_exact(&mut back).await.unwrap();
            assert_eq!(&back, b"hello");

            // A bundle without the server's issuer (the server's own certificate is no CA).
            let other_roots = connector_with_ssl_cert_file("server.pem");
            let tcp = Async::<TcpStream>::connect(([127, 0, 0, 1], port)).await.unwrap();
            let Err(err) = connect_with(&other_roots, "localhost", tcp).await else { panic!("an unknown issuer is refused") };
            assert!(err.to_string().to_lowercase().contains("certificate"), "{err}");

            let tcp = Async::<TcpStream>::connect(([127, 0, 0, 1], port)).await.unwrap();
            let Err(err) = connect_with(&trusting, "example.com", tcp).await else { panic!("a name mismatch is refused") };
            assert!(err.to_string().to_lowercase().contains("certificate"), "{err}");
        });
    }
}
