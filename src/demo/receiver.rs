//! The demo's webhook endpoint, written as a user's receiver would be: it
//! checks every delivery's Standard Webhooks signature (HMAC-SHA256 of
//! `id.timestamp.body` under the subscription's secret, timestamp within five
//! minutes) and refuses what does not verify with 401.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// How far a delivery's timestamp may be from now, seconds.
const TOLERANCE_S: i64 = 300;

/// One delivery as received.
#[derive(Debug, Clone)]
pub(super) struct Delivery {
    /// The event type (`call.ended`, …).
    pub(super) kind: String,
    /// Whether its signature verified.
    pub(super) verified: bool,
}

#[derive(Debug, Default)]
struct Inner {
    secret: Option<String>,
    got: Vec<Delivery>,
}

/// The shared state and a signal bumped on every delivery.
#[derive(Debug)]
struct Shared {
    inner: Mutex<Inner>,
    arrived: tokio::sync::watch::Sender<usize>,
}

/// The running receiver.
#[derive(Debug, Clone)]
pub(super) struct Receiver {
    shared: Arc<Shared>,
    addr: SocketAddr,
}

impl Receiver {
    /// Listens on 127.0.0.1 (a free port).
    pub(super) async fn start() -> Result<Receiver, String> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("webhook receiver: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner::default()),
            arrived: tokio::sync::watch::Sender::new(0),
        });
        let app = axum::Router::new()
            .fallback(receive)
            .with_state(shared.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Receiver { shared, addr })
    }

    /// The URL to subscribe.
    pub(super) fn url(&self) -> String {
        format!("http://{}/hooks/tenex", self.addr)
    }

    /// The subscription's signing secret (`whsec_…`).
    pub(super) fn set_secret(&self, secret: &str) {
        if let Ok(mut i) = self.shared.inner.lock() {
            i.secret = Some(secret.to_owned());
        }
    }

    /// Every delivery so far.
    pub(super) fn deliveries(&self) -> Vec<Delivery> {
        self.shared
            .inner
            .lock()
            .map(|i| i.got.clone())
            .unwrap_or_default()
    }

    /// Waits until the deliveries so far satisfy `done`, or `limit` passes.
    pub(super) async fn wait_for(
        &self,
        limit: std::time::Duration,
        done: impl Fn(&[Delivery]) -> bool,
    ) -> bool {
        let mut arrived = self.shared.arrived.subscribe();
        tokio::time::timeout(limit, async {
            loop {
                if done(&self.deliveries()) {
                    return;
                }
                if arrived.changed().await.is_err() {
                    return;
                }
            }
        })
        .await
        .is_ok()
    }
}

async fn receive(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let secret = shared.inner.lock().ok().and_then(|i| i.secret.clone());
    let now = jiff::Timestamp::now().as_second();
    let verified = secret.is_some_and(|s| verify(&s, &headers, &body, now));
    let kind = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["type"].as_str().map(str::to_owned))
        .unwrap_or_default();
    if let Ok(mut i) = shared.inner.lock() {
        i.got.push(Delivery { kind, verified });
    }
    shared.arrived.send_modify(|n| *n += 1);
    if verified {
        StatusCode::OK
    } else {
        StatusCode::UNAUTHORIZED
    }
}

/// Whether `headers` carry a valid signature of `body` under `secret`.
fn verify(secret: &str, headers: &HeaderMap, body: &[u8], now: i64) -> bool {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let (Some(id), Some(ts), Some(signatures)) = (
        header("webhook-id"),
        header("webhook-timestamp"),
        header("webhook-signature"),
    ) else {
        return false;
    };
    let Ok(ts_s) = ts.parse::<i64>() else {
        return false;
    };
    if (now - ts_s).abs() > TOLERANCE_S {
        return false;
    }
    let Some(key) = secret
        .strip_prefix("whsec_")
        .and_then(|b64| STANDARD.decode(b64).ok())
    else {
        return false;
    };
    signatures.split(' ').any(|candidate| {
        let Some(sig) = candidate
            .strip_prefix("v1,")
            .and_then(|b64| STANDARD.decode(b64).ok())
        else {
            return false;
        };
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&key) else {
            return false;
        };
        mac.update(format!("{id}.{ts}.").as_bytes());
        mac.update(body);
        mac.verify_slice(&sig).is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_from_the_sender_verifies_and_anything_changed_does_not() {
        let secret = crate::webhooks::new_secret().expect("randomness");
        let body = br#"{"type":"call.ended"}"#;
        let signed = |secrets: &[&str], ts: i64, body: &[u8]| {
            let mut h = HeaderMap::new();
            for (k, v) in crate::webhooks::headers(secrets, "msg_1", ts, body).expect("sign") {
                h.insert(k, v.parse().expect("value"));
            }
            h
        };
        let now = 1_800_000_000;
        assert!(verify(&secret, &signed(&[&secret], now, body), body, now));
        // During a rotation the new secret signs first; either one verifies.
        let other = crate::webhooks::new_secret().expect("randomness");
        assert!(verify(
            &secret,
            &signed(&[&other, &secret], now, body),
            body,
            now
        ));
        assert!(!verify(&secret, &signed(&[&other], now, body), body, now));
        assert!(!verify(&secret, &signed(&[&secret], now, body), b"{}", now));
        assert!(!verify(
            &secret,
            &signed(&[&secret], now - 301, body),
            body,
            now
        ));
        assert!(!verify(&secret, &HeaderMap::new(), body, now));
    }
}
