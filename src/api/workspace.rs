//! `/workspace`: the key's workspace and its settings (recording retention
//! and URL lifetime, session URI lifetime, calling defaults).

use axum::Json;
use axum::extract::State;
use serde::Serialize;

use super::{ApiError, ApiJson, ApiState, Caller};
use crate::store::{SettingsPatch, Workspace, WorkspaceSettings};

/// The workspace as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct WorkspaceView {
    #[serde(flatten)]
    workspace: Workspace,
    /// Retention and calling defaults.
    settings: WorkspaceSettings,
}

/// The key's workspace and its settings.
#[utoipa::path(get, path = "/workspace", tag = "workspace",
    responses((status = 200, description = "The workspace.", body = WorkspaceView)))]
pub(super) async fn get(
    State(s): State<ApiState>,
    caller: Caller,
) -> Result<Json<WorkspaceView>, ApiError> {
    let (workspace, settings) = s.store.workspace(&caller.workspace).await?;
    Ok(Json(WorkspaceView {
        workspace,
        settings,
    }))
}

/// Change the workspace's settings.
///
/// Fields left out stay; `null` clears a nullable one.
#[utoipa::path(patch, path = "/workspace", tag = "workspace", request_body = SettingsPatch,
    responses((status = 200, description = "The workspace as changed.", body = WorkspaceView)))]
pub(super) async fn update(
    State(s): State<ApiState>,
    caller: Caller,
    ApiJson(patch): ApiJson<SettingsPatch>,
) -> Result<Json<WorkspaceView>, ApiError> {
    s.store.update_settings(&caller.workspace, &patch).await?;
    get(State(s), caller).await
}
