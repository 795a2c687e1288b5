//! Handling bearer secrets (edge credentials, API tokens, session tokens): they are stored as
//! their SHA-256 — they are long random strings, so a fast hash is right (PINs, which are
//! short, need a KDF instead) — and compared in constant time.

use sha2::{Digest, Sha256};

/// Lower-case hex SHA-256 of a secret, as stored.
pub fn sha256_hex(secret: &str) -> String {
    Sha256::digest(secret.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

pub use crate::secret::same_secret;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_and_compares() {
        assert_eq!(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert!(same_secret("token-1", "token-1") && !same_secret("token-1", "token-2") && !same_secret("t", "tt"));
    }
}
