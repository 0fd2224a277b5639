//! `/knowledge`: the documents `search_knowledge` searches, and the same search.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::found;
use super::{ApiError, ApiJson, ApiQuery, ApiState, Caller};
use crate::store::{Document, StoreError};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewDocument {
    title: String,
    body: String,
}

pub(super) async fn create(
    State(s): State<ApiState>,
    caller: Caller,
    ApiJson(doc): ApiJson<NewDocument>,
) -> Result<(StatusCode, Json<Document>), ApiError> {
    let doc = s
        .store
        .add_document(&caller.workspace, &doc.title, &doc.body)
        .await?;
    Ok((StatusCode::CREATED, Json(doc)))
}

pub(super) async fn get(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Document>, ApiError> {
    Ok(Json(found(
        s.store.document(&caller.workspace, &id).await,
        "document",
    )?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SearchQuery {
    q: String,
    limit: Option<u32>,
}

pub(super) async fn search(
    State(s): State<ApiState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<SearchQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = match q.limit {
        None => 5,
        Some(n) if (1..=crate::store::MAX_HITS).contains(&n) => n,
        Some(_) => return Err(ApiError::invalid("limit", "must be 1 to 10")),
    };
    let hits = s
        .store
        .search_knowledge(&caller.workspace, &q.q, limit)
        .await
        .map_err(|e| match e {
            StoreError::Invalid { message, .. } => ApiError::invalid("q", message),
            other => other.into(),
        })?;
    Ok(Json(json!({ "data": hits })))
}
