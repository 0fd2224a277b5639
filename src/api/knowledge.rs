//! `/knowledge`: the documents `search_knowledge` searches, and the same search.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::error::found;
use super::{ApiError, ApiJson, ApiQuery, ApiState, Caller};
use crate::store::{Document, KnowledgeHit, StoreError};

/// A document to add.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewDocument {
    /// Title (weighted above the body in search).
    title: String,
    /// Text, up to 256 KiB.
    body: String,
}

/// Search results.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct KnowledgeHits {
    /// Matches, best first.
    data: Vec<KnowledgeHit>,
}

/// Add a knowledge document.
///
/// The agents' `search_knowledge` tool searches the workspace's documents.
#[utoipa::path(post, path = "/knowledge", tag = "knowledge", request_body = NewDocument,
    responses((status = 201, description = "The document.", body = Document)))]
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

/// One document.
#[utoipa::path(get, path = "/knowledge/{id}", tag = "knowledge",
    params(("id" = String, Path, description = "The document (`doc_…`).")),
    responses((status = 200, description = "The document.", body = Document)))]
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

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct SearchQuery {
    /// Free text; documents sharing the most (and rarest) of its words rank first.
    q: String,
    /// Results, 1 to 10 (default 5).
    #[param(minimum = 1, maximum = 10)]
    limit: Option<u32>,
}

/// Search the knowledge documents.
///
/// Full-text, as the agents' `search_knowledge` tool does: the best passages
/// first.
#[utoipa::path(get, path = "/knowledge/search", tag = "knowledge", params(SearchQuery),
    responses((status = 200, description = "The best matches.", body = KnowledgeHits)))]
pub(super) async fn search(
    State(s): State<ApiState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<SearchQuery>,
) -> Result<Json<KnowledgeHits>, ApiError> {
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
    Ok(Json(KnowledgeHits { data: hits }))
}
