//! `GET /metrics`: how the workspace's calls went over a period, optionally
//! for one agent, batch or direction.
//!
//! Definitions (over calls created in `[from, to)`; no bound = all time):
//! - `calls`: call attempts, inbound and outbound, whatever their outcome.
//! - `connected`: calls that were answered; `connect_rate` = connected / calls.
//! - `qualified`: calls whose outcome is `qualified` (a verdict with
//!   `qualified: true`); `qualified_rate` = qualified / connected.
//! - `avg_duration_ms`: mean answer-to-hang-up time of connected calls.
//! - `greeting_latency_ms`: answer → the agent's first audio, one sample per
//!   call; `end_of_turn_latency_ms`: the caller stops speaking → the agent's
//!   first audio of the reply, one sample per turn. Each as `count`, `p50`,
//!   `p95` (nearest rank) and `max`.
//!
//! Rates and latency figures are `null` when there is nothing to divide or rank.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};
use tenex_actors::realtime::LatencyKind;

use super::calls::{instant, one_of};
use super::{ApiError, ApiQuery, ApiState, Caller};
use crate::store::CallFilter;

/// `GET /metrics` query.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MetricsQuery {
    from: Option<String>,
    to: Option<String>,
    agent_id: Option<String>,
    batch_id: Option<String>,
    direction: Option<String>,
}

/// `count`, `p50`, `p95`, `max` of sorted samples (nearest rank).
pub(super) fn summary(sorted: &[u32]) -> Value {
    let rank = |p: f64| {
        let n = sorted.len();
        let i = ((p * n as f64).ceil() as usize).clamp(1, n) - 1;
        sorted[i]
    };
    if sorted.is_empty() {
        return json!({"count": 0, "p50": null, "p95": null, "max": null});
    }
    json!({
        "count": sorted.len(),
        "p50": rank(0.50),
        "p95": rank(0.95),
        "max": sorted[sorted.len() - 1],
    })
}

fn ratio(a: i64, b: i64) -> Value {
    if b == 0 {
        Value::Null
    } else {
        json!(a as f64 / b as f64)
    }
}

pub(super) async fn get(
    State(s): State<ApiState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<MetricsQuery>,
) -> Result<Json<Value>, ApiError> {
    one_of("direction", &q.direction, &["inbound", "outbound"])?;
    let filter = CallFilter {
        agent_id: q.agent_id.clone(),
        batch_id: q.batch_id.clone(),
        direction: q.direction.clone(),
        from_ms: q
            .from
            .as_deref()
            .map(|v| instant("from", v, false))
            .transpose()?,
        to_ms: q
            .to
            .as_deref()
            .map(|v| instant("to", v, true))
            .transpose()?,
        ..CallFilter::default()
    };
    let ws = &caller.workspace;
    let t = s.store.call_totals(ws, &filter).await?;
    let greeting = s
        .store
        .latency_samples(ws, &filter, LatencyKind::Greeting)
        .await?;
    let turns = s
        .store
        .latency_samples(ws, &filter, LatencyKind::EndOfTurn)
        .await?;
    Ok(Json(json!({
        "from": filter.from_ms,
        "to": filter.to_ms,
        "agent_id": q.agent_id,
        "batch_id": q.batch_id,
        "direction": q.direction,
        "calls": t.calls,
        "connected": t.connected,
        "connect_rate": ratio(t.connected, t.calls),
        "qualified": t.qualified,
        "qualified_rate": ratio(t.qualified, t.connected),
        "avg_duration_ms": t.avg_duration_ms.map(f64::round),
        "greeting_latency_ms": summary(&greeting),
        "end_of_turn_latency_ms": summary(&turns),
    })))
}

#[cfg(test)]
mod tests {
    use super::summary;
    use serde_json::json;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(
            summary(&v),
            json!({"count": 100, "p50": 50, "p95": 95, "max": 100})
        );
        assert_eq!(
            summary(&[7]),
            json!({"count": 1, "p50": 7, "p95": 7, "max": 7})
        );
        assert_eq!(
            summary(&[1, 2]),
            json!({"count": 2, "p50": 1, "p95": 2, "max": 2})
        );
        assert_eq!(summary(&[])["p50"], serde_json::Value::Null);
    }
}
