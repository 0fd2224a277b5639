//! Call events: the durable, ordered record of what happened on each call, which
//! SSE monitors replay and follow and webhooks deliver.
//!
//! An event is appended in the same transaction as the state change that caused
//! it (a lifecycle change, a transcript segment, a verdict), so a committed
//! change always has its event and a rolled-back one never does. Each workspace
//! numbers its events `1, 2, 3…` (`seq`): the number is taken from the workspace
//! row inside the appending transaction, so on Postgres the appends of one
//! workspace commit in `seq` order, and a reader that has seen `seq` N has seen
//! every event before it, whichever node wrote them. Within one call the numbers
//! increase; they are the SSE `id:`.
//!
//! After a commit the node's [`Hub`] is told, which wakes its SSE followers (they
//! read the new rows). Interim transcript text is not stored: it goes to
//! followers on the hub's bounded live channel only, and a follower that falls
//! behind on it is disconnected (it resumes from storage with `Last-Event-ID`).

use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;
use tokio::sync::{broadcast, watch};

use super::{Store, StoreResult, on_db};

/// Interim events buffered per follower before it counts as fallen behind.
pub const LIVE_BUFFER: usize = 1024;

/// Event kinds that only webhooks carry (SSE monitors get `call.state`).
pub const WEBHOOK_ONLY: &[&str] = &[
    "call.started",
    "call.ringing",
    "call.answered",
    "recording.ready",
];

/// Event kinds of the workspace-wide lifecycle feed.
pub const LIFECYCLE: &[&str] = &[
    "call.state",
    "call.ended",
    "agent.run.completed",
    "batch.completed",
];

/// The last event of a call: a call stream closes after it.
pub const FINAL: &str = "agent.run.completed";

/// One stored event.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CallEvent {
    /// Position in the workspace's event sequence (the SSE `id:`).
    pub seq: i64,
    /// The call.
    pub call_id: String,
    /// `call.state`, `transcript.segment`, …
    pub kind: String,
    /// The event's JSON payload.
    #[schema(value_type = Object)]
    pub data: Value,
    /// When it was appended (Unix ms).
    pub created_at: i64,
}

/// An interim event for live followers only (never stored).
#[derive(Debug, Clone, PartialEq)]
pub struct LiveEvent {
    /// The call.
    pub call_id: String,
    /// `transcript.delta`.
    pub kind: &'static str,
    /// Payload.
    pub data: Value,
}

/// An event to append.
#[derive(Debug, Clone)]
pub(crate) struct NewEvent {
    pub(crate) kind: &'static str,
    pub(crate) data: Value,
    /// Idempotency key within the call (`None`: always appended).
    pub(crate) source: Option<String>,
}

impl NewEvent {
    pub(crate) fn new(kind: &'static str, data: Value, source: impl Into<Option<String>>) -> Self {
        NewEvent {
            kind,
            data,
            source: source.into(),
        }
    }
}

/// A node's fan-out of new events to its followers.
#[derive(Debug)]
pub struct Hub {
    version: watch::Sender<u64>,
    live: broadcast::Sender<Arc<LiveEvent>>,
}

impl Default for Hub {
    fn default() -> Self {
        Hub {
            version: watch::Sender::new(0),
            live: broadcast::Sender::new(LIVE_BUFFER),
        }
    }
}

impl Hub {
    /// Events were committed: wake the followers.
    pub fn committed(&self) {
        self.version.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// Whether any follower takes interim events (so they need building).
    pub fn has_live_followers(&self) -> bool {
        self.live.receiver_count() > 0
    }

    /// Sends an interim event to the followers (dropped when nobody follows).
    pub fn live(&self, ev: LiveEvent) {
        let _ = self.live.send(Arc::new(ev));
    }

    /// A follower's receivers: commit notifications and interim events.
    pub fn follow(&self) -> (watch::Receiver<u64>, broadcast::Receiver<Arc<LiveEvent>>) {
        (self.version.subscribe(), self.live.subscribe())
    }
}

/// Appends `$events` (an iterator of [`NewEvent`]) for call `$call` of
/// workspace `$ws` inside the open transaction `$tx`; evaluates to how many were
/// appended (events whose source the call already has are skipped).
macro_rules! append_events {
    ($tx:ident, $ws:expr, $call:expr, $events:expr) => {{
        let mut appended = 0u32;
        for ev in $events {
            let ev: $crate::store::events::NewEvent = ev;
            if let Some(src) = &ev.source {
                let dup: Option<i64> = sqlx::query_scalar(
                    "SELECT seq FROM call_events WHERE call_id = $1 AND source = $2",
                )
                .bind($call)
                .bind(src)
                .fetch_optional(&mut *$tx)
                .await?;
                if dup.is_some() {
                    continue;
                }
            }
            let seq: i64 = sqlx::query_scalar(
                "UPDATE workspaces SET event_seq = event_seq + 1 WHERE id = $1 RETURNING event_seq",
            )
            .bind($ws)
            .fetch_one(&mut *$tx)
            .await?;
            sqlx::query(
                "INSERT INTO call_events (workspace_id, seq, call_id, kind, data, source, \
                 created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind($ws)
            .bind(seq)
            .bind($call)
            .bind(ev.kind)
            .bind(ev.data.to_string())
            .bind(&ev.source)
            .bind($crate::store::now_ms())
            .execute(&mut *$tx)
            .await?;
            appended += 1;
        }
        appended
    }};
}
pub(crate) use append_events;

/// Runs `$body` inside a transaction on whichever backend the store has
/// (`BEGIN IMMEDIATE` on SQLite, so the write lock is taken up front), commits,
/// and evaluates to the body's value. A `?` in the body rolls back.
macro_rules! in_tx {
    ($store:expr, $tx:ident => $body:expr) => {
        match &$store.db {
            $crate::store::Db::Sqlite(pool) => {
                let mut $tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                let out = $body;
                $tx.commit().await?;
                out
            }
            $crate::store::Db::Postgres(pool) => {
                let mut $tx = pool.begin().await?;
                let out = $body;
                $tx.commit().await?;
                out
            }
        }
    };
}
pub(crate) use in_tx;

#[derive(sqlx::FromRow)]
struct EventRow {
    seq: i64,
    call_id: String,
    kind: String,
    data: String,
    created_at: i64,
}

impl From<EventRow> for CallEvent {
    fn from(r: EventRow) -> CallEvent {
        CallEvent {
            seq: r.seq,
            call_id: r.call_id,
            kind: r.kind,
            data: serde_json::from_str(&r.data).unwrap_or(Value::Null),
            created_at: r.created_at,
        }
    }
}

impl Store {
    /// The node's event hub.
    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    /// `n` events were committed: wake this node's followers (when any were).
    pub(crate) fn appended(&self, n: u32) {
        if n > 0 {
            self.hub.committed();
        }
    }

    /// Up to `limit` events of `workspace` after `after`, oldest first; of one
    /// call when `call` is given.
    pub async fn events_after(
        &self,
        workspace: &str,
        call: Option<&str>,
        after: i64,
        limit: i64,
    ) -> StoreResult<Vec<CallEvent>> {
        const COLS: &str = "seq, call_id, kind, data, created_at";
        let rows: Vec<EventRow> = match call {
            Some(call) => {
                let sql = format!(
                    "SELECT {COLS} FROM call_events WHERE workspace_id = $1 AND call_id = $2 \
                     AND seq > $3 ORDER BY seq LIMIT $4"
                );
                on_db!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                    .bind(workspace).bind(call).bind(after).bind(limit).fetch_all(pool).await?)
            }
            None => {
                let sql = format!(
                    "SELECT {COLS} FROM call_events WHERE workspace_id = $1 AND seq > $2 \
                     ORDER BY seq LIMIT $3"
                );
                on_db!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                    .bind(workspace).bind(after).bind(limit).fetch_all(pool).await?)
            }
        };
        Ok(rows.into_iter().map(CallEvent::from).collect())
    }

    /// Whether `call` is complete (its `agent.run.completed` is stored).
    pub async fn call_completed(&self, call: &str) -> StoreResult<bool> {
        let sql = "SELECT completed_at FROM calls WHERE id = $1";
        let at: Option<Option<i64>> = on_db!(self, pool => sqlx::query_scalar(sql)
            .bind(call).fetch_optional(pool).await?);
        Ok(at.flatten().is_some())
    }
}
