//! Call recordings: `recording_url` on a call is a signed link (HMAC-SHA256
//! over the call id and expiry with a secret shared by the nodes on the
//! database), valid for the workspace's `recording_url_ttl_s` (default 1 h).
//! The link itself is the credential (no bearer key), so it can be handed to a
//! player or a CRM. It serves the WAV with single-range `Range` support.
//! `DELETE /calls/{id}/recording` removes the file; a deleted or
//! retention-expired recording answers 410.

use std::io::SeekFrom;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use sha2::Sha256;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::error::ErrorBody;
use super::{ApiError, ApiQuery, ApiState, Caller};
use crate::store::{Call, StoreError, now_ms, remove_file};

/// The secret's name in the database.
const SECRET: &str = "recording-url";
/// Bytes read from the file per chunk of the response body.
const CHUNK: usize = 64 * 1024;

type HmacSha256 = Hmac<Sha256>;

async fn key(s: &ApiState) -> Result<&[u8], ApiError> {
    let key = s
        .url_key
        .get_or_try_init(|| async {
            let text = s.store.secret(SECRET).await?;
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|e| ApiError::internal(format!("recording key: {e}")))
        })
        .await?;
    Ok(key.as_slice())
}

fn mac(key: &[u8], id: &str, expires: i64) -> Result<HmacSha256, ApiError> {
    let mut mac = HmacSha256::new_from_slice(key).map_err(ApiError::internal)?;
    mac.update(format!("{id}.{expires}").as_bytes());
    Ok(mac)
}

/// The signed URL of `call`'s recording, when it has one to serve.
/// (`ttl_s`: the workspace's `recording_url_ttl_s`.)
pub(super) async fn recording_url(
    s: &ApiState,
    ttl_s: u32,
    call: &Call,
) -> Result<Option<String>, ApiError> {
    if call.status != "ended" || call.recording_state != "ready" {
        return Ok(None);
    }
    let expires = now_ms() / 1000 + i64::from(ttl_s);
    let sig = mac(key(s).await?, &call.id, expires)?
        .finalize()
        .into_bytes();
    let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sig);
    let base = s.public_url.as_deref().unwrap_or("");
    Ok(Some(format!(
        "{base}/api/v1/voice/recordings/{}.wav?expires={expires}&sig={sig}",
        call.id
    )))
}

/// The link's query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct Signed {
    /// When the link stops working (Unix seconds).
    expires: i64,
    /// The link's signature (base64url HMAC-SHA256).
    sig: String,
}

fn forbidden(message: &str) -> ApiError {
    ApiError::status(StatusCode::FORBIDDEN, "forbidden", message)
}

/// A call's recording, by a signed link.
///
/// A stereo WAV (caller left, agent right, PCM16 at the codec's rate), linked
/// from the call's `recording_url`.
///
/// The link carries its own authority (no API key): it is valid until
/// `expires` and only with its signature. `Range` requests are answered 206 with
/// the bytes asked for (one range), or 416 when none are in the file.
#[utoipa::path(get, path = "/recordings/{file}", tag = "recordings", security(()),
    params(
        ("file" = String, Path, description = "`{call_id}.wav`, as in the call's `recording_url`."),
        Signed,
        ("Range" = Option<String>, Header, description = "One byte range (`bytes=0-1023`, `bytes=1024-`, `bytes=-512`)."),
    ),
    responses(
        (status = 200, description = "The whole file.", content_type = "audio/wav",
            headers(("Accept-Ranges" = String, description = "`bytes`."))),
        (status = 206, description = "The requested range.", content_type = "audio/wav",
            headers(("Content-Range" = String, description = "`bytes start-end/size`."))),
        (status = 403, description = "The link's signature is wrong or it has expired (`forbidden`).", body = ErrorBody),
        (status = 404, description = "No such recording (`not_found`).", body = ErrorBody),
        (status = 410, description = "The recording was deleted or passed the workspace's retention (`gone`).", body = ErrorBody),
        (status = 416, description = "The range is outside the file.",
            headers(("Content-Range" = String, description = "`bytes */size`."))),
    ))]
pub(super) async fn serve(
    State(s): State<ApiState>,
    Path(file): Path<String>,
    ApiQuery(q): ApiQuery<Signed>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Some(id) = file.strip_suffix(".wav") else {
        return Err(ApiError::not_found("recording"));
    };
    let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(&q.sig)
        .map_err(|_| forbidden("the link's signature is not valid"))?;
    mac(key(&s).await?, id, q.expires)?
        .verify_slice(&sig)
        .map_err(|_| forbidden("the link's signature is not valid"))?;
    if q.expires <= now_ms() / 1000 {
        return Err(forbidden(
            "the link has expired: read the call again for a fresh recording_url",
        ));
    }
    let row = s
        .store
        .recording(id)
        .await?
        .ok_or_else(|| ApiError::not_found("recording"))?;
    let path = match (row.recording_state.as_str(), row.recording_path) {
        ("ready", Some(p)) => p,
        ("deleted" | "expired", _) => return Err(gone(&row.recording_state)),
        _ => return Err(ApiError::not_found("recording")),
    };
    let mut f = match tokio::fs::File::open(&path).await {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(gone("removed")),
        Err(e) => return Err(ApiError::internal(e)),
    };
    let size = f.metadata().await.map_err(ApiError::internal)?.len();
    let range = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        None => None,
        Some(r) => match parse_range(r, size) {
            Ok(r) => r,
            Err(()) => {
                let mut res = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
                insert(&mut res, header::CONTENT_RANGE, &format!("bytes */{size}"));
                return Ok(res);
            }
        },
    };
    let (start, end) = range.unwrap_or((0, size.saturating_sub(1)));
    let len = if size == 0 { 0 } else { end - start + 1 };
    f.seek(SeekFrom::Start(start))
        .await
        .map_err(ApiError::internal)?;
    let body = Body::from_stream(futures_util::stream::unfold(
        (f, len),
        |(mut f, left)| async move {
            if left == 0 {
                return None;
            }
            let mut buf = vec![0u8; CHUNK.min(left as usize)];
            match f.read(&mut buf).await {
                Ok(0) => None,
                Ok(n) => {
                    buf.truncate(n);
                    Some((Ok::<_, std::io::Error>(buf), (f, left - n as u64)))
                }
                Err(e) => Some((Err(e), (f, 0))),
            }
        },
    ));
    let status = if range.is_some() {
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    let mut res = (status, body).into_response();
    insert(&mut res, header::CONTENT_TYPE, "audio/wav");
    insert(&mut res, header::ACCEPT_RANGES, "bytes");
    insert(&mut res, header::CONTENT_LENGTH, &len.to_string());
    insert(&mut res, header::CACHE_CONTROL, "private, no-store");
    if range.is_some() {
        insert(
            &mut res,
            header::CONTENT_RANGE,
            &format!("bytes {start}-{end}/{size}"),
        );
    }
    Ok(res)
}

fn insert(res: &mut Response, name: header::HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        res.headers_mut().insert(name, v);
    }
}

fn gone(why: &str) -> ApiError {
    ApiError::status(
        StatusCode::GONE,
        "gone",
        format!("the recording was {why} and is no longer available"),
    )
}

/// One `bytes=` range of a `size`-byte file as inclusive offsets: `Ok(None)`
/// for a header we ignore (several ranges, other units: the whole file is
/// served), `Err` when it cannot be satisfied (416).
fn parse_range(header: &str, size: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = header.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let (a, b) = spec.split_once('-').ok_or(())?;
    let (a, b) = (a.trim(), b.trim());
    let range = match (a.is_empty(), b.is_empty()) {
        // The last N bytes.
        (true, false) => {
            let n: u64 = b.parse().map_err(|_| ())?;
            if n == 0 || size == 0 {
                return Err(());
            }
            (size.saturating_sub(n), size - 1)
        }
        (false, _) => {
            let start: u64 = a.parse().map_err(|_| ())?;
            let end = if b.is_empty() {
                size.saturating_sub(1)
            } else {
                b.parse::<u64>()
                    .map_err(|_| ())?
                    .min(size.saturating_sub(1))
            };
            if start >= size || end < start {
                return Err(());
            }
            (start, end)
        }
        (true, true) => return Err(()),
    };
    Ok(Some(range))
}

/// A call's recording: redirects (307) to a fresh signed link (the
/// `recording_url` of `GET /calls/{id}`), so a stored reference to a call's
/// recording (a webhook's `recording_url`) never expires.
#[utoipa::path(get, path = "/calls/{id}/recording", tag = "recordings", params(("id" = String, Path, description = "The call (`call_…`).")),
    responses(
        (status = 307, description = "To the signed link (`Location`).",
            headers(("location" = String, description = "The signed WAV link."))),
        (status = 410, description = "Deleted, or expired by retention (`gone`).", body = ErrorBody),
    ))]
pub(super) async fn get(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::response::Response, ApiError> {
    let call = match s.store.call(&caller.workspace, &id).await {
        Err(StoreError::NotFound) => return Err(ApiError::not_found("call")),
        other => other?,
    };
    if matches!(call.recording_state.as_str(), "deleted" | "expired") {
        return Err(gone(&call.recording_state));
    }
    let ttl = s
        .store
        .settings(&caller.workspace)
        .await?
        .recording_url_ttl_s;
    match recording_url(&s, ttl, &call).await? {
        Some(url) => Ok(axum::response::Redirect::temporary(&url).into_response()),
        None => Err(ApiError::not_found("recording")),
    }
}

/// Delete a call's recording.
///
/// Its links then answer 410.
#[utoipa::path(delete, path = "/calls/{id}/recording", tag = "recordings", params(("id" = String, Path, description = "The call (`call_…`).")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 410, description = "Deleted already, or expired (`gone`).", body = ErrorBody),
    ))]
pub(super) async fn delete(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let call = match s.store.call(&caller.workspace, &id).await {
        Err(StoreError::NotFound) => return Err(ApiError::not_found("call")),
        other => other?,
    };
    match call.recording_state.as_str() {
        "deleted" | "expired" => return Err(gone(&call.recording_state)),
        "ready" => {}
        _ => return Err(ApiError::not_found("recording")),
    }
    if let Some(path) = s
        .store
        .remove_recording(&caller.workspace, &id, "deleted")
        .await?
    {
        remove_file(&path).await;
    }
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-99", 1000), Ok(Some((0, 99))));
        assert_eq!(parse_range("bytes=900-", 1000), Ok(Some((900, 999))));
        assert_eq!(parse_range("bytes=-100", 1000), Ok(Some((900, 999))));
        assert_eq!(parse_range("bytes=990-5000", 1000), Ok(Some((990, 999))));
        assert_eq!(parse_range("bytes=-5000", 1000), Ok(Some((0, 999))));
        assert_eq!(parse_range("bytes=1000-", 1000), Err(()));
        assert_eq!(parse_range("bytes=5-4", 1000), Err(()));
        assert_eq!(parse_range("bytes=-0", 1000), Err(()));
        assert_eq!(parse_range("bytes=x-", 1000), Err(()));
        assert_eq!(parse_range("bytes=0-1,5-6", 1000), Ok(None));
        assert_eq!(parse_range("items=0-1", 1000), Ok(None));
    }
}
