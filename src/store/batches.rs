//! Outbound campaigns: a batch of leads, one agent and objective, dialed by the
//! durable dialer.
//!
//! The queue is `batch_items`, one row per lead:
//! - `queued` until its `next_at` (a retry's backoff, the next opening of the
//!   lead's calling window);
//! - `dialing` once a dialer node claimed it: the claim reserves the call id,
//!   counts the attempt and takes a lease the node renews while the call lives;
//! - `done` (final `outcome`) or `canceled`.
//!
//! Claims run in one transaction per batch: the batch row is locked (`FOR
//! UPDATE SKIP LOCKED` on Postgres, so another node skips it; SQLite's writer
//! lock serializes), then the trunk row, so concurrency and calls per second
//! hold per batch and per trunk across every node, and no lead is claimed twice.
//! An item settles in the transaction that completes its call (see
//! [`crm`](super::crm)): the outcome is final, or retried after the backoff when
//! the policy says so. A node that died leaves leases that expire; any node then
//! settles those calls ([`Store::settle_expired`]).

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::events::{NewEvent, append_events, in_tx};
use super::{
    Backend, Store, StoreError, StoreResult, dial_problem, is_e164, new_id, now_ms, on_db, page_sql,
};

/// Outcomes a batch retries (`retry.on`).
pub const RETRIABLE: &[&str] = &["no-answer", "busy", "failed", "voicemail"];
/// Most leads in one batch.
pub const MAX_BATCH_LEADS: usize = 5000;
/// Built-in objective templates, used when the agent has no template of that
/// name: (name, instructions, verdict fields `submit_qualification` must fill).
pub const OBJECTIVE_TEMPLATES: &[(&str, &str, &[&str])] = &[
    (
        "qualify_for_demo",
        "Find out whether the lead is a fit for a product demo. Ask about their budget, who \
         decides (authority), the problem they need solved (need) and when they want it \
         solved (timeline). Record budget, authority, need and timeline in \
         submit_qualification, with quotes of what they said. If they qualify, offer a \
         demo and book it with book_meeting.",
        &["budget", "authority", "need", "timeline"],
    ),
    (
        "book_meeting",
        "The lead showed interest before. Confirm they are still interested and book a \
         meeting with book_meeting at a time that suits them. Record the verdict with \
         submit_qualification (qualified when a meeting was booked).",
        &["timeline"],
    ),
    (
        "reengage",
        "The lead went quiet. Find out whether their need still exists and what changed. \
         Record the verdict with submit_qualification and the next step they agreed to.",
        &["need", "timeline"],
    ),
];

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn default_max_attempts() -> u32 {
    3
}
fn default_retry_on() -> Vec<String> {
    ["no-answer", "busy", "failed"].map(String::from).to_vec()
}
fn default_backoff() -> f64 {
    60.0
}
fn default_start() -> String {
    "09:00".to_owned()
}
fn default_end() -> String {
    "20:00".to_owned()
}
fn default_days() -> Vec<String> {
    DAYS[..5].iter().map(|d| (*d).to_owned()).collect()
}
fn yes() -> bool {
    true
}

/// When to dial a lead again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryPolicy {
    /// Most calls per lead, first included (1 to 10; default 3).
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// Outcomes that are retried: `no-answer`, `busy`, `failed`, `voicemail`
    /// (default: the first three).
    #[serde(default = "default_retry_on")]
    pub on: Vec<String>,
    /// Minutes between a retriable outcome and the next call (fractions allowed;
    /// default 60, at most a week).
    #[serde(default = "default_backoff")]
    pub backoff_minutes: f64,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            max_attempts: default_max_attempts(),
            on: default_retry_on(),
            backoff_minutes: default_backoff(),
        }
    }
}

/// When leads may be called, in their local time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CallWindow {
    /// Opening, `HH:MM` (default `09:00`).
    #[serde(default = "default_start")]
    pub start: String,
    /// Closing, `HH:MM`, after the opening (default `20:00`).
    #[serde(default = "default_end")]
    pub end: String,
    /// Days: `mon` … `sun` (default Monday to Friday).
    #[serde(default = "default_days")]
    pub days: Vec<String>,
    /// Use each lead's time zone: the lead record's, else inferred from the
    /// number's country code (default true).
    #[serde(default = "yes")]
    pub respect_lead_timezone: bool,
    /// The zone used when the lead's is not respected or not known (IANA,
    /// default `UTC`).
    #[serde(default)]
    pub timezone: Option<String>,
}

impl Default for CallWindow {
    fn default() -> CallWindow {
        CallWindow {
            start: default_start(),
            end: default_end(),
            days: default_days(),
            respect_lead_timezone: true,
            timezone: None,
        }
    }
}

/// A batch to start.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewBatch {
    /// The leads to call (1 to 5000), in order.
    pub lead_ids: Vec<String>,
    /// An objective template's name (the agent's, or built in:
    /// `qualify_for_demo`, `book_meeting`, `reengage`) or free text.
    pub objective: String,
    /// The agent.
    pub agent_id: String,
    /// Calendar for `book_meeting`.
    #[serde(default)]
    pub calendar_connector_id: Option<String>,
    /// Trunk to dial through (default: the workspace's oldest trunk with an
    /// outbound destination).
    #[serde(default)]
    pub trunk_id: Option<String>,
    /// Caller id to present (E.164; default: the workspace's, else the trunk's).
    #[serde(default)]
    pub caller_id: Option<String>,
    /// Most calls at once for this batch (1 to 100; default 5).
    #[serde(default)]
    pub concurrency: Option<u32>,
    /// Most new calls per second for this batch (0.01 to 100; default 1).
    #[serde(default)]
    pub calls_per_second: Option<f64>,
    /// Seconds a call rings before it counts as `no-answer` (5 to 120; default 30).
    #[serde(default)]
    pub ring_timeout_s: Option<u32>,
    /// Retries by outcome.
    #[serde(default)]
    pub retry: Option<RetryPolicy>,
    /// Calling window. Left out: calls go out at any time; given, its fields
    /// default to 09:00 to 20:00, Monday to Friday, in each lead's time zone.
    #[serde(default)]
    pub window: Option<CallWindow>,
}

/// A lead the batch does not call, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Rejection {
    /// The id as given.
    pub lead_id: String,
    /// `not_found`, `invalid_phone` (the number cannot be dialed: not E.164,
    /// no assigned country code, or not a valid +1 number), `duplicate` (the
    /// id was listed before), `duplicate_phone` (an earlier lead has the same number) or
    /// `in_active_batch` (another batch still has it to call).
    pub reason: String,
    /// In words.
    pub message: String,
}

/// The answer to starting a batch.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct BatchCreated {
    /// The batch (`batch_…`).
    pub call_batch_id: String,
    /// Leads queued.
    pub queued: u32,
    /// Leads not queued, with the reason.
    pub rejected: Vec<Rejection>,
    /// The batch's status now.
    pub status: String,
}

/// How far a batch is.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Progress {
    /// Leads in the batch.
    pub total: u32,
    /// Waiting for their first or next call.
    pub queued: u32,
    /// Of those, waiting for their calling window to open.
    pub waiting_for_window: u32,
    /// Being called now.
    pub dialing: u32,
    /// Finished (a final outcome, or canceled).
    pub done: u32,
    /// Calls placed so far.
    pub attempts: u32,
    /// Finished share, 0 to 1.
    pub fraction: f64,
}

/// A batch.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Batch {
    /// `batch_…`.
    pub id: String,
    /// `queued`, `running`, `paused`, `completed` or `canceled`.
    pub status: String,
    /// The agent.
    pub agent_id: String,
    /// The objective as given.
    pub objective: String,
    /// Calendar.
    pub calendar_connector_id: Option<String>,
    /// Trunk.
    pub trunk_id: String,
    /// Caller id.
    pub caller_id: Option<String>,
    /// Most calls at once.
    pub concurrency: u32,
    /// Most new calls per second.
    pub calls_per_second: f64,
    /// Ring timeout.
    pub ring_timeout_s: u32,
    /// Retry policy.
    pub retry: RetryPolicy,
    /// Calling window (`null`: any time).
    pub window: Option<CallWindow>,
    /// Final outcomes so far: `qualified`, `unqualified`, `no-answer`, `busy`,
    /// `voicemail`, `failed`, `dnc`, `canceled` → count.
    #[schema(value_type = Object)]
    pub counts: BTreeMap<String, u32>,
    /// Progress.
    pub progress: Progress,
    /// Leads not queued at creation.
    pub rejected: Vec<Rejection>,
    /// Created (Unix ms).
    pub created_at: i64,
    /// Last change (Unix ms).
    pub updated_at: i64,
    /// When it completed or was canceled with no call left (Unix ms).
    pub completed_at: Option<i64>,
}

/// One lead's result in a batch.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct LeadResult {
    /// The lead.
    pub lead_id: String,
    /// The lead's name.
    pub name: String,
    /// The number dialed.
    pub phone: String,
    /// `queued`, `dialing`, `done` or `canceled`.
    pub state: String,
    /// Why a queued lead waits: `window` (its calling window is closed),
    /// `retry` (backoff after a retriable outcome), `capacity` (the trunk was full).
    pub waiting: Option<String>,
    /// When it is called next (queued; Unix ms).
    pub next_attempt_at: Option<i64>,
    /// Calls placed.
    pub attempts: u32,
    /// The final outcome (done), else the last attempt's.
    pub outcome: Option<String>,
    /// The verdict's `qualified`.
    pub qualified: Option<bool>,
    /// The verdict's score.
    pub score: Option<i64>,
    /// The conversation's summary.
    pub summary: Option<String>,
    /// Whether a meeting was booked.
    pub meeting_booked: bool,
    /// The meeting's start (RFC 3339).
    pub meeting_start: Option<String>,
    /// Every call of this lead in the batch, oldest first.
    pub call_ids: Vec<String>,
}

/// A lead claimed for a call.
#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    /// The workspace.
    pub workspace: String,
    /// The batch.
    pub batch_id: String,
    /// The lead.
    pub lead_id: String,
    /// The number.
    pub phone: String,
    /// The call id reserved for it.
    pub call_id: String,
    /// Which attempt this is (1-based).
    pub attempt: u32,
    /// The batch's agent.
    pub agent_id: String,
    /// Objective.
    pub objective: String,
    /// Calendar.
    pub calendar_id: Option<String>,
    /// Trunk.
    pub trunk_id: String,
    /// Caller id.
    pub caller_id: Option<String>,
    /// Ring timeout.
    pub ring_timeout_s: u32,
    /// When it was claimed (Unix ms).
    pub claimed_at: i64,
}

#[derive(sqlx::FromRow)]
struct BatchRow {
    id: String,
    workspace_id: String,
    status: String,
    agent_id: String,
    objective: String,
    calendar_id: Option<String>,
    trunk_id: String,
    caller_id: Option<String>,
    concurrency: i64,
    dial_interval_ms: i64,
    ring_timeout_s: i64,
    retry: String,
    call_window: Option<String>,
    request: String,
    rejected: String,
    created_at: i64,
    updated_at: i64,
    completed_at: Option<i64>,
}

const BATCH_COLUMNS: &str = "id, workspace_id, status, agent_id, objective, calendar_id, \
    trunk_id, caller_id, concurrency, dial_interval_ms, ring_timeout_s, retry, call_window, \
    request, rejected, created_at, updated_at, completed_at";

impl BatchRow {
    fn retry(&self) -> RetryPolicy {
        serde_json::from_str(&self.retry).unwrap_or_default()
    }

    fn window(&self) -> Option<CallWindow> {
        self.call_window
            .as_deref()
            .and_then(|w| serde_json::from_str(w).ok())
    }

    fn batch(self, counts: BTreeMap<String, u32>, progress: Progress) -> Batch {
        Batch {
            retry: self.retry(),
            window: self.window(),
            rejected: serde_json::from_str(&self.rejected).unwrap_or_default(),
            calls_per_second: 1000.0 / self.dial_interval_ms.max(1) as f64,
            id: self.id,
            status: self.status,
            agent_id: self.agent_id,
            objective: self.objective,
            calendar_connector_id: self.calendar_id,
            trunk_id: self.trunk_id,
            caller_id: self.caller_id,
            concurrency: u32::try_from(self.concurrency).unwrap_or(0),
            ring_timeout_s: u32::try_from(self.ring_timeout_s).unwrap_or(30),
            counts,
            progress,
            created_at: self.created_at,
            updated_at: self.updated_at,
            completed_at: self.completed_at,
        }
    }
}

fn minutes_of(hhmm: &str) -> Option<i32> {
    let (h, m) = hhmm.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    ((0..=24).contains(&h) && (0..60).contains(&m) && h * 60 + m <= 24 * 60).then_some(h * 60 + m)
}

impl CallWindow {
    fn validate(&self) -> StoreResult<()> {
        let (Some(start), Some(end)) = (minutes_of(&self.start), minutes_of(&self.end)) else {
            return Err(StoreError::invalid(
                "window",
                "start and end are HH:MM (00:00 to 24:00)",
            ));
        };
        if start >= end {
            return Err(StoreError::invalid("window", "end must come after start"));
        }
        if self.days.is_empty() || self.days.iter().any(|d| !DAYS.contains(&d.as_str())) {
            return Err(StoreError::invalid(
                "window",
                "days are one or more of mon, tue, wed, thu, fri, sat, sun",
            ));
        }
        if let Some(tz) = &self.timezone
            && jiff::tz::TimeZone::get(tz).is_err()
        {
            return Err(StoreError::invalid(
                "window",
                "timezone is not a known IANA time zone",
            ));
        }
        Ok(())
    }

    /// The zone a lead is called in: its own (record, else inferred from the
    /// number) when respected, else the window's.
    pub fn zone_for(&self, lead_tz: Option<&str>, phone: &str) -> jiff::tz::TimeZone {
        let own = self
            .respect_lead_timezone
            .then(|| lead_tz.or_else(|| infer_timezone(phone)))
            .flatten();
        own.or(self.timezone.as_deref())
            .and_then(|tz| jiff::tz::TimeZone::get(tz).ok())
            .unwrap_or(jiff::tz::TimeZone::UTC)
    }

    /// `None` when `now` (Unix ms) is inside the window in `tz`, else when it
    /// next opens (Unix ms).
    pub fn next_opening(&self, tz: &jiff::tz::TimeZone, now: i64) -> Option<i64> {
        let (start, end) = (minutes_of(&self.start)?, minutes_of(&self.end)?);
        let ts = jiff::Timestamp::from_millisecond(now).ok()?;
        let local = ts.to_zoned(tz.clone());
        let day_ok = |d: jiff::civil::Weekday| {
            self.days
                .iter()
                .any(|x| x.as_str() == DAYS[d.to_monday_zero_offset() as usize])
        };
        let minute = i32::from(local.hour()) * 60 + i32::from(local.minute());
        if day_ok(local.weekday()) && minute >= start && minute < end {
            return None;
        }
        let date = local.date();
        (0..=8).find_map(|ahead| {
            let d = date.checked_add(jiff::Span::new().days(ahead)).ok()?;
            if !day_ok(d.weekday()) {
                return None;
            }
            let open = d
                .to_datetime(
                    jiff::civil::Time::new((start / 60) as i8, (start % 60) as i8, 0, 0).ok()?,
                )
                .to_zoned(tz.clone())
                .ok()?
                .timestamp()
                .as_millisecond();
            (open > now).then_some(open)
        })
    }
}

/// A representative IANA zone for a number's country calling code (the most
/// populous zone where a country has several; for +1 by area code where it is
/// west of the Eastern zone).
pub fn infer_timezone(phone: &str) -> Option<&'static str> {
    let digits = phone.strip_prefix('+')?;
    if let Some(rest) = digits.strip_prefix('1') {
        let area = rest.get(..3)?;
        const PACIFIC: &[&str] = &[
            "206", "209", "213", "253", "310", "323", "360", "408", "415", "424", "425", "503",
            "510", "530", "541", "559", "562", "619", "626", "628", "650", "657", "661", "669",
            "702", "707", "714", "725", "747", "760", "775", "805", "818", "831", "858", "909",
            "916", "925", "949", "951", "971",
        ];
        const MOUNTAIN: &[&str] = &[
            "303", "307", "385", "406", "435", "505", "575", "719", "720", "801", "970", "208",
        ];
        const ARIZONA: &[&str] = &["480", "520", "602", "623", "928"];
        const CENTRAL: &[&str] = &[
            "205", "210", "214", "217", "218", "224", "225", "251", "254", "262", "281", "309",
            "312", "314", "316", "318", "319", "320", "331", "337", "346", "361", "402", "405",
            "409", "414", "417", "430", "432", "469", "479", "501", "504", "507", "512", "515",
            "563", "573", "580", "601", "608", "612", "615", "618", "629", "630", "636", "641",
            "651", "662", "682", "708", "712", "713", "715", "737", "763", "773", "779", "785",
            "806", "815", "816", "817", "830", "832", "847", "870", "872", "901", "903", "913",
            "915", "918", "920", "931", "936", "940", "952", "956", "972", "979",
        ];
        return Some(if PACIFIC.contains(&area) {
            "America/Los_Angeles"
        } else if ARIZONA.contains(&area) {
            "America/Phoenix"
        } else if MOUNTAIN.contains(&area) {
            "America/Denver"
        } else if CENTRAL.contains(&area) {
            "America/Chicago"
        } else if area == "808" {
            "Pacific/Honolulu"
        } else if area == "907" {
            "America/Anchorage"
        } else {
            "America/New_York"
        });
    }
    const CODES: &[(&str, &str)] = &[
        ("7", "Europe/Moscow"),
        ("20", "Africa/Cairo"),
        ("27", "Africa/Johannesburg"),
        ("30", "Europe/Athens"),
        ("31", "Europe/Amsterdam"),
        ("32", "Europe/Brussels"),
        ("33", "Europe/Paris"),
        ("34", "Europe/Madrid"),
        ("36", "Europe/Budapest"),
        ("39", "Europe/Rome"),
        ("40", "Europe/Bucharest"),
        ("41", "Europe/Zurich"),
        ("43", "Europe/Vienna"),
        ("44", "Europe/London"),
        ("45", "Europe/Copenhagen"),
        ("46", "Europe/Stockholm"),
        ("47", "Europe/Oslo"),
        ("48", "Europe/Warsaw"),
        ("49", "Europe/Berlin"),
        ("51", "America/Lima"),
        ("52", "America/Mexico_City"),
        ("54", "America/Argentina/Buenos_Aires"),
        ("55", "America/Sao_Paulo"),
        ("56", "America/Santiago"),
        ("57", "America/Bogota"),
        ("60", "Asia/Kuala_Lumpur"),
        ("61", "Australia/Sydney"),
        ("62", "Asia/Jakarta"),
        ("63", "Asia/Manila"),
        ("64", "Pacific/Auckland"),
        ("65", "Asia/Singapore"),
        ("66", "Asia/Bangkok"),
        ("81", "Asia/Tokyo"),
        ("82", "Asia/Seoul"),
        ("84", "Asia/Ho_Chi_Minh"),
        ("86", "Asia/Shanghai"),
        ("90", "Europe/Istanbul"),
        ("91", "Asia/Kolkata"),
        ("92", "Asia/Karachi"),
        ("234", "Africa/Lagos"),
        ("254", "Africa/Nairobi"),
        ("351", "Europe/Lisbon"),
        ("353", "Europe/Dublin"),
        ("358", "Europe/Helsinki"),
        ("420", "Europe/Prague"),
        ("852", "Asia/Hong_Kong"),
        ("886", "Asia/Taipei"),
        ("966", "Asia/Riyadh"),
        ("971", "Asia/Dubai"),
        ("972", "Asia/Jerusalem"),
    ];
    CODES
        .iter()
        .filter(|(code, _)| digits.starts_with(code))
        .max_by_key(|(code, _)| code.len())
        .map(|(_, tz)| *tz)
}

/// What a call's outcome does to its batch item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// Dial again at this time (Unix ms); the attempt counts unless `recount`.
    Retry { at: i64, recount: bool },
    /// The outcome is final.
    Done,
}

/// What happens after attempt `attempts` ended with `outcome` (and `cause`).
pub(crate) fn next_step(
    policy: &RetryPolicy,
    batch_status: &str,
    attempts: i64,
    outcome: &str,
    answered: bool,
    cause: Option<&str>,
    now: i64,
) -> Next {
    if batch_status == "canceled" {
        return Next::Done;
    }
    // The trunk or the node had no room: nothing was dialed, so the attempt
    // does not count; try again shortly.
    if !answered && matches!(cause, Some("trunk-limit" | "no-capacity")) {
        return Next::Retry {
            at: now + 2_000,
            recount: true,
        };
    }
    if policy.on.iter().any(|o| o == outcome) && attempts < i64::from(policy.max_attempts) {
        return Next::Retry {
            at: now + (policy.backoff_minutes * 60_000.0).round() as i64,
            recount: false,
        };
    }
    Next::Done
}

/// Takes the row locks a batch's settlement needs, in the one order every
/// path uses (the workspace's event counter, then the batch), so two nodes
/// never deadlock; on SQLite the writer lock already serializes.
macro_rules! lock_batch {
    ($tx:ident, $ws:expr, $batch:expr) => {{
        sqlx::query("UPDATE workspaces SET event_seq = event_seq WHERE id = $1")
            .bind($ws)
            .execute(&mut *$tx)
            .await?;
        sqlx::query("UPDATE batches SET updated_at = updated_at WHERE id = $1")
            .bind($batch)
            .execute(&mut *$tx)
            .await?;
    }};
}
pub(crate) use lock_batch;

/// Settles the batch item of call `$call` (whose outcome is `$outcome`) inside
/// transaction `$tx` of workspace `$ws`: final, or queued again for a retry;
/// then completes the batch when nothing is left. Evaluates to the number of
/// events appended.
macro_rules! settle_item {
    ($tx:ident, $ws:expr, $call:expr, $outcome:expr, $answered:expr, $cause:expr) => {{
        let item: Option<(String, String, i64)> = sqlx::query_as(
            "SELECT batch_id, lead_id, attempts FROM batch_items \
             WHERE call_id = $1 AND state = 'dialing'",
        )
        .bind($call)
        .fetch_optional(&mut *$tx)
        .await?;
        match item {
            Some((batch, lead, attempts)) => {
                // Read the status under the lock: a cancel committed before
                // this is seen, one after waits.
                $crate::store::batches::lock_batch!($tx, $ws, &batch);
                let (status, retry): (String, String) =
                    sqlx::query_as("SELECT status, retry FROM batches WHERE id = $1")
                        .bind(&batch)
                        .fetch_one(&mut *$tx)
                        .await?;
                let policy: $crate::store::batches::RetryPolicy =
                    serde_json::from_str(&retry).unwrap_or_default();
                let now = $crate::store::now_ms();
                let outcome: &str = $outcome;
                match $crate::store::batches::next_step(
                    &policy, &status, attempts, outcome, $answered, $cause, now,
                ) {
                    $crate::store::batches::Next::Retry { at, recount } => {
                        sqlx::query(
                            "UPDATE batch_items SET state = 'queued', next_at = $1, \
                             attempts = attempts - $2, waiting = $3, outcome = $4, \
                             call_id = NULL, node_id = NULL, lease_until = NULL, updated_at = $5 \
                             WHERE batch_id = $6 AND lead_id = $7",
                        )
                        .bind(at)
                        .bind(i64::from(recount))
                        .bind(if recount { "capacity" } else { "retry" })
                        .bind(if recount { None } else { Some(outcome) })
                        .bind(now)
                        .bind(&batch)
                        .bind(&lead)
                        .execute(&mut *$tx)
                        .await?;
                    }
                    $crate::store::batches::Next::Done => {
                        sqlx::query(
                            "UPDATE batch_items SET state = 'done', outcome = $1, waiting = NULL, \
                             node_id = NULL, lease_until = NULL, updated_at = $2 \
                             WHERE batch_id = $3 AND lead_id = $4",
                        )
                        .bind(outcome)
                        .bind(now)
                        .bind(&batch)
                        .bind(&lead)
                        .execute(&mut *$tx)
                        .await?;
                    }
                }
                $crate::store::batches::finish_batch!($tx, $ws, &batch)
            }
            None => 0u32,
        }
    }};
}
pub(crate) use settle_item;

/// Completes batch `$batch` when no lead is queued or being called (a canceled
/// one once its last call is over): `completed_at`, and `batch.completed` with
/// the counts per outcome. Evaluates to the number of events appended.
macro_rules! finish_batch {
    ($tx:ident, $ws:expr, $batch:expr) => {{
        $crate::store::batches::lock_batch!($tx, $ws, $batch);
        let open: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM batch_items WHERE batch_id = $1 \
             AND state IN ('queued', 'dialing')",
        )
        .bind($batch)
        .fetch_one(&mut *$tx)
        .await?;
        let row: Option<(String, Option<i64>)> =
            sqlx::query_as("SELECT status, completed_at FROM batches WHERE id = $1")
                .bind($batch)
                .fetch_optional(&mut *$tx)
                .await?;
        match row {
            Some((status, None)) if open == 0 => {
                let now = $crate::store::now_ms();
                let status = if status == "canceled" {
                    "canceled"
                } else {
                    "completed"
                };
                sqlx::query(
                    "UPDATE batches SET status = $1, completed_at = $2, updated_at = $2 \
                     WHERE id = $3 AND completed_at IS NULL",
                )
                .bind(status)
                .bind(now)
                .bind($batch)
                .execute(&mut *$tx)
                .await?;
                let counts: Vec<(Option<String>, i64)> = sqlx::query_as(
                    "SELECT outcome, COUNT(*) FROM batch_items WHERE batch_id = $1 \
                     GROUP BY outcome",
                )
                .bind($batch)
                .fetch_all(&mut *$tx)
                .await?;
                let attempts: i64 = sqlx::query_scalar(
                    "SELECT CAST(COALESCE(SUM(attempts), 0) AS BIGINT) FROM batch_items \
                     WHERE batch_id = $1",
                )
                .bind($batch)
                .fetch_one(&mut *$tx)
                .await?;
                let total: i64 = counts.iter().map(|c| c.1).sum();
                let counts: serde_json::Map<String, serde_json::Value> = counts
                    .into_iter()
                    .map(|(o, n)| (o.unwrap_or_else(|| "canceled".to_owned()), n.into()))
                    .collect();
                let ev = $crate::store::events::NewEvent::new(
                    "batch.completed",
                    serde_json::json!({
                        "batch_id": $batch,
                        "status": status,
                        "counts": counts,
                        "total": total,
                        "attempts": attempts,
                        "batch_url": format!("/api/v1/voice/batches/{}", $batch),
                        "results_url": format!("/api/v1/voice/batches/{}/results", $batch),
                    }),
                    "batch.completed".to_owned(),
                );
                $crate::store::events::append_events!($tx, $ws, $batch, [ev])
            }
            _ => 0u32,
        }
    }};
}
pub(crate) use finish_batch;

fn validate(b: &NewBatch) -> StoreResult<()> {
    if b.lead_ids.is_empty() || b.lead_ids.len() > MAX_BATCH_LEADS {
        return Err(StoreError::invalid(
            "lead_ids",
            format!("1 to {MAX_BATCH_LEADS} lead ids"),
        ));
    }
    if b.objective.trim().is_empty() || b.objective.len() > 8000 {
        return Err(StoreError::invalid("objective", "1 to 8000 characters"));
    }
    if b.concurrency.is_some_and(|c| !(1..=100).contains(&c)) {
        return Err(StoreError::invalid("concurrency", "1 to 100"));
    }
    if b.calls_per_second
        .is_some_and(|c| !(c.is_finite() && (0.01..=100.0).contains(&c)))
    {
        return Err(StoreError::invalid("calls_per_second", "0.01 to 100"));
    }
    if b.ring_timeout_s.is_some_and(|r| !(5..=120).contains(&r)) {
        return Err(StoreError::invalid("ring_timeout_s", "5 to 120 seconds"));
    }
    if let Some(id) = &b.caller_id
        && !is_e164(id)
    {
        return Err(StoreError::invalid("caller_id", "must be E.164"));
    }
    if let Some(r) = &b.retry {
        if !(1..=10).contains(&r.max_attempts) {
            return Err(StoreError::invalid("retry", "max_attempts is 1 to 10"));
        }
        if r.on.iter().any(|o| !RETRIABLE.contains(&o.as_str())) {
            return Err(StoreError::invalid(
                "retry",
                format!("on lists outcomes among {}", RETRIABLE.join(", ")),
            ));
        }
        if !(r.backoff_minutes.is_finite()
            && r.backoff_minutes > 0.0
            && r.backoff_minutes <= 10080.0)
        {
            return Err(StoreError::invalid(
                "retry",
                "backoff_minutes is more than 0 and at most 10080 (a week)",
            ));
        }
    }
    if let Some(w) = &b.window {
        w.validate()?;
    }
    Ok(())
}

impl Store {
    /// Starts batch `b` in `workspace` on `trunk_id` (resolved by the caller);
    /// with `key`, a retried request gets the first one's batch (and a different
    /// request with the same key is a conflict). The answer, and whether it is new.
    pub async fn create_batch(
        &self,
        workspace: &str,
        b: &NewBatch,
        trunk_id: &str,
        key: Option<&str>,
    ) -> StoreResult<(BatchCreated, bool)> {
        validate(b)?;
        if key.is_some_and(|k| k.is_empty() || k.len() > 255) {
            return Err(StoreError::invalid(
                "Idempotency-Key",
                "1 to 255 characters",
            ));
        }
        let request = serde_json::to_string(b).unwrap_or_default();
        if let Some(k) = key
            && let Some(done) = self.batch_by_key(workspace, k, &request).await?
        {
            return Ok((done, false));
        }
        self.check_refs(workspace, &b.agent_id, b.calendar_connector_id.as_deref())
            .await?;
        let id = new_id("batch");
        let now = now_ms();
        let retry = b.retry.clone().unwrap_or_default();
        let interval = (1000.0 / b.calls_per_second.unwrap_or(1.0)).round() as i64;
        let created = in_tx!(self, tx => {
            let sql = "INSERT INTO batches (id, workspace_id, idempotency_key, status, agent_id, \
                       objective, calendar_id, trunk_id, caller_id, concurrency, \
                       dial_interval_ms, ring_timeout_s, retry, call_window, request, rejected, \
                       next_dial_at, created_at, updated_at) VALUES ($1, $2, $3, 'queued', $4, \
                       $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, '[]', 0, $15, $15) \
                       ON CONFLICT (workspace_id, idempotency_key) DO NOTHING";
            let n = sqlx::query(sql)
                .bind(&id).bind(workspace).bind(key).bind(&b.agent_id).bind(&b.objective)
                .bind(&b.calendar_connector_id).bind(trunk_id).bind(&b.caller_id)
                .bind(i64::from(b.concurrency.unwrap_or(5))).bind(interval.max(10))
                .bind(i64::from(b.ring_timeout_s.unwrap_or(30))).bind(json!(retry).to_string())
                .bind(b.window.as_ref().map(|w| json!(w).to_string())).bind(&request).bind(now)
                .execute(&mut *tx).await?.rows_affected();
            if n == 0 {
                None
            } else {
                let mut rejected = Vec::new();
                let (mut seen, mut phones) = (HashSet::new(), HashSet::new());
                let mut queued = 0u32;
                for lead_id in &b.lead_ids {
                    let reject = |reason: &str, message: &str| Rejection {
                        lead_id: lead_id.clone(),
                        reason: reason.to_owned(),
                        message: message.to_owned(),
                    };
                    if !seen.insert(lead_id.as_str()) {
                        rejected.push(reject("duplicate", "listed more than once"));
                        continue;
                    }
                    let phone: Option<String> = sqlx::query_scalar(
                        "SELECT phone FROM leads WHERE workspace_id = $1 AND id = $2")
                        .bind(workspace).bind(lead_id).fetch_optional(&mut *tx).await?;
                    let Some(phone) = phone else {
                        rejected.push(reject("not_found", "no such lead"));
                        continue;
                    };
                    if let Some(problem) = dial_problem(&phone) {
                        rejected.push(reject("invalid_phone", &problem));
                        continue;
                    }
                    let active: Option<String> = sqlx::query_scalar(
                        "SELECT b.id FROM batch_items i JOIN batches b ON b.id = i.batch_id \
                         WHERE i.lead_id = $1 AND i.state IN ('queued', 'dialing') \
                         AND b.status IN ('queued', 'running', 'paused') LIMIT 1")
                        .bind(lead_id).fetch_optional(&mut *tx).await?;
                    if let Some(other) = active {
                        rejected.push(reject("in_active_batch",
                            &format!("already queued in batch {other}")));
                        continue;
                    }
                    if !phones.insert(phone.clone()) {
                        rejected.push(reject("duplicate_phone",
                            "an earlier lead in the batch has the same number"));
                        continue;
                    }
                    sqlx::query("INSERT INTO batch_items (batch_id, lead_id, position, phone, \
                                 state, attempts, next_at, updated_at) \
                                 VALUES ($1, $2, $3, $4, 'queued', 0, $5, $5)")
                        .bind(&id).bind(lead_id).bind(i64::from(queued)).bind(&phone).bind(now)
                        .execute(&mut *tx).await?;
                    queued += 1;
                }
                sqlx::query("UPDATE batches SET rejected = $1 WHERE id = $2")
                    .bind(json!(rejected).to_string()).bind(&id).execute(&mut *tx).await?;
                let mut appended = 0;
                if queued == 0 {
                    appended = finish_batch!(tx, workspace, &id);
                }
                Some((BatchCreated {
                    call_batch_id: id.clone(),
                    queued,
                    rejected,
                    status: if queued == 0 { "completed" } else { "queued" }.to_owned(),
                }, appended))
            }
        });
        match created {
            Some((c, appended)) => {
                self.appended(appended);
                Ok((c, true))
            }
            // Another request with the same key won the race.
            None => match key {
                Some(k) => self
                    .batch_by_key(workspace, k, &request)
                    .await?
                    .map(|c| (c, false))
                    .ok_or(StoreError::NotFound),
                None => Err(StoreError::NotFound),
            },
        }
    }

    async fn batch_by_key(
        &self,
        workspace: &str,
        key: &str,
        request: &str,
    ) -> StoreResult<Option<BatchCreated>> {
        let sql = format!(
            "SELECT {BATCH_COLUMNS} FROM batches WHERE workspace_id = $1 AND idempotency_key = $2"
        );
        let row: Option<BatchRow> = on_db!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(workspace).bind(key).fetch_optional(pool).await?);
        let Some(row) = row else { return Ok(None) };
        if row.request != request {
            return Err(StoreError::Conflict(
                "this Idempotency-Key was used with a different request".to_owned(),
            ));
        }
        let queued: i64 = on_db!(self, pool => sqlx::query_scalar(
            "SELECT COUNT(*) FROM batch_items WHERE batch_id = $1")
            .bind(&row.id).fetch_one(pool).await?);
        Ok(Some(BatchCreated {
            call_batch_id: row.id,
            queued: u32::try_from(queued).unwrap_or(0),
            rejected: serde_json::from_str(&row.rejected).unwrap_or_default(),
            status: row.status,
        }))
    }

    /// The batch `id` of `workspace`, with its counts and progress.
    pub async fn batch(&self, workspace: &str, id: &str) -> StoreResult<Batch> {
        let sql =
            format!("SELECT {BATCH_COLUMNS} FROM batches WHERE workspace_id = $1 AND id = $2");
        let row: BatchRow = on_db!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(workspace).bind(id).fetch_optional(pool).await?)
        .ok_or(StoreError::NotFound)?;
        self.batch_view(row).await
    }

    async fn batch_view(&self, row: BatchRow) -> StoreResult<Batch> {
        let sql = "SELECT state, waiting, outcome, CAST(COUNT(*) AS BIGINT), \
                   CAST(COALESCE(SUM(attempts), 0) AS BIGINT) FROM batch_items \
                   WHERE batch_id = $1 GROUP BY state, waiting, outcome";
        type Group = (String, Option<String>, Option<String>, i64, i64);
        let groups: Vec<Group> =
            on_db!(self, pool => sqlx::query_as(sql).bind(&row.id).fetch_all(pool).await?);
        let mut counts = BTreeMap::new();
        let mut p = Progress::default();
        for (state, waiting, outcome, n, attempts) in groups {
            let n = u32::try_from(n).unwrap_or(0);
            p.total += n;
            p.attempts += u32::try_from(attempts).unwrap_or(0);
            match state.as_str() {
                "queued" => {
                    p.queued += n;
                    if waiting.as_deref() == Some("window") {
                        p.waiting_for_window += n;
                    }
                }
                "dialing" => p.dialing += n,
                _ => {
                    p.done += n;
                    *counts
                        .entry(outcome.unwrap_or_else(|| "canceled".to_owned()))
                        .or_insert(0) += n;
                }
            }
        }
        p.fraction = if p.total == 0 {
            1.0
        } else {
            f64::from(p.done) / f64::from(p.total)
        };
        Ok(row.batch(counts, p))
    }

    /// `workspace`'s batches, newest first, after the `(created_at, id)` position.
    pub async fn list_batches(
        &self,
        workspace: &str,
        limit: u32,
        after: Option<(i64, String)>,
    ) -> StoreResult<Vec<Batch>> {
        let (t, id) = after.unwrap_or((i64::MAX, String::new()));
        let sql = page_sql(BATCH_COLUMNS, "batches");
        let rows: Vec<BatchRow> = on_db!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(workspace).bind(t).bind(id).bind(i64::from(limit)).fetch_all(pool).await?);
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            out.push(self.batch_view(r).await?);
        }
        Ok(out)
    }

    /// Per-lead results of batch `id`, in the order the leads were given.
    pub async fn batch_results(&self, workspace: &str, id: &str) -> StoreResult<Vec<LeadResult>> {
        self.batch(workspace, id).await?;
        let sql = "SELECT i.lead_id, l.name, i.phone, i.state, i.waiting, i.next_at, i.attempts, \
                   i.outcome FROM batch_items i JOIN leads l ON l.id = i.lead_id \
                   WHERE i.batch_id = $1 ORDER BY i.position";
        type Item = (
            String,
            String,
            String,
            String,
            Option<String>,
            i64,
            i64,
            Option<String>,
        );
        let items: Vec<Item> =
            on_db!(self, pool => sqlx::query_as(sql).bind(id).fetch_all(pool).await?);
        let sql = "SELECT c.lead_id, c.id, c.verdict, c.summary, \
                   (SELECT MIN(b.start_ms) FROM bookings b WHERE b.call_id = c.id \
                    AND b.status = 'confirmed') FROM calls c WHERE c.batch_id = $1 \
                   ORDER BY c.created_at, c.id";
        type CallRow = (
            Option<String>,
            String,
            Option<String>,
            Option<String>,
            Option<i64>,
        );
        let calls: Vec<CallRow> =
            on_db!(self, pool => sqlx::query_as(sql).bind(id).fetch_all(pool).await?);
        let mut by_lead: std::collections::HashMap<&str, Vec<&CallRow>> =
            std::collections::HashMap::new();
        for c in &calls {
            if let Some(lead) = c.0.as_deref() {
                by_lead.entry(lead).or_default().push(c);
            }
        }
        Ok(items
            .into_iter()
            .map(
                |(lead_id, name, phone, state, waiting, next_at, attempts, outcome)| {
                    let mine: &[&CallRow] =
                        by_lead.get(lead_id.as_str()).map_or(&[], Vec::as_slice);
                    let verdict: Option<Value> = mine
                        .iter()
                        .rev()
                        .find_map(|c| c.2.as_deref().and_then(|v| serde_json::from_str(v).ok()));
                    let summary = mine.iter().rev().find_map(|c| c.3.clone());
                    let meeting = mine.iter().find_map(|c| c.4);
                    LeadResult {
                        lead_id,
                        name,
                        phone,
                        waiting: waiting.filter(|_| state == "queued"),
                        next_attempt_at: (state == "queued").then_some(next_at),
                        state,
                        attempts: u32::try_from(attempts).unwrap_or(0),
                        outcome,
                        qualified: verdict.as_ref().and_then(|v| v["qualified"].as_bool()),
                        score: verdict.as_ref().and_then(|v| v["score"].as_i64()),
                        summary,
                        meeting_booked: meeting.is_some(),
                        meeting_start: meeting
                            .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
                            .map(|t| t.to_string()),
                        call_ids: mine.iter().map(|c| c.1.clone()).collect(),
                    }
                },
            )
            .collect())
    }

    /// Pauses, resumes or cancels batch `id` (`action`); the batch after it.
    /// Pausing or canceling stops new calls; calls in progress finish. A
    /// canceled batch's queued leads end `canceled`.
    pub async fn batch_action(
        &self,
        workspace: &str,
        id: &str,
        action: &str,
    ) -> StoreResult<Batch> {
        self.batch(workspace, id).await?;
        let (from, to, verb) = match action {
            "pause" => ("'queued', 'running', 'paused'", "paused", "paused"),
            "resume" => ("'paused', 'running', 'queued'", "running", "resumed"),
            _ => (
                "'queued', 'running', 'paused', 'canceled'",
                "canceled",
                "canceled",
            ),
        };
        let now = now_ms();
        // The transition is checked in the UPDATE, under the batch's lock, so a
        // pause or resume racing a cancel cannot undo it.
        let sql = format!(
            "UPDATE batches SET status = $1, updated_at = $2 WHERE id = $3 \
             AND workspace_id = $4 AND completed_at IS NULL AND status IN ({from})"
        );
        let (changed, appended) = in_tx!(self, tx => {
            lock_batch!(tx, workspace, id);
            let n = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(to).bind(now).bind(id).bind(workspace).execute(&mut *tx).await?
                .rows_affected();
            if n == 1 && to == "canceled" {
                sqlx::query("UPDATE batch_items SET state = 'canceled', outcome = 'canceled', \
                             waiting = NULL, updated_at = $1 WHERE batch_id = $2 AND state = 'queued'")
                    .bind(now).bind(id).execute(&mut *tx).await?;
                (true, finish_batch!(tx, workspace, id))
            } else {
                (n == 1, 0)
            }
        });
        self.appended(appended);
        let after = self.batch(workspace, id).await?;
        if !changed {
            return Err(StoreError::Conflict(format!(
                "the batch is {}: it cannot be {verb}",
                after.status
            )));
        }
        Ok(after)
    }

    /// Claims the next lead due for a call as call `call_id` on node `node`
    /// (see the module doc), with a lease of `lease_ms`: `None` when no batch
    /// has a lead it may call now. Leads on the do-not-call list end `dnc`, and
    /// leads outside their calling window wait for its next opening, on the way.
    pub async fn claim_next(
        &self,
        node: &str,
        call_id: &str,
        lease_ms: i64,
    ) -> StoreResult<Option<Claim>> {
        let lock = match self.backend() {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };

        let pick = format!(
            "SELECT {BATCH_COLUMNS} FROM batches b WHERE status IN ('queued', 'running') \
             AND next_dial_at <= $1 \
             AND (SELECT COUNT(*) FROM batch_items d WHERE d.batch_id = b.id \
                  AND d.state = 'dialing') < concurrency \
             AND EXISTS (SELECT 1 FROM batch_items q WHERE q.batch_id = b.id \
                  AND q.state = 'queued' AND q.next_at <= $1) \
             ORDER BY next_dial_at, created_at LIMIT 1{lock}"
        );
        let trunk_lock = match self.backend() {
            Backend::Postgres => " FOR UPDATE",
            Backend::Sqlite => "",
        };
        let trunk_sql = format!(
            "SELECT max_concurrent, calls_per_second, next_dial_at FROM trunks WHERE id = $1{trunk_lock}"
        );
        // A few batches may be skipped (trunk full, every due lead outside its
        // window) before one yields a call.
        for _ in 0..8 {
            let (claim, check, again) = in_tx!(self, tx => {
                // Read under the lock, so claims are in time order.
                let now = now_ms();
                let batch: Option<BatchRow> = sqlx::query_as(sqlx::AssertSqlSafe(pick.as_str()))
                    .bind(now).fetch_optional(&mut *tx).await?;
                match batch {
                    None => (None, None, false),
                    Some(b) => {
                        // The pick's count saw its own snapshot: count again
                        // now that the batch is locked.
                        let dialing: i64 = sqlx::query_scalar(
                            "SELECT COUNT(*) FROM batch_items WHERE batch_id = $1 \
                             AND state = 'dialing'")
                            .bind(&b.id).fetch_one(&mut *tx).await?;
                        let trunk: Option<(i64, i64, i64)> =
                            sqlx::query_as(sqlx::AssertSqlSafe(trunk_sql.as_str()))
                                .bind(&b.trunk_id).fetch_optional(&mut *tx).await?;
                        // A trunk deleted under a batch (it cannot be while the
                        // batch runs, but a race with its creation): wait.
                        let (max, cps, trunk_next) = trunk.unwrap_or((0, 0, now + 5_000));
                        let busy: i64 = sqlx::query_scalar(
                            "SELECT COUNT(*) FROM batch_items i JOIN batches t ON t.id = i.batch_id \
                             WHERE t.trunk_id = $1 AND i.state = 'dialing'")
                            .bind(&b.trunk_id).fetch_one(&mut *tx).await?;
                        if dialing >= b.concurrency {
                            (None, None, false)
                        } else if (max > 0 && busy >= max) || trunk_next > now {
                            // The trunk is full or must wait: look at this batch again later.
                            sqlx::query("UPDATE batches SET next_dial_at = $1 WHERE id = $2")
                                .bind(trunk_next.max(now + 200)).bind(&b.id)
                                .execute(&mut *tx).await?;
                            (None, None, true)
                        } else {
                            let window = b.window();
                            let due: Vec<(String, String, i64)> = sqlx::query_as(
                                "SELECT i.lead_id, i.phone, i.attempts FROM batch_items i \
                                 WHERE i.batch_id = $1 AND i.state = 'queued' AND i.next_at <= $2 \
                                 ORDER BY i.next_at, i.position LIMIT 50")
                                .bind(&b.id).bind(now).fetch_all(&mut *tx).await?;
                            let mut claimed = None;
                            for (lead, phone, attempts) in due {
                                let listed: Option<String> = sqlx::query_scalar(
                                    "SELECT id FROM dnc WHERE workspace_id = $1 AND phone = $2")
                                    .bind(&b.workspace_id).bind(&phone)
                                    .fetch_optional(&mut *tx).await?;
                                if listed.is_some() {
                                    sqlx::query("UPDATE batch_items SET state = 'done', \
                                                 outcome = 'dnc', waiting = NULL, updated_at = $1 \
                                                 WHERE batch_id = $2 AND lead_id = $3")
                                        .bind(now).bind(&b.id).bind(&lead)
                                        .execute(&mut *tx).await?;
                                    continue;
                                }
                                if let Some(w) = &window {
                                    let tz: Option<String> = sqlx::query_scalar(
                                        "SELECT timezone FROM leads WHERE id = $1")
                                        .bind(&lead).fetch_optional(&mut *tx).await?.flatten();
                                    let zone = w.zone_for(tz.as_deref(), &phone);
                                    if let Some(open) = w.next_opening(&zone, now) {
                                        sqlx::query("UPDATE batch_items SET next_at = $1, \
                                                     waiting = 'window', updated_at = $2 \
                                                     WHERE batch_id = $3 AND lead_id = $4")
                                            .bind(open).bind(now).bind(&b.id).bind(&lead)
                                            .execute(&mut *tx).await?;
                                        continue;
                                    }
                                }
                                sqlx::query("UPDATE batch_items SET state = 'dialing', \
                                             attempts = attempts + 1, call_id = $1, node_id = $2, \
                                             lease_until = $3, waiting = NULL, updated_at = $4 \
                                             WHERE batch_id = $5 AND lead_id = $6")
                                    .bind(call_id).bind(node).bind(now + lease_ms).bind(now)
                                    .bind(&b.id).bind(&lead).execute(&mut *tx).await?;
                                sqlx::query("UPDATE batches SET next_dial_at = $1, \
                                             status = 'running', updated_at = $2 WHERE id = $3")
                                    .bind(now + b.dial_interval_ms).bind(now).bind(&b.id)
                                    .execute(&mut *tx).await?;
                                if cps > 0 {
                                    sqlx::query("UPDATE trunks SET next_dial_at = $1 WHERE id = $2")
                                        .bind(now + (1000 / cps).max(1)).bind(&b.trunk_id)
                                        .execute(&mut *tx).await?;
                                }
                                claimed = Some(Claim {
                                    workspace: b.workspace_id.clone(),
                                    batch_id: b.id.clone(),
                                    lead_id: lead,
                                    phone,
                                    call_id: call_id.to_owned(),
                                    attempt: u32::try_from(attempts + 1).unwrap_or(u32::MAX),
                                    agent_id: b.agent_id.clone(),
                                    objective: b.objective.clone(),
                                    calendar_id: b.calendar_id.clone(),
                                    trunk_id: b.trunk_id.clone(),
                                    caller_id: b.caller_id.clone(),
                                    ring_timeout_s: u32::try_from(b.ring_timeout_s).unwrap_or(30),
                                    claimed_at: now,
                                });
                                break;
                            }
                            // Every due lead was skipped (listed, or outside its
                            // window): the batch may be over; see after commit,
                            // in the lock order settling uses.
                            let again = claimed.is_none();
                            let check = again.then(|| (b.workspace_id.clone(), b.id.clone()));
                            (claimed, check, again)
                        }
                    }
                }
            });
            if let Some((ws, batch)) = check {
                let appended = in_tx!(self, tx => { finish_batch!(tx, &ws, &batch) });
                self.appended(appended);
            }
            if claim.is_some() || !again {
                return Ok(claim);
            }
        }
        Ok(None)
    }

    /// Settles claimed lead `c` whose call could not even be stored or placed
    /// (its agent or lead was deleted, the database failed): like a `failed`
    /// call, retried by the batch's policy.
    pub async fn fail_claim(&self, c: &Claim, cause: &str) -> StoreResult<()> {
        tracing::warn!(
            batch = c.batch_id,
            lead = c.lead_id,
            cause,
            "campaign call not placed"
        );
        let appended = in_tx!(self, tx => {
            lock_batch!(tx, &c.workspace, &c.batch_id);
            let (status, retry): (String, String) =
                sqlx::query_as("SELECT status, retry FROM batches WHERE id = $1")
                    .bind(&c.batch_id).fetch_one(&mut *tx).await?;
            let policy: RetryPolicy = serde_json::from_str(&retry).unwrap_or_default();
            let now = now_ms();
            let (state, next_at, waiting) = match next_step(
                &policy, &status, i64::from(c.attempt), "failed", false, None, now,
            ) {
                Next::Retry { at, .. } => ("queued", at, Some("retry")),
                Next::Done => ("done", now, None),
            };
            sqlx::query("UPDATE batch_items SET state = $1, next_at = $2, waiting = $3, \
                         outcome = 'failed', node_id = NULL, lease_until = NULL, \
                         call_id = CASE WHEN $1 = 'queued' THEN NULL ELSE call_id END, \
                         updated_at = $4 \
                         WHERE batch_id = $5 AND lead_id = $6 AND call_id = $7 AND state = 'dialing'")
                .bind(state).bind(next_at).bind(waiting).bind(now).bind(&c.batch_id)
                .bind(&c.lead_id).bind(&c.call_id).execute(&mut *tx).await?;
            finish_batch!(tx, &c.workspace, &c.batch_id)
        });
        self.appended(appended);
        Ok(())
    }

    /// Puts the lead of campaign call `id` back in the queue (2 s on, the
    /// attempt not counted) and forgets the call, when the call was refused
    /// before it was dialed (no room on the trunk or the node); false when the
    /// call is not a queued campaign call.
    pub async fn release_claim(&self, id: tenex_actors::sip::CallId) -> StoreResult<bool> {
        let key = super::call_key(id);
        let now = now_ms();
        Ok(in_tx!(self, tx => {
            let gone = sqlx::query("DELETE FROM calls WHERE id = $1 AND status = 'queued' \
                                    AND batch_id IS NOT NULL")
                .bind(&key).execute(&mut *tx).await?.rows_affected();
            if gone == 1 {
                sqlx::query("DELETE FROM call_events WHERE call_id = $1")
                    .bind(&key).execute(&mut *tx).await?;
                sqlx::query("UPDATE batch_items SET state = 'queued', attempts = attempts - 1, \
                             call_id = NULL, node_id = NULL, lease_until = NULL, \
                             waiting = 'capacity', next_at = $1, updated_at = $2 \
                             WHERE call_id = $3 AND state = 'dialing'")
                    .bind(now + 2_000).bind(now).bind(&key).execute(&mut *tx).await?;
            }
            gone == 1
        }))
    }

    /// Extends the leases of node `node`'s claims that are still its business:
    /// calls in `live` (the engine's calls in progress), claims younger than a
    /// lease (their call is being placed), and calls that ended in the last two
    /// minutes whose agent run is still finishing (summary, verdict). A claim
    /// left behind by a failed write is not renewed, so it gets settled.
    pub async fn renew_leases(
        &self,
        node: &str,
        lease_ms: i64,
        live: &[String],
    ) -> StoreResult<u64> {
        let now = now_ms();
        let mut sql = String::from(
            "UPDATE batch_items SET lease_until = $1 WHERE node_id = $2 AND state = 'dialing' \
             AND (updated_at >= $3 \
             OR EXISTS (SELECT 1 FROM calls c WHERE c.id = batch_items.call_id \
                 AND c.status = 'ended' AND c.run_done = 0 AND c.ended_at >= $4)",
        );
        if !live.is_empty() {
            sql.push_str(" OR call_id IN (");
            for i in 0..live.len() {
                if i > 0 {
                    sql.push_str(", ");
                }
                sql.push_str(&format!("${}", i + 5));
            }
            sql.push(')');
        }
        sql.push(')');
        Ok(on_db!(self, pool => {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(now + lease_ms).bind(node).bind(now - lease_ms).bind(now - 120_000);
            for id in live {
                q = q.bind(id);
            }
            q.execute(pool).await?.rows_affected()
        }))
    }

    /// Settles claimed leads whose node stopped renewing its lease (it died,
    /// or lost its calls): a lead whose call was never stored goes back to the
    /// queue (nothing was dialed; the attempt does not count); a stored call
    /// that never completed ends `failed` (cause `node-lost`) if it had not
    /// ended, and completes, which settles the lead by the batch's retry
    /// policy. Each lead is re-checked under its row lock. Returns how many
    /// were settled.
    pub async fn settle_expired(&self) -> StoreResult<u32> {
        let sql = "SELECT batch_id, lead_id FROM batch_items \
                   WHERE state = 'dialing' AND lease_until < $1 LIMIT 100";
        let expired: Vec<(String, String)> =
            on_db!(self, pool => sqlx::query_as(sql).bind(now_ms()).fetch_all(pool).await?);
        let mut settled = 0;
        for (batch, lead) in expired {
            let appended = in_tx!(self, tx => {
                let now = now_ms();
                // Lock the call's row, then take the lead (rechecking its lease
                // and call): the order the call's own writes use.
                let call: Option<Option<String>> = sqlx::query_scalar(
                    "SELECT call_id FROM batch_items WHERE batch_id = $1 AND lead_id = $2")
                    .bind(&batch).bind(&lead).fetch_optional(&mut *tx).await?;
                let call = call.flatten();
                if let Some(c) = &call {
                    sqlx::query("UPDATE calls SET run_done = run_done WHERE id = $1")
                        .bind(c).execute(&mut *tx).await?;
                }
                let item: Option<(Option<String>, String)> = sqlx::query_as(
                    "UPDATE batch_items SET lease_until = $1 WHERE batch_id = $2 AND lead_id = $3 \
                     AND state = 'dialing' AND lease_until < $1 \
                     AND COALESCE(call_id, '') = COALESCE($4, '') \
                     RETURNING call_id, (SELECT workspace_id FROM batches WHERE id = $2)")
                    .bind(now).bind(&batch).bind(&lead).bind(&call)
                    .fetch_optional(&mut *tx).await?;
                let stored: Option<(String, Option<i64>)> = match item.as_ref().and_then(|i| i.0.as_ref()) {
                    Some(call) => sqlx::query_as(
                        "SELECT status, answered_at FROM calls WHERE id = $1")
                        .bind(call).fetch_optional(&mut *tx).await?,
                    None => None,
                };
                match (item, stored) {
                    (None, _) => None,
                    (Some((Some(call), ws)), Some((status, answered))) => {
                        let mut n = 0;
                        if status != "ended" {
                            sqlx::query("UPDATE calls SET status = 'ended', outcome = 'failed', \
                                         sip_outcome = 'failed', hangup_cause = 'node-lost', \
                                         ended_at = $1, duration_ms = CASE WHEN answered_at IS NULL \
                                         THEN NULL ELSE $1 - answered_at END \
                                         WHERE id = $2 AND status <> 'ended'")
                                .bind(now).bind(&call).execute(&mut *tx).await?;
                            let events = [
                                NewEvent::new("call.state", json!({"call_id": call, "state": "ended"}),
                                    "state:ended".to_owned()),
                                NewEvent::new("call.ended", json!({"call_id": call, "outcome": "failed",
                                    "duration_ms": answered.map(|a| now - a),
                                    "answered": answered.is_some(), "hangup_cause": "node-lost",
                                    "hung_up_by": null}), "ended".to_owned()),
                            ];
                            n += append_events!(tx, &ws, &call, events);
                        }
                        sqlx::query("UPDATE calls SET run_done = 1 WHERE id = $1")
                            .bind(&call).execute(&mut *tx).await?;
                        Some(n + super::crm::complete!(tx, &ws, &call))
                    }
                    (Some(_), _) => {
                        // Never stored, so never dialed.
                        sqlx::query("UPDATE batch_items SET state = 'queued', attempts = attempts - 1, \
                                     call_id = NULL, node_id = NULL, lease_until = NULL, \
                                     waiting = 'capacity', next_at = $1, updated_at = $1 \
                                     WHERE batch_id = $2 AND lead_id = $3")
                            .bind(now).bind(&batch).bind(&lead).execute(&mut *tx).await?;
                        Some(0)
                    }
                }
            });
            if let Some(n) = appended {
                self.appended(n);
                settled += 1;
            }
        }
        Ok(settled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> i64 {
        s.parse::<jiff::Timestamp>().expect("time").as_millisecond()
    }

    #[test]
    fn windows_open_on_their_days_in_the_lead_zone() {
        let w = CallWindow::default();
        let berlin = jiff::tz::TimeZone::get("Europe/Berlin").expect("tz");
        // Wednesday 2026-11-18 10:00 in Berlin (09:00 UTC): open.
        assert_eq!(w.next_opening(&berlin, at("2026-11-18T09:00:00Z")), None);
        // 20:30 Berlin: closed until Thursday 09:00 Berlin (08:00 UTC).
        assert_eq!(
            w.next_opening(&berlin, at("2026-11-18T19:30:00Z")),
            Some(at("2026-11-19T08:00:00Z"))
        );
        // Friday evening waits for Monday.
        assert_eq!(
            w.next_opening(&berlin, at("2026-11-20T19:30:00Z")),
            Some(at("2026-11-23T08:00:00Z"))
        );
        // Early morning opens the same day.
        assert_eq!(
            w.next_opening(&berlin, at("2026-11-18T05:00:00Z")),
            Some(at("2026-11-18T08:00:00Z"))
        );
    }

    #[test]
    fn the_lead_zone_comes_from_the_record_then_the_number() {
        let w = CallWindow::default();
        assert_eq!(
            w.zone_for(Some("Asia/Tokyo"), "+4930123456").iana_name(),
            Some("Asia/Tokyo")
        );
        assert_eq!(
            w.zone_for(None, "+4930123456").iana_name(),
            Some("Europe/Berlin")
        );
        assert_eq!(
            w.zone_for(None, "+14155550123").iana_name(),
            Some("America/Los_Angeles")
        );
        assert_eq!(
            w.zone_for(None, "+12125550123").iana_name(),
            Some("America/New_York")
        );
        assert_eq!(infer_timezone("+35312345678"), Some("Europe/Dublin"));
        assert_eq!(infer_timezone("+999123456"), None);
        let fixed = CallWindow {
            respect_lead_timezone: false,
            timezone: Some("Europe/Paris".into()),
            ..CallWindow::default()
        };
        assert_eq!(
            fixed
                .zone_for(Some("Asia/Tokyo"), "+14155550123")
                .iana_name(),
            Some("Europe/Paris")
        );
        assert_eq!(
            CallWindow::default()
                .zone_for(None, "+999123456")
                .iana_name(),
            Some("UTC")
        );
    }

    #[test]
    fn outcomes_are_retried_by_the_policy() {
        let p = RetryPolicy {
            max_attempts: 2,
            on: vec!["busy".into(), "no-answer".into()],
            backoff_minutes: 0.5,
        };
        let step = |status, attempts, outcome, answered, cause| {
            next_step(&p, status, attempts, outcome, answered, cause, 1000)
        };
        assert_eq!(
            step("running", 1, "busy", false, None),
            Next::Retry {
                at: 31_000,
                recount: false
            }
        );
        assert_eq!(step("running", 2, "busy", false, None), Next::Done);
        assert_eq!(step("running", 1, "failed", false, None), Next::Done);
        assert_eq!(step("running", 1, "qualified", true, None), Next::Done);
        assert_eq!(step("canceled", 1, "busy", false, None), Next::Done);
        assert_eq!(
            step("running", 2, "failed", false, Some("trunk-limit")),
            Next::Retry {
                at: 3_000,
                recount: true
            }
        );
    }

    #[test]
    fn windows_and_policies_are_checked() {
        let bad = |w: CallWindow| w.validate().is_err();
        assert!(bad(CallWindow {
            start: "9:00".into(),
            ..CallWindow::default()
        }));
        assert!(bad(CallWindow {
            start: "20:00".into(),
            end: "09:00".into(),
            ..CallWindow::default()
        }));
        assert!(bad(CallWindow {
            days: vec!["monday".into()],
            ..CallWindow::default()
        }));
        assert!(bad(CallWindow {
            timezone: Some("Mars/Olympus".into()),
            ..CallWindow::default()
        }));
        assert!(!bad(CallWindow::default()));
    }
}
