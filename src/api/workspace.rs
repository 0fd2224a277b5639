//! `/workspace`: the key's workspace and its settings (recording retention
//! and URL lifetime, session URI lifetime, calling defaults).

use axum::Json;
use axum::extract::State;
use serde::Serialize;

use super::{ApiError, ApiJson, ApiState, Caller};
use crate::store::{SettingsPatch, Workspace, WorkspaceSettings};

/// The workspace as the API shows it.
#[derive(Debug, Serialize)]
pub(super) struct WorkspaceView {
    #[serde(flatten)]
    workspace: Workspace,
    settings: WorkspaceSettings,
}

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

pub(super) async fn update(
    State(s): State<ApiState>,
    caller: Caller,
    ApiJson(patch): ApiJson<SettingsPatch>,
) -> Result<Json<WorkspaceView>, ApiError> {
    s.store.update_settings(&caller.workspace, &patch).await?;
    get(State(s), caller).await
}
