//! `/trunks`: SIP trunks. A change takes effect for the next call: the
//! engine's allowlist and limits are replaced as soon as it is stored.
//! Credentials are write-only (`credentials_set` tells whether there are any).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use super::error::found;
use super::page::{Page, PageQuery, page};
use super::{ApiError, ApiJson, ApiQuery, ApiState, Caller};
use crate::store::{NewTrunk, Trunk, TrunkPatch};

pub(super) async fn create(
    State(s): State<ApiState>,
    caller: Caller,
    ApiJson(t): ApiJson<NewTrunk>,
) -> Result<(StatusCode, Json<Trunk>), ApiError> {
    let t = s.store.create_trunk(&caller.workspace, &t).await?;
    s.sync_trunks().await;
    Ok((StatusCode::CREATED, Json(t)))
}

pub(super) async fn get(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Trunk>, ApiError> {
    Ok(Json(found(
        s.store.trunk(&caller.workspace, &id).await,
        "trunk",
    )?))
}

pub(super) async fn list(
    State(s): State<ApiState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<Page<Trunk>>, ApiError> {
    let limit = q.limit()?;
    let rows = s
        .store
        .list_trunks(&caller.workspace, limit + 1, q.after()?)
        .await?;
    Ok(Json(page(rows, limit, |t| (t.created_at, t.id.as_str()))))
}

pub(super) async fn update(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<TrunkPatch>,
) -> Result<Json<Trunk>, ApiError> {
    let t = found(
        s.store.update_trunk(&caller.workspace, &id, &patch).await,
        "trunk",
    )?;
    s.sync_trunks().await;
    Ok(Json(t))
}

pub(super) async fn delete(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    found(s.store.delete_trunk(&caller.workspace, &id).await, "trunk")?;
    s.sync_trunks().await;
    Ok(StatusCode::NO_CONTENT)
}
