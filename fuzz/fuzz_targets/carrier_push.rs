//! A tracking aggregator's push (Kuaidi100 style): the form's `param` decodes or is refused,
//! and checking its signature never panics whatever it holds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tote_shared::carrier::kuaidi100::{sign, PushParam};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = sign(text, "salt");
    if let Ok(param) = serde_json::from_str::<PushParam>(text) {
        let _ = format!("{param:?}");
    }
});
