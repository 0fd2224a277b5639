//! `/dnc`: the workspace's do-not-call list. A number on it is never dialed:
//! an outbound session to it is refused.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use super::error::found;
use super::page::{Page, PageQuery, page};
use super::{ApiError, ApiJson, ApiQuery, ApiState, Caller};
use crate::store::{DncEntry, NewDnc};

/// Add a number to the do-not-call list (201; 200 with the existing entry
/// when it is listed already).
#[utoipa::path(post, path = "/dnc", tag = "dnc", request_body = NewDnc,
    responses(
        (status = 201, description = "Added.", body = DncEntry),
        (status = 200, description = "Listed already: the existing entry.", body = DncEntry),
    ))]
pub(super) async fn create(
    State(s): State<ApiState>,
    caller: Caller,
    ApiJson(n): ApiJson<NewDnc>,
) -> Result<(StatusCode, Json<DncEntry>), ApiError> {
    let (entry, added) = s.store.add_dnc(&caller.workspace, &n).await?;
    let status = if added {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(entry)))
}

/// The do-not-call list, newest first.
#[utoipa::path(get, path = "/dnc", tag = "dnc", params(PageQuery),
    responses((status = 200, description = "A page of numbers.", body = Page<DncEntry>)))]
pub(super) async fn list(
    State(s): State<ApiState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<Page<DncEntry>>, ApiError> {
    let limit = q.limit()?;
    let rows = s
        .store
        .list_dnc(&caller.workspace, limit + 1, q.after()?)
        .await?;
    Ok(Json(page(rows, limit, |e| (e.created_at, e.id.as_str()))))
}

/// Take a number off the list (E.164, `+` URL-encoded as `%2B` or as is).
#[utoipa::path(delete, path = "/dnc/{phone}", tag = "dnc",
    params(("phone" = String, Path, description = "The number (E.164).")),
    responses((status = 204, description = "Removed.")))]
pub(super) async fn delete(
    State(s): State<ApiState>,
    caller: Caller,
    Path(phone): Path<String>,
) -> Result<StatusCode, ApiError> {
    found(
        s.store.delete_dnc(&caller.workspace, &phone).await,
        "number",
    )?;
    Ok(StatusCode::NO_CONTENT)
}
