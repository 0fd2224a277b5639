//! Voice sessions: a call provisioned ahead of time for a lead, an agent and
//! an objective. Outbound sessions are dialled at once; inbound ones give a
//! one-time SIP URI (`sip:sess_…@host`) that a PBX transfers or routes a call
//! to, valid until it expires or is used.

use serde::{Deserialize, Serialize};

use super::{Store, StoreError, StoreResult, new_id, now_ms, on_db};

/// Default lifetime of an inbound session's URI.
pub const DEFAULT_SESSION_TTL_S: u32 = 3600;
/// Allowed lifetimes of an inbound session's URI, seconds.
pub const SESSION_TTL_RANGE: std::ops::RangeInclusive<u32> = 60..=7 * 24 * 3600;

/// Which way the session's call goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SessionDirection {
    /// We call the lead now.
    Outbound,
    /// A call comes to the session's URI.
    Inbound,
}

impl SessionDirection {
    fn as_str(self) -> &'static str {
        match self {
            SessionDirection::Outbound => "outbound",
            SessionDirection::Inbound => "inbound",
        }
    }
}

/// A session to provision.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSession {
    /// Outbound (dial now) or inbound (a one-time URI).
    pub direction: SessionDirection,
    /// The lead (required outbound).
    #[serde(default)]
    pub lead_id: Option<String>,
    /// The agent.
    pub agent_id: String,
    /// A template name of the agent, or free text.
    pub objective: String,
    /// Calendar for `book_meeting`.
    #[serde(default)]
    pub calendar_connector_id: Option<String>,
    /// Outbound: the trunk to dial through (default: the workspace's oldest
    /// trunk with an outbound destination).
    #[serde(default)]
    pub trunk_id: Option<String>,
    /// Outbound: the caller id to present (default: the trunk's).
    #[serde(default)]
    pub caller_id: Option<String>,
    /// Inbound: seconds until the URI expires (default 3600).
    #[serde(default)]
    pub expires_in_s: Option<u32>,
}

/// A provisioned session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Session {
    /// `sess_…`.
    pub id: String,
    /// `outbound` or `inbound`.
    pub direction: String,
    /// The lead.
    pub lead_id: Option<String>,
    /// The agent.
    pub agent_id: String,
    /// The objective as given.
    pub objective: String,
    /// Calendar.
    #[sqlx(rename = "calendar_id")]
    pub calendar_connector_id: Option<String>,
    /// The call it became (outbound at once; inbound once a call used it).
    pub call_id: Option<String>,
    /// Inbound: when the URI stops working (Unix ms).
    pub expires_at: Option<i64>,
    /// Inbound: when a call used the URI (Unix ms).
    pub used_at: Option<i64>,
    /// Created (Unix ms).
    pub created_at: i64,
}

impl Session {
    /// `pending`, `used` or `expired` (inbound); `placed` (outbound).
    pub fn status(&self, now: i64) -> &'static str {
        if self.direction == "outbound" {
            "placed"
        } else if self.used_at.is_some() {
            "used"
        } else if self.expires_at.is_some_and(|e| e <= now) {
            "expired"
        } else {
            "pending"
        }
    }
}

/// An inbound session and its workspace, claimed by a call.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ClaimedSession {
    /// The workspace.
    pub workspace_id: String,
    /// The session.
    #[sqlx(flatten)]
    pub session: Session,
}

/// A new session id (`sess_…`), also the user part of its SIP URI.
pub fn new_session_id() -> String {
    new_id("sess")
}

const COLUMNS: &str = "id, direction, lead_id, agent_id, objective, calendar_id, call_id, \
                       expires_at, used_at, created_at";

impl Store {
    /// Checks `s` against the workspace's agents, leads and calendars.
    pub async fn check_session(&self, workspace: &str, s: &NewSession) -> StoreResult<()> {
        if s.objective.trim().is_empty() || s.objective.len() > 8000 {
            return Err(StoreError::invalid("objective", "1 to 8000 characters"));
        }
        self.check_refs(workspace, &s.agent_id, s.calendar_connector_id.as_deref())
            .await?;
        if let Some(lead) = &s.lead_id {
            match self.lead(workspace, lead).await {
                Err(StoreError::NotFound) => {
                    return Err(StoreError::invalid("lead_id", "no such lead"));
                }
                other => other.map(drop)?,
            }
        }
        match s.direction {
            SessionDirection::Outbound => {
                if s.lead_id.is_none() {
                    return Err(StoreError::invalid(
                        "lead_id",
                        "an outbound session calls a lead",
                    ));
                }
                if s.expires_in_s.is_some() {
                    return Err(StoreError::invalid(
                        "expires_in_s",
                        "only inbound sessions expire",
                    ));
                }
                if let Some(id) = &s.caller_id
                    && !super::is_e164(id)
                {
                    return Err(StoreError::invalid("caller_id", "must be E.164"));
                }
            }
            SessionDirection::Inbound => {
                if let Some(ttl) = s.expires_in_s
                    && !SESSION_TTL_RANGE.contains(&ttl)
                {
                    return Err(StoreError::invalid(
                        "expires_in_s",
                        format!(
                            "{} to {} seconds",
                            SESSION_TTL_RANGE.start(),
                            SESSION_TTL_RANGE.end()
                        ),
                    ));
                }
                for (param, set) in [
                    ("trunk_id", s.trunk_id.is_some()),
                    ("caller_id", s.caller_id.is_some()),
                ] {
                    if set {
                        return Err(StoreError::invalid(param, "only for outbound sessions"));
                    }
                }
            }
        }
        Ok(())
    }

    /// Stores a checked session as `id` (from [`new_session_id`]); `call_id`
    /// for an outbound one.
    pub async fn create_session(
        &self,
        workspace: &str,
        id: String,
        s: &NewSession,
        call_id: Option<String>,
    ) -> StoreResult<Session> {
        let now = now_ms();
        let row = Session {
            id,
            direction: s.direction.as_str().to_owned(),
            lead_id: s.lead_id.clone(),
            agent_id: s.agent_id.clone(),
            objective: s.objective.clone(),
            calendar_connector_id: s.calendar_connector_id.clone(),
            call_id,
            expires_at: (s.direction == SessionDirection::Inbound)
                .then(|| now + 1000 * i64::from(s.expires_in_s.unwrap_or(DEFAULT_SESSION_TTL_S))),
            used_at: None,
            created_at: now,
        };
        let sql = "INSERT INTO sessions (id, workspace_id, direction, lead_id, agent_id, \
                   objective, calendar_id, call_id, expires_at, used_at, created_at) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";
        on_db!(self, pool => sqlx::query(sql)
            .bind(&row.id).bind(workspace).bind(&row.direction).bind(&row.lead_id)
            .bind(&row.agent_id).bind(&row.objective).bind(&row.calendar_connector_id)
            .bind(&row.call_id).bind(row.expires_at).bind(row.used_at).bind(row.created_at)
            .execute(pool).await?.rows_affected());
        Ok(row)
    }

    /// The session `id` of `workspace`; an inbound one shows the call that used it.
    pub async fn session(&self, workspace: &str, id: &str) -> StoreResult<Session> {
        let sql = format!(
            "SELECT {} FROM sessions s WHERE workspace_id = $1 AND id = $2",
            COLUMNS.replace(
                "call_id",
                "COALESCE(call_id, (SELECT c.id FROM calls c WHERE c.session_id = s.id \
                 ORDER BY c.created_at LIMIT 1)) AS call_id"
            )
        );
        on_db!(self, pool => sqlx::query_as::<_, Session>(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(workspace).bind(id).fetch_optional(pool).await?)
        .ok_or(StoreError::NotFound)
    }

    /// Uses the inbound session `id` for a call arriving now: succeeds once,
    /// and only before it expires.
    pub async fn claim_session(&self, id: &str) -> StoreResult<Option<ClaimedSession>> {
        self.claim_session_at(id, now_ms()).await
    }

    /// [`Store::claim_session`] as if it were `now` (Unix ms).
    pub async fn claim_session_at(
        &self,
        id: &str,
        now: i64,
    ) -> StoreResult<Option<ClaimedSession>> {
        let sql = "UPDATE sessions SET used_at = $1 WHERE id = $2 AND direction = 'inbound' \
                   AND used_at IS NULL AND expires_at > $1";
        let n = on_db!(self, pool => sqlx::query(sql).bind(now).bind(id)
            .execute(pool).await?.rows_affected());
        if n == 0 {
            return Ok(None);
        }
        let sql = format!("SELECT workspace_id, {COLUMNS} FROM sessions WHERE id = $1");
        Ok(
            on_db!(self, pool => sqlx::query_as::<_, ClaimedSession>(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(id).fetch_optional(pool).await?),
        )
    }
}
