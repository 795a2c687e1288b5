//! The payment channels' daily bills (WeChat Pay and Alipay CSV in their own encodings and
//! zips, the card gateway's CSV), as reconciliation downloads them: any bytes parse or are
//! refused, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tote_shared::payment::bill::{parse_alipay, parse_card, parse_wechat};

fuzz_target!(|data: &[u8]| {
    let _ = parse_wechat(data);
    let _ = parse_alipay(data);
    let _ = parse_card(data);
});
