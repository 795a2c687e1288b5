//! A scanner's line (a handheld, a station's fixed scanner): any bytes parse to a scan or an
//! error, never a panic; a parsed scan names only codes that parse on their own.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tote_shared::scan::{parse, Scan};

fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else { return };
    if let Ok(scan) = parse(line, 2026) {
        if let Scan::Location(code) = &scan {
            assert!(tote_shared::LocationCode::parse(code.as_str()).is_ok(), "{code:?}");
        }
        if let Scan::Gtin(gtin) = &scan {
            assert!(tote_shared::Gtin::parse(gtin.as_str()).is_ok(), "{gtin:?}");
        }
    }
});
