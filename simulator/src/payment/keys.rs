//! Every key and secret one simulated payment run needs, made from a seed.
//!
//! What it is: the merchant's side (what central's config holds: its WeChat and Alipay private
//! keys, ids, the APIv3 key, the card gateway's secret key and webhook secret) and the
//! channels' side (the WeChat platform key, Alipay's own key), as plain PEM and strings, so a
//! caller builds central's config from the same values the simulator checks against.
//!
//! What it is not: a signer. Signing and verifying go through `tote_shared::payment`; this
//! module only generates (with the `rsa` crate, seeded so a run can be replayed).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};

pub(crate) const ALPHANUMERIC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
pub(crate) const DIGITS: &[u8] = b"0123456789";
const UPPER_HEX: &[u8] = b"0123456789ABCDEF";
pub(crate) const LOWER_HEX: &[u8] = b"0123456789abcdef";

/// The RSA keys a run needs, in the order their seeds are derived.
const RSA_KEYS: usize = 4;
const RSA_BITS: usize = 2048;

#[derive(Debug, thiserror::Error)]
pub enum KeyGenError {
    #[error("RSA key generation failed: {0}")]
    Rsa(String),
    #[error("PEM encoding failed: {0}")]
    Encode(String),
    #[error("a key generation thread panicked")]
    Thread,
}

/// One run's keys. Private PEMs are the exact files a merchant (or the channel) would hold.
#[derive(Clone)]
pub struct ChannelKeys {
    /// WeChat Pay merchant id (10 digits).
    pub wechat_mchid: String,
    /// The merchant's WeChat app id (`wx…`).
    pub wechat_appid: String,
    /// The merchant's WeChat API key, PKCS#8 PEM ("PRIVATE KEY").
    pub wechat_merchant_private_pem: String,
    /// Its public half (SPKI PEM), what the simulated platform verifies requests with.
    pub wechat_merchant_public_pem: String,
    /// The serial number of the merchant's API certificate (40 upper-case hex digits).
    pub wechat_merchant_serial: String,
    /// The WeChat Pay platform key answers and callbacks are signed with, PKCS#8 PEM.
    pub wechat_platform_private_pem: String,
    /// Its public half (SPKI PEM), what central verifies with.
    pub wechat_platform_public_pem: String,
    /// The platform public key's id (`PUB_KEY_ID_…`), sent as `Wechatpay-Serial`.
    pub wechat_platform_key_id: String,
    /// The APIv3 key: 32 ASCII characters, the AES-256-GCM key of callback resources.
    pub wechat_apiv3_key: String,
    /// The merchant's Alipay app id.
    pub alipay_app_id: String,
    /// The merchant's Alipay app key, PKCS#1 PEM ("RSA PRIVATE KEY"), as Alipay's tool writes it.
    pub alipay_app_private_pem: String,
    /// Its public half (SPKI PEM), what the simulated gateway verifies requests with.
    pub alipay_app_public_pem: String,
    /// Alipay's own key, answers and notifications are signed with (PKCS#8 PEM).
    pub alipay_private_pem: String,
    /// Alipay's public key (SPKI PEM), what central verifies with.
    pub alipay_public_pem: String,
    /// The card gateway's secret API key (`sk_test_…`).
    pub card_secret_key: String,
    /// The card gateway's webhook signing secret (`whsec_…`).
    pub card_webhook_secret: String,
}

/// Secrets stay out of logs; ids are fine.
impl std::fmt::Debug for ChannelKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelKeys")
            .field("wechat_mchid", &self.wechat_mchid)
            .field("wechat_appid", &self.wechat_appid)
            .field("wechat_merchant_serial", &self.wechat_merchant_serial)
            .field("wechat_platform_key_id", &self.wechat_platform_key_id)
            .field("alipay_app_id", &self.alipay_app_id)
            .finish_non_exhaustive()
    }
}

/// A private key as the PEM forms callers need.
struct Pems {
    pkcs8: String,
    pkcs1: String,
    public: String,
}

impl ChannelKeys {
    /// Every key of a run from `seed`: the same seed gives the same keys. The four RSA-2048
    /// keys are generated on their own threads (one key takes a fraction of a second even
    /// optimised, and prime search time varies a lot from key to key).
    pub fn generate(seed: u64) -> Result<ChannelKeys, KeyGenError> {
        let threads: Vec<_> = (0..RSA_KEYS as u64)
            .map(|index| std::thread::spawn(move || rsa_key(seed, index)))
            .collect();
        let mut pems = Vec::with_capacity(RSA_KEYS);
        for thread in threads {
            pems.push(thread.join().map_err(|_| KeyGenError::Thread)??);
        }
        let [wechat_merchant, wechat_platform, alipay_app, alipay]: [Pems; RSA_KEYS] =
            pems.try_into().map_err(|_| KeyGenError::Thread)?;
        let mut rng = StdRng::seed_from_u64(derive_seed(seed, u64::MAX));
        Ok(ChannelKeys {
            wechat_mchid: format!("19{}", random(&mut rng, DIGITS, 8)),
            wechat_appid: format!("wx{}", random(&mut rng, LOWER_HEX, 16)),
            wechat_merchant_private_pem: wechat_merchant.pkcs8,
            wechat_merchant_public_pem: wechat_merchant.public,
            wechat_merchant_serial: random(&mut rng, UPPER_HEX, 40),
            wechat_platform_private_pem: wechat_platform.pkcs8,
            wechat_platform_public_pem: wechat_platform.public,
            wechat_platform_key_id: format!("PUB_KEY_ID_0119{}", random(&mut rng, DIGITS, 24)),
            wechat_apiv3_key: random(&mut rng, ALPHANUMERIC, 32),
            alipay_app_id: format!("2021{}", random(&mut rng, DIGITS, 12)),
            alipay_app_private_pem: alipay_app.pkcs1,
            alipay_app_public_pem: alipay_app.public,
            alipay_private_pem: alipay.pkcs8,
            alipay_public_pem: alipay.public,
            card_secret_key: format!("sk_test_{}", random(&mut rng, ALPHANUMERIC, 32)),
            card_webhook_secret: format!("whsec_{}", random(&mut rng, ALPHANUMERIC, 32)),
        })
    }
}

fn rsa_key(seed: u64, index: u64) -> Result<Pems, KeyGenError> {
    let mut rng = StdRng::seed_from_u64(derive_seed(seed, index));
    let key = rsa::RsaPrivateKey::new(&mut rng, RSA_BITS).map_err(|e| KeyGenError::Rsa(e.to_string()))?;
    let encode = |e: &dyn std::fmt::Display| KeyGenError::Encode(e.to_string());
    Ok(Pems {
        pkcs8: key.to_pkcs8_pem(LineEnding::LF).map_err(|e| encode(&e))?.to_string(),
        pkcs1: key.to_pkcs1_pem(LineEnding::LF).map_err(|e| encode(&e))?.to_string(),
        public: key.to_public_key().to_public_key_pem(LineEnding::LF).map_err(|e| encode(&e))?,
    })
}

/// Independent streams per key from one run seed (splitmix64 of seed and index).
fn derive_seed(seed: u64, index: u64) -> u64 {
    let mut z = seed ^ index.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `len` characters drawn from `alphabet`.
pub(crate) fn random(rng: &mut StdRng, alphabet: &[u8], len: usize) -> String {
    (0..len).map(|_| char::from(alphabet[rng.gen_range(0..alphabet.len())])).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tote_shared::payment::keys::{PrivateKey, PublicKey};

    #[test]
    fn the_same_seed_gives_the_same_keys_and_every_key_loads_in_the_form_a_merchant_gets() {
        let keys = super::super::tests::keys();
        let again = ChannelKeys::generate(super::super::tests::KEY_SEED).expect("generates");
        assert_eq!(keys.wechat_merchant_private_pem, again.wechat_merchant_private_pem);
        assert_eq!(keys.card_webhook_secret, again.card_webhook_secret);
        assert!(keys.wechat_merchant_private_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        assert!(keys.alipay_app_private_pem.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
        for (private, public) in [
            (&keys.wechat_merchant_private_pem, &keys.wechat_merchant_public_pem),
            (&keys.wechat_platform_private_pem, &keys.wechat_platform_public_pem),
            (&keys.alipay_app_private_pem, &keys.alipay_app_public_pem),
            (&keys.alipay_private_pem, &keys.alipay_public_pem),
        ] {
            let loaded = PrivateKey::from_pem(private).expect("private key loads");
            assert_eq!(loaded.public_key(), PublicKey::from_pem(public).expect("public key loads"));
        }
        assert_eq!(keys.wechat_apiv3_key.len(), 32);
        assert!(keys.wechat_platform_key_id.starts_with("PUB_KEY_ID_"));
        assert!(keys.card_secret_key.starts_with("sk_test_") && keys.card_webhook_secret.starts_with("whsec_"));
        assert_ne!(keys.wechat_merchant_private_pem, keys.wechat_platform_private_pem);
    }
}
