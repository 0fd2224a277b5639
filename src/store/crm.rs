//! Completing a call: once the SIP leg has ended and the agent's run is over
//! (verdict and summary written), or at the end of a call that was never
//! answered, the call is complete. In one transaction:
//! - the outcome, verdict and summary are written back to the lead's record in
//!   the embedded CRM: an attempt in its history (once per call), its status,
//!   and its latest verdict;
//! - `agent.run.completed` is appended (the SSE stream's last event, and the
//!   webhook with the verdict).
//!
//! Completion happens once per call (`calls.completed_at`; the event's source
//! is unique), so a replayed write-back never duplicates anything; an older
//! conversation completing late does not overwrite a newer one's status and
//! verdict, and an unanswered attempt never holds back a conversation's.

use serde::Serialize;
use serde_json::{Value, json};

use super::{Store, StoreResult, on_db};

/// A lead's status after a call, from what the call established.
///
/// - answered by a person: `meeting_booked` when the call booked a meeting,
///   else `qualified` / `unqualified` by the verdict, else `follow_up` (the
///   conversation ended without a verdict);
/// - not answered (no answer, busy, failed, voicemail): `unreachable`; this
///   only replaces `new` or `unreachable`, so a failed retry does not erase
///   what an earlier conversation established.
pub fn lead_status(
    answered: bool,
    outcome: Option<&str>,
    verdict: Option<&Value>,
    meeting: bool,
) -> &'static str {
    if !answered || outcome == Some("voicemail") {
        return "unreachable";
    }
    if meeting {
        return "meeting_booked";
    }
    match verdict.and_then(|v| v["qualified"].as_bool()) {
        Some(true) => "qualified",
        Some(false) => "unqualified",
        None => "follow_up",
    }
}

/// One call attempt on a lead.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Attempt {
    /// The call.
    pub call_id: String,
    /// The call's outcome.
    pub outcome: String,
    /// 1 qualified, 0 not, absent without a verdict.
    pub qualified: Option<i64>,
    /// The verdict's score.
    pub score: Option<i64>,
    /// 1 when the call booked a meeting.
    pub meeting_booked: i64,
    /// The call's summary.
    pub summary: Option<String>,
    /// When the call was created (Unix ms).
    pub created_at: i64,
}

#[derive(sqlx::FromRow)]
pub(crate) struct Completing {
    pub(crate) lead_id: Option<String>,
    pub(crate) batch_id: Option<String>,
    pub(crate) outcome: Option<String>,
    pub(crate) answered_at: Option<i64>,
    pub(crate) duration_ms: Option<i64>,
    pub(crate) summary: Option<String>,
    pub(crate) verdict: Option<String>,
    pub(crate) qualified: Option<i64>,
    pub(crate) created_at: i64,
    pub(crate) completed_at: Option<i64>,
    pub(crate) hangup_cause: Option<String>,
    /// 1 when the call has a recording.
    pub(crate) recording: i64,
}

pub(crate) const COMPLETING: &str = "SELECT lead_id, batch_id, outcome, answered_at, duration_ms, \
    summary, verdict, qualified, created_at, completed_at, hangup_cause, \
    CAST(CASE WHEN recording_state = 'ready' THEN 1 ELSE 0 END AS BIGINT) AS recording \
    FROM calls WHERE id = $1";

/// What completion writes, computed from the call's row and its booking.
pub(crate) struct Completion {
    pub(crate) status: &'static str,
    pub(crate) sticky: bool,
    pub(crate) latest: Option<String>,
    pub(crate) score: Option<i64>,
    pub(crate) meeting: bool,
    pub(crate) event: Value,
}

impl Completion {
    pub(crate) fn of(id: &str, c: &Completing, meeting_start: Option<i64>) -> Completion {
        let verdict: Option<Value> = c
            .verdict
            .as_deref()
            .and_then(|v| serde_json::from_str(v).ok());
        let meeting = meeting_start.is_some();
        let answered = c.answered_at.is_some();
        let status = lead_status(answered, c.outcome.as_deref(), verdict.as_ref(), meeting);
        let meeting_at = meeting_start.and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok());
        let latest = verdict.as_ref().map(|v| {
            json!({
                "call_id": id,
                "outcome": c.outcome,
                "verdict": v,
                "summary": c.summary,
                "meeting_booked": meeting,
                "meeting_start": meeting_at,
            })
            .to_string()
        });
        let event = json!({
            "call_id": id,
            "lead_id": c.lead_id,
            "batch_id": c.batch_id,
            "outcome": c.outcome,
            "duration_ms": c.duration_ms,
            "qualified": verdict.as_ref().and_then(|v| v["qualified"].as_bool()),
            "verdict": verdict,
            "summary": c.summary,
            "meeting_booked": meeting,
            "meeting_start": meeting_at,
            // The lead's status after the write-back (set by `complete!`).
            "lead_status": Value::Null,
            "call_url": format!("/api/v1/voice/calls/{id}"),
            "transcript_url": format!("/api/v1/voice/calls/{id}/transcript"),
            "recording_url": (c.recording == 1).then(|| format!("/api/v1/voice/calls/{id}/recording")),
        });
        Completion {
            status,
            sticky: status == "unreachable",
            latest,
            score: verdict.as_ref().and_then(|v| v["score"].as_i64()),
            meeting,
            event,
        }
    }
}

/// Completes call `$call` of workspace `$ws` inside transaction `$tx` (see the
/// module doc); evaluates to the number of events appended (0 when the call was
/// already complete).
macro_rules! complete {
    ($tx:ident, $ws:expr, $call:expr) => {{
        use $crate::store::crm::{COMPLETING, Completing, Completion};
        let row: Option<Completing> = sqlx::query_as(COMPLETING)
            .bind($call)
            .fetch_optional(&mut *$tx)
            .await?;
        match row {
            Some(c) if c.completed_at.is_none() => {
                let now = $crate::store::now_ms();
                sqlx::query("UPDATE calls SET completed_at = $1 WHERE id = $2")
                    .bind(now)
                    .bind($call)
                    .execute(&mut *$tx)
                    .await?;
                let meeting: Option<i64> = sqlx::query_scalar(
                    "SELECT start_ms FROM bookings WHERE call_id = $1 AND status = 'confirmed' \
                     ORDER BY start_ms LIMIT 1",
                )
                .bind($call)
                .fetch_optional(&mut *$tx)
                .await?;
                let mut done = Completion::of($call, &c, meeting);
                if let Some(lead) = &c.lead_id {
                    sqlx::query(
                        "INSERT INTO lead_attempts (lead_id, call_id, outcome, qualified, score, \
                         meeting_booked, summary, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
                    )
                    .bind(lead)
                    .bind($call)
                    .bind(c.outcome.as_deref().unwrap_or("failed"))
                    .bind(c.qualified)
                    .bind(done.score)
                    .bind(i64::from(done.meeting))
                    .bind(&c.summary)
                    .bind(c.created_at)
                    .execute(&mut *$tx)
                    .await?;
                    // `last_call_at` is the newest conversation written back: an
                    // older conversation completing late changes nothing, and an
                    // unanswered attempt only turns `new` into `unreachable`
                    // (it never holds back a conversation's verdict).
                    sqlx::query(
                        "UPDATE leads SET \
                         status = CASE \
                             WHEN $1 = 1 THEN CASE WHEN status IN ('new', 'unreachable') \
                                 THEN $2 ELSE status END \
                             WHEN last_call_at IS NULL OR last_call_at <= $4 THEN $2 \
                             ELSE status END, \
                         latest_verdict = CASE \
                             WHEN $1 = 0 AND (last_call_at IS NULL OR last_call_at <= $4) \
                             THEN COALESCE($3, latest_verdict) ELSE latest_verdict END, \
                         last_call_at = CASE \
                             WHEN $1 = 0 AND (last_call_at IS NULL OR last_call_at <= $4) \
                             THEN $4 ELSE last_call_at END, \
                         updated_at = $5 \
                         WHERE id = $6",
                    )
                    .bind(i64::from(done.sticky))
                    .bind(done.status)
                    .bind(&done.latest)
                    .bind(c.created_at)
                    .bind(now)
                    .bind(lead)
                    .execute(&mut *$tx)
                    .await?;
                    // What the lead's status is now (an unanswered retry keeps
                    // what a conversation established).
                    let now_status: Option<String> =
                        sqlx::query_scalar("SELECT status FROM leads WHERE id = $1")
                            .bind(lead)
                            .fetch_optional(&mut *$tx)
                            .await?;
                    done.event["lead_status"] = serde_json::json!(now_status);
                }
                let ev = $crate::store::events::NewEvent::new(
                    $crate::store::events::FINAL,
                    done.event,
                    "completed".to_owned(),
                );
                let n = $crate::store::events::append_events!($tx, $ws, $call, [ev]);
                // A campaign's lead settles with its call (batch.completed after
                // the last call's agent.run.completed).
                n + if c.batch_id.is_some() {
                    $crate::store::batches::settle_item!(
                        $tx,
                        $ws,
                        $call,
                        c.outcome.as_deref().unwrap_or("failed"),
                        c.answered_at.is_some(),
                        c.hangup_cause.as_deref()
                    )
                } else {
                    0
                }
            }
            _ => 0u32,
        }
    }};
}
pub(crate) use complete;

impl Store {
    /// Every call attempt on `lead`, oldest first.
    pub async fn lead_attempts(&self, lead: &str) -> StoreResult<Vec<Attempt>> {
        let sql = "SELECT call_id, outcome, qualified, score, meeting_booked, summary, created_at \
                   FROM lead_attempts WHERE lead_id = $1 ORDER BY created_at, call_id";
        Ok(on_db!(self, pool => sqlx::query_as::<_, Attempt>(sql)
            .bind(lead).fetch_all(pool).await?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lead_status_follows_what_the_call_established() {
        let yes = json!({"qualified": true, "score": 80});
        let no = json!({"qualified": false, "score": 10});
        assert_eq!(
            lead_status(true, Some("qualified"), Some(&yes), true),
            "meeting_booked"
        );
        assert_eq!(
            lead_status(true, Some("qualified"), Some(&yes), false),
            "qualified"
        );
        assert_eq!(
            lead_status(true, Some("unqualified"), Some(&no), false),
            "unqualified"
        );
        assert_eq!(
            lead_status(true, Some("unqualified"), None, false),
            "follow_up"
        );
        assert_eq!(
            lead_status(true, Some("voicemail"), None, false),
            "unreachable"
        );
        assert_eq!(
            lead_status(false, Some("no-answer"), None, false),
            "unreachable"
        );
        assert_eq!(
            lead_status(false, Some("busy"), Some(&yes), true),
            "unreachable"
        );
    }
}
