//! Calls: one row per call attempt that belongs to a workspace, kept up to date
//! from the SIP engine's lifecycle ([`CallBinding`] is the tag the engine
//! carries for us), plus what the call tree writes through [`DbCalls`]: the
//! transcript, tool calls, verdict (and the lead's qualification history) and
//! summary.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tenex_actors::call::{CallStore, StoreFailure, StoreFuture, ToolRecord};
use tenex_actors::realtime::{CallUsage, LatencyKind, Segment, Speaker, Verdict};
use tenex_actors::sip::{CallChange, CallId, CallOutcome, CallRecord, Direction, HungUpBy};

use super::crm::complete;
use super::events::{LiveEvent, NewEvent, append_events, in_tx};
use super::{Store, StoreError, StoreResult, now_ms, on_db};

/// `$q` with every argument of `$args` bound in order.
macro_rules! bind_args {
    ($q:expr, $args:expr) => {{
        let mut q = $q;
        for a in $args {
            q = match a {
                Arg::S(s) => q.bind(*s),
                Arg::I(i) => q.bind(*i),
            };
        }
        q
    }};
}

/// Appends `$ev` to the events of call `$call` (its workspace read from its row)
/// inside transaction `$tx`; 0 when the call has no row.
macro_rules! call_event {
    ($tx:ident, $call:expr, $ev:expr) => {{
        let ws: Option<String> = sqlx::query_scalar("SELECT workspace_id FROM calls WHERE id = $1")
            .bind($call)
            .fetch_optional(&mut *$tx)
            .await?;
        match ws {
            Some(ws) => append_events!($tx, &ws, $call, [$ev]),
            None => 0,
        }
    }};
}

/// Who a call belongs to and what it runs: the engine carries it on the call's
/// record (as its `CallTag`) so lifecycle changes land in the right row.
#[derive(Debug, Clone, Default)]
pub struct CallBinding {
    /// The workspace.
    pub workspace: String,
    /// The agent.
    pub agent_id: Option<String>,
    /// The lead.
    pub lead_id: Option<String>,
    /// The campaign.
    pub batch_id: Option<String>,
    /// The session that provisioned it.
    pub session_id: Option<String>,
    /// The number that was dialled (inbound).
    pub number_id: Option<String>,
    /// The objective as given (a template name or text).
    pub objective: String,
    /// The exact agent configuration the call runs with (JSON).
    pub agent_config: Value,
}

/// The exact configuration a call ran with, stored with the call: the agent's
/// prompt, objective, tools and voice as they were when the call started
/// (later edits to the agent change new calls only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CallConfig {
    /// The agent.
    pub agent_id: String,
    /// The agent's name then.
    pub name: String,
    /// Realtime model.
    pub model: String,
    /// System prompt.
    pub system_prompt: String,
    /// The objective's instructions (a template expanded, or the text given).
    pub objective: String,
    /// What the agent was told about the lead.
    pub lead_context: String,
    /// Tools enabled.
    pub tools: Vec<String>,
    /// Greeting instructions.
    pub greeting: Option<String>,
    /// Longest call, seconds.
    pub max_duration_s: u32,
    /// Voice profile.
    pub voice_profile: super::VoiceProfile,
    /// The agent's last change before the call (Unix ms).
    pub agent_updated_at: i64,
}

/// What a call used, as the service reported it: tokens, and audio each way.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Usage {
    /// Input tokens, all responses.
    pub input_tokens: u64,
    /// Output tokens, all responses.
    pub output_tokens: u64,
    /// Input plus output tokens.
    pub total_tokens: u64,
    /// Caller audio sent to the model, seconds.
    pub audio_in_s: f64,
    /// Agent audio received from the model, seconds.
    pub audio_out_s: f64,
}

impl From<&CallUsage> for Usage {
    fn from(u: &CallUsage) -> Usage {
        Usage {
            input_tokens: u.input_tokens,
            output_tokens: u.output_tokens,
            total_tokens: u.input_tokens + u.output_tokens,
            audio_in_s: u.audio_in_ms as f64 / 1000.0,
            audio_out_s: u.audio_out_ms as f64 / 1000.0,
        }
    }
}

/// One entry of a lead's qualification history: a call's verdict.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Qualification {
    /// The call that reached the verdict.
    pub call_id: String,
    /// The verdict.
    #[schema(value_type = Verdict)]
    pub verdict: Value,
    /// When it was recorded (Unix ms).
    pub created_at: i64,
}

/// Outcomes at the API edge.
pub const OUTCOMES: &[&str] = &[
    "qualified",
    "unqualified",
    "no-answer",
    "busy",
    "voicemail",
    "failed",
    "canceled",
];

/// Call states at the API edge.
pub const STATUSES: &[&str] = &["queued", "ringing", "in-progress", "on-hold", "ended"];

/// A stored call.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Call {
    /// `call_…`.
    pub id: String,
    /// `inbound` or `outbound`.
    pub direction: String,
    /// `queued`, `ringing`, `in-progress`, `on-hold`, `ended`.
    pub status: String,
    /// One of [`OUTCOMES`] once ended.
    pub outcome: Option<String>,
    /// The SIP leg's own outcome (`completed`, `busy`, `no-answer`, `rejected`,
    /// `failed`, `canceled`).
    pub sip_outcome: Option<String>,
    /// Final SIP status of a failed attempt.
    pub final_status: Option<i64>,
    /// Why it ended when not a plain hang-up (`max-duration`, `media-timeout`, ...).
    pub hangup_cause: Option<String>,
    /// `us` or `them`.
    pub hung_up_by: Option<String>,
    /// Caller (From URI).
    pub from: String,
    /// Callee (To URI).
    pub to: String,
    /// Agent.
    pub agent_id: Option<String>,
    /// Lead.
    pub lead_id: Option<String>,
    /// Campaign.
    pub batch_id: Option<String>,
    /// Session.
    pub session_id: Option<String>,
    /// Number dialled.
    pub number_id: Option<String>,
    /// Objective as given.
    pub objective: String,
    /// The agent configuration the call ran with.
    #[schema(value_type = CallConfig)]
    pub agent_config: Value,
    /// Negotiated codec.
    pub codec: Option<String>,
    /// Created (Unix ms).
    pub created_at: i64,
    /// Answered (Unix ms).
    pub answered_at: Option<i64>,
    /// Ended (Unix ms).
    pub ended_at: Option<i64>,
    /// From answer to end, ms.
    pub duration_ms: Option<i64>,
    /// End-of-call summary.
    pub summary: Option<String>,
    /// The qualification verdict (`submit_qualification`'s arguments).
    #[schema(value_type = Option<Verdict>)]
    pub verdict: Option<Value>,
    /// Where the recording file is (server side).
    #[serde(skip)]
    pub recording_path: Option<String>,
    /// `none`, `ready`, `deleted`, `expired`.
    pub recording_state: String,
    /// The write-back to the workspace's external CRM connector: `pending`,
    /// `delivered` or `failed` (absent without a connector or a lead).
    pub crm_writeback: Option<String>,
}

/// One transcript line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct TranscriptLine {
    /// `caller` or `agent`.
    pub speaker: String,
    /// What was said.
    pub text: String,
    /// Start, ms from answer.
    pub start_ms: i64,
    /// End, ms from answer.
    pub end_ms: i64,
}

/// A stored tool call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ToolCallRow {
    /// Position in the call's event log.
    pub seq: i64,
    /// Tool.
    pub name: String,
    /// Arguments (JSON text).
    pub arguments: String,
    /// Output (JSON text).
    pub output: String,
    /// 1 when it failed.
    pub failed: i64,
}

/// `GET /calls` filters.
#[derive(Debug, Clone, Default)]
pub struct CallFilter {
    /// Lead.
    pub lead_id: Option<String>,
    /// Agent.
    pub agent_id: Option<String>,
    /// Campaign.
    pub batch_id: Option<String>,
    /// `inbound` / `outbound`.
    pub direction: Option<String>,
    /// One of [`OUTCOMES`].
    pub outcome: Option<String>,
    /// One of [`STATUSES`].
    pub status: Option<String>,
    /// Created at or after (Unix ms).
    pub from_ms: Option<i64>,
    /// Created before (Unix ms).
    pub to_ms: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct CallRow {
    id: String,
    direction: String,
    status: String,
    outcome: Option<String>,
    sip_outcome: Option<String>,
    final_status: Option<i64>,
    hangup_cause: Option<String>,
    hung_up_by: Option<String>,
    from_uri: String,
    to_uri: String,
    agent_id: Option<String>,
    lead_id: Option<String>,
    batch_id: Option<String>,
    session_id: Option<String>,
    number_id: Option<String>,
    objective: String,
    agent_config: String,
    codec: Option<String>,
    created_at: i64,
    answered_at: Option<i64>,
    ended_at: Option<i64>,
    duration_ms: Option<i64>,
    summary: Option<String>,
    verdict: Option<String>,
    recording_path: Option<String>,
    recording_state: String,
    crm_writeback: Option<String>,
}

impl From<CallRow> for Call {
    fn from(r: CallRow) -> Call {
        Call {
            id: r.id,
            direction: r.direction,
            status: r.status,
            outcome: r.outcome,
            sip_outcome: r.sip_outcome,
            final_status: r.final_status,
            hangup_cause: r.hangup_cause,
            hung_up_by: r.hung_up_by,
            from: r.from_uri,
            to: r.to_uri,
            agent_id: r.agent_id,
            lead_id: r.lead_id,
            batch_id: r.batch_id,
            session_id: r.session_id,
            number_id: r.number_id,
            objective: r.objective,
            agent_config: serde_json::from_str(&r.agent_config).unwrap_or(Value::Null),
            codec: r.codec,
            created_at: r.created_at,
            answered_at: r.answered_at,
            ended_at: r.ended_at,
            duration_ms: r.duration_ms,
            summary: r.summary,
            verdict: r.verdict.and_then(|v| serde_json::from_str(&v).ok()),
            recording_path: r.recording_path,
            recording_state: r.recording_state,
            crm_writeback: r.crm_writeback,
        }
    }
}

const COLUMNS: &str = "id, direction, status, outcome, sip_outcome, final_status, hangup_cause, \
    hung_up_by, from_uri, to_uri, agent_id, lead_id, batch_id, session_id, number_id, objective, \
    agent_config, codec, created_at, answered_at, ended_at, duration_ms, summary, verdict, \
    recording_path, recording_state, crm_writeback";

/// The API outcome from the SIP outcome and the verdict (`qualified` 1/0/NULL).
const SET_OUTCOME: &str = "UPDATE calls SET outcome = CASE \
    WHEN sip_outcome IS NULL THEN NULL \
    WHEN hangup_cause = 'voicemail' THEN 'voicemail' \
    WHEN sip_outcome = 'completed' AND qualified = 1 THEN 'qualified' \
    WHEN sip_outcome = 'completed' THEN 'unqualified' \
    WHEN answered_at IS NOT NULL AND qualified IS NOT NULL THEN \
        CASE WHEN qualified = 1 THEN 'qualified' ELSE 'unqualified' END \
    WHEN sip_outcome IN ('busy', 'no-answer', 'canceled') THEN sip_outcome \
    ELSE 'failed' END \
    WHERE id = $1";

fn ms(t: Option<SystemTime>) -> Option<i64> {
    t.and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_millis() as i64)
}

fn direction_str(d: Direction) -> &'static str {
    match d {
        Direction::Inbound => "inbound",
        Direction::Outbound => "outbound",
    }
}

/// The events a lifecycle change appends (`call.ended`, which needs the stored
/// outcome, is added by [`Store::record_call`]).
fn lifecycle_events(
    b: &CallBinding,
    r: &CallRecord,
    change: CallChange,
    id: &str,
) -> Vec<NewEvent> {
    let state = |state: &str| {
        json!({"call_id": id, "state": state, "direction": direction_str(r.direction),
            "from": r.from, "to": r.to, "lead_id": b.lead_id, "agent_id": b.agent_id,
            "batch_id": b.batch_id})
    };
    let once = |s: &str| Some(s.to_owned());
    match change {
        CallChange::Started => vec![NewEvent::new(
            "call.started",
            state("started"),
            once("started"),
        )],
        CallChange::Ringing => vec![
            NewEvent::new("call.ringing", state("ringing"), once("ringing")),
            NewEvent::new("call.state", state("ringing"), once("state:ringing")),
        ],
        CallChange::Answered => vec![
            NewEvent::new("call.answered", state("answered"), once("answered")),
            NewEvent::new("call.state", state("answered"), once("state:answered")),
        ],
        CallChange::Hold(true) => vec![NewEvent::new("call.state", state("on-hold"), None)],
        CallChange::Hold(false) => vec![NewEvent::new("call.state", state("answered"), None)],
        CallChange::Ended => vec![NewEvent::new(
            "call.state",
            state("ended"),
            once("state:ended"),
        )],
    }
}

fn status_of(change: CallChange) -> &'static str {
    match change {
        CallChange::Started | CallChange::Ringing => "ringing",
        CallChange::Answered | CallChange::Hold(false) => "in-progress",
        CallChange::Hold(true) => "on-hold",
        CallChange::Ended => "ended",
    }
}

fn speaker(s: Speaker) -> &'static str {
    match s {
        Speaker::Caller => "caller",
        Speaker::Agent => "agent",
    }
}

fn json_text(v: &impl Serialize) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// An engine call id as stored.
pub fn call_key(id: CallId) -> String {
    id.to_string()
}

impl Store {
    /// Stores a call about to be placed (status `queued`), so it can be returned
    /// before the INVITE goes out.
    pub async fn queue_call(&self, id: CallId, binding: &CallBinding, to: &str) -> StoreResult<()> {
        self.queue_call_at(id, binding, to, now_ms()).await
    }

    /// [`Store::queue_call`], queued at `at` (Unix ms).
    pub async fn queue_call_at(
        &self,
        id: CallId,
        binding: &CallBinding,
        to: &str,
        at: i64,
    ) -> StoreResult<()> {
        let sql = "INSERT INTO calls (id, workspace_id, direction, status, from_uri, to_uri, \
                   agent_id, lead_id, batch_id, session_id, number_id, objective, agent_config, \
                   created_at) VALUES ($1, $2, 'outbound', 'queued', '', $3, $4, $5, $6, $7, $8, \
                   $9, $10, $11)";
        on_db!(self, pool => sqlx::query(sql)
            .bind(call_key(id)).bind(&binding.workspace).bind(to)
            .bind(&binding.agent_id).bind(&binding.lead_id).bind(&binding.batch_id)
            .bind(&binding.session_id).bind(&binding.number_id).bind(&binding.objective)
            .bind(binding.agent_config.to_string()).bind(at)
            .execute(pool).await?.rows_affected());
        Ok(())
    }

    /// Writes what the engine reports about a bound call (in order per call).
    pub async fn record_call(
        &self,
        binding: &CallBinding,
        r: &CallRecord,
        change: CallChange,
    ) -> StoreResult<()> {
        let id = call_key(r.id);
        let answered = ms(r.answered_at);
        let ended = ms(r.ended_at);
        let duration = answered.zip(ended).map(|(a, e)| (e - a).max(0));
        let sip_outcome = (change == CallChange::Ended)
            .then(|| r.outcome.unwrap_or(CallOutcome::Completed).as_str());
        let recording = r
            .recording
            .as_ref()
            .filter(|_| change == CallChange::Ended)
            .map(|p| p.to_string_lossy().into_owned());
        let sql = "INSERT INTO calls (id, workspace_id, direction, status, from_uri, to_uri, \
            agent_id, lead_id, batch_id, session_id, number_id, objective, agent_config, codec, \
            created_at, answered_at, ended_at, duration_ms, sip_outcome, final_status, \
            hangup_cause, hung_up_by, recording_path, recording_state) \
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
            $18, $19, $20, $21, $22, $23, $24) \
            ON CONFLICT (id) DO UPDATE SET status = excluded.status, \
            from_uri = excluded.from_uri, to_uri = excluded.to_uri, codec = excluded.codec, \
            answered_at = excluded.answered_at, ended_at = excluded.ended_at, \
            duration_ms = excluded.duration_ms, sip_outcome = excluded.sip_outcome, \
            final_status = excluded.final_status, hangup_cause = excluded.hangup_cause, \
            hung_up_by = excluded.hung_up_by, \
            recording_path = CASE WHEN calls.recording_state IN ('deleted', 'expired') \
                THEN NULL ELSE COALESCE(excluded.recording_path, calls.recording_path) END, \
            recording_state = CASE WHEN calls.recording_state IN ('deleted', 'expired') \
                THEN calls.recording_state WHEN excluded.recording_path IS NOT NULL THEN 'ready' \
                ELSE calls.recording_state END";
        let ws = &binding.workspace;
        let appended = in_tx!(self, tx => {
            sqlx::query(sql)
                .bind(&id).bind(ws)
                .bind(direction_str(r.direction))
                .bind(status_of(change)).bind(&r.from).bind(&r.to)
                .bind(&binding.agent_id).bind(&binding.lead_id).bind(&binding.batch_id)
                .bind(&binding.session_id).bind(&binding.number_id).bind(&binding.objective)
                .bind(binding.agent_config.to_string())
                .bind(r.codec.map(|c| c.encoding_name().to_owned()))
                .bind(ms(Some(r.started_at)).unwrap_or_else(now_ms)).bind(answered).bind(ended)
                .bind(duration).bind(sip_outcome).bind(r.final_status.map(i64::from))
                .bind(r.hangup_cause)
                .bind(r.hung_up_by.map(|b| match b { HungUpBy::Us => "us", HungUpBy::Them => "them" }))
                .bind(&recording)
                .bind(if recording.is_some() { "ready" } else { "none" })
                .execute(&mut *tx).await?;
            if change == CallChange::Ended {
                sqlx::query(SET_OUTCOME).bind(&id).execute(&mut *tx).await?;
            }
            let events = lifecycle_events(binding, r, change, &id);
            let mut n = append_events!(tx, ws, &id, events);
            if change == CallChange::Ended {
                if recording.is_some() {
                    let ev = NewEvent::new("recording.ready", json!({"call_id": id,
                        "recording_url": format!("/api/v1/voice/calls/{id}/recording")}),
                        "recording".to_owned());
                    n += append_events!(tx, ws, &id, [ev]);
                }
                let (outcome, run_done): (Option<String>, i64) = sqlx::query_as(
                    "SELECT outcome, run_done FROM calls WHERE id = $1")
                    .bind(&id).fetch_one(&mut *tx).await?;
                let ev = NewEvent::new("call.ended", json!({"call_id": id,
                    "outcome": outcome, "duration_ms": duration, "answered": answered.is_some(),
                    "hangup_cause": r.hangup_cause,
                    "hung_up_by": r.hung_up_by.map(|b| match b { HungUpBy::Us => "us", HungUpBy::Them => "them" })}),
                    "ended".to_owned());
                n += append_events!(tx, ws, &id, [ev]);
                // No agent ran (never answered), or the agent's run already ended:
                // the call is complete.
                if answered.is_none() || run_done == 1 {
                    n += complete!(tx, ws, &id);
                }
            }
            n
        });
        self.appended(appended);
        Ok(())
    }

    /// Marks a queued call that could not be placed at all as failed (and
    /// completes it).
    pub async fn fail_queued_call(&self, id: CallId, cause: &str) -> StoreResult<()> {
        let key = call_key(id);
        let appended = in_tx!(self, tx => {
            let sql = "UPDATE calls SET status = 'ended', sip_outcome = 'failed', outcome = 'failed', \
                       hangup_cause = $1, ended_at = $2 WHERE id = $3 AND status = 'queued' \
                       RETURNING workspace_id";
            let ws: Option<String> = sqlx::query_scalar(sql).bind(cause).bind(now_ms()).bind(&key)
                .fetch_optional(&mut *tx).await?;
            match ws {
                Some(ws) => {
                    let events = [
                        NewEvent::new("call.state", json!({"call_id": key, "state": "ended"}),
                            "state:ended".to_owned()),
                        NewEvent::new("call.ended", json!({"call_id": key, "outcome": "failed",
                            "duration_ms": null, "answered": false, "hangup_cause": cause,
                            "hung_up_by": null}), "ended".to_owned()),
                    ];
                    append_events!(tx, &ws, &key, events) + complete!(tx, &ws, &key)
                }
                None => 0,
            }
        });
        self.appended(appended);
        Ok(())
    }

    /// The call `id` of `workspace`.
    pub async fn call(&self, workspace: &str, id: &str) -> StoreResult<Call> {
        let sql = format!("SELECT {COLUMNS} FROM calls WHERE workspace_id = $1 AND id = $2");
        on_db!(self, pool => sqlx::query_as::<_, CallRow>(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(workspace).bind(id).fetch_optional(pool).await?)
        .map(Call::from)
        .ok_or(StoreError::NotFound)
    }

    /// `workspace`'s calls matching `f`, newest first, after `(created_at, id)`.
    pub async fn list_calls(
        &self,
        workspace: &str,
        f: &CallFilter,
        limit: u32,
        after: Option<(i64, String)>,
    ) -> StoreResult<Vec<Call>> {
        let (t, after_id) = after.unwrap_or((i64::MAX, String::new()));
        let mut args = vec![Arg::S(workspace), Arg::I(t), Arg::S(&after_id)];
        let mut sql = format!(
            "SELECT {COLUMNS} FROM calls WHERE workspace_id = $1 \
             AND (created_at < $2 OR (created_at = $2 AND id < $3))"
        );
        sql.push_str(&filter_sql(f, "", &mut args));
        args.push(Arg::I(i64::from(limit)));
        sql.push_str(&format!(
            " ORDER BY created_at DESC, id DESC LIMIT ${}",
            args.len()
        ));
        let rows = on_db!(self, pool => {
            bind_args!(sqlx::query_as::<_, CallRow>(sqlx::AssertSqlSafe(sql.as_str())), &args)
                .fetch_all(pool)
                .await?
        });
        Ok(rows.into_iter().map(Call::from).collect())
    }

    /// Aggregates over `workspace`'s calls matching `f`: calls, connected
    /// (answered), qualified (outcome `qualified`), and the mean duration of
    /// the connected ones (ms).
    pub async fn call_totals(&self, workspace: &str, f: &CallFilter) -> StoreResult<CallTotals> {
        let mut args = vec![Arg::S(workspace)];
        let sql = format!(
            "SELECT COUNT(*), \
             COALESCE(SUM(CASE WHEN answered_at IS NOT NULL THEN 1 ELSE 0 END), 0), \
             COALESCE(SUM(CASE WHEN outcome = 'qualified' THEN 1 ELSE 0 END), 0), \
             CAST(AVG(CASE WHEN answered_at IS NOT NULL THEN duration_ms END) AS DOUBLE PRECISION) \
             FROM calls WHERE workspace_id = $1{}",
            filter_sql(f, "", &mut args)
        );
        let (calls, connected, qualified, avg): (i64, i64, i64, Option<f64>) = on_db!(self, pool => {
            bind_args!(sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())), &args)
                .fetch_one(pool)
                .await?
        });
        Ok(CallTotals {
            calls,
            connected,
            qualified,
            avg_duration_ms: avg,
        })
    }

    /// Latency samples of `kind` over `workspace`'s calls matching `f`, sorted.
    pub async fn latency_samples(
        &self,
        workspace: &str,
        f: &CallFilter,
        kind: LatencyKind,
    ) -> StoreResult<Vec<u32>> {
        let mut args = vec![Arg::S(workspace), Arg::S(kind.as_str())];
        let sql = format!(
            "SELECT l.ms FROM call_latencies l JOIN calls c ON c.id = l.call_id \
             WHERE c.workspace_id = $1 AND l.kind = $2{} ORDER BY l.ms",
            filter_sql(f, "c.", &mut args)
        );
        let rows: Vec<i64> = on_db!(self, pool => {
            bind_args!(sqlx::query_scalar(sqlx::AssertSqlSafe(sql.as_str())), &args)
                .fetch_all(pool)
                .await?
        });
        Ok(rows
            .into_iter()
            .map(|ms| u32::try_from(ms).unwrap_or(u32::MAX))
            .collect())
    }

    /// The call's transcript in spoken order.
    pub async fn transcript(&self, call: &str) -> StoreResult<Vec<TranscriptLine>> {
        let sql = "SELECT speaker, text, start_ms, end_ms FROM call_segments WHERE call_id = $1 \
                   ORDER BY start_ms, end_ms, speaker";
        Ok(
            on_db!(self, pool => sqlx::query_as::<_, TranscriptLine>(sql)
            .bind(call).fetch_all(pool).await?),
        )
    }

    /// The call's tool calls in order.
    pub async fn tool_calls(&self, call: &str) -> StoreResult<Vec<ToolCallRow>> {
        let sql = "SELECT seq, name, arguments, output, failed FROM call_tools WHERE call_id = $1 \
                   ORDER BY seq";
        Ok(on_db!(self, pool => sqlx::query_as::<_, ToolCallRow>(sql)
            .bind(call).fetch_all(pool).await?))
    }

    /// The verdicts calls wrote to the lead, oldest first.
    pub async fn qualification_history(&self, lead: &str) -> StoreResult<Vec<Qualification>> {
        let sql = "SELECT call_id, verdict, created_at FROM lead_qualifications \
                   WHERE lead_id = $1 ORDER BY created_at, call_id";
        let rows: Vec<(String, String, i64)> = on_db!(self, pool => sqlx::query_as(sql)
            .bind(lead).fetch_all(pool).await?);
        Ok(rows
            .into_iter()
            .map(|(call_id, verdict, created_at)| Qualification {
                call_id,
                verdict: serde_json::from_str(&verdict).unwrap_or(Value::Null),
                created_at,
            })
            .collect())
    }

    /// Stores a final segment and appends its `transcript.segment` event in one
    /// transaction (a call with no row gets the segment without the event).
    async fn write_segment(&self, call: &str, seg: &Segment) -> StoreResult<()> {
        let sql = "INSERT INTO call_segments (call_id, item_id, speaker, text, start_ms, end_ms) \
                   VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING";
        let ev = NewEvent::new(
            "transcript.segment",
            json!({"call_id": call,
            "speaker": speaker(seg.speaker), "item_id": seg.item_id, "text": seg.text,
            "start_ms": seg.start_ms, "end_ms": seg.end_ms}),
            format!("segment:{}:{}", seg.item_id, speaker(seg.speaker)),
        );
        let appended = in_tx!(self, tx => {
            sqlx::query(sql)
                .bind(call).bind(&seg.item_id).bind(speaker(seg.speaker)).bind(&seg.text)
                .bind(seg.start_ms as i64).bind(seg.end_ms as i64)
                .execute(&mut *tx).await?;
            call_event!(tx, call, ev)
        });
        self.appended(appended);
        Ok(())
    }

    async fn write_tool(&self, call: &str, seq: u64, t: &ToolRecord) -> StoreResult<()> {
        let sql = "INSERT INTO call_tools (call_id, seq, name, arguments, output, failed) \
                   VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING";
        let ev = NewEvent::new(
            "agent.tool_call",
            json!({"call_id": call, "name": t.name,
            "arguments": serde_json::from_str::<Value>(&t.arguments)
                .unwrap_or_else(|_| Value::String(t.arguments.clone())),
            "result": result_summary(&t.output), "failed": t.failed}),
            format!("log:{seq}"),
        );
        let appended = in_tx!(self, tx => {
            sqlx::query(sql)
                .bind(call).bind(seq as i64).bind(&t.name).bind(&t.arguments).bind(&t.output)
                .bind(i64::from(t.failed))
                .execute(&mut *tx).await?;
            call_event!(tx, call, ev)
        });
        self.appended(appended);
        Ok(())
    }

    async fn write_verdict(&self, call: &str, seq: u64, v: &Verdict) -> StoreResult<()> {
        let text = json_text(v);
        let qualified = i64::from(v.qualified);
        let mut data = json!(v);
        data["call_id"] = json!(call);
        let ev = NewEvent::new("verdict", data, format!("log:{seq}"));
        let appended = in_tx!(self, tx => {
            sqlx::query("UPDATE calls SET verdict = $1, qualified = $2 WHERE id = $3")
                .bind(&text).bind(qualified).bind(call)
                .execute(&mut *tx).await?;
            sqlx::query(SET_OUTCOME).bind(call).execute(&mut *tx).await?;
            let history = "INSERT INTO lead_qualifications \
                (lead_id, call_id, qualified, score, verdict, created_at) \
                SELECT lead_id, id, $1, $2, $3, $4 FROM calls WHERE id = $5 AND lead_id IS NOT NULL \
                ON CONFLICT DO NOTHING";
            sqlx::query(history)
                .bind(qualified).bind(i64::from(v.score)).bind(&text).bind(now_ms()).bind(call)
                .execute(&mut *tx).await?;
            call_event!(tx, call, ev)
        });
        self.appended(appended);
        Ok(())
    }

    /// Stores an event that changes nothing else (a key press, a barge-in).
    async fn write_event(&self, call: &str, ev: NewEvent) -> StoreResult<()> {
        let appended = in_tx!(self, tx => call_event!(tx, call, ev));
        self.appended(appended);
        Ok(())
    }

    /// The agent's run of `call` is over: completes the call if its SIP leg
    /// has ended too (else the lifecycle writer completes it at the end).
    async fn write_run_done(&self, call: &str) -> StoreResult<()> {
        let appended = in_tx!(self, tx => {
            let ws: Option<(String, String)> = sqlx::query_as(
                "UPDATE calls SET run_done = 1 WHERE id = $1 RETURNING workspace_id, status")
                .bind(call).fetch_optional(&mut *tx).await?;
            match ws {
                Some((ws, status)) if status == "ended" => complete!(tx, &ws, call),
                _ => 0,
            }
        });
        self.appended(appended);
        Ok(())
    }

    async fn write_summary(&self, call: &str, summary: &str) -> StoreResult<()> {
        let sql = "UPDATE calls SET summary = $1 WHERE id = $2";
        on_db!(self, pool => sqlx::query(sql).bind(summary).bind(call)
            .execute(pool).await?.rows_affected());
        Ok(())
    }

    async fn write_latency(
        &self,
        call: &str,
        seq: u64,
        kind: LatencyKind,
        ms: u32,
    ) -> StoreResult<()> {
        let sql = "INSERT INTO call_latencies (call_id, seq, kind, ms) VALUES ($1, $2, $3, $4) \
                   ON CONFLICT DO NOTHING";
        on_db!(self, pool => sqlx::query(sql)
            .bind(call).bind(seq as i64).bind(kind.as_str()).bind(i64::from(ms))
            .execute(pool).await?.rows_affected());
        Ok(())
    }

    async fn write_usage(&self, call: &str, u: &CallUsage) -> StoreResult<()> {
        let text = serde_json::json!(Usage::from(u)).to_string();
        let sql = "INSERT INTO call_usage (call_id, usage) VALUES ($1, $2) \
                   ON CONFLICT (call_id) DO UPDATE SET usage = excluded.usage";
        on_db!(self, pool => sqlx::query(sql).bind(call).bind(&text)
            .execute(pool).await?.rows_affected());
        Ok(())
    }

    /// The call's latency samples, by kind, in the order measured.
    pub async fn latencies(&self, call: &str) -> StoreResult<Vec<(String, u32)>> {
        let sql = "SELECT kind, ms FROM call_latencies WHERE call_id = $1 ORDER BY seq";
        let rows: Vec<(String, i64)> = on_db!(self, pool => sqlx::query_as(sql)
            .bind(call).fetch_all(pool).await?);
        Ok(rows
            .into_iter()
            .map(|(k, ms)| (k, u32::try_from(ms).unwrap_or(u32::MAX)))
            .collect())
    }

    /// What the call used (tokens, audio seconds), once the service reported.
    pub async fn usage(&self, call: &str) -> StoreResult<Option<Usage>> {
        let sql = "SELECT usage FROM call_usage WHERE call_id = $1";
        let text: Option<String> = on_db!(self, pool => sqlx::query_scalar(sql)
            .bind(call).fetch_optional(pool).await?);
        Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
    }

    async fn read_cursor(&self, call: &str, reader: &str) -> StoreResult<u64> {
        let sql = "SELECT cursor FROM call_cursors WHERE call_id = $1 AND reader = $2";
        let n: Option<i64> = on_db!(self, pool => sqlx::query_scalar(sql)
            .bind(call).bind(reader).fetch_optional(pool).await?);
        Ok(n.unwrap_or(0).max(0) as u64)
    }

    async fn write_cursor(&self, call: &str, reader: &str, cursor: u64) -> StoreResult<()> {
        let sql = "INSERT INTO call_cursors (call_id, reader, cursor) VALUES ($1, $2, $3) \
                   ON CONFLICT (call_id, reader) DO UPDATE SET cursor = excluded.cursor";
        on_db!(self, pool => sqlx::query(sql).bind(call).bind(reader).bind(cursor as i64)
            .execute(pool).await?.rows_affected());
        Ok(())
    }
}

/// At most 200 characters of a tool's output, for the live `agent.tool_call` event
/// (the whole output stays with the call's tool calls).
fn result_summary(output: &str) -> String {
    const MAX: usize = 200;
    if output.len() <= MAX {
        return output.to_owned();
    }
    let mut end = MAX;
    while !output.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &output[..end])
}

/// A bound query argument.
enum Arg<'a> {
    S(&'a str),
    I(i64),
}

/// ` AND …` conditions for `f` (columns prefixed with `prefix`), binding into
/// `args` (placeholders continue from `args.len()`).
fn filter_sql<'a>(f: &'a CallFilter, prefix: &str, args: &mut Vec<Arg<'a>>) -> String {
    let mut sql = String::new();
    let text = [
        ("lead_id", &f.lead_id),
        ("agent_id", &f.agent_id),
        ("batch_id", &f.batch_id),
        ("direction", &f.direction),
        ("outcome", &f.outcome),
        ("status", &f.status),
    ];
    for (col, v) in text {
        if let Some(v) = v {
            args.push(Arg::S(v));
            sql.push_str(&format!(" AND {prefix}{col} = ${}", args.len()));
        }
    }
    for (cmp, v) in [(">=", f.from_ms), ("<", f.to_ms)] {
        if let Some(v) = v {
            args.push(Arg::I(v));
            sql.push_str(&format!(" AND {prefix}created_at {cmp} ${}", args.len()));
        }
    }
    sql
}

/// Totals over a set of calls.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CallTotals {
    /// Calls (attempts).
    pub calls: i64,
    /// Answered.
    pub connected: i64,
    /// Outcome `qualified`.
    pub qualified: i64,
    /// Mean duration of the answered ones, ms.
    pub avg_duration_ms: Option<f64>,
}

/// The call tree's [`CallStore`] on the database.
#[derive(Debug, Clone)]
pub struct DbCalls(pub Store);

/// Runs a store operation as the call tree's [`StoreFuture`].
fn db<'a, T: Send + 'a>(
    op: impl std::future::Future<Output = StoreResult<T>> + Send + 'a,
) -> StoreFuture<'a, T> {
    Box::pin(async move { op.await.map_err(|e| StoreFailure(e.to_string())) })
}

impl CallStore for DbCalls {
    fn segment(&self, call: CallId, seg: Segment) -> StoreFuture<'_> {
        db(async move { self.0.write_segment(&call_key(call), &seg).await })
    }
    fn tool_call(&self, call: CallId, seq: u64, tool: ToolRecord) -> StoreFuture<'_> {
        db(async move { self.0.write_tool(&call_key(call), seq, &tool).await })
    }
    fn verdict(&self, call: CallId, seq: u64, verdict: Verdict) -> StoreFuture<'_> {
        db(async move { self.0.write_verdict(&call_key(call), seq, &verdict).await })
    }
    fn dtmf(&self, call: CallId, seq: u64, digit: char) -> StoreFuture<'_> {
        let key = call_key(call);
        let ev = NewEvent::new(
            "dtmf",
            json!({"call_id": key, "digit": digit.to_string()}),
            format!("log:{seq}"),
        );
        db(async move { self.0.write_event(&key, ev).await })
    }
    fn barge_in(&self, call: CallId, seq: u64, item_id: String, played_ms: u32) -> StoreFuture<'_> {
        let key = call_key(call);
        let ev = NewEvent::new(
            "barge_in",
            json!({"call_id": key, "item_id": item_id,
            "played_ms": played_ms}),
            format!("log:{seq}"),
        );
        db(async move { self.0.write_event(&key, ev).await })
    }
    fn delta(&self, call: CallId, speaker_: Speaker, item_id: String, delta: String) {
        if !self.0.hub.has_live_followers() {
            return;
        }
        let key = call_key(call);
        self.0.hub.live(LiveEvent {
            kind: "transcript.delta",
            data: json!({"call_id": key, "speaker": speaker(speaker_), "item_id": item_id,
                "delta": delta}),
            call_id: key,
        });
    }
    fn run_done(&self, call: CallId) -> StoreFuture<'_> {
        db(async move { self.0.write_run_done(&call_key(call)).await })
    }
    fn summary(&self, call: CallId, summary: String) -> StoreFuture<'_> {
        db(async move { self.0.write_summary(&call_key(call), &summary).await })
    }
    fn latency(&self, call: CallId, seq: u64, kind: LatencyKind, ms: u32) -> StoreFuture<'_> {
        db(async move { self.0.write_latency(&call_key(call), seq, kind, ms).await })
    }
    fn usage(&self, call: CallId, usage: CallUsage) -> StoreFuture<'_> {
        db(async move { self.0.write_usage(&call_key(call), &usage).await })
    }
    fn cursor(&self, call: CallId, reader: &'static str) -> StoreFuture<'_, u64> {
        db(async move { self.0.read_cursor(&call_key(call), reader).await })
    }
    fn set_cursor(&self, call: CallId, reader: &'static str, cursor: u64) -> StoreFuture<'_> {
        db(async move { self.0.write_cursor(&call_key(call), reader, cursor).await })
    }
}
