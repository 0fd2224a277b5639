//! The API's one error type and its JSON shape:
//! `{"error": {"type": "...", "message": "...", "param": "..." | null}}`.
//! Internal failures are logged and answered with a generic message.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::store::StoreError;

/// Every error response's body.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// The error inside [`ErrorBody`].
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Machine-readable kind: `invalid_json`, `invalid_request` (400),
    /// `authentication_error` (401), `forbidden` (403), `not_found` (404),
    /// `conflict` (409), `gone` (410), `payload_too_large` (413),
    /// `validation_error` (422), `rate_limited` (429), `internal_error` (500),
    /// `unavailable` (503).
    #[serde(rename = "type")]
    #[schema(example = "validation_error")]
    pub kind: String,
    /// What went wrong, for a person.
    pub message: String,
    /// The request field or query parameter to blame, when there is one.
    pub param: Option<String>,
}

/// An API error response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Machine-readable kind (`invalid_json`, `validation_error`, ...).
    pub kind: &'static str,
    /// What went wrong, for a person.
    pub message: String,
    /// The offending field, when one is to blame.
    pub param: Option<String>,
    /// Seconds to wait (429).
    pub retry_after: Option<u64>,
}

impl ApiError {
    fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            kind,
            message: message.into(),
            param: None,
            retry_after: None,
        }
    }

    /// 401: no key, or a wrong or revoked one.
    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "authentication_error", message)
    }

    /// 404: missing, or another workspace's (indistinguishable on purpose).
    pub fn not_found(what: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no such {what}"),
        )
    }

    /// 422: `param` fails validation.
    pub fn invalid(param: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError {
            param: Some(param.into()),
            ..ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_error",
                message,
            )
        }
    }

    /// 400: the request itself is malformed (bad JSON, bad query string).
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    /// 409.
    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, "conflict", message)
    }

    /// 429 with `Retry-After`.
    pub fn rate_limited(retry_after: u64) -> ApiError {
        ApiError {
            retry_after: Some(retry_after),
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "too many requests for this API key; retry after the Retry-After seconds",
            )
        }
    }

    /// Any other status, with its error type.
    pub(super) fn status(
        status: StatusCode,
        kind: &'static str,
        message: impl Into<String>,
    ) -> ApiError {
        ApiError::new(status, kind, message)
    }

    /// 503: this node cannot do it now (no SIP engine running here).
    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }

    /// 500, logged; the client sees no detail.
    pub fn internal(error: impl std::fmt::Display) -> ApiError {
        tracing::error!(%error, "API request failed");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "internal error",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                kind: self.kind.to_owned(),
                message: self.message,
                param: self.param,
            },
        };
        let mut res = (self.status, Json(body)).into_response();
        if let Some(s) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&s.to_string())
        {
            res.headers_mut().insert(header::RETRY_AFTER, v);
        }
        res
    }
}

/// `r`, with a missing row answered as "no such `what`" (404).
pub(super) fn found<T>(r: Result<T, StoreError>, what: &str) -> Result<T, ApiError> {
    match r {
        Err(StoreError::NotFound) => Err(ApiError::not_found(what)),
        other => Ok(other?),
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::NotFound => ApiError::not_found("resource"),
            StoreError::Invalid { param, message } => ApiError::invalid(param, message),
            StoreError::Conflict(m) => ApiError::conflict(m),
            other => ApiError::internal(other),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> ApiError {
        match r {
            JsonRejection::JsonDataError(e) => {
                // serde's message names the field path: "name: missing field" etc.
                let text = e.body_text();
                let param = field_of(&text);
                ApiError {
                    param,
                    ..ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "validation_error", text)
                }
            }
            JsonRejection::JsonSyntaxError(e) => ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_json",
                format!("malformed JSON: {}", e.body_text()),
            ),
            JsonRejection::MissingJsonContentType(_) => ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "expected Content-Type: application/json",
            ),
            JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    "the request body is over the 1 MiB limit",
                )
            }
            other => ApiError::new(other.status(), "invalid_request", other.body_text()),
        }
    }
}

/// The field a serde data error is about: the path before `": "` in axum's
/// text (`Failed to deserialize the JSON body into the target type: phone:
/// invalid type...`), or the name in "missing field `x`" / "unknown field `x`".
pub(super) fn field_of(text: &str) -> Option<String> {
    if let Some(i) = text.find("field `") {
        let rest = &text[i + 7..];
        return rest.find('`').map(|j| rest[..j].to_owned());
    }
    let body = text.split_once("target type: ").map_or(text, |(_, b)| b);
    let (path, _) = body.split_once(": ")?;
    (!path.contains(' ')).then(|| path.to_owned())
}

#[cfg(test)]
mod tests {
    use super::field_of;

    #[test]
    fn fields_are_named_from_serde_messages() {
        assert_eq!(
            field_of("Failed to deserialize the JSON body into the target type: missing field `phone` at line 1 column 2").as_deref(),
            Some("phone")
        );
        assert_eq!(
            field_of("Failed to deserialize the JSON body into the target type: custom: invalid type: string \"x\", expected a map at line 1 column 20").as_deref(),
            Some("custom")
        );
        assert_eq!(field_of("something else entirely"), None);
    }
}
