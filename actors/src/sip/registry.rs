//! The node-wide view of calls: admission (capacity, drain), lookup by call id
//! and by dialog, live records and a bounded history of finished ones.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::mpsc;

use super::record::{CallChange, CallId, CallObserver, CallRecord};
use tenex_media::dtmf::DtmfDigit;

/// Control commands queued per call.
pub(crate) const CONTROL_QUEUE: usize = 16;

/// Commands to a running call.
#[derive(Debug)]
pub(crate) enum CallControl {
    /// Hang up (BYE when answered, CANCEL/487 before).
    Hangup,
    /// Hang up recording an outcome and cause.
    HangupWith {
        /// The call's outcome.
        outcome: super::outcome::CallOutcome,
        /// Why.
        cause: &'static str,
    },
    /// Send a key press as RFC 4733 events.
    SendDtmf(DtmfDigit),
    /// Fault injection: the call's SIP task panics.
    Crash,
}

/// Counters for the whole engine.
#[derive(Debug, Default)]
pub struct EngineCounters {
    /// INVITEs that started a call attempt.
    pub invites: AtomicU64,
    /// 403: source not on the allowlist.
    pub forbidden: AtomicU64,
    /// 404: no route.
    pub not_found: AtomicU64,
    /// 503: at capacity, draining or out of RTP ports.
    pub unavailable: AtomicU64,
    /// 488: no common codec or unusable SDP.
    pub not_acceptable: AtomicU64,
    /// 400: malformed SDP or a request we could not build a dialog from.
    pub bad_request: AtomicU64,
    /// 481: in-dialog requests for unknown dialogs.
    pub unknown_dialog: AtomicU64,
    /// OPTIONS answered.
    pub options: AtomicU64,
    /// Datagrams and connections dropped by the per-source rate limit.
    pub rate_limited: AtomicU64,
    /// Requests with methods we do not serve (405).
    pub not_allowed: AtomicU64,
    /// Calls refused (503, or a failed dial) for a trunk's concurrency or
    /// calls-per-second limit.
    pub trunk_limited: AtomicU64,
}

impl EngineCounters {
    pub(crate) fn bump(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }
}

/// A snapshot of the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineStats {
    /// Calls in progress.
    pub active_calls: usize,
    /// RTP ports free.
    pub ports_free: usize,
    /// RTP ports in the pool.
    pub ports_total: usize,
    /// Whether new calls are refused.
    pub draining: bool,
}

/// Why a call was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The engine is full or draining.
    Capacity,
    /// The call's trunk is at its concurrency limit.
    Trunk,
}

pub(crate) struct ActiveCall {
    pub(crate) record: CallRecord,
    pub(crate) control: mpsc::Sender<CallControl>,
    /// The call's media counters, once its media leg runs.
    pub(crate) media: Option<std::sync::Arc<crate::media::MediaStats>>,
}

#[derive(Default)]
struct Inner {
    active: HashMap<CallId, ActiveCall>,
    history: VecDeque<CallRecord>,
}

pub(crate) struct Registry {
    inner: Mutex<Inner>,
    max_calls: usize,
    history: usize,
    draining: AtomicBool,
    next_id: AtomicU64,
    observer: Option<Arc<dyn CallObserver>>,
    /// Woken when the last live call ends.
    idle: tokio::sync::Notify,
    pub(crate) counters: EngineCounters,
}

/// Where call ids start: random per engine start, so ids stay unique across
/// restarts and nodes sharing a database (then they count up).
fn first_id() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    // Leave room to count up without wrapping.
    h.finish() >> 2
}

/// Removes the call from the registry when dropped (normally or by a panicking task).
pub(crate) struct CallGuard {
    registry: Arc<Registry>,
    pub(crate) id: CallId,
    /// Whether dropping this guard finishes the record.
    armed: bool,
}

impl CallGuard {
    /// Moves the duty of finishing the record to the returned guard; this one
    /// keeps the id only.
    pub(crate) fn take_duty(&mut self) -> CallGuard {
        self.armed = false;
        CallGuard {
            registry: self.registry.clone(),
            id: self.id,
            armed: true,
        }
    }
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        if self.armed {
            self.registry.finish(self.id);
        }
    }
}

impl Registry {
    pub(crate) fn new(
        max_calls: usize,
        history: usize,
        observer: Option<Arc<dyn CallObserver>>,
    ) -> Arc<Registry> {
        Arc::new(Registry {
            inner: Mutex::new(Inner::default()),
            max_calls,
            history,
            draining: AtomicBool::new(false),
            next_id: AtomicU64::new(first_id()),
            observer,
            idle: tokio::sync::Notify::new(),
            counters: EngineCounters::default(),
        })
    }

    /// Tells the observer, outside the registry's lock.
    fn notify(&self, record: Option<CallRecord>, change: CallChange) {
        if let (Some(o), Some(r)) = (&self.observer, record) {
            o.observe(&r, change);
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn next_id(&self) -> CallId {
        CallId(self.next_id.fetch_add(1, Ordering::Relaxed))
    }

    pub(crate) fn set_draining(&self, on: bool) {
        self.draining.store(on, Ordering::Relaxed);
    }

    pub(crate) fn draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    pub(crate) fn active_count(&self) -> usize {
        self.lock().active.len()
    }

    /// Returns once no call is live.
    pub(crate) async fn idle(&self) {
        loop {
            let ended = self.idle.notified();
            tokio::pin!(ended);
            // Registered before the check, so an end right after it still wakes us.
            ended.as_mut().enable();
            if self.active_count() == 0 {
                return;
            }
            ended.await;
        }
    }

    /// Admits a call if there is capacity, we are not draining, and its trunk
    /// has fewer than `trunk_max` calls in progress.
    pub(crate) fn admit(
        self: &Arc<Registry>,
        record: CallRecord,
        control: mpsc::Sender<CallControl>,
        trunk_max: Option<u32>,
    ) -> Result<CallGuard, Refused> {
        if self.draining() {
            return Err(Refused::Capacity);
        }
        let mut inner = self.lock();
        if inner.active.len() >= self.max_calls {
            return Err(Refused::Capacity);
        }
        if let (Some(max), Some(trunk)) = (trunk_max, record.trunk.as_deref()) {
            let on_trunk = inner
                .active
                .values()
                .filter(|c| c.record.trunk.as_deref() == Some(trunk))
                .count();
            if on_trunk >= max as usize {
                return Err(Refused::Trunk);
            }
        }
        let id = record.id;
        let seen = self.observer.as_ref().map(|_| record.clone());
        inner.active.insert(
            id,
            ActiveCall {
                record,
                control,
                media: None,
            },
        );
        drop(inner);
        self.notify(seen, CallChange::Started);
        Ok(CallGuard {
            registry: self.clone(),
            id,
            armed: true,
        })
    }

    /// Updates a live record in place.
    pub(crate) fn update(&self, call: CallId, f: impl FnOnce(&mut CallRecord)) {
        if let Some(c) = self.lock().active.get_mut(&call) {
            f(&mut c.record);
        }
    }

    /// Lets the call's live media counters be read while it runs.
    pub(crate) fn attach_media(
        &self,
        call: CallId,
        stats: std::sync::Arc<crate::media::MediaStats>,
    ) {
        if let Some(c) = self.lock().active.get_mut(&call) {
            c.media = Some(stats);
        }
    }

    /// RTP packets (sent, received) so far by an active call's media leg.
    pub(crate) fn live_rtp(&self, call: CallId) -> Option<(u64, u64)> {
        use crate::media::MediaStats;
        let inner = self.lock();
        let stats = inner.active.get(&call)?.media.as_ref()?;
        Some((
            MediaStats::get(&stats.rtp_sent),
            MediaStats::get(&stats.rtp_received),
        ))
    }

    /// Updates a live record and tells the observer about `change`.
    fn change(&self, call: CallId, change: CallChange, f: impl FnOnce(&mut CallRecord)) {
        let seen = self.lock().active.get_mut(&call).map(|c| {
            f(&mut c.record);
            c.record.clone()
        });
        self.notify(seen, change);
    }

    /// Tells the observer the call is ringing (once per call: callers only
    /// call it on the first 180/183).
    pub(crate) fn mark_ringing(&self, call: CallId) {
        self.change(call, CallChange::Ringing, |_| {});
    }

    /// Records that a call was answered with `codec` on our RTP `port`.
    pub(crate) fn mark_answered(&self, call: CallId, codec: tenex_media::sdp::Codec, port: u16) {
        self.change(call, CallChange::Answered, |r| {
            r.codec = Some(codec);
            r.rtp_port = Some(port);
            r.answered_at = Some(std::time::SystemTime::now());
        });
    }

    /// Records a hold change from a re-INVITE (told only when it changes).
    pub(crate) fn mark_hold(&self, call: CallId, held: bool) {
        let was = self
            .lock()
            .active
            .get(&call)
            .is_some_and(|c| c.record.on_hold);
        if was == held {
            return;
        }
        self.change(call, CallChange::Hold(held), |r| {
            r.held |= held;
            r.on_hold = held;
        });
    }

    /// A sender for the call's control queue (a closed one when the call is gone).
    pub(crate) fn control_sender(&self, call: CallId) -> mpsc::Sender<CallControl> {
        self.lock()
            .active
            .get(&call)
            .map(|c| c.control.clone())
            .unwrap_or_else(|| mpsc::channel(1).0)
    }

    pub(crate) fn control(&self, call: CallId, cmd: CallControl) -> bool {
        let tx = self.lock().active.get(&call).map(|c| c.control.clone());
        tx.is_some_and(|tx| tx.try_send(cmd).is_ok())
    }

    fn finish(&self, call: CallId) {
        let mut inner = self.lock();
        let Some(mut c) = inner.active.remove(&call) else {
            return;
        };
        if c.record.ended_at.is_none() {
            c.record.ended_at = Some(std::time::SystemTime::now());
        }
        let seen = self.observer.as_ref().map(|_| c.record.clone());
        inner.history.push_back(c.record);
        while inner.history.len() > self.history {
            inner.history.pop_front();
        }
        let idle = inner.active.is_empty();
        drop(inner);
        self.notify(seen, CallChange::Ended);
        if idle {
            self.idle.notify_waiters();
        }
    }

    /// Reserves an id for a call about to be placed.
    pub(crate) fn reserve_id(&self) -> CallId {
        self.next_id()
    }

    /// Live and recent records, oldest first.
    pub(crate) fn records(&self) -> Vec<CallRecord> {
        let inner = self.lock();
        let mut all: Vec<CallRecord> = inner.history.iter().cloned().collect();
        let mut live: Vec<CallRecord> = inner.active.values().map(|c| c.record.clone()).collect();
        live.sort_by_key(|r| r.id);
        all.extend(live);
        all
    }

    pub(crate) fn active_ids(&self) -> Vec<CallId> {
        let mut ids: Vec<CallId> = self.lock().active.keys().copied().collect();
        ids.sort();
        ids
    }
}
