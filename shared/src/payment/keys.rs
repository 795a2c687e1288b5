//! RSA keys as the channels hand them out, and the three primitives every channel uses.
//!
//! Merchants get PEM files: a PKCS#8 ("PRIVATE KEY") or PKCS#1 ("RSA PRIVATE KEY") private key
//! and the channel's public key as SubjectPublicKeyInfo ("PUBLIC KEY"). `ring` signs and
//! verifies (its RSA is the same assembly OpenSSL's is built from); it takes a public key as
//! the bare PKCS#1 `RSAPublicKey`, so this module unwraps and wraps the SPKI envelope itself.
//! It does not generate keys: the simulator and the tests do.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{RsaKeyPair, UnparsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("not a PEM block of type {0}")]
    NotPem(&'static str),
    #[error("the PEM body is not base64")]
    Base64,
    #[error("not an RSA key this channel accepts: {0}")]
    Rsa(String),
    #[error("signing failed")]
    Sign,
}

/// `rsaEncryption` (1.2.840.113549.1.1.1) with NULL parameters, as DER.
const RSA_ALGORITHM_ID: [u8; 15] = [0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00];

/// A merchant's (or, in the simulator, a channel's) RSA private key.
pub struct PrivateKey {
    pair: RsaKeyPair,
    rng: SystemRandom,
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PrivateKey(..)")
    }
}

impl PrivateKey {
    /// A PEM private key, PKCS#8 or PKCS#1.
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        let pair = if let Ok(der) = pem_body(pem, "PRIVATE KEY") {
            RsaKeyPair::from_pkcs8(&der).map_err(|e| KeyError::Rsa(e.to_string()))?
        } else {
            let der = pem_body(pem, "RSA PRIVATE KEY").map_err(|_| KeyError::NotPem("PRIVATE KEY or RSA PRIVATE KEY"))?;
            RsaKeyPair::from_der(&der).map_err(|e| KeyError::Rsa(e.to_string()))?
        };
        Ok(PrivateKey { pair, rng: SystemRandom::new() })
    }

    /// SHA256withRSA (PKCS#1 v1.5), base64 — what all three RSA channels call a signature.
    pub fn sign_base64(&self, message: &[u8]) -> Result<String, KeyError> {
        let mut signature = vec![0u8; self.pair.public().modulus_len()];
        self.pair.sign(&RSA_PKCS1_SHA256, &self.rng, message, &mut signature).map_err(|_| KeyError::Sign)?;
        Ok(STANDARD.encode(signature))
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey { rsa_der: self.pair.public().as_ref().to_vec() }
    }
}

/// A channel's (or merchant's) RSA public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    /// PKCS#1 `RSAPublicKey`, the form `ring` verifies with.
    rsa_der: Vec<u8>,
}

impl PublicKey {
    /// A PEM SubjectPublicKeyInfo ("PUBLIC KEY") or PKCS#1 ("RSA PUBLIC KEY").
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        if let Ok(der) = pem_body(pem, "PUBLIC KEY") {
            return Self::from_spki_der(&der);
        }
        let der = pem_body(pem, "RSA PUBLIC KEY").map_err(|_| KeyError::NotPem("PUBLIC KEY"))?;
        Ok(PublicKey { rsa_der: der })
    }

    /// The bare base64 of a SubjectPublicKeyInfo, as Alipay's console shows it.
    pub fn from_spki_base64(text: &str) -> Result<Self, KeyError> {
        let der = STANDARD.decode(text.split_whitespace().collect::<String>()).map_err(|_| KeyError::Base64)?;
        Self::from_spki_der(&der)
    }

    fn from_spki_der(der: &[u8]) -> Result<Self, KeyError> {
        let bad = || KeyError::Rsa("malformed SubjectPublicKeyInfo".into());
        let (outer, rest) = der_element(der, 0x30).ok_or_else(bad)?;
        if !rest.is_empty() {
            return Err(bad());
        }
        let (algorithm, after) = der_element(outer, 0x30).ok_or_else(bad)?;
        if algorithm != &RSA_ALGORITHM_ID[2..] {
            return Err(KeyError::Rsa("not an rsaEncryption key".into()));
        }
        let (bits, _) = der_element(after, 0x03).ok_or_else(bad)?;
        match bits.split_first() {
            Some((0, key)) => Ok(PublicKey { rsa_der: key.to_vec() }),
            _ => Err(bad()),
        }
    }

    /// SubjectPublicKeyInfo as PEM, how a channel publishes its key.
    pub fn to_pem(&self) -> String {
        let mut bits = vec![0u8];
        bits.extend_from_slice(&self.rsa_der);
        let mut inner = RSA_ALGORITHM_ID.to_vec();
        inner.extend(der_wrap(0x03, &bits));
        pem_encode("PUBLIC KEY", &der_wrap(0x30, &inner))
    }

    /// Whether `signature_base64` is SHA256withRSA over `message` by this key's owner.
    pub fn verify_base64(&self, message: &[u8], signature_base64: &str) -> bool {
        let Ok(signature) = STANDARD.decode(signature_base64.trim()) else {
            return false;
        };
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &self.rsa_der).verify(message, &signature).is_ok()
    }
}

/// The DER inside the first PEM block labelled `label`.
fn pem_body(pem: &str, label: &'static str) -> Result<Vec<u8>, KeyError> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem.find(&begin).ok_or(KeyError::NotPem(label))? + begin.len();
    let stop = pem[start..].find(&end).ok_or(KeyError::NotPem(label))? + start;
    let body: String = pem[start..stop].split_whitespace().collect();
    STANDARD.decode(body).map_err(|_| KeyError::Base64)
}

pub fn pem_encode(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in body.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// One DER element with tag `tag` at the start of `input`: (contents, the rest).
fn der_element(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&first, rest) = input.split_first()?;
    if first != tag {
        return None;
    }
    let (&len_byte, rest) = rest.split_first()?;
    let (len, rest) = if len_byte < 0x80 {
        (usize::from(len_byte), rest)
    } else {
        let count = usize::from(len_byte & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let len = rest[..count].iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[count..])
    };
    (rest.len() >= len).then(|| rest.split_at(len))
}

fn der_wrap(tag: u8, contents: &[u8]) -> Vec<u8> {
    let len = contents.len();
    let mut out = vec![tag];
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len.to_be_bytes().into_iter().skip_while(|b| *b == 0).collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(contents);
    out
}

/// AEAD_AES_256_GCM as WeChat Pay v3 uses it for callback resources: 32-byte key (the APIv3
/// key), 12-byte nonce, associated data; ciphertext is base64 of the sealed bytes and tag.
pub mod aes_gcm {
    use super::*;
    use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};

    #[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
    pub enum AeadError {
        #[error("the key must be 32 bytes and the nonce 12")]
        Shape,
        #[error("the ciphertext is not base64")]
        Base64,
        #[error("the ciphertext, nonce or associated data do not authenticate")]
        Open,
    }

    fn key(key: &[u8]) -> Result<LessSafeKey, AeadError> {
        Ok(LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).map_err(|_| AeadError::Shape)?))
    }

    pub fn open(apiv3_key: &[u8], nonce: &[u8], associated_data: &[u8], ciphertext_base64: &str) -> Result<Vec<u8>, AeadError> {
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| AeadError::Shape)?;
        let mut sealed = STANDARD.decode(ciphertext_base64).map_err(|_| AeadError::Base64)?;
        let plain = key(apiv3_key)?.open_in_place(nonce, Aad::from(associated_data), &mut sealed).map_err(|_| AeadError::Open)?;
        Ok(plain.to_vec())
    }

    pub fn seal(apiv3_key: &[u8], nonce: &[u8], associated_data: &[u8], plaintext: &[u8]) -> Result<String, AeadError> {
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| AeadError::Shape)?;
        let mut buffer = plaintext.to_vec();
        key(apiv3_key)?.seal_in_place_append_tag(nonce, Aad::from(associated_data), &mut buffer).map_err(|_| AeadError::Shape)?;
        Ok(STANDARD.encode(buffer))
    }
}

/// HMAC-SHA256 in lowercase hex, and its constant-time check (the card gateway's webhooks).
pub mod hmac_sha256 {
    use ring::hmac;

    pub fn hex(secret: &[u8], message: &[u8]) -> String {
        let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret), message);
        tag.as_ref().iter().map(|b| format!("{b:02x}")).collect()
    }

    pub fn verify_hex(secret: &[u8], message: &[u8], hex_tag: &str) -> bool {
        let Some(tag) = decode_hex(hex_tag) else {
            return false;
        };
        hmac::verify(&hmac::Key::new(hmac::HMAC_SHA256, secret), message, &tag).is_ok()
    }

    fn decode_hex(text: &str) -> Option<Vec<u8>> {
        if !text.len().is_multiple_of(2) {
            return None;
        }
        (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
    }
}

/// Fresh RSA-2048 keys for tests in this crate (the simulator makes its own).
#[cfg(test)]
pub(crate) mod test_keys {
    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::pkcs8::{EncodePrivateKey, LineEnding};

    /// (PKCS#8 PEM, PKCS#1 PEM) of one seeded key.
    pub fn generate(seed: u64) -> (String, String) {
        use rand::SeedableRng;
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let key = rsa::RsaPrivateKey::new(&mut rng, 2048).expect("key generation");
        let pkcs8 = key.to_pkcs8_pem(LineEnding::LF).expect("pkcs8").to_string();
        let pkcs1 = key.to_pkcs1_pem(LineEnding::LF).expect("pkcs1").to_string();
        (pkcs8, pkcs1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_with_the_public_key_and_fails_on_any_change() {
        let (pkcs8, pkcs1) = test_keys::generate(1);
        let key = PrivateKey::from_pem(&pkcs8).expect("pkcs8 loads");
        let same = PrivateKey::from_pem(&pkcs1).expect("pkcs1 loads");
        let public = PublicKey::from_pem(&key.public_key().to_pem()).expect("spki round trip");
        assert_eq!(public, same.public_key());
        let signature = key.sign_base64(b"hello").expect("signs");
        assert!(public.verify_base64(b"hello", &signature));
        assert!(!public.verify_base64(b"hellp", &signature));
        assert!(!public.verify_base64(b"hello", "not base64!"));
        let other = PrivateKey::from_pem(&test_keys::generate(2).0).expect("loads");
        assert!(!other.public_key().verify_base64(b"hello", &signature));
    }

    #[test]
    fn the_spki_envelope_matches_what_the_rsa_crate_writes() {
        use rsa::pkcs8::{EncodePublicKey, LineEnding};
        use rsa::RsaPublicKey;
        let (pkcs8, _) = test_keys::generate(1);
        let theirs = {
            use rsa::pkcs8::DecodePrivateKey;
            let private = rsa::RsaPrivateKey::from_pkcs8_pem(&pkcs8).expect("decodes");
            RsaPublicKey::from(&private).to_public_key_pem(LineEnding::LF).expect("encodes")
        };
        let ours = PrivateKey::from_pem(&pkcs8).expect("loads").public_key().to_pem();
        assert_eq!(ours, theirs);
    }

    #[test]
    fn garbage_keys_are_refused_with_a_reason() {
        assert_eq!(PrivateKey::from_pem("nonsense").expect_err("refused"), KeyError::NotPem("PRIVATE KEY or RSA PRIVATE KEY"));
        assert!(matches!(PublicKey::from_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"), Err(KeyError::Rsa(_))));
        assert_eq!(PublicKey::from_spki_base64("@@").expect_err("refused"), KeyError::Base64);
    }

    #[test]
    fn aes_gcm_opens_what_it_sealed_and_nothing_altered() {
        let key = [7u8; 32];
        let sealed = aes_gcm::seal(&key, b"0123456789ab", b"transaction", b"{\"a\":1}").expect("seals");
        assert_eq!(aes_gcm::open(&key, b"0123456789ab", b"transaction", &sealed).expect("opens"), b"{\"a\":1}");
        assert_eq!(aes_gcm::open(&key, b"0123456789ab", b"refund", &sealed), Err(aes_gcm::AeadError::Open));
        assert_eq!(aes_gcm::open(&[8u8; 32], b"0123456789ab", b"transaction", &sealed), Err(aes_gcm::AeadError::Open));
        assert_eq!(aes_gcm::open(&key, b"short", b"transaction", &sealed), Err(aes_gcm::AeadError::Shape));
    }

    #[test]
    fn hmac_matches_the_rfc_4231_vector() {
        // RFC 4231 test case 2.
        let tag = hmac_sha256::hex(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(tag, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        assert!(hmac_sha256::verify_hex(b"Jefe", b"what do ya want for nothing?", &tag));
        assert!(!hmac_sha256::verify_hex(b"Jefe", b"what do ya want for nothing!", &tag));
        assert!(!hmac_sha256::verify_hex(b"Jefe", b"x", "zz"));
    }
}
