//! Batching work queued by many callers into one transaction: which shard a key's work goes to
//! (so one key's work stays in order), and the batch a shard's worker takes next.

use tokio::sync::mpsc;

/// The shard of `key` among `shards`: FNV-1a, stable across runs, no allocation.
pub fn shard_of(key: &str, shards: usize) -> usize {
    let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    (hash % shards.max(1) as u64) as usize
}

/// Waits for the next job, then takes every job already waiting, up to `max` in all. None once
/// the queue is closed and empty.
pub async fn next_batch<T>(queue: &mut mpsc::Receiver<T>, max: usize) -> Option<Vec<T>> {
    let mut jobs = vec![queue.recv().await?];
    while jobs.len() < max {
        match queue.try_recv() {
            Ok(job) => jobs.push(job),
            Err(_) => break,
        }
    }
    Some(jobs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_always_lands_in_the_same_shard() {
        assert_eq!(shard_of("PEG39-M-WHT-42", 4), shard_of("PEG39-M-WHT-42", 4));
        assert!((0..100).all(|n| shard_of(&format!("SF{n:012}"), 3) < 3));
        assert_eq!(shard_of("x", 0), 0, "no shards: the first");
    }

    #[tokio::test]
    async fn a_batch_takes_what_waits_up_to_the_limit() {
        let (tx, mut rx) = mpsc::channel(10);
        for n in 0..5 {
            tx.send(n).await.expect("sent");
        }
        assert_eq!(next_batch(&mut rx, 3).await, Some(vec![0, 1, 2]));
        assert_eq!(next_batch(&mut rx, 3).await, Some(vec![3, 4]));
        drop(tx);
        assert_eq!(next_batch(&mut rx, 3).await, None);
    }
}
