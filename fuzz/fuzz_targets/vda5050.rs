//! A robot's MQTT messages as master control decodes them (state, connection, factsheet,
//! visualization): any bytes decode or are refused, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tote_shared::vda5050::{Connection, Factsheet, State, Visualization};

fuzz_target!(|data: &[u8]| {
    if let Ok(state) = serde_json::from_slice::<State>(data) {
        serde_json::to_vec(&state).expect("a decoded state encodes");
    }
    let _ = serde_json::from_slice::<Connection>(data);
    let _ = serde_json::from_slice::<Factsheet>(data);
    let _ = serde_json::from_slice::<Visualization>(data);
});
