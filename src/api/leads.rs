//! `/leads`: the embedded CRM's records.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use super::page::{Page, PageQuery, page};
use super::{ApiError, ApiJson, ApiQuery, ApiState, Caller};
use serde::Serialize;

use super::error::found;
use crate::store::{Attempt, Lead, NewLead, Qualification};

/// Add a lead to the embedded CRM.
#[utoipa::path(post, path = "/leads", tag = "leads", request_body = NewLead,
    responses((status = 201, description = "The lead.", body = Lead)))]
pub(super) async fn create(
    State(s): State<ApiState>,
    caller: Caller,
    ApiJson(lead): ApiJson<NewLead>,
) -> Result<(StatusCode, Json<Lead>), ApiError> {
    let lead = s.store.create_lead(&caller.workspace, &lead).await?;
    Ok((StatusCode::CREATED, Json(lead)))
}

/// One lead, with the verdicts of its calls.
#[utoipa::path(get, path = "/leads/{id}", tag = "leads", params(("id" = String, Path, description = "The lead (`lead_…`).")),
    responses((status = 200, description = "The lead.", body = LeadDetail)))]
pub(super) async fn get(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<LeadDetail>, ApiError> {
    let lead = found(s.store.lead(&caller.workspace, &id).await, "lead")?;
    let qualification_history = s.store.qualification_history(&lead.id).await?;
    let attempts = s.store.lead_attempts(&lead.id).await?;
    Ok(Json(LeadDetail {
        lead,
        qualification_history,
        attempts,
    }))
}

/// A lead with its qualification history.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct LeadDetail {
    #[serde(flatten)]
    lead: Lead,
    /// Every call's verdict, oldest first.
    qualification_history: Vec<Qualification>,
    /// Every completed call on the lead, oldest first: outcome, verdict score,
    /// meeting, summary (written once per call).
    attempts: Vec<Attempt>,
}

/// The workspace's leads, newest first.
#[utoipa::path(get, path = "/leads", tag = "leads", params(PageQuery),
    responses((status = 200, description = "A page of leads.", body = Page<Lead>)))]
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
