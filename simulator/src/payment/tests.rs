//! The channels against merchants written with the shared signing functions only.

use super::*;
use std::sync::OnceLock;

pub(super) const KEY_SEED: u64 = 7;

/// One run's keys for every test (RSA generation is the slow part).
pub(super) fn keys() -> &'static ChannelKeys {
    static KEYS: OnceLock<ChannelKeys> = OnceLock::new();
    KEYS.get_or_init(|| ChannelKeys::generate(KEY_SEED).expect("keys generate"))
}
