//! Random identifiers: connection ids, nonces, run ids (UUID v4 text) and secret tokens.

use ring::rand::{SecureRandom, SystemRandom};

/// Fills `buf` from the operating system's CSPRNG.
pub fn random_bytes(buf: &mut [u8]) {
    // The OS random source failing means the kernel cannot give us entropy; nothing the gateway
    // does would be safe then, and there is no useful way to continue.
    #[allow(clippy::expect_used)] // Invariant: the kernel's random source works (see above).
    SystemRandom::new().fill(buf).expect("the operating system random source failed");
}

/// A random number in [0, 1), for jitter.
pub fn random_fraction() -> f64 {
    let mut r = [0u8; 4];
    random_bytes(&mut r);
    u32::from_le_bytes(r) as f64 / (u32::MAX as f64 + 1.0)
}

/// A random UUID v4 in its canonical 36-character form.
pub fn uuid() -> String {
    let mut b = [0u8; 16];
    random_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let group = |r: std::ops::Range<usize>| crate::encoding::hex(b.get(r).unwrap_or_default());
    format!("{}-{}-{}-{}-{}", group(0..4), group(4..6), group(6..8), group(8..10), group(10..16))
}

/// A random secret token: 24 random bytes as 48 hex characters.
pub fn token() -> String {
    let mut b = [0u8; 24];
    random_bytes(&mut b);
    crate::encoding::hex(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_has_version_and_variant() {
        let u = uuid();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!(matches!(&u[19..20], "8" | "9" | "a" | "b"));
        assert_ne!(uuid(), u);
    }
}
