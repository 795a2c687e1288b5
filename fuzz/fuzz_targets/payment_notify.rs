//! What a payment channel's callback carries before anything about it is trusted: the
//! WeChat Pay `Authorization`-style header, the notification envelope, the decrypted
//! transaction or refund (its shape, as central decodes it once the tag checked), and Alipay's
//! amounts in yuan. Any input parses or is refused, never a panic; an amount that parses is
//! whole minor units and prints back to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tote_shared::payment::{alipay, wechat};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = wechat::parse_authorization(text);
    let _ = serde_json::from_str::<wechat::Notification>(text);
    let _ = serde_json::from_str::<wechat::Transaction>(text);
    let _ = serde_json::from_str::<wechat::Refund>(text);
    if let Some(minor) = alipay::parse_yuan(text) {
        assert_eq!(alipay::parse_yuan(&alipay::yuan(minor)), Some(minor), "{text:?} → {minor}");
    }
});
