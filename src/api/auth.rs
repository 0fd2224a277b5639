//! Bearer-key authentication and the per-key rate limit.
//!
//! Every request under `/api/v1/voice` carries `Authorization: Bearer tnx_...`;
//! the key's workspace scopes everything the request reads or writes. Missing,
//! malformed, wrong and revoked keys all get the same 401. Each key has a token
//! bucket (`rate` per second, `burst` deep); an empty bucket answers 429 with
//! `Retry-After`. The bucket table holds one entry per key that has made a
//! request (bounded by the keys in the database).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::ApiState;
use super::error::ApiError;
use crate::store::StoreError;

/// The authenticated caller: its key and workspace.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The key's id.
    pub key_id: String,
    /// The workspace every read and write is scoped to.
    pub workspace: String,
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| ApiError::unauthorized("missing API key"))
    }
}

/// Requests per second and burst allowed per key.
#[derive(Debug, Clone, Copy)]
pub struct RateLimit {
    /// Sustained requests per second.
    pub rate: f64,
    /// Bucket depth.
    pub burst: f64,
}

impl Default for RateLimit {
    fn default() -> RateLimit {
        RateLimit {
            rate: 20.0,
            burst: 40.0,
        }
    }
}

/// Token buckets per key.
#[derive(Debug, Default)]
pub struct Limiter {
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl Limiter {
    /// Takes a token for `key`, or says how many seconds until one is free.
    fn take(&self, key: &str, limit: RateLimit) -> Result<(), u64> {
        let now = Instant::now();
        let mut map = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let (tokens, at) = map.entry(key.to_owned()).or_insert((limit.burst, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * limit.rate).min(limit.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - *tokens) / limit.rate).ceil().max(1.0) as u64)
        }
    }
}

/// The middleware: authenticates, rate-limits, and hands the [`Caller`] on.
pub(super) async fn authenticate(
    State(state): State<ApiState>,
    mut req: Request,
    next: Next,
) -> Response {
    let secret = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let Some(secret) = secret else {
        return ApiError::unauthorized("missing API key: send Authorization: Bearer tnx_...")
            .into_response();
    };
    let key = match state.store.key_by_secret(secret).await {
        Ok(k) => k,
        Err(StoreError::NotFound) => {
            return ApiError::unauthorized("invalid or revoked API key").into_response();
        }
        Err(e) => return ApiError::internal(e).into_response(),
    };
    if let Err(wait) = state.limiter.take(&key.id, state.rate_limit) {
        return ApiError::rate_limited(wait).into_response();
    }
    req.extensions_mut().insert(Caller {
        key_id: key.id,
        workspace: key.workspace_id,
    });
    next.run(req).await
}

/// Shared limiter handle.
pub(super) type SharedLimiter = Arc<Limiter>;
