//! A call's event log: the supervisor's ordered record of everything that
//! happened, which the transcript publisher and the CRM writer read by cursor (so
//! a restarted reader resumes where its sink says it stopped, and nothing is lost).

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

use crate::realtime::{BridgeEvent, CallUsage, LatencyKind, Segment, Speaker, Verdict};
use crate::sip::{CallId, HungUpBy};

/// One entry of the log.
#[derive(Debug, Clone, PartialEq)]
pub enum CallEvent {
    /// The call was answered and the agent attached.
    Answered,
    /// A key press.
    Dtmf(char),
    /// Something the bridge reported.
    Bridge(BridgeEvent),
    /// The call ended.
    Ended {
        /// Who hung up.
        by: HungUpBy,
        /// Why.
        cause: Option<&'static str>,
    },
}

/// The append-only log (bounded by the call's length; control events only).
#[derive(Debug, Default)]
pub struct EventLog {
    events: Mutex<Vec<CallEvent>>,
}

impl EventLog {
    /// Appends an event; returns its sequence number (1-based).
    pub fn push(&self, ev: CallEvent) -> u64 {
        let mut e = self
            .events
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        e.push(ev);
        e.len() as u64
    }

    /// Events after `cursor` (sequence numbers `cursor+1..`).
    pub fn since(&self, cursor: u64) -> Vec<(u64, CallEvent)> {
        let e = self
            .events
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        e.iter()
            .enumerate()
            .skip(cursor as usize)
            .map(|(i, ev)| (i as u64 + 1, ev.clone()))
            .collect()
    }

    /// Number of events.
    pub fn len(&self) -> u64 {
        self.events.lock().map(|e| e.len() as u64).unwrap_or(0)
    }

    /// Whether nothing was logged.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A tool call as stored with the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolRecord {
    /// Tool name.
    pub name: String,
    /// Arguments JSON.
    pub arguments: String,
    /// Output JSON.
    pub output: String,
    /// Whether it failed.
    pub failed: bool,
}

/// A store write or read in progress.
pub type StoreFuture<'a, T = ()> =
    Pin<Box<dyn Future<Output = Result<T, StoreFailure>> + Send + 'a>>;

/// A store operation failed (the reader fails and is restarted; it resumes at
/// its cursor, so the write is retried).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("call store: {0}")]
pub struct StoreFailure(pub String);

/// Where a call's durable data goes (in memory for tests, the database in the
/// engine). Every write is idempotent: a restarted reader may repeat the last one.
pub trait CallStore: Send + Sync + std::fmt::Debug + 'static {
    /// Stores a final transcript segment (kept ordered by start time; one per
    /// item and speaker).
    fn segment(&self, call: CallId, seg: Segment) -> StoreFuture<'_>;
    /// Stores the tool call logged at `seq` in the call's event log.
    fn tool_call(&self, call: CallId, seq: u64, tool: ToolRecord) -> StoreFuture<'_>;
    /// Stores the verdict logged at `seq` (written back to the lead's CRM record).
    fn verdict(&self, call: CallId, seq: u64, verdict: Verdict) -> StoreFuture<'_>;
    /// Stores the summary.
    fn summary(&self, call: CallId, summary: String) -> StoreFuture<'_>;
    /// Stores the latency sample logged at `seq`.
    fn latency(&self, call: CallId, seq: u64, kind: LatencyKind, ms: u32) -> StoreFuture<'_>;
    /// Stores the call's usage so far (replacing what was stored).
    fn usage(&self, call: CallId, usage: CallUsage) -> StoreFuture<'_>;
    /// How far `reader` got in the call's event log.
    fn cursor(&self, call: CallId, reader: &'static str) -> StoreFuture<'_, u64>;
    /// Records how far `reader` got.
    fn set_cursor(&self, call: CallId, reader: &'static str, cursor: u64) -> StoreFuture<'_>;
    /// Stores the key press logged at `seq` (for live monitors and replay).
    fn dtmf(&self, _call: CallId, _seq: u64, _digit: char) -> StoreFuture<'_> {
        done(())
    }
    /// Stores the barge-in logged at `seq`: the caller cut the agent's item
    /// after `played_ms` of it played.
    fn barge_in(
        &self,
        _call: CallId,
        _seq: u64,
        _item_id: String,
        _played_ms: u32,
    ) -> StoreFuture<'_> {
        done(())
    }
    /// Interim transcript text, for live monitors only: never stored, never
    /// waited on (must not block).
    fn delta(&self, _call: CallId, _speaker: Speaker, _item_id: String, _delta: String) {}
    /// The agent's run is over: every event of the call is written (the
    /// supervisor calls this once, after draining the readers).
    fn run_done(&self, _call: CallId) -> StoreFuture<'_> {
        done(())
    }
}

/// What is stored for one call.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoredCall {
    /// Transcript, ordered by start offset.
    pub segments: Vec<Segment>,
    /// Tool calls in order.
    pub tools: Vec<ToolRecord>,
    /// The verdict.
    pub verdict: Option<Verdict>,
    /// The summary.
    pub summary: Option<String>,
    /// Latency samples in order.
    pub latencies: Vec<(LatencyKind, u32)>,
    /// Usage so far.
    pub usage: Option<CallUsage>,
    /// Key presses in order.
    pub dtmf: Vec<char>,
    /// Barge-ins in order: (item cut, ms of it played).
    pub barge_ins: Vec<(String, u32)>,
    /// Interim text as published, in order: (speaker, item, text).
    pub deltas: Vec<(Speaker, String, String)>,
    /// Whether the agent's run was reported over.
    pub run_done: bool,
    latency_seqs: Vec<u64>,
    cursors: Vec<(String, u64)>,
    tool_seqs: Vec<u64>,
    event_seqs: Vec<u64>,
}

impl StoredCall {
    /// Segments spoken by `who`.
    pub fn by(&self, who: Speaker) -> impl Iterator<Item = &Segment> {
        self.segments.iter().filter(move |s| s.speaker == who)
    }
}

/// An in-memory [`CallStore`].
#[derive(Debug, Default)]
pub struct MemoryStore {
    calls: Mutex<std::collections::HashMap<CallId, StoredCall>>,
}

impl MemoryStore {
    /// What is stored for `call`.
    pub fn get(&self, call: CallId) -> Option<StoredCall> {
        self.calls.lock().ok()?.get(&call).cloned()
    }

    fn with(&self, call: CallId, f: impl FnOnce(&mut StoredCall)) {
        if let Ok(mut m) = self.calls.lock() {
            f(m.entry(call).or_default());
        }
    }
}

impl MemoryStore {
    /// Adds a segment in start order, once per item and speaker.
    pub fn add_segment(&self, call: CallId, seg: Segment) {
        self.with(call, |c| {
            if c.segments
                .iter()
                .any(|s| s.item_id == seg.item_id && s.speaker == seg.speaker)
            {
                return;
            }
            let pos = c.segments.partition_point(|s| s.start_ms <= seg.start_ms);
            c.segments.insert(pos, seg);
        });
    }

    fn cursor_of(&self, call: CallId, reader: &str) -> u64 {
        self.calls
            .lock()
            .ok()
            .and_then(|m| {
                m.get(&call)
                    .and_then(|c| c.cursors.iter().find(|(r, _)| r == reader).map(|(_, n)| *n))
            })
            .unwrap_or(0)
    }
}

fn done<'a, T: Send + 'a>(v: T) -> StoreFuture<'a, T> {
    Box::pin(std::future::ready(Ok(v)))
}

impl CallStore for MemoryStore {
    fn segment(&self, call: CallId, seg: Segment) -> StoreFuture<'_> {
        self.add_segment(call, seg);
        done(())
    }
    fn tool_call(&self, call: CallId, seq: u64, tool: ToolRecord) -> StoreFuture<'_> {
        self.with(call, |c| {
            if !c.tool_seqs.contains(&seq) {
                c.tool_seqs.push(seq);
                c.tools.push(tool);
            }
        });
        done(())
    }
    fn verdict(&self, call: CallId, _seq: u64, verdict: Verdict) -> StoreFuture<'_> {
        self.with(call, |c| c.verdict = Some(verdict));
        done(())
    }
    fn dtmf(&self, call: CallId, seq: u64, digit: char) -> StoreFuture<'_> {
        self.with(call, |c| {
            if !c.event_seqs.contains(&seq) {
                c.event_seqs.push(seq);
                c.dtmf.push(digit);
            }
        });
        done(())
    }
    fn barge_in(&self, call: CallId, seq: u64, item_id: String, played_ms: u32) -> StoreFuture<'_> {
        self.with(call, |c| {
            if !c.event_seqs.contains(&seq) {
                c.event_seqs.push(seq);
                c.barge_ins.push((item_id, played_ms));
            }
        });
        done(())
    }
    fn delta(&self, call: CallId, speaker: Speaker, item_id: String, delta: String) {
        self.with(call, |c| c.deltas.push((speaker, item_id, delta)));
    }
    fn run_done(&self, call: CallId) -> StoreFuture<'_> {
        self.with(call, |c| c.run_done = true);
        done(())
    }
    fn summary(&self, call: CallId, summary: String) -> StoreFuture<'_> {
        self.with(call, |c| c.summary = Some(summary));
        done(())
    }
    fn latency(&self, call: CallId, seq: u64, kind: LatencyKind, ms: u32) -> StoreFuture<'_> {
        self.with(call, |c| {
            if !c.latency_seqs.contains(&seq) {
                c.latency_seqs.push(seq);
                c.latencies.push((kind, ms));
            }
        });
        done(())
    }
    fn usage(&self, call: CallId, usage: CallUsage) -> StoreFuture<'_> {
        self.with(call, |c| c.usage = Some(usage));
        done(())
    }
    fn cursor(&self, call: CallId, reader: &'static str) -> StoreFuture<'_, u64> {
        done(self.cursor_of(call, reader))
    }
    fn set_cursor(&self, call: CallId, reader: &'static str, cursor: u64) -> StoreFuture<'_> {
        self.with(call, |c| {
            match c.cursors.iter_mut().find(|(r, _)| r == reader) {
                Some(e) => e.1 = cursor,
                None => c.cursors.push((reader.to_owned(), cursor)),
            }
        });
        done(())
    }
}
