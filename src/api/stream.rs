//! Live monitoring over Server-Sent Events: one call's events
//! (`/calls/{id}/stream`) and the workspace's call lifecycle
//! (`/stream`, for a live calls board).
//!
//! A stream first replays the stored events after `Last-Event-ID` (all of them
//! without it), then follows new ones as they are committed. Every stored event
//! has `id:` = its `seq` (increasing within a call and within the workspace), so
//! a client that reconnects with the last id it saw continues exactly after it.
//! Interim transcript text (`transcript.delta`) is sent live without an `id:`
//! and is never replayed: the final `transcript.segment` replaces it.
//!
//! A follower never slows a call: stored events are read from the database at
//! the follower's own pace, and interim text comes through a bounded buffer
//! ([`crate::store::LIVE_BUFFER`]); a follower that falls behind on it is
//! disconnected (it resumes with `Last-Event-ID`). A call's stream closes after
//! the call's last event, `agent.run.completed`; so a finished call's stream
//! replays everything and closes. A comment line keeps idle streams open
//! (every 15 s).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use tokio::sync::{broadcast, watch};

use super::error::{ErrorBody, found};
use super::{ApiError, ApiState, Caller};
use crate::store::{CallEvent, FINAL, LIFECYCLE, LiveEvent, Store, WEBHOOK_ONLY};

/// How often a follower also looks at the database without being woken (for
/// events committed by another engine node on the same database).
const POLL: Duration = Duration::from_secs(2);

/// Stored events read per query.
const BATCH: i64 = 256;

/// One call's events: `call.state` (ringing, answered, on-hold, ended),
/// `transcript.delta`, `transcript.segment`, `agent.tool_call`, `dtmf`,
/// `barge_in`, `verdict`, `call.ended` and, last, `agent.run.completed`.
///
/// `text/event-stream`; each event's `data` is JSON with `call_id`. Stored
/// events carry `id:` (increasing); `Last-Event-ID` resumes right after that
/// event. Interim `transcript.delta` events carry no `id:` and are not
/// replayed. The stream closes after `agent.run.completed`.
#[utoipa::path(get, path = "/calls/{id}/stream", tag = "calls",
    params(("id" = String, Path, description = "The call."),
        ("Last-Event-ID" = Option<i64>, Header,
            description = "Resume after this event id (the last `id:` received).")),
    responses(
        (status = 200, description = "The event stream. Each stored event is also \
            described by the `CallEvent` schema (`kind` = the SSE event name).",
            content_type = "text/event-stream", body = String),
        (status = 422, description = "`Last-Event-ID` is not an event id.", body = ErrorBody)))]
pub(super) async fn stream(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let after = last_event_id(&headers)?;
    let call = found(s.store.call(&caller.workspace, &id).await, "call")?;
    let follower = Follower::new(&s.store, caller.workspace, Some(call.id), after);
    Ok(sse(follower, s.keep_alive))
}

/// The workspace's call lifecycle, for a live calls board: `call.state` (with
/// direction, from, to, lead and agent), `call.ended` and `agent.run.completed`
/// of every call. Same `id:` and `Last-Event-ID` rules as a call's stream;
/// never closes.
#[utoipa::path(get, path = "/stream", tag = "calls",
    params(("Last-Event-ID" = Option<i64>, Header,
        description = "Resume after this event id (the last `id:` received).")),
    responses(
        (status = 200, description = "The event stream (events as in the `CallEvent` \
            schema).", content_type = "text/event-stream", body = String),
        (status = 422, description = "`Last-Event-ID` is not an event id.", body = ErrorBody)))]
pub(super) async fn workspace_stream(
    State(s): State<ApiState>,
    caller: Caller,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let after = last_event_id(&headers)?;
    let follower = Follower::new(&s.store, caller.workspace, None, after);
    Ok(sse(follower, s.keep_alive))
}

fn last_event_id(headers: &HeaderMap) -> Result<i64, ApiError> {
    match headers.get("last-event-id") {
        None => Ok(0),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<i64>().ok())
            .filter(|n| *n >= 0)
            .ok_or_else(|| {
                ApiError::invalid("Last-Event-ID", "an event id (the `id:` of an event)")
            }),
    }
}

fn sse(follower: Follower, keep_alive: Duration) -> Response {
    let stream = futures_util::stream::unfold(follower, |mut f| async move {
        f.next().await.map(|e| (Ok::<_, Infallible>(e), f))
    });
    let mut response = Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(keep_alive))
        .into_response();
    // Proxies that buffer responses (nginx) would hold the events back.
    response.headers_mut().insert(
        "x-accel-buffering",
        axum::http::HeaderValue::from_static("no"),
    );
    response
}

/// One SSE client: replays, then follows.
pub(super) struct Follower {
    store: Store,
    workspace: String,
    call: Option<String>,
    after: i64,
    version: watch::Receiver<u64>,
    live: Option<broadcast::Receiver<Arc<LiveEvent>>>,
    pending: VecDeque<Event>,
    finished: bool,
    /// Stored events may have been committed since the last read.
    dirty: bool,
    poll: tokio::time::Interval,
}

impl std::fmt::Debug for Follower {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Follower")
            .field("workspace", &self.workspace)
            .field("call", &self.call)
            .field("after", &self.after)
            .finish_non_exhaustive()
    }
}

impl Follower {
    /// Follows `call`'s events (the workspace's lifecycle when `None`) after
    /// event `after`.
    pub(super) fn new(
        store: &Store,
        workspace: String,
        call: Option<String>,
        after: i64,
    ) -> Follower {
        let (version, live) = store.hub().follow();
        Follower {
            store: store.clone(),
            workspace,
            live: call.is_some().then_some(live),
            call,
            after,
            version,
            pending: VecDeque::new(),
            finished: false,
            dirty: true,
            poll: {
                let mut poll = tokio::time::interval_at(tokio::time::Instant::now() + POLL, POLL);
                poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                poll
            },
        }
    }

    fn wanted(&self, kind: &str) -> bool {
        match self.call {
            Some(_) => !WEBHOOK_ONLY.contains(&kind),
            None => LIFECYCLE.contains(&kind),
        }
    }

    /// The next event to send; `None` ends the stream (the call is over, the
    /// follower fell behind, or the database failed).
    pub(super) async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(e) = self.pending.pop_front() {
                return Some(e);
            }
            if self.finished {
                return None;
            }
            if self.dirty {
                self.dirty = false;
                // Anything committed from here on wakes `changed()` below.
                self.version.borrow_and_update();
                let rows = match self
                    .store
                    .events_after(&self.workspace, self.call.as_deref(), self.after, BATCH)
                    .await
                {
                    Ok(rows) => rows,
                    Err(e) => {
                        tracing::warn!(error = %e, "event stream: reading events failed");
                        return None;
                    }
                };
                if !rows.is_empty() {
                    // A full batch: there may be more.
                    self.dirty = rows.len() as i64 == BATCH;
                    for ev in rows {
                        self.after = ev.seq;
                        if !self.wanted(&ev.kind) {
                            continue;
                        }
                        let last = self.call.is_some() && ev.kind == FINAL;
                        self.pending.push_back(stored(&ev));
                        if last {
                            self.finished = true;
                            break;
                        }
                    }
                    continue;
                }
                // Resumed after a complete call's last event: nothing more will come.
                if let Some(call) = &self.call
                    && self.store.call_completed(call).await.unwrap_or(false)
                    && self
                        .store
                        .events_after(&self.workspace, Some(call), self.after, 1)
                        .await
                        .is_ok_and(|rows| rows.is_empty())
                {
                    return None;
                }
            }
            let live = async {
                match self.live.as_mut() {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = self.version.changed() => self.dirty = true,
                got = live => match got {
                    Ok(ev) if Some(&ev.call_id) == self.call.as_ref() => {
                        self.pending.push_back(
                            Event::default().event(ev.kind).data(ev.data.to_string()),
                        );
                    }
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::info!(skipped = n, call = ?self.call,
                            "event stream fell behind: disconnecting it");
                        return None;
                    }
                    Err(broadcast::error::RecvError::Closed) => self.live = None,
                },
                _ = self.poll.tick() => self.dirty = true,
            }
        }
    }
}

fn stored(ev: &CallEvent) -> Event {
    Event::default()
        .id(ev.seq.to_string())
        .event(ev.kind.as_str())
        .data(ev.data.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::LIVE_BUFFER;

    async fn store() -> (Store, String) {
        let dir = std::env::temp_dir().join(crate::store::new_id("stream-test"));
        let store = Store::open_data_dir(&dir).await.expect("store");
        let ws = store.create_workspace("acme").await.expect("workspace");
        (store, ws.id)
    }

    fn delta(call: &str, n: usize) -> LiveEvent {
        LiveEvent {
            call_id: call.to_owned(),
            kind: "transcript.delta",
            data: serde_json::json!({"call_id": call, "delta": n.to_string()}),
        }
    }

    #[tokio::test]
    async fn a_follower_that_keeps_up_gets_every_interim_event_of_its_call() {
        let (store, ws) = store().await;
        let mut f = Follower::new(&store, ws, Some("call_1".into()), 0);
        for n in 0..LIVE_BUFFER {
            store.hub().live(delta("call_other", n));
            store.hub().live(delta("call_1", n));
            if n % 100 == 99 {
                // Reading as it goes: never more than 200 behind.
                for _ in 0..100 {
                    assert!(f.next().await.is_some());
                }
            }
        }
        for _ in 0..LIVE_BUFFER % 100 {
            assert!(f.next().await.is_some());
        }
    }

    #[tokio::test]
    async fn a_follower_that_falls_behind_is_disconnected_and_nobody_waits_for_it() {
        let (store, ws) = store().await;
        let mut slow = Follower::new(&store, ws, Some("call_1".into()), 0);
        // The call goes on publishing while this follower reads nothing: the
        // publisher never blocks (this loop would hang if it did).
        for n in 0..=LIVE_BUFFER {
            store.hub().live(delta("call_1", n));
        }
        assert!(slow.next().await.is_none(), "fell behind: disconnected");
    }
}
