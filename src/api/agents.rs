//! `/agents` and `/agents/{id}/voice-profile`. Edits affect new calls only:
//! each call stores the configuration it ran with.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use super::error::found;
use super::page::{Page, PageQuery, page};
use super::{ApiError, ApiJson, ApiQuery, ApiState, Caller};
use crate::store::{Agent, AgentPatch, NewAgent, VoiceProfile};

pub(super) async fn create(
    State(s): State<ApiState>,
    caller: Caller,
    ApiJson(a): ApiJson<NewAgent>,
) -> Result<(StatusCode, Json<Agent>), ApiError> {
    let a = s.store.create_agent(&caller.workspace, &a).await?;
    Ok((StatusCode::CREATED, Json(a)))
}

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

pub(super) async fn update(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<AgentPatch>,
) -> Result<Json<Agent>, ApiError> {
    let a = s.store.update_agent(&caller.workspace, &id, &patch).await;
    Ok(Json(found(a, "agent")?))
}

pub(super) async fn voice_profile(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<VoiceProfile>, ApiError> {
    let a = found(s.store.agent(&caller.workspace, &id).await, "agent")?;
    Ok(Json(a.voice_profile))
}

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
