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
use serde::{Deserialize, Serialize};
use tenex_actors::realtime::LatencyKind;

use super::calls::{instant, one_of};
use super::{ApiError, ApiQuery, ApiState, Caller};
use crate::store::CallFilter;

/// `GET /metrics` query.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct MetricsQuery {
    /// Calls created at or after: an ISO 8601 date (`2026-11-21`, from midnight
    /// UTC) or timestamp (`2026-11-21T09:30:00Z`); all calls when absent.
    from: Option<String>,
    /// Calls created before: a timestamp, or a date (its whole day included).
    to: Option<String>,
    /// Only calls with this agent.
    agent_id: Option<String>,
    /// Only this campaign's calls.
    batch_id: Option<String>,
    /// `inbound` or `outbound`.
    #[param(pattern = "^(inbound|outbound)$")]
    direction: Option<String>,
}

/// A distribution of latency samples, ms, by nearest rank.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub(super) struct LatencySummary {
    /// Samples.
    count: usize,
    /// Median (`null` without samples).
    p50: Option<u32>,
    /// 95th percentile: the smallest sample at least 95 % of the samples do not
    /// exceed (`null` without samples).
    p95: Option<u32>,
    /// Largest sample.
    max: Option<u32>,
}

impl LatencySummary {
    /// The summary of `sorted` (ascending).
    pub(super) fn of(sorted: &[u32]) -> LatencySummary {
        let rank = |p: f64| {
            let n = sorted.len();
            let i = ((p * n as f64).ceil() as usize).clamp(1, n) - 1;
            sorted[i]
        };
        if sorted.is_empty() {
            return LatencySummary {
                count: 0,
                p50: None,
                p95: None,
                max: None,
            };
        }
        LatencySummary {
            count: sorted.len(),
            p50: Some(rank(0.50)),
            p95: Some(rank(0.95)),
            max: sorted.last().copied(),
        }
    }
}

/// Call metrics over a range.
///
/// A call is one attempt (a placed or received call; a retried lead counts
/// each attempt). Latencies come from every call in the range that measured
/// them.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub(super) struct Metrics {
    /// The range's start as applied (Unix ms), `null` when open.
    from: Option<i64>,
    /// The range's end as applied (Unix ms, exclusive), `null` when open.
    to: Option<i64>,
    /// The agent filter.
    agent_id: Option<String>,
    /// The campaign filter.
    batch_id: Option<String>,
    /// The direction filter.
    direction: Option<String>,
    /// Calls created in the range (every attempt, whatever its outcome,
    /// including ones still under way).
    calls: i64,
    /// Calls that were answered (reached a conversation).
    connected: i64,
    /// `connected / calls`; `null` when there are no calls.
    connect_rate: Option<f64>,
    /// Calls that ended with outcome `qualified` (the agent's verdict said
    /// qualified).
    qualified: i64,
    /// `qualified / connected`: the share of conversations that qualified the
    /// lead; `null` when none connected.
    qualified_rate: Option<f64>,
    /// Mean duration of the connected calls that ended, from answer to hang-up,
    /// ms (rounded); `null` when there are none.
    avg_duration_ms: Option<f64>,
    /// Greeting latency: from the answer to the first agent audio sent to the
    /// caller, one sample per call that measured it.
    greeting_latency_ms: LatencySummary,
    /// End-of-turn latency: from the end of a caller turn (the service's
    /// speech-stopped) to the first audio of the agent's reply, one sample per
    /// turn.
    end_of_turn_latency_ms: LatencySummary,
}

fn ratio(a: i64, b: i64) -> Option<f64> {
    (b != 0).then(|| a as f64 / b as f64)
}

/// Call metrics over a time range.
///
/// Optionally for one agent, campaign or direction.
///
/// `calls` counts every call created in the range; `connected` the answered
/// ones, `connect_rate = connected / calls`; `qualified` the calls whose outcome
/// is `qualified`, `qualified_rate = qualified / connected`;
/// `avg_duration_ms` the mean answer-to-hang-up time of the connected calls.
/// Greeting latency is answer to first agent audio (one sample per call);
/// end-of-turn latency is the end of a caller turn to the first audio of the
/// reply (one sample per turn); p50/p95 by nearest rank.
#[utoipa::path(get, path = "/metrics", tag = "metrics", params(MetricsQuery),
    responses((status = 200, description = "The metrics.", body = Metrics)))]
pub(super) async fn get(
    State(s): State<ApiState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<MetricsQuery>,
) -> Result<Json<Metrics>, ApiError> {
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
    Ok(Json(Metrics {
        from: filter.from_ms,
        to: filter.to_ms,
        agent_id: q.agent_id,
        batch_id: q.batch_id,
        direction: q.direction,
        calls: t.calls,
        connected: t.connected,
        connect_rate: ratio(t.connected, t.calls),
        qualified: t.qualified,
        qualified_rate: ratio(t.qualified, t.connected),
        avg_duration_ms: t.avg_duration_ms.map(f64::round),
        greeting_latency_ms: LatencySummary::of(&greeting),
        end_of_turn_latency_ms: LatencySummary::of(&turns),
    }))
}

#[cfg(test)]
mod tests {
    use super::LatencySummary;
    use serde_json::json;

    fn summary(sorted: &[u32]) -> serde_json::Value {
        json!(LatencySummary::of(sorted))
    }

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
