//! `POST /sessions`: provision a voice session. Outbound places the call now
//! (the answer carries its `call_id`, which `/calls/{id}` follows from
//! `queued`); inbound answers a one-time SIP URI (`sip:sess_…@host`) that a
//! PBX transfers or routes a call to, binding that call to the session's lead,
//! agent and objective until the URI expires or is used.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;

use super::error::{ErrorBody, found};
use super::{ApiError, ApiJson, ApiState, Caller};
use std::time::Duration;

use crate::host::{CallPlan, Dial, place_call};
use crate::store::{NewSession, Session, SessionDirection, call_key, new_session_id};

/// A session as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct SessionView {
    #[serde(flatten)]
    session: Session,
    /// `placed` (outbound); `pending`, `used` or `expired` (inbound).
    #[schema(value_type = String)]
    status: &'static str,
    /// Inbound: where to send the call.
    sip_uri: Option<String>,
}

impl SessionView {
    fn of(s: &ApiState, session: Session) -> SessionView {
        let sip_uri = (session.direction == "inbound")
            .then(|| s.engine.as_ref().map(|e| e.sip_uri(&session.id)))
            .flatten();
        SessionView {
            status: session.status(crate::store::now_ms()),
            sip_uri,
            session,
        }
    }
}

/// Provision a voice session.
///
/// Outbound (`{"direction": "outbound", "lead_id", "agent_id", "objective"}`) places
/// the call now through the chosen trunk (default: the workspace's oldest trunk with
/// an outbound destination); the answer carries its `call_id`, which `/calls/{id}`
/// follows from `queued`. Inbound (`{"direction": "inbound", "lead_id"?, "agent_id",
/// "objective"}`) answers a one-time `sip_uri` (`sip:sess_…@host`): a PBX transfers
/// or routes a call to it, and that call is bound to the session's lead, agent and
/// objective. The URI works once, until `expires_at`; used or expired, it answers
/// SIP 404.
#[utoipa::path(post, path = "/sessions", tag = "sessions", request_body = NewSession,
    responses(
        (status = 201, description = "The session.", body = SessionView),
        (status = 409, description = "Outbound: the lead's number is on the do-not-call list \
            (`conflict`); nothing is dialed.", body = ErrorBody),
        (status = 503, description = "No SIP engine runs on this node (`unavailable`).", body = ErrorBody),
    ))]
pub(super) async fn create(
    State(s): State<ApiState>,
    caller: Caller,
    ApiJson(body): ApiJson<NewSession>,
) -> Result<(StatusCode, Json<SessionView>), ApiError> {
    let (Some(engine), Some(apps)) = (&s.engine, &s.apps) else {
        return Err(ApiError::unavailable(
            "no SIP engine runs on this node: sessions cannot be provisioned here",
        ));
    };
    let ws = &caller.workspace;
    s.store.check_session(ws, &body).await?;
    let settings = s.store.settings(ws).await?;
    let mut body = body;
    if body.direction == SessionDirection::Inbound && body.expires_in_s.is_none() {
        body.expires_in_s = Some(settings.session_ttl_s);
    }
    let id = new_session_id();
    let session = match body.direction {
        SessionDirection::Inbound => s.store.create_session(ws, id, &body, None).await?,
        SessionDirection::Outbound => {
            let trunk =
                super::batches::outbound_trunk(&s.store, ws, body.trunk_id.as_deref()).await?;
            let lead_id = body.lead_id.as_deref().unwrap_or_default();
            let lead = s.store.lead(ws, lead_id).await?;
            if let Some(problem) = crate::store::dial_problem(&lead.phone) {
                return Err(ApiError::invalid("lead_id", problem));
            }
            if s.store.on_dnc(ws, &lead.phone).await? {
                return Err(ApiError::conflict(format!(
                    "the lead's number {} is on the workspace's do-not-call list",
                    lead.phone
                )));
            }
            let plan = CallPlan {
                workspace: ws.clone(),
                agent: s.store.agent(ws, &body.agent_id).await?,
                objective: body.objective.clone(),
                calendar: body.calendar_connector_id.clone(),
                batch_id: None,
                session_id: Some(id.clone()),
                number_id: None,
                lead: Some(lead.clone()),
            };
            let call = engine.reserve_id();
            let session = s
                .store
                .create_session(ws, id, &body, Some(call_key(call)))
                .await?;
            let dial = Dial {
                to: lead.phone.clone(),
                caller_id: body.caller_id.clone().or(settings.default_caller_id),
                ring_timeout: Duration::from_secs(u64::from(settings.ring_timeout_s)),
                queued_at: None,
            };
            place_call(apps, engine, &plan, call, &trunk, dial).await?;
            session
        }
    };
    Ok((StatusCode::CREATED, Json(SessionView::of(&s, session))))
}

/// One session, with its status and (inbound) SIP URI.
#[utoipa::path(get, path = "/sessions/{id}", tag = "sessions",
    params(("id" = String, Path, description = "The session (`sess_…`).")),
    responses((status = 200, description = "The session.", body = SessionView)))]
pub(super) async fn get(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<SessionView>, ApiError> {
    let session = found(s.store.session(&caller.workspace, &id).await, "session")?;
    Ok(Json(SessionView::of(&s, session)))
}
