//! The webhook dispatcher: turns committed events into deliveries and sends
//! them, at least once, in event order per subscription.
//!
//! Each pass (woken by a commit on this node, else every second) it enqueues
//! new events ([`Store::enqueue_deliveries`]), then attempts the oldest pending
//! delivery of every subscription that is due and not already being sent. An
//! attempt takes a lease on the delivery first (timeout + 5 s), so two nodes on
//! one database never send the same attempt at once, and an engine killed
//! mid-attempt leaves the delivery to be sent again when the lease runs out,
//! with the same `webhook-id`.
//!
//! Outcomes: 2xx = delivered; 410 = the subscription is disabled (its
//! `disabled_reason` says why; re-enable it with PATCH); anything else (other
//! statuses, refused connections, timeouts of 10 s) = retried after
//! [`RETRY_SCHEDULE`]'s next delay with ±20 % jitter, for up to 24 h after the
//! delivery was created; then it is marked `failed` and the subscription moves
//! on to its next delivery.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::store::{Head, Store, now_ms};

use super::send::{Target, UrlError};

/// Delay before each retry: after the 1st failed attempt 5 s, then 30 s,
/// 2 min, 10 min, 30 min, 1 h, 2 h, 4 h, and every 6 h after that, until 24 h
/// after the delivery was created (11 attempts in all).
pub const RETRY_SCHEDULE: &[Duration] = &[
    Duration::from_secs(5),
    Duration::from_secs(30),
    Duration::from_secs(120),
    Duration::from_secs(600),
    Duration::from_secs(1_800),
    Duration::from_secs(3_600),
    Duration::from_secs(7_200),
    Duration::from_secs(14_400),
    Duration::from_secs(21_600),
];

/// How the dispatcher runs.
#[derive(Debug, Clone)]
pub struct DispatcherConfig {
    /// Send to loopback, private and link-local addresses
    /// (`TENEX_WEBHOOK_ALLOW_PRIVATE=1`).
    pub allow_private: bool,
    /// One attempt's limit (connect to response head).
    pub timeout: Duration,
    /// Delays between attempts (the last one repeats).
    pub schedule: Vec<Duration>,
    /// Retries stop this long after a delivery was created.
    pub give_up_after: Duration,
    /// How often a pass runs without being woken.
    pub tick: Duration,
}

impl Default for DispatcherConfig {
    fn default() -> Self {
        DispatcherConfig {
            allow_private: false,
            timeout: Duration::from_secs(10),
            schedule: RETRY_SCHEDULE.to_vec(),
            give_up_after: Duration::from_secs(24 * 3_600),
            tick: Duration::from_secs(1),
        }
    }
}

/// When the attempt after `attempts` failed ones is due (Unix ms), or `None`
/// when retries are over. `jitter` in `[0, 1)` spreads the delay over ±20 %.
pub fn next_attempt(
    cfg: &DispatcherConfig,
    attempts: i64,
    now: i64,
    created_at: i64,
    jitter: f64,
) -> Option<i64> {
    let i = usize::try_from(attempts.max(1) - 1).unwrap_or(usize::MAX);
    let base = cfg.schedule.get(i).or(cfg.schedule.last())?;
    let delay = base.as_millis() as f64 * (0.8 + 0.4 * jitter.clamp(0.0, 1.0));
    let next = now + delay as i64;
    (next <= created_at + cfg.give_up_after.as_millis() as i64).then_some(next)
}

/// Sends webhooks from the store's outbox.
#[derive(Debug, Clone)]
pub struct Dispatcher {
    store: Store,
    cfg: Arc<DispatcherConfig>,
    sending: Arc<Mutex<HashSet<String>>>,
}

impl Dispatcher {
    /// A dispatcher over `store`.
    pub fn new(store: Store, cfg: DispatcherConfig) -> Dispatcher {
        Dispatcher {
            store,
            cfg: Arc::new(cfg),
            sending: Arc::default(),
        }
    }

    /// Runs passes until the task is dropped or aborted.
    pub fn spawn(self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let (mut version, _) = self.store.hub().follow();
            let mut tick = tokio::time::interval(self.cfg.tick);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    changed = version.changed() => if changed.is_err() { return },
                }
                if let Err(e) = self.pass().await {
                    tracing::warn!(error = %e, "webhook pass failed");
                }
            }
        })
    }

    /// One pass: enqueue new events, start every due attempt.
    pub async fn pass(&self) -> crate::store::StoreResult<()> {
        self.store.enqueue_deliveries().await?;
        let now = now_ms();
        for head in self.store.delivery_heads().await? {
            if head.next_attempt_at > now || head.lease_until.is_some_and(|t| t > now) {
                continue;
            }
            {
                let mut sending = self
                    .sending
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if !sending.insert(head.webhook_id.clone()) {
                    continue;
                }
            }
            let me = self.clone();
            tokio::spawn(async move {
                let webhook = head.webhook_id.clone();
                if let Err(e) = me.attempt(head).await {
                    tracing::warn!(webhook = %webhook, error = %e, "webhook attempt not recorded");
                }
                me.sending
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .remove(&webhook);
            });
        }
        Ok(())
    }

    async fn attempt(&self, head: Head) -> crate::store::StoreResult<()> {
        let cfg = &self.cfg;
        let lease = now_ms() + (cfg.timeout + Duration::from_secs(5)).as_millis() as i64;
        if !self.store.lease_delivery(&head.id, lease).await? {
            return Ok(());
        }
        let crm = head.kind == "crm";
        let sent = match Target::parse(&head.url) {
            Ok(target) => match target.resolve(cfg.allow_private).await {
                Ok(addrs) => {
                    let now = now_ms();
                    let ts = now / 1000;
                    match super::headers(&head.secrets(now), &head.id, ts, head.body.as_bytes()) {
                        Ok(signed) => {
                            let mut h: Vec<(String, String)> =
                                signed.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
                            h.extend(head.extra_headers());
                            if let Some(call) = head.call_id.as_ref().filter(|_| crm) {
                                h.push(("idempotency-key".into(), call.clone()));
                            }
                            let method = if crm { head.method.as_str() } else { "POST" };
                            target
                                .send(method, &addrs, &h, head.body.clone(), cfg.timeout)
                                .await
                        }
                        Err(e) => Err(e.to_string()),
                    }
                }
                Err(e @ UrlError::Private(_)) => Err(format!("refused: {e}")),
                Err(e) => Err(e.to_string()),
            },
            Err(e) => Err(e.to_string()),
        };
        let now = now_ms();
        match sent {
            Ok(status) if (200..300).contains(&status) => {
                tracing::debug!(delivery = %head.id, status, "webhook delivered");
                self.store
                    .record_attempt(&head.id, true, Some(status), None, None)
                    .await?;
                match head.call_id.as_deref().filter(|_| crm) {
                    Some(call) => self.store.crm_writeback_delivered(call).await,
                    None => Ok(()),
                }
            }
            Ok(410) if !crm => {
                tracing::info!(webhook = %head.webhook_id, "endpoint answered 410 Gone: subscription disabled");
                self.store
                    .record_attempt(&head.id, false, Some(410), Some("410 Gone"), None)
                    .await?;
                self.store
                    .disable_webhook(&head.webhook_id, "the endpoint answered 410 Gone")
                    .await
            }
            other => {
                let (status, error) = match other {
                    Ok(s) => (Some(s), format!("HTTP {s}")),
                    Err(e) => (None, e),
                };
                // A CRM that refuses the request itself (4xx other than a
                // timeout or rate limit) will refuse it again.
                let permanent =
                    crm && status.is_some_and(|s| (400..500).contains(&s) && s != 408 && s != 429);
                let next = if permanent {
                    None
                } else {
                    next_attempt(cfg, head.attempts + 1, now, head.created_at, jitter())
                };
                tracing::info!(delivery = %head.id, error = %error, retry_at = ?next, "webhook attempt failed");
                self.store
                    .record_attempt(&head.id, false, status, Some(&error), next)
                    .await?;
                match head.call_id.as_deref().filter(|_| crm && next.is_none()) {
                    Some(call) => {
                        tracing::warn!(call, error = %error, "CRM write-back failed");
                        self.store
                            .crm_writeback_failed(
                                &head.workspace_id,
                                call,
                                &error,
                                head.attempts + 1,
                            )
                            .await
                    }
                    None => Ok(()),
                }
            }
        }
    }
}

fn jitter() -> f64 {
    let mut b = [0u8; 4];
    let _ = getrandom::fill(&mut b);
    f64::from(u32::from_le_bytes(b)) / (f64::from(u32::MAX) + 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_with_jitter_for_up_to_a_day() {
        let cfg = DispatcherConfig::default();
        assert_eq!(cfg.timeout, Duration::from_secs(10), "10 s per attempt");
        assert_eq!(cfg.give_up_after, Duration::from_secs(86_400));
        assert!(!cfg.allow_private);
        let t0 = 1_000_000_000;
        // 5 s ± 20 % after the first failure, 30 s ± 20 % after the second.
        assert_eq!(next_attempt(&cfg, 1, t0, t0, 0.0), Some(t0 + 4_000));
        assert_eq!(next_attempt(&cfg, 1, t0, t0, 0.5), Some(t0 + 5_000));
        assert_eq!(next_attempt(&cfg, 2, t0, t0, 0.999_999), Some(t0 + 35_999));
        // The delays grow, then repeat every 6 h.
        let mut now = t0;
        let mut attempts = 0;
        let mut delays = Vec::new();
        while let Some(next) = next_attempt(&cfg, attempts + 1, now, t0, 0.5) {
            delays.push(next - now);
            now = next;
            attempts += 1;
        }
        assert!(delays.windows(2).all(|w| w[0] <= w[1]), "{delays:?}");
        assert_eq!(delays.last(), Some(&21_600_000));
        // Retries end within 24 h of the first attempt: 10 of them.
        assert!(now - t0 <= 86_400_000);
        assert!(now - t0 > 86_400_000 - 21_600_000 * 12 / 10);
        assert_eq!(attempts, 10, "{delays:?}");
    }
}
