//! A webhook receiver on loopback: records every request (headers and body)
//! and answers each with the next scripted status (200 once the script is
//! used up), or never (a hung endpoint).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use serde_json::Value;

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: Method,
    pub uri: Uri,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The status it was answered with.
    pub answered: u16,
}

impl Received {
    pub fn id(&self) -> String {
        self.headers["webhook-id"].to_str().expect("id").to_owned()
    }
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
    pub fn kind(&self) -> String {
        self.json()["type"].as_str().expect("type").to_owned()
    }
}

#[derive(Default)]
struct Inner {
    got: Vec<Received>,
    /// `None`: never answer.
    script: VecDeque<Option<u16>>,
}

#[derive(Clone, Default)]
pub struct Receiver {
    inner: Arc<Mutex<Inner>>,
    pub addr: Option<SocketAddr>,
}

impl Receiver {
    /// Starts one on 127.0.0.1 (a free port).
    pub async fn start() -> Receiver {
        let mut r = Receiver::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        r.addr = Some(listener.local_addr().expect("addr"));
        let app = axum::Router::new().fallback(handle).with_state(r.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        r
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr.expect("started"))
    }

    /// The next requests get these statuses.
    pub fn script(&self, statuses: &[u16]) {
        self.lock().script.extend(statuses.iter().map(|s| Some(*s)));
    }

    /// The next request gets no answer at all (the sender times out or dies).
    pub fn hang_next(&self) {
        self.lock().script.push_back(None);
    }

    pub fn received(&self) -> Vec<Received> {
        self.lock().got.clone()
    }

    /// Requests answered 2xx.
    pub fn delivered(&self) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| (200..300).contains(&r.answered))
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Waits until `check` holds for what was received (at most `within`).
    pub async fn wait(
        &self,
        within: Duration,
        check: impl Fn(&[Received]) -> bool,
    ) -> Vec<Received> {
        let mut tick = tokio::time::interval(Duration::from_millis(25));
        let deadline = tokio::time::Instant::now() + within;
        loop {
            tick.tick().await;
            let got = self.received();
            if check(&got) {
                return got;
            }
            if tokio::time::Instant::now() > deadline {
                let summary: Vec<(String, String, u16)> =
                    got.iter().map(|r| (r.id(), r.kind(), r.answered)).collect();
                panic!("receiver: condition not met within {within:?}; got {summary:?}");
            }
        }
    }
}

async fn handle(
    State(r): State<Receiver>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let next = r.lock().script.pop_front().unwrap_or(Some(200));
    // Recorded on arrival (`answered` 0 when never answered): a sender that
    // dies while this endpoint hangs has still delivered the request once.
    r.lock().got.push(Received {
        method,
        uri,
        headers,
        body,
        answered: next.unwrap_or(0),
    });
    match next {
        Some(status) => StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
        None => std::future::pending().await,
    }
}
