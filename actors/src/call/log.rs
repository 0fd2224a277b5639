//! A call's event log: the supervisor's ordered record of everything that
//! happened, which the transcript publisher and the CRM writer read by cursor (so
//! a restarted reader resumes where its sink says it stopped, and nothing is lost).

use std::sync::Mutex;

use crate::realtime::{BridgeEvent, Segment, Speaker, Verdict};
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

/// Where a call's durable data goes (the embedded store; the database-backed one
/// implements the same interface).
pub trait CallStore: Send + Sync + std::fmt::Debug + 'static {
    /// Stores a final transcript segment (kept ordered by start time).
    fn segment(&self, call: CallId, seg: Segment);
    /// Stores a tool call.
    fn tool_call(&self, call: CallId, tool: ToolRecord);
    /// Stores the verdict (written back to the lead's CRM record).
    fn verdict(&self, call: CallId, verdict: Verdict);
    /// Stores the summary.
    fn summary(&self, call: CallId, summary: String);
    /// How far `reader` got in the call's event log.
    fn cursor(&self, call: CallId, reader: &str) -> u64;
    /// Records how far `reader` got.
    fn set_cursor(&self, call: CallId, reader: &str, cursor: u64);
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
    cursors: Vec<(String, u64)>,
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

impl CallStore for MemoryStore {
    fn segment(&self, call: CallId, seg: Segment) {
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
    fn tool_call(&self, call: CallId, tool: ToolRecord) {
        self.with(call, |c| c.tools.push(tool));
    }
    fn verdict(&self, call: CallId, verdict: Verdict) {
        self.with(call, |c| c.verdict = Some(verdict));
    }
    fn summary(&self, call: CallId, summary: String) {
        self.with(call, |c| c.summary = Some(summary));
    }
    fn cursor(&self, call: CallId, reader: &str) -> u64 {
        self.calls
            .lock()
            .ok()
            .and_then(|m| {
                m.get(&call)
                    .and_then(|c| c.cursors.iter().find(|(r, _)| r == reader).map(|(_, n)| *n))
            })
            .unwrap_or(0)
    }
    fn set_cursor(&self, call: CallId, reader: &str, cursor: u64) {
        self.with(call, |c| {
            match c.cursors.iter_mut().find(|(r, _)| r == reader) {
                Some(e) => e.1 = cursor,
                None => c.cursors.push((reader.to_owned(), cursor)),
            }
        });
    }
}
