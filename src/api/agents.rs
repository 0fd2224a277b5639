//! `/agents` and `/agents/{id}/voice-profile`. Edits affect new calls only:
//! each call stores the configuration it ran with.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use super::error::{ErrorBody, found};
use super::page::{Page, PageQuery, page};
use super::{ApiError, ApiJson, ApiQuery, ApiState, Caller};
use crate::store::{Agent, AgentPatch, NewAgent, VoiceProfile};

/// Create an agent.
#[utoipa::path(post, path = "/agents", tag = "agents", request_body = NewAgent,
    responses(
        (status = 201, description = "The agent.", body = Agent),
        (status = 409, description = "An agent with this name exists (`conflict`).", body = ErrorBody),
    ))]
pub(super) async fn create(
    State(s): State<ApiState>,
    caller: Caller,
    ApiJson(a): ApiJson<NewAgent>,
) -> Result<(StatusCode, Json<Agent>), ApiError> {
    let a = s.store.create_agent(&caller.workspace, &a).await?;
    Ok((StatusCode::CREATED, Json(a)))
}

/// One agent.
#[utoipa::path(get, path = "/agents/{id}", tag = "agents", params(("id" = String, Path, description = "The agent (`agent_…`).")),
    responses((status = 200, description = "The agent.", body = Agent)))]
pub(super) async fn get(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Agent>, ApiError> {
    Ok(Json(found(
        s.store.agent(&caller.workspace, &id).await,
        "agent",
    )?))
}

/// The workspace's agents, newest first.
#[utoipa::path(get, path = "/agents", tag = "agents", params(PageQuery),
    responses((status = 200, description = "A page of agents.", body = Page<Agent>)))]
pub(super) async fn list(
    State(s): State<ApiState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<Page<Agent>>, ApiError> {
    let limit = q.limit()?;
    let rows = s
        .store
        .list_agents(&caller.workspace, limit + 1, q.after()?)
        .await?;
    Ok(Json(page(rows, limit, |a| (a.created_at, a.id.as_str()))))
}

/// Change an agent.
///
/// Fields left out stay as they are. New calls use the change; calls already
/// placed keep the configuration they started with.
#[utoipa::path(patch, path = "/agents/{id}", tag = "agents", params(("id" = String, Path, description = "The agent (`agent_…`).")),
    request_body = AgentPatch,
    responses(
        (status = 200, description = "The agent as changed.", body = Agent),
        (status = 409, description = "Another agent has this name (`conflict`).", body = ErrorBody),
    ))]
pub(super) async fn update(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<AgentPatch>,
) -> Result<Json<Agent>, ApiError> {
    let a = s.store.update_agent(&caller.workspace, &id, &patch).await;
    Ok(Json(found(a, "agent")?))
}

/// An agent's voice profile.
#[utoipa::path(get, path = "/agents/{id}/voice-profile", tag = "agents", params(("id" = String, Path, description = "The agent (`agent_…`).")),
    responses((status = 200, description = "The voice profile.", body = VoiceProfile)))]
pub(super) async fn voice_profile(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<VoiceProfile>, ApiError> {
    let a = found(s.store.agent(&caller.workspace, &id).await, "agent")?;
    Ok(Json(a.voice_profile))
}

/// Replace an agent's voice profile.
///
/// Fields left out take their defaults. New calls use it.
#[utoipa::path(put, path = "/agents/{id}/voice-profile", tag = "agents", params(("id" = String, Path, description = "The agent (`agent_…`).")),
    request_body = VoiceProfile,
    responses((status = 200, description = "The voice profile as stored.", body = VoiceProfile)))]
pub(super) async fn set_voice_profile(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(profile): ApiJson<VoiceProfile>,
) -> Result<Json<VoiceProfile>, ApiError> {
    let a = s
        .store
        .set_voice_profile(&caller.workspace, &id, &profile)
        .await;
    Ok(Json(found(a, "agent")?.voice_profile))
}
