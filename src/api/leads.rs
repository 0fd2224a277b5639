//! `/leads`: the embedded CRM's records.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use super::page::{Page, PageQuery, page};
use super::{ApiError, ApiJson, ApiQuery, ApiState, Caller};
use serde_json::Value;

use super::error::found;
use crate::store::{Lead, NewLead};

pub(super) async fn create(
    State(s): State<ApiState>,
    caller: Caller,
    ApiJson(lead): ApiJson<NewLead>,
) -> Result<(StatusCode, Json<Lead>), ApiError> {
    let lead = s.store.create_lead(&caller.workspace, &lead).await?;
    Ok((StatusCode::CREATED, Json(lead)))
}

pub(super) async fn get(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let lead = found(s.store.lead(&caller.workspace, &id).await, "lead")?;
    let history = s.store.qualification_history(&lead.id).await?;
    let mut v = serde_json::to_value(&lead).map_err(ApiError::internal)?;
    v["qualification_history"] = Value::Array(history);
    Ok(Json(v))
}

pub(super) async fn list(
    State(s): State<ApiState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<Page<Lead>>, ApiError> {
    let limit = q.limit()?;
    let rows = s
        .store
        .list_leads(&caller.workspace, limit + 1, q.after()?)
        .await?;
    Ok(Json(page(rows, limit, |l| (l.created_at, l.id.as_str()))))
}
