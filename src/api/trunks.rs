//! `/trunks`: SIP trunks. A change takes effect for the next call: the
//! engine's allowlist and limits are replaced as soon as it is stored.
//! Credentials are write-only (`credentials_set` tells whether there are any).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use super::error::{ErrorBody, found};
use super::page::{Page, PageQuery, page};
use super::{ApiError, ApiJson, ApiQuery, ApiState, Caller};
use crate::store::{NewTrunk, Trunk, TrunkPatch};

/// Configure a trunk.
///
/// The SIP leg applies it to the next call.
#[utoipa::path(post, path = "/trunks", tag = "trunks", request_body = NewTrunk,
    responses(
        (status = 201, description = "The trunk (credentials are never returned).", body = Trunk),
        (status = 409, description = "A trunk with this name exists (`conflict`).", body = ErrorBody),
    ))]
pub(super) async fn create(
    State(s): State<ApiState>,
    caller: Caller,
    ApiJson(t): ApiJson<NewTrunk>,
) -> Result<(StatusCode, Json<Trunk>), ApiError> {
    let t = s.store.create_trunk(&caller.workspace, &t).await?;
    s.sync_trunks().await;
    Ok((StatusCode::CREATED, Json(t)))
}

/// One trunk.
#[utoipa::path(get, path = "/trunks/{id}", tag = "trunks", params(("id" = String, Path, description = "The trunk (`trunk_…`).")),
    responses((status = 200, description = "The trunk.", body = Trunk)))]
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

/// The workspace's trunks, newest first.
#[utoipa::path(get, path = "/trunks", tag = "trunks", params(PageQuery),
    responses((status = 200, description = "A page of trunks.", body = Page<Trunk>)))]
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

/// Change a trunk.
///
/// Fields left out stay; `null` clears a nullable one. The SIP leg applies
/// the change to the next call.
#[utoipa::path(patch, path = "/trunks/{id}", tag = "trunks", params(("id" = String, Path, description = "The trunk (`trunk_…`).")), request_body = TrunkPatch,
    responses(
        (status = 200, description = "The trunk as changed.", body = Trunk),
        (status = 409, description = "Another trunk has this name (`conflict`).", body = ErrorBody),
    ))]
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

/// Remove a trunk.
///
/// Its sources may no longer send calls, and no call is placed through it. A
/// trunk a batch still dials through (queued, running or paused) is not
/// removed (409).
#[utoipa::path(delete, path = "/trunks/{id}", tag = "trunks", params(("id" = String, Path, description = "The trunk (`trunk_…`).")),
    responses(
        (status = 204, description = "Removed."),
        (status = 409, description = "A batch still dials through it.", body = ErrorBody),
    ))]
pub(super) async fn delete(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    found(s.store.delete_trunk(&caller.workspace, &id).await, "trunk")?;
    s.sync_trunks().await;
    Ok(StatusCode::NO_CONTENT)
}
