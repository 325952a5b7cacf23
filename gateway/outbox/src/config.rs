//! Store limits, retry schedule and windows (defaults in docs/specs/outbox.md).

use std::time::Duration;

use crate::error::{Error, Result};
use crate::types::Sha256;

/// Retry delays after the 1st, 2nd, … failed attempt; the last one repeats. Jitter is derived from
/// the delivery id and the attempt number (deterministic, so replays and tests agree) and spreads
/// each delay over ±`jitter_percent`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backoff {
    steps: Vec<Duration>,
    jitter_percent: u8,
}

impl Backoff {
    /// Fails when `steps` is empty, a step is zero or above a week, steps decrease, or jitter > 100.
    pub fn new(steps: Vec<Duration>, jitter_percent: u8) -> Result<Backoff> {
        if steps.is_empty() {
            return Err(Error::Invalid {
                field: "backoff.steps",
                reason: "at least one delay is required".into(),
            });
        }
        if jitter_percent > 100 {
            return Err(Error::Invalid {
                field: "backoff.jitter_percent",
                reason: format!("{jitter_percent} is above 100"),
            });
        }
        let week = Duration::from_secs(7 * 24 * 3600);
        for (i, w) in steps.windows(2).enumerate() {
            if w[1] < w[0] {
                return Err(Error::Invalid {
                    field: "backoff.steps",
                    reason: format!("delay {} is shorter than delay {}", i + 1, i),
                });
            }
        }
        if let Some(bad) = steps.iter().find(|d| d.is_zero() || **d > week) {
            return Err(Error::Invalid {
                field: "backoff.steps",
                reason: format!("{bad:?} is not within (0, 7 days]"),
            });
        }
        Ok(Backoff {
            steps,
            jitter_percent,
        })
    }

    pub fn steps(&self) -> &[Duration] {
        &self.steps
    }

    pub fn jitter_percent(&self) -> u8 {
        self.jitter_percent
    }

    /// Delay before the next attempt after `failed_attempts` (≥ 1) failures.
    pub fn delay(&self, delivery_id: &str, failed_attempts: u32) -> Duration {
        let idx = (failed_attempts.max(1) as usize - 1).min(self.steps.len() - 1);
        let base = self.steps[idx];
        if self.jitter_percent == 0 {
            return base;
        }
        let mut seed = delivery_id.as_bytes().to_vec();
        seed.extend_from_slice(&failed_attempts.to_be_bytes());
        let h = Sha256::digest(&seed).0;
        // u in [0, 1) from 53 bits of the hash.
        let n = u64::from_be_bytes([h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]]) >> 11;
        let u = n as f64 / (1u64 << 53) as f64;
        let j = f64::from(self.jitter_percent) / 100.0;
        let factor = 1.0 + j * (2.0 * u - 1.0);
        Duration::from_secs_f64((base.as_secs_f64() * factor).max(0.001))
    }
}

impl Default for Backoff {
    /// 1, 2, 5, 10, 30 minutes, then hourly, ±20 %.
    fn default() -> Self {
        let m = |n: u64| Duration::from_secs(n * 60);
        Backoff {
            steps: vec![m(1), m(2), m(5), m(10), m(30), m(60)],
            jitter_percent: 20,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// Most pending (queued + in_flight) deliveries in the store.
    pub capacity: u64,
    /// Most pending deliveries per destination, so one dead destination cannot fill the queue.
    pub capacity_per_destination: u64,
    /// Told to callers refused with QueueFull.
    pub queue_full_retry_after: Duration,
    pub backoff: Backoff,
    /// Attempts after which a temporary failure expires the delivery.
    pub max_attempts: u32,
    /// Default retry window from creation (and from an operator retry).
    pub retry_window: Duration,
    /// Read-receipt window after `delivered`.
    pub mdn_window: Duration,
    /// Most write commands committed in one transaction (group commit).
    pub group_commit_max: usize,
    /// Read connections (WAL readers).
    pub read_connections: usize,
    /// Write a signed audit checkpoint after this many new audit entries (also on `checkpoint`
    /// and on close).
    pub checkpoint_every: u64,
    /// Payloads up to this size may be committed inside the transaction that references them
    /// (no file to create and fsync: the commit makes them durable with the row).
    pub inline_payload_max: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            capacity: 100_000,
            capacity_per_destination: 50_000,
            queue_full_retry_after: Duration::from_secs(5),
            backoff: Backoff::default(),
            max_attempts: 30,
            retry_window: Duration::from_secs(24 * 3600),
            mdn_window: Duration::from_secs(7 * 24 * 3600),
            group_commit_max: 256,
            read_connections: 4,
            checkpoint_every: 10_000,
            inline_payload_max: 64 * 1024,
        }
    }
}

impl StoreConfig {
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &'static str, reason: &str| {
            Err(Error::Invalid {
                field,
                reason: reason.to_owned(),
            })
        };
        if self.capacity == 0 {
            return bad("capacity", "must be at least 1");
        }
        if self.capacity_per_destination == 0 {
            return bad("capacity_per_destination", "must be at least 1");
        }
        if self.max_attempts == 0 {
            return bad("max_attempts", "must be at least 1");
        }
        if self.retry_window.is_zero() {
            return bad("retry_window", "must be positive");
        }
        if self.group_commit_max == 0 {
            return bad("group_commit_max", "must be at least 1");
        }
        if self.read_connections == 0 {
            return bad("read_connections", "must be at least 1");
        }
        if self.checkpoint_every == 0 {
            return bad("checkpoint_every", "must be at least 1");
        }
        // Larger payloads belong in files: a WAL commit of MiBs costs more than the file's fsync.
        if self.inline_payload_max > 1024 * 1024 {
            return bad("inline_payload_max", "must be at most 1 MiB");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn constructor_rejects_bad_schedules() {
        let s = Duration::from_secs;
        assert!(Backoff::new(vec![], 10).is_err());
        assert!(Backoff::new(vec![s(1)], 101).is_err());
        assert!(Backoff::new(vec![s(0)], 0).is_err());
        assert!(Backoff::new(vec![s(10), s(5)], 0).is_err());
        assert!(Backoff::new(vec![s(8 * 24 * 3600)], 0).is_err());
        assert!(Backoff::new(vec![s(1), s(1), s(3)], 100).is_ok());
    }

    #[test]
    fn default_schedule_without_jitter_is_documented_one() {
        let b = Backoff::new(Backoff::default().steps().to_vec(), 0).expect("valid");
        let mins: Vec<u64> = (1..=8).map(|a| b.delay("d", a).as_secs() / 60).collect();
        assert_eq!(mins, vec![1, 2, 5, 10, 30, 60, 60, 60]);
    }

    proptest! {
        #[test]
        fn jittered_delay_within_bounds(id in "[a-z0-9]{1,12}", attempt in 1u32..50, j in 0u8..=100) {
            let b = Backoff::new(Backoff::default().steps().to_vec(), j).expect("valid");
            let base = b.steps()[(attempt as usize - 1).min(b.steps().len() - 1)].as_secs_f64();
            let d = b.delay(&id, attempt).as_secs_f64();
            let jf = f64::from(j) / 100.0;
            prop_assert!(d >= base * (1.0 - jf) - 0.01);
            prop_assert!(d <= base * (1.0 + jf) + 0.01);
            // Deterministic for the same delivery and attempt.
            prop_assert_eq!(b.delay(&id, attempt), b.delay(&id, attempt));
        }
    }
}
