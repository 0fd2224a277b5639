//! `/numbers`: inbound E.164 numbers → agent and objective (and calendar).
//! The SIP leg routes inbound calls by the dialled number.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use super::error::{ErrorBody, found};
use super::page::{Page, PageQuery, page};
use super::{ApiError, ApiJson, ApiQuery, ApiState, Caller};
use crate::store::{NewNumber, Number};

/// Route an inbound number to an agent and objective.
#[utoipa::path(post, path = "/numbers", tag = "numbers", request_body = NewNumber,
    responses(
        (status = 201, description = "The number.", body = Number),
        (status = 409, description = "The number is configured already (`conflict`).", body = ErrorBody),
    ))]
pub(super) async fn create(
    State(s): State<ApiState>,
    caller: Caller,
    ApiJson(n): ApiJson<NewNumber>,
) -> Result<(StatusCode, Json<Number>), ApiError> {
    let n = s.store.create_number(&caller.workspace, &n).await?;
    Ok((StatusCode::CREATED, Json(n)))
}

/// One number.
#[utoipa::path(get, path = "/numbers/{id}", tag = "numbers", params(("id" = String, Path, description = "The number (`num_…`).")),
    responses((status = 200, description = "The number.", body = Number)))]
pub(super) async fn get(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Number>, ApiError> {
    Ok(Json(found(
        s.store.number(&caller.workspace, &id).await,
        "number",
    )?))
}

/// The workspace's numbers, newest first.
#[utoipa::path(get, path = "/numbers", tag = "numbers", params(PageQuery),
    responses((status = 200, description = "A page of numbers.", body = Page<Number>)))]
pub(super) async fn list(
    State(s): State<ApiState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<Page<Number>>, ApiError> {
    let limit = q.limit()?;
    let rows = s
        .store
        .list_numbers(&caller.workspace, limit + 1, q.after()?)
        .await?;
    Ok(Json(page(rows, limit, |n| (n.created_at, n.id.as_str()))))
}

/// Stop routing a number (calls to it then answer 404).
#[utoipa::path(delete, path = "/numbers/{id}", tag = "numbers", params(("id" = String, Path, description = "The number (`num_…`).")),
    responses((status = 204, description = "Removed.")))]
pub(super) async fn delete(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    found(
        s.store.delete_number(&caller.workspace, &id).await,
        "number",
    )?;
    Ok(StatusCode::NO_CONTENT)
}
