//! `/calls`: call records with filters and cursor pagination, one call with
//! the configuration it ran with, its transcript, and hanging up a live call.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use tenex_actors::realtime::LatencyKind;
use tenex_actors::sip::CallId;

use super::error::{ErrorBody, found};
use super::metrics::LatencySummary;
use super::page::{Page, PageQuery, page};
use super::{ApiError, ApiQuery, ApiState, Caller};
use crate::store::{Call, CallFilter, OUTCOMES, STATUSES, ToolCallRow, TranscriptLine, Usage};

/// `GET /calls` query.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct CallsQuery {
    /// Rows per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
    /// The previous page's `next_cursor`, for the page after it.
    cursor: Option<String>,
    /// Only this lead's calls.
    lead_id: Option<String>,
    /// Only calls with this agent.
    agent_id: Option<String>,
    /// Only this campaign's calls.
    batch_id: Option<String>,
    /// `inbound` or `outbound`.
    #[param(pattern = "^(inbound|outbound)$")]
    direction: Option<String>,
    /// `qualified`, `unqualified`, `no-answer`, `busy`, `voicemail`, `failed` or
    /// `canceled`.
    outcome: Option<String>,
    /// `queued`, `ringing`, `in-progress`, `on-hold` or `ended`.
    status: Option<String>,
    /// Calls created at or after: an ISO 8601 date (`2026-11-21`, from midnight
    /// UTC) or timestamp (`2026-11-21T09:30:00Z`).
    from: Option<String>,
    /// Calls created before: a timestamp, or a date (its whole day included).
    to: Option<String>,
}

/// Unix ms of an ISO 8601 date (`2026-11-21`, midnight UTC; `end` gives the
/// next midnight, so a date bound includes its whole day) or timestamp
/// (`2026-11-21T09:30:00Z`).
pub(super) fn instant(param: &'static str, v: &str, end: bool) -> Result<i64, ApiError> {
    if let Ok(t) = v.parse::<jiff::Timestamp>() {
        return Ok(t.as_millisecond());
    }
    let d: jiff::civil::Date = v.parse().map_err(|_| {
        ApiError::invalid(
            param,
            "an ISO 8601 date (2026-11-21) or timestamp (2026-11-21T09:30:00Z)",
        )
    })?;
    let d = if end {
        d.tomorrow()
            .map_err(|_| ApiError::invalid(param, "out of range"))?
    } else {
        d
    };
    d.to_zoned(jiff::tz::TimeZone::UTC)
        .map(|z| z.timestamp().as_millisecond())
        .map_err(|_| ApiError::invalid(param, "out of range"))
}

pub(super) fn one_of(
    param: &'static str,
    v: &Option<String>,
    allowed: &[&str],
) -> Result<(), ApiError> {
    match v {
        Some(x) if !allowed.contains(&x.as_str()) => Err(ApiError::invalid(
            param,
            format!("one of {}", allowed.join(", ")),
        )),
        _ => Ok(()),
    }
}

impl CallsQuery {
    fn filter(&self) -> Result<CallFilter, ApiError> {
        one_of("direction", &self.direction, &["inbound", "outbound"])?;
        one_of("outcome", &self.outcome, OUTCOMES)?;
        one_of("status", &self.status, STATUSES)?;
        let from_ms = self
            .from
            .as_deref()
            .map(|v| instant("from", v, false))
            .transpose()?;
        let to_ms = self
            .to
            .as_deref()
            .map(|v| instant("to", v, true))
            .transpose()?;
        Ok(CallFilter {
            lead_id: self.lead_id.clone(),
            agent_id: self.agent_id.clone(),
            batch_id: self.batch_id.clone(),
            direction: self.direction.clone(),
            outcome: self.outcome.clone(),
            status: self.status.clone(),
            from_ms,
            to_ms,
        })
    }
}

/// A call as lists show it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct CallView {
    #[serde(flatten)]
    call: Call,
    /// A signed link to the recording (a stereo WAV, caller left, agent right),
    /// valid for the workspace's `recording_url_ttl_s` (default 1 h); `null`
    /// when there is none, or it was deleted or expired.
    recording_url: Option<String>,
}

/// One call in full.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct CallDetail {
    #[serde(flatten)]
    view: CallView,
    /// The agent's tool calls, in order.
    tool_calls: Vec<ToolCallRow>,
    /// Latency measured on the call.
    latency: CallLatency,
    /// Tokens and audio the call used, once the service reported them.
    usage: Option<Usage>,
}

/// Latency measured on one call, ms.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct CallLatency {
    /// From answer to the first agent audio sent to the caller.
    greeting_ms: Option<u32>,
    /// From the end of each caller turn (the service's speech-stopped) to the
    /// first agent audio of the reply.
    end_of_turn_ms: LatencySummary,
    /// From each barge-in decision to the agent's audio stopping.
    barge_in_stop_ms: LatencySummary,
}

/// A call's transcript.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct Transcript {
    /// The call.
    call_id: String,
    /// Final lines of both speakers, in order.
    data: Vec<TranscriptLine>,
}

/// A hang-up under way.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct Ending {
    /// The call.
    id: String,
    /// `ending`: the hang-up (a BYE, or a CANCEL while it rings) is under way;
    /// `GET /calls/{id}` shows the call ended moments later.
    status: String,
}

/// A call as the API shows it, with a fresh signed `recording_url` valid for
/// `ttl_s` (the workspace's setting, read once per request).
async fn view(s: &ApiState, ttl_s: u32, call: Call) -> Result<CallView, ApiError> {
    let recording_url = super::recordings::recording_url(s, ttl_s, &call).await?;
    Ok(CallView {
        call,
        recording_url,
    })
}

/// The workspace's calls, newest first, filtered.
#[utoipa::path(get, path = "/calls", tag = "calls", params(CallsQuery),
    responses((status = 200, description = "A page of calls.", body = Page<CallView>)))]
pub(super) async fn list(
    State(s): State<ApiState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<CallsQuery>,
) -> Result<Json<Page<CallView>>, ApiError> {
    let paging = PageQuery {
        limit: q.limit,
        cursor: q.cursor.clone(),
    };
    let limit = paging.limit()?;
    let filter = q.filter()?;
    let rows = s
        .store
        .list_calls(&caller.workspace, &filter, limit + 1, paging.after()?)
        .await?;
    let p = page(rows, limit, |c| (c.created_at, c.id.as_str()));
    let ttl = s
        .store
        .settings(&caller.workspace)
        .await?
        .recording_url_ttl_s;
    let mut data = Vec::with_capacity(p.data.len());
    for c in p.data {
        data.push(view(&s, ttl, c).await?);
    }
    Ok(Json(Page {
        data,
        next_cursor: p.next_cursor,
    }))
}

/// One call.
///
/// State, times, outcome, the agent configuration it ran with, summary,
/// verdict, recording link, tool calls, latency and usage.
#[utoipa::path(get, path = "/calls/{id}", tag = "calls", params(("id" = String, Path, description = "The call (`call_…`).")),
    responses((status = 200, description = "The call.", body = CallDetail)))]
pub(super) async fn get(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<CallDetail>, ApiError> {
    let call = found(s.store.call(&caller.workspace, &id).await, "call")?;
    let ttl = s
        .store
        .settings(&caller.workspace)
        .await?
        .recording_url_ttl_s;
    let tool_calls = s.store.tool_calls(&call.id).await?;
    let usage = s.store.usage(&call.id).await?;
    let samples = s.store.latencies(&call.id).await?;
    let of = |kind: LatencyKind| {
        let mut ms: Vec<u32> = samples
            .iter()
            .filter(|(k, _)| k == kind.as_str())
            .map(|(_, ms)| *ms)
            .collect();
        ms.sort_unstable();
        ms
    };
    let latency = CallLatency {
        greeting_ms: of(LatencyKind::Greeting).first().copied(),
        end_of_turn_ms: LatencySummary::of(&of(LatencyKind::EndOfTurn)),
        barge_in_stop_ms: LatencySummary::of(&of(LatencyKind::BargeInStop)),
    };
    Ok(Json(CallDetail {
        view: view(&s, ttl, call).await?,
        tool_calls,
        latency,
        usage,
    }))
}

/// A call's transcript.
///
/// The final lines of both speakers, in order, with times from the answer.
#[utoipa::path(get, path = "/calls/{id}/transcript", tag = "calls", params(("id" = String, Path, description = "The call (`call_…`).")),
    responses((status = 200, description = "The transcript.", body = Transcript)))]
pub(super) async fn transcript(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Transcript>, ApiError> {
    let call = found(s.store.call(&caller.workspace, &id).await, "call")?;
    let data = s.store.transcript(&call.id).await?;
    Ok(Json(Transcript {
        call_id: call.id,
        data,
    }))
}

/// Hang up a live call (cancel it while it rings).
#[utoipa::path(post, path = "/calls/{id}/hangup", tag = "calls", params(("id" = String, Path, description = "The call (`call_…`).")),
    responses(
        (status = 202, description = "The hang-up is under way.", body = Ending),
        (status = 409, description = "The call has ended, or is not live on this node (`conflict`).", body = ErrorBody),
    ))]
pub(super) async fn hangup(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Ending>), ApiError> {
    let call = found(s.store.call(&caller.workspace, &id).await, "call")?;
    if call.status == "ended" {
        return Err(ApiError::conflict("the call has already ended"));
    }
    let live = match (&s.engine, call.id.parse::<CallId>()) {
        (Some(engine), Ok(cid)) => engine.hangup(cid),
        _ => false,
    };
    if !live {
        return Err(ApiError::conflict(
            "the call is not live on this node (it may be ending)",
        ));
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(Ending {
            id: call.id,
            status: "ending".into(),
        }),
    ))
}
