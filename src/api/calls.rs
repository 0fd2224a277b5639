//! `/calls`: call records with filters and cursor pagination, one call with
//! the configuration it ran with, its transcript, and hanging up a live call.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use tenex_actors::realtime::LatencyKind;
use tenex_actors::sip::CallId;

use super::error::found;
use super::page::{Page, PageQuery, page};
use super::{ApiError, ApiQuery, ApiState, Caller};
use crate::store::{Call, CallFilter, OUTCOMES, STATUSES};

/// `GET /calls` query.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CallsQuery {
    limit: Option<u32>,
    cursor: Option<String>,
    lead_id: Option<String>,
    agent_id: Option<String>,
    batch_id: Option<String>,
    direction: Option<String>,
    outcome: Option<String>,
    status: Option<String>,
    from: Option<String>,
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

/// A call as the API shows it, with a fresh signed `recording_url` valid for
/// `ttl_s` (the workspace's setting, read once per request).
async fn view(s: &ApiState, ttl_s: u32, c: &Call) -> Result<Value, ApiError> {
    let mut v = serde_json::to_value(c).unwrap_or(Value::Null);
    v["recording_url"] = json!(super::recordings::recording_url(s, ttl_s, c).await?);
    Ok(v)
}

pub(super) async fn list(
    State(s): State<ApiState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<CallsQuery>,
) -> Result<Json<Page<Value>>, ApiError> {
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
    for c in &p.data {
        data.push(view(&s, ttl, c).await?);
    }
    Ok(Json(Page {
        data,
        next_cursor: p.next_cursor,
    }))
}

pub(super) async fn get(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let call = found(s.store.call(&caller.workspace, &id).await, "call")?;
    let ttl = s
        .store
        .settings(&caller.workspace)
        .await?
        .recording_url_ttl_s;
    let mut v = view(&s, ttl, &call).await?;
    let tools = s.store.tool_calls(&call.id).await?;
    v["tool_calls"] = json!(tools);
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
    v["latency"] = json!({
        "greeting_ms": of(LatencyKind::Greeting).first(),
        "end_of_turn_ms": super::metrics::summary(&of(LatencyKind::EndOfTurn)),
        "barge_in_stop_ms": super::metrics::summary(&of(LatencyKind::BargeInStop)),
    });
    v["usage"] = json!(s.store.usage(&call.id).await?);
    Ok(Json(v))
}

pub(super) async fn transcript(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let call = found(s.store.call(&caller.workspace, &id).await, "call")?;
    let lines = s.store.transcript(&call.id).await?;
    Ok(Json(json!({ "call_id": call.id, "data": lines })))
}

pub(super) async fn hangup(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
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
        Json(json!({"id": call.id, "status": "ending"})),
    ))
}
