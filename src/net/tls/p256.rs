//! NIST P-256 for rustls, from RustCrypto's `p256` instead of ring: ECDSA verification (most
//! certificates and handshake signatures) and ephemeral ECDH (the `secp256r1` group).
//!
//! Why: on aarch64 and x86_64 ring multiplies by the base point with a 148 KiB precomputed table
//! (`ecp_nistz256_precomputed`), and both its ECDSA verification and its key exchange reach it.
//! A client that verifies a few signatures per handshake (and makes few handshakes: connections
//! are kept alive) does not need that speed. Measured on aarch64 (release artifact): 2,214,584
//! bytes with ring's P-256, 2,023,736 with no P-256 at all, 2,039,480 with this module. X25519,
//! P-384, RSA, Ed25519, the ciphers and hashing stay on ring.
//!
//! Behaviour matches ring's: public keys and key shares are uncompressed points only, signatures
//! strict DER with `r` and `s` in range; the message is hashed with ring. The tests check both
//! against ring itself.

use futures_rustls::rustls::crypto::{ActiveKeyExchange, SharedSecret, SupportedKxGroup};
use futures_rustls::rustls::pki_types::{AlgorithmIdentifier, InvalidSignature, SignatureVerificationAlgorithm, alg_id};
use futures_rustls::rustls::{Error, NamedGroup, PeerMisbehaved};
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use p256::ecdsa::{DerSignature, VerifyingKey};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::{NonZeroScalar, PublicKey};
use ring::rand::{SecureRandom, SystemRandom};

/// An uncompressed SEC1 point: 0x04, then x and y (32 bytes each).
const UNCOMPRESSED_POINT_LEN: usize = 65;

fn is_uncompressed_point(bytes: &[u8]) -> bool {
    bytes.len() == UNCOMPRESSED_POINT_LEN && bytes.first() == Some(&0x04)
}

/// ECDSA on P-256 with the hash a signature algorithm names.
#[derive(Debug)]
pub struct EcdsaP256 {
    hash: &'static ring::digest::Algorithm,
    signature_alg_id: AlgorithmIdentifier,
}

pub static ECDSA_P256_SHA256: &dyn SignatureVerificationAlgorithm =
    &EcdsaP256 { hash: &ring::digest::SHA256, signature_alg_id: alg_id::ECDSA_SHA256 };
pub static ECDSA_P256_SHA384: &dyn SignatureVerificationAlgorithm =
    &EcdsaP256 { hash: &ring::digest::SHA384, signature_alg_id: alg_id::ECDSA_SHA384 };

impl SignatureVerificationAlgorithm for EcdsaP256 {
    fn verify_signature(&self, public_key: &[u8], message: &[u8], signature: &[u8]) -> Result<(), InvalidSignature> {
        if !is_uncompressed_point(public_key) {
            return Err(InvalidSignature);
        }
        let key = VerifyingKey::from_sec1_bytes(public_key).map_err(|_| InvalidSignature)?;
        let signature = DerSignature::from_bytes(signature).map_err(|_| InvalidSignature)?;
        let digest = ring::digest::digest(self.hash, message);
        key.verify_prehash(digest.as_ref(), &signature).map_err(|_| InvalidSignature)
    }

    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        alg_id::ECDSA_P256
    }

    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        self.signature_alg_id
    }
}

/// Ephemeral ECDH on P-256 (TLS group `secp256r1`).
#[derive(Debug)]
pub struct Secp256r1;

pub static SECP256R1: &dyn SupportedKxGroup = &Secp256r1;

impl SupportedKxGroup for Secp256r1 {
    fn start(&self) -> Result<Box<dyn ActiveKeyExchange>, Error> {
        let secret = random_scalar()?;
        let public = PublicKey::from_secret_scalar(&secret).to_encoded_point(false).as_bytes().to_vec();
        Ok(Box::new(KeyExchange { secret, public }))
    }

    fn name(&self) -> NamedGroup {
        NamedGroup::secp256r1
    }
}

/// A scalar in [1, n) from the system's random source. A random 256-bit value is out of range
/// with a probability of about 2^-32, so a few draws always suffice.
fn random_scalar() -> Result<NonZeroScalar, Error> {
    let rng = SystemRandom::new();
    for _ in 0..8 {
        let mut bytes = p256::FieldBytes::default();
        rng.fill(&mut bytes).map_err(|_| Error::FailedToGetRandomBytes)?;
        if let Some(scalar) = Option::from(NonZeroScalar::from_repr(bytes)) {
            return Ok(scalar);
        }
    }
    Err(Error::FailedToGetRandomBytes)
}

struct KeyExchange {
    secret: NonZeroScalar,
    public: Vec<u8>,
}

impl ActiveKeyExchange for KeyExchange {
    fn complete(self: Box<Self>, peer: &[u8]) -> Result<SharedSecret, Error> {
        if !is_uncompressed_point(peer) {
            return Err(PeerMisbehaved::InvalidKeyShare.into());
        }
        let peer = PublicKey::from_sec1_bytes(peer).map_err(|_| Error::from(PeerMisbehaved::InvalidKeyShare))?;
        let shared = p256::ecdh::diffie_hellman(self.secret, peer.as_affine());
        Ok(SharedSecret::from(&shared.raw_secret_bytes()[..]))
    }

    fn pub_key(&self) -> &[u8] {
        &self.public
    }

    fn group(&self) -> NamedGroup {
        NamedGroup::secp256r1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_rustls::rustls::pki_types::PrivateKeyDer;
    use futures_rustls::rustls::pki_types::pem::PemObject;
    use ring::signature::{self, EcdsaKeyPair, KeyPair};

    /// The test server's P-256 key (tests/fixtures/tls), as ring loads it for signing.
    fn ring_key(alg: &'static signature::EcdsaSigningAlgorithm) -> EcdsaKeyPair {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls/server.key");
        let PrivateKeyDer::Pkcs8(der) = PrivateKeyDer::from_pem_file(path).unwrap() else { panic!("a PKCS#8 key") };
        EcdsaKeyPair::from_pkcs8(alg, der.secret_pkcs8_der(), &SystemRandom::new()).unwrap()
    }

    /// A P-256 key pair and its signature over `message` hashed with `hash`: ring signs with
    /// SHA-256; ring has no P-256 signer with SHA-384, so `p256` signs that prehash (and ring's
    /// verifier is the judge of every signature in the tests below).
    fn signed(hash: &'static ring::digest::Algorithm, message: &[u8]) -> (Vec<u8>, Vec<u8>) {
        if hash == &ring::digest::SHA256 {
            let key = ring_key(&signature::ECDSA_P256_SHA256_ASN1_SIGNING);
            let sig = key.sign(&SystemRandom::new(), message).unwrap();
            return (key.public_key().as_ref().to_vec(), sig.as_ref().to_vec());
        }
        use p256::ecdsa::signature::hazmat::PrehashSigner;
        let key = p256::ecdsa::SigningKey::from(random_scalar().unwrap());
        let digest = ring::digest::digest(hash, message);
        let sig: p256::ecdsa::Signature = key.sign_prehash(digest.as_ref()).unwrap();
        (key.verifying_key().to_encoded_point(false).as_bytes().to_vec(), sig.to_der().as_bytes().to_vec())
    }

    #[test]
    fn verifies_what_ring_verifies_and_refuses_what_ring_refuses() {
        let cases = [
            (&ring::digest::SHA256, ECDSA_P256_SHA256, &signature::ECDSA_P256_SHA256_ASN1),
            (&ring::digest::SHA384, ECDSA_P256_SHA384, &signature::ECDSA_P256_SHA384_ASN1),
        ];
        for (hash, ours, ring_verify) in cases {
            for len in [0usize, 1, 64, 1000] {
                let message: Vec<u8> = (0..len).map(|i| (i * 7 + len) as u8).collect();
                let (public, sig) = signed(hash, &message);
                let ring_says = |msg: &[u8], s: &[u8]| signature::UnparsedPublicKey::new(ring_verify, &public).verify(msg, s).is_ok();
                assert!(ring_says(&message, &sig), "ring accepts the signature over {len} bytes");
                assert!(ours.verify_signature(&public, &message, &sig).is_ok(), "a valid signature over {len} bytes");

                let mut other = message.clone();
                other.push(1);
                let mut flipped = sig.clone();
                let last = flipped.len() - 1;
                flipped[last] ^= 1;
                let mut with_trailing_byte = sig.clone();
                with_trailing_byte.push(0);
                let bad = [
                    ("another message", &other[..], &sig[..]),
                    ("a changed signature", &message[..], &flipped[..]),
                    ("trailing bytes", &message[..], &with_trailing_byte[..]),
                ];
                for (what, msg, s) in bad {
                    assert!(!ring_says(msg, s), "ring refuses {what}");
                    assert!(ours.verify_signature(&public, msg, s).is_err(), "{what} is refused");
                }
            }
        }
    }

    #[test]
    fn refuses_compressed_off_curve_and_truncated_keys() {
        let key = ring_key(&signature::ECDSA_P256_SHA256_ASN1_SIGNING);
        let public = key.public_key().as_ref();
        let message = b"handshake transcript";
        let sig = key.sign(&SystemRandom::new(), message).unwrap();
        let compressed = PublicKey::from_sec1_bytes(public).unwrap().to_encoded_point(true);
        assert!(
            ECDSA_P256_SHA256.verify_signature(compressed.as_bytes(), message, sig.as_ref()).is_err(),
            "ring takes uncompressed points only"
        );
        let mut off_curve = public.to_vec();
        off_curve[64] ^= 1;
        assert!(ECDSA_P256_SHA256.verify_signature(&off_curve, message, sig.as_ref()).is_err());
        assert!(ECDSA_P256_SHA256.verify_signature(&public[..64], message, sig.as_ref()).is_err());
        assert!(ECDSA_P256_SHA256.verify_signature(&[], message, sig.as_ref()).is_err());
        assert_eq!(ECDSA_P256_SHA256.public_key_alg_id(), alg_id::ECDSA_P256);
        assert_eq!(ECDSA_P256_SHA384.signature_alg_id(), alg_id::ECDSA_SHA384);
    }

    #[test]
    fn key_exchange_agrees_with_rings_and_refuses_bad_shares() {
        use ring::agreement;
        for _ in 0..4 {
            let ours = SECP256R1.start().unwrap();
            assert_eq!(ours.group(), NamedGroup::secp256r1);
            assert!(is_uncompressed_point(ours.pub_key()));
            let theirs = agreement::EphemeralPrivateKey::generate(&agreement::ECDH_P256, &SystemRandom::new()).unwrap();
            let their_public = theirs.compute_public_key().unwrap();
            let their_secret =
                agreement::agree_ephemeral(theirs, &agreement::UnparsedPublicKey::new(&agreement::ECDH_P256, ours.pub_key()), |secret| {
                    secret.to_vec()
                })
                .unwrap();
            let our_secret = ours.complete(their_public.as_ref()).unwrap();
            assert_eq!(our_secret.secret_bytes(), &their_secret[..], "both sides derive the same secret");
        }
        let valid = SECP256R1.start().unwrap().pub_key().to_vec();
        let compressed = PublicKey::from_sec1_bytes(&valid).unwrap().to_encoded_point(true).as_bytes().to_vec();
        let mut off_curve = valid.clone();
        off_curve[40] ^= 1;
        let identity = [0u8; 1];
        for bad in [&compressed[..], &off_curve[..], &valid[..64], &identity[..], &[][..]] {
            let err = SECP256R1.start().unwrap().complete(bad).err().unwrap();
            assert_eq!(err, Error::from(PeerMisbehaved::InvalidKeyShare));
        }
    }
}
