//! A Server-Sent Events client over the API router: parses `id:`, `event:`,
//! `data:` fields and `:` comments from the response body as it arrives.

use std::time::Duration;

use axum::body::{Body, BodyDataStream};
use axum::http::{HeaderMap, Request, StatusCode};
use futures_util::StreamExt;
use serde_json::Value;
use tower::ServiceExt;

use super::api::Api;

/// One event as received.
#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    /// `id:` (stored events only).
    pub id: Option<i64>,
    /// `event:`.
    pub event: String,
    /// `data:` as JSON.
    pub data: Value,
}

/// What a stream delivered next.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Event(SseEvent),
    /// A `:` comment (keep-alive).
    Comment,
}

/// An open event stream.
pub struct SseStream {
    pub status: StatusCode,
    pub headers: HeaderMap,
    body: BodyDataStream,
    buf: String,
    closed: bool,
}

impl Api {
    /// Opens `GET /api/v1/voice{path}` with `key` (and `Last-Event-ID`).
    pub async fn sse(&self, path: &str, key: &str, last_event_id: Option<&str>) -> SseStream {
        let mut req = Request::get(format!("/api/v1/voice{path}"))
            .header("authorization", format!("Bearer {key}"))
            .header("accept", "text/event-stream");
        if let Some(id) = last_event_id {
            req = req.header("last-event-id", id);
        }
        let res = self
            .app
            .clone()
            .oneshot(req.body(Body::empty()).expect("request"))
            .await
            .expect("response");
        let (parts, body) = res.into_parts();
        SseStream {
            status: parts.status,
            headers: parts.headers,
            body: body.into_data_stream(),
            buf: String::new(),
            closed: false,
        }
    }
}

impl Api {
    /// `GET` of an event stream that answers with an error: status, headers,
    /// JSON body.
    pub async fn sse_error(&self, path: &str, key: &str, last_event_id: &str) -> super::api::Res {
        let s = self.sse(path, key, Some(last_event_id)).await;
        assert!(!s.status.is_success(), "{path} answered {}", s.status);
        let bytes = axum::body::to_bytes(Body::from_stream(s.body), 1 << 20)
            .await
            .expect("body");
        let body = serde_json::from_slice(&bytes).expect("JSON error");
        (s.status, s.headers, body)
    }
}

impl SseStream {
    /// Whether nothing but comments arrives for `d` (the stream staying open).
    pub async fn quiet_for(&mut self, d: Duration) -> bool {
        let until = tokio::time::Instant::now() + d;
        loop {
            match tokio::time::timeout_at(until, self.next_item()).await {
                Err(_) => return true,
                Ok(Some(Item::Comment)) => {}
                Ok(_) => return false,
            }
        }
    }

    /// Whether a `:` comment arrives within `d` before any event.
    pub async fn comment_within(&mut self, d: Duration) -> bool {
        matches!(
            tokio::time::timeout(d, self.next_item()).await,
            Ok(Some(Item::Comment))
        )
    }

    /// The next event or comment; `None` once the server closed the stream.
    pub async fn next_item(&mut self) -> Option<Item> {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                if let Some(item) = parse(&block) {
                    return Some(item);
                }
                continue;
            }
            if self.closed {
                return None;
            }
            match self.body.next().await {
                Some(Ok(bytes)) => self.buf.push_str(&String::from_utf8_lossy(&bytes)),
                Some(Err(e)) => panic!("event stream failed: {e}"),
                None => self.closed = true,
            }
        }
    }

    /// The next event (skipping comments), waiting at most `within`.
    pub async fn next_event(&mut self, within: Duration) -> Option<SseEvent> {
        tokio::time::timeout(within, async {
            loop {
                match self.next_item().await? {
                    Item::Event(e) => return Some(e),
                    Item::Comment => {}
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no event within {within:?}"))
    }

    /// Every event until the server closes the stream (waiting at most `within`).
    pub async fn until_closed(&mut self, within: Duration) -> Vec<SseEvent> {
        tokio::time::timeout(within, async {
            let mut out = Vec::new();
            while let Some(item) = self.next_item().await {
                if let Item::Event(e) = item {
                    out.push(e);
                }
            }
            out
        })
        .await
        .unwrap_or_else(|_| panic!("the stream stayed open past {within:?}"))
    }

    /// Events until (and including) the first of kind `event`.
    pub async fn until(&mut self, event: &str, within: Duration) -> Vec<SseEvent> {
        let mut out = Vec::new();
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let e = self
                .next_event(left)
                .await
                .unwrap_or_else(|| panic!("closed before {event}: {out:?}"));
            let last = e.event == event;
            out.push(e);
            if last {
                return out;
            }
        }
    }
}

fn parse(block: &str) -> Option<Item> {
    let mut id = None;
    let mut event = None;
    let mut data = String::new();
    let mut comment = false;
    for line in block.lines() {
        if line.starts_with(':') {
            comment = true;
        } else if let Some(v) = line.strip_prefix("id:") {
            id = Some(v.trim().parse().expect("numeric id"));
        } else if let Some(v) = line.strip_prefix("event:") {
            event = Some(v.trim().to_owned());
        } else if let Some(v) = line.strip_prefix("data:") {
            if !data.is_empty() {
                data.push('\n');
            }
            data.push_str(v.strip_prefix(' ').unwrap_or(v));
        }
    }
    match event {
        Some(event) => Some(Item::Event(SseEvent {
            id,
            event,
            data: serde_json::from_str(&data).expect("JSON data"),
        })),
        None if comment => Some(Item::Comment),
        None => None,
    }
}
