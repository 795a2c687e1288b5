//! What crosses the sync link: a push batch (central decodes it from an edge) and a pull
//! answer (the edge decodes it from central). Decoding never panics; a decoded batch goes
//! through the stream rule, whose answer always points inside the batch.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tote_shared::sync::{plan_push, PullResponse, PushBatch};

fuzz_target!(|data: &[u8]| {
    if let Ok(batch) = serde_json::from_slice::<PushBatch>(data) {
        let seqs: Vec<u64> = batch.events.iter().map(|e| e.seq).collect();
        let high_water = seqs.first().map_or(0, |s| s.saturating_sub(1));
        if let Ok(first_new) = plan_push(high_water, batch.head, &seqs) {
            assert!(first_new <= seqs.len());
        }
        // What is decoded encodes again.
        serde_json::to_vec(&batch).expect("a decoded batch encodes");
    }
    if let Ok(pulled) = serde_json::from_slice::<PullResponse>(data) {
        serde_json::to_vec(&pulled).expect("a decoded pull encodes");
    }
});
