//! The rustls crypto provider of the gateway's TLS client: rustls's ring provider, piece by
//! piece, with P-256 from [`super::p256`].
//!
//! Built here rather than taken from `rustls::crypto::ring::default_provider()` because that
//! function names ring's P-256 key exchange, its P-256 signature algorithms and its key loader
//! (which signs with P-256), and any of those links ring's 148 KiB P-256 table. Everything the
//! default provider offers a client is still offered, in the same order of preference.

use futures_rustls::rustls::SignatureScheme;
use futures_rustls::rustls::crypto::ring::{DEFAULT_CIPHER_SUITES, kx_group};
use futures_rustls::rustls::crypto::{CryptoProvider, GetRandomFailed, KeyProvider, SecureRandom, WebPkiSupportedAlgorithms};
use futures_rustls::rustls::pki_types::PrivateKeyDer;
use futures_rustls::rustls::sign::SigningKey;
use std::sync::Arc;
use webpki::ring as ring_algs;

use super::p256;

/// The client's provider: ring's cipher suites (TLS 1.3 and 1.2), X25519 first, then P-256 and
/// P-384 for servers that ask for them, and every signature algorithm ring's provider verifies.
pub fn client() -> CryptoProvider {
    CryptoProvider {
        cipher_suites: DEFAULT_CIPHER_SUITES.to_vec(),
        kx_groups: vec![kx_group::X25519, p256::SECP256R1, kx_group::SECP384R1],
        signature_verification_algorithms: SIGNATURE_ALGORITHMS,
        secure_random: &SystemRandom,
        key_provider: &NoPrivateKeys,
    }
}

/// ring's provider's table (rustls 0.23), with the two P-256 entries from [`p256`]. For TLS 1.2
/// a signature scheme does not fix the curve, hence two algorithms for each ECDSA scheme.
static SIGNATURE_ALGORITHMS: WebPkiSupportedAlgorithms = WebPkiSupportedAlgorithms {
    all: &[
        p256::ECDSA_P256_SHA256,
        p256::ECDSA_P256_SHA384,
        ring_algs::ECDSA_P384_SHA256,
        ring_algs::ECDSA_P384_SHA384,
        ring_algs::ED25519,
        ring_algs::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
        ring_algs::RSA_PSS_2048_8192_SHA384_LEGACY_KEY,
        ring_algs::RSA_PSS_2048_8192_SHA512_LEGACY_KEY,
        ring_algs::RSA_PKCS1_2048_8192_SHA256,
        ring_algs::RSA_PKCS1_2048_8192_SHA384,
        ring_algs::RSA_PKCS1_2048_8192_SHA512,
        ring_algs::RSA_PKCS1_2048_8192_SHA256_ABSENT_PARAMS,
        ring_algs::RSA_PKCS1_2048_8192_SHA384_ABSENT_PARAMS,
        ring_algs::RSA_PKCS1_2048_8192_SHA512_ABSENT_PARAMS,
    ],
    mapping: &[
        (SignatureScheme::ECDSA_NISTP384_SHA384, &[ring_algs::ECDSA_P384_SHA384, p256::ECDSA_P256_SHA384]),
        (SignatureScheme::ECDSA_NISTP256_SHA256, &[p256::ECDSA_P256_SHA256, ring_algs::ECDSA_P384_SHA256]),
        (SignatureScheme::ED25519, &[ring_algs::ED25519]),
        (SignatureScheme::RSA_PSS_SHA512, &[ring_algs::RSA_PSS_2048_8192_SHA512_LEGACY_KEY]),
        (SignatureScheme::RSA_PSS_SHA384, &[ring_algs::RSA_PSS_2048_8192_SHA384_LEGACY_KEY]),
        (SignatureScheme::RSA_PSS_SHA256, &[ring_algs::RSA_PSS_2048_8192_SHA256_LEGACY_KEY]),
        (SignatureScheme::RSA_PKCS1_SHA512, &[ring_algs::RSA_PKCS1_2048_8192_SHA512]),
        (SignatureScheme::RSA_PKCS1_SHA384, &[ring_algs::RSA_PKCS1_2048_8192_SHA384]),
        (SignatureScheme::RSA_PKCS1_SHA256, &[ring_algs::RSA_PKCS1_2048_8192_SHA256]),
    ],
};

/// Randomness for handshakes: the kernel's, through ring.
#[derive(Debug)]
struct SystemRandom;

impl SecureRandom for SystemRandom {
    fn fill(&self, buf: &mut [u8]) -> Result<(), GetRandomFailed> {
        use ring::rand::SecureRandom as _;
        ring::rand::SystemRandom::new().fill(buf).map_err(|_| GetRandomFailed)
    }
}

/// The gateway never authenticates itself with a client certificate, so it loads no private key.
#[derive(Debug)]
struct NoPrivateKeys;

impl KeyProvider for NoPrivateKeys {
    fn load_private_key(&self, _key: PrivateKeyDer<'static>) -> Result<Arc<dyn SigningKey>, futures_rustls::rustls::Error> {
        Err(futures_rustls::rustls::Error::General("the gateway's TLS client uses no client certificates".into()))
    }
}
