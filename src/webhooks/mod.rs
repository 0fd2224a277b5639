//! Webhook signing per the Standard Webhooks spec: each delivery carries
//! `webhook-id` (the event's id, the same on every retry), `webhook-timestamp`
//! (Unix seconds of the attempt) and `webhook-signature`: `v1,<base64
//! HMAC-SHA256 of "id.timestamp.body">` under each valid secret, separated by
//! spaces (during a rotation the old secret signs too, so receivers that have
//! not switched keep verifying). Secrets are `whsec_` and the base64 of 32
//! random bytes.

mod dispatch;
mod send;

pub use dispatch::{Dispatcher, DispatcherConfig, RETRY_SCHEDULE, next_attempt};
pub use send::{Target, UrlError, check_url, is_private};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Prefix of every signing secret.
pub const SECRET_PREFIX: &str = "whsec_";

/// A secret that is not `whsec_` followed by base64.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a webhook signing secret (whsec_ and base64)")]
pub struct BadSecret;

/// A new signing secret: `whsec_` and 32 random bytes in base64 (an error
/// when the OS has no randomness to give: never a weak key).
pub fn new_secret() -> Result<String, getrandom::Error> {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key)?;
    Ok(format!("{SECRET_PREFIX}{}", STANDARD.encode(key)))
}

/// The key bytes of `secret` (`whsec_…`).
fn key(secret: &str) -> Result<Vec<u8>, BadSecret> {
    let b64 = secret.strip_prefix(SECRET_PREFIX).ok_or(BadSecret)?;
    match STANDARD.decode(b64) {
        Ok(k) if !k.is_empty() => Ok(k),
        _ => Err(BadSecret),
    }
}

/// `v1,<signature>` of one message under one secret.
fn sign_one(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Result<String, BadSecret> {
    let mut mac = Hmac::<Sha256>::new_from_slice(&key(secret)?).map_err(|_| BadSecret)?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// The `webhook-signature` value for a message under every secret in
/// `secrets` (the current one first).
pub fn signature(
    secrets: &[&str],
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<String, BadSecret> {
    let mut out = String::new();
    for s in secrets {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&sign_one(s, id, timestamp, body)?);
    }
    Ok(out)
}

/// The three headers of a delivery: `webhook-id`, `webhook-timestamp`,
/// `webhook-signature`.
pub fn headers(
    secrets: &[&str],
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<[(&'static str, String); 3], BadSecret> {
    Ok([
        ("webhook-id", id.to_owned()),
        ("webhook-timestamp", timestamp.to_string()),
        (
            "webhook-signature",
            signature(secrets, id, timestamp, body)?,
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_secret() -> String {
        super::new_secret().expect("randomness")
    }

    fn header_map(h: &[(&'static str, String); 3]) -> axum::http::HeaderMap {
        let mut m = axum::http::HeaderMap::new();
        for (k, v) in h {
            m.insert(*k, v.parse().expect("header value"));
        }
        m
    }

    fn now_s() -> i64 {
        crate::store::now_ms() / 1000
    }

    #[test]
    fn deliveries_verify_with_the_standard_webhooks_library() {
        let secret = new_secret();
        assert!(secret.starts_with("whsec_"));
        assert_eq!(key(&secret).map(|k| k.len()), Ok(32));
        assert_ne!(secret, new_secret(), "secrets are random");
        let body = br#"{"type":"call.ended","data":{"call_id":"call_1","outcome":"qualified"}}"#;
        let ts = now_s();
        let h = headers(&[&secret], "evt_1", ts, body).expect("headers");
        let wh = standardwebhooks::Webhook::new(&secret).expect("secret");
        wh.verify(body, &header_map(&h)).expect("verifies");
        // The library's own signature is ours.
        assert_eq!(h[2].1, wh.sign("evt_1", ts, body).expect("sign"));
        // A changed body, id or timestamp does not verify.
        assert!(wh.verify(b"{}", &header_map(&h)).is_err());
        let other = headers(&[&secret], "evt_2", ts, body).expect("headers");
        let mut mixed = h.clone();
        mixed[2].1 = other[2].1.clone();
        assert!(wh.verify(body, &header_map(&mixed)).is_err());
        let old = headers(&[&secret], "evt_1", ts - 3600, body).expect("headers");
        assert!(wh.verify(body, &header_map(&old)).is_err(), "too old");
    }

    #[test]
    fn during_a_rotation_both_secrets_sign() {
        let (new, old) = (new_secret(), new_secret());
        let body = b"{\"type\":\"recording.ready\"}";
        let h = headers(&[&new, &old], "evt_9", now_s(), body).expect("headers");
        assert_eq!(h[2].1.split(' ').count(), 2);
        for s in [&new, &old] {
            let wh = standardwebhooks::Webhook::new(s).expect("secret");
            wh.verify(body, &header_map(&h))
                .expect("verifies with either");
        }
        let stranger = standardwebhooks::Webhook::new(&new_secret()).expect("secret");
        assert!(stranger.verify(body, &header_map(&h)).is_err());
    }

    #[test]
    fn bad_secrets_are_refused() {
        for s in ["", "whsec_", "secret", "whsec_!!!", "whsec"] {
            assert_eq!(signature(&[s], "evt", 1, b"x"), Err(BadSecret), "{s:?}");
        }
    }
}
