//! TLS for outbound connections (model providers, chat APIs): rustls on ring, with P-256 from
//! RustCrypto ([`provider`] says why), trusting the roots that [`super::roots`] finds (the
//! system's CA bundle; see there). The client config is built on first use, so a gateway that
//! never dials out never reads a bundle nor holds its roots.

use futures_rustls::TlsConnector;
use futures_rustls::rustls::pki_types::ServerName;
use futures_rustls::rustls::{ClientConfig, RootCertStore};
use std::io;
use std::sync::{Arc, OnceLock};

use super::roots::{self, RootSources};

mod p256;
mod provider;

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
    #[allow(clippy::expect_used)] // Invariant: the provider has suites for both default TLS versions.
    let mut config = ClientConfig::builder_with_provider(Arc::new(provider::client()))
        .with_safe_default_protocol_versions()
        .expect("the provider supports the default TLS versions")
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
    use futures_rustls::rustls::crypto::SupportedKxGroup;
    use futures_rustls::rustls::crypto::ring::kx_group;
    use futures_rustls::rustls::pki_types::pem::PemObject;
    use futures_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use futures_rustls::rustls::{NamedGroup, ProtocolVersion, ServerConfig, SupportedProtocolVersion};
    use smol::Async;
    use smol::io::{AsyncReadExt, AsyncWriteExt};
    use std::ffi::OsString;
    use std::net::{TcpListener, TcpStream};
    use std::path::{Path, PathBuf};

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls").join(name)
    }

    /// A server with ring's whole provider (its own P-256 included), presenting the certificate
    /// `<prefix>server.pem`, limited to one TLS version and one key exchange group if asked.
    fn acceptor(
        prefix: &str,
        version: Option<&'static SupportedProtocolVersion>,
        group: Option<&'static dyn SupportedKxGroup>,
    ) -> TlsAcceptor {
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_file_iter(fixture(&format!("{prefix}server.pem"))).unwrap().map(Result::unwrap).collect();
        let key = PrivateKeyDer::from_pem_file(fixture(&format!("{prefix}server.key"))).unwrap();
        let mut provider = futures_rustls::rustls::crypto::ring::default_provider();
        if let Some(group) = group {
            provider.kx_groups = vec![group];
        }
        let versions = version.map_or(futures_rustls::rustls::DEFAULT_VERSIONS.to_vec(), |v| vec![v]);
        let config = ServerConfig::builder_with_provider(Arc::new(provider))
            .with_protocol_versions(&versions)
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
        TlsAcceptor::from(Arc::new(config))
    }

    /// Serves TLS connections that echo five bytes back; returns the port.
    fn echo_server() -> u16 {
        echo_server_with(acceptor("", None, None))
    }

    fn echo_server_with(acceptor: TlsAcceptor) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            smol::block_on(async {
                let listener = Async::new(listener).unwrap();
                while let Ok((tcp, _)) = listener.accept().await {
                    let Ok(mut tls) = acceptor.accept(tcp).await else { continue };
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

    /// Every signature family a server certificate may use (P-256, P-384, RSA), each TLS version
    /// and each key exchange group a server may insist on: the handshake completes and data flows.
    /// P-256 (signatures and the `secp256r1` group) runs on our own provider's code, not ring's.
    #[test]
    fn handshakes_with_every_certificate_type_version_and_group() {
        use futures_rustls::rustls::version::{TLS12, TLS13};
        let groups: [(Option<&'static dyn SupportedKxGroup>, NamedGroup); 4] = [
            (None, NamedGroup::X25519),
            (Some(kx_group::X25519), NamedGroup::X25519),
            (Some(kx_group::SECP256R1), NamedGroup::secp256r1),
            (Some(kx_group::SECP384R1), NamedGroup::secp384r1),
        ];
        for (prefix, ca) in [("", "ca.pem"), ("p384-", "p384-ca.pem"), ("rsa-", "rsa-ca.pem")] {
            let connector = connector_with_ssl_cert_file(ca);
            for (version, expected_version) in [(&TLS13, ProtocolVersion::TLSv1_3), (&TLS12, ProtocolVersion::TLSv1_2)] {
                for (group, expected_group) in groups {
                    let port = echo_server_with(acceptor(prefix, Some(version), group));
                    let case = format!("{prefix}server.pem over {expected_version:?} with {expected_group:?}");
                    smol::block_on(async {
                        let tcp = Async::<TcpStream>::connect(([127, 0, 0, 1], port)).await.unwrap();
                        let mut tls = connect_with(&connector, "localhost", tcp).await.unwrap_or_else(|e| panic!("{case}: {e}"));
                        let session = tls.get_ref().1;
                        assert_eq!(session.protocol_version(), Some(expected_version), "{case}");
                        assert_eq!(session.negotiated_key_exchange_group().map(|g| g.name()), Some(expected_group), "{case}");
                        tls.write_all(b"hello").await.unwrap();
                        tls.flush().await.unwrap();
                        let mut back = [0u8; 5];
                        tls.read_exact(&mut back).await.unwrap();
                        assert_eq!(&back, b"hello", "{case}");
                    });
                }
            }
            // A chain from another family's CA is refused, so each case above did verify.
            let port = echo_server_with(acceptor(prefix, None, None));
            let wrong_ca = if prefix == "rsa-" { "ca.pem" } else { "rsa-ca.pem" };
            smol::block_on(async {
                let tcp = Async::<TcpStream>::connect(([127, 0, 0, 1], port)).await.unwrap();
                let refused = connect_with(&connector_with_ssl_cert_file(wrong_ca), "localhost", tcp).await;
                assert!(refused.is_err(), "{prefix}server.pem is refused under {wrong_ca}");
            });
        }
    }
}
