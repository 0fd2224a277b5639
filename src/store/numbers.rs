//! Numbers: an inbound E.164 number routed to an agent with an objective (and
//! optionally a calendar). A number belongs to one workspace.

use serde::{Deserialize, Serialize};

use super::{Store, StoreError, StoreResult, is_e164, new_id, now_ms, on_db, page_sql};

/// A number to configure.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewNumber {
    /// E.164, as the trunk delivers it in the Request-URI.
    pub number: String,
    /// The agent that answers.
    pub agent_id: String,
    /// A template name of the agent, or free text.
    pub objective: String,
    /// Calendar for `book_meeting`.
    #[serde(default)]
    pub calendar_connector_id: Option<String>,
}

/// A configured number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Number {
    /// `num_…`.
    pub id: String,
    /// E.164.
    pub number: String,
    /// The agent that answers.
    pub agent_id: String,
    /// Objective.
    pub objective: String,
    /// Calendar.
    #[sqlx(rename = "calendar_id")]
    pub calendar_connector_id: Option<String>,
    /// Created (Unix ms).
    pub created_at: i64,
}

/// A number and its workspace, for routing.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RoutedNumber {
    /// The workspace.
    pub workspace_id: String,
    /// The number.
    #[sqlx(flatten)]
    pub number: Number,
}

const COLUMNS: &str = "id, number, agent_id, objective, calendar_id, created_at";

impl Store {
    /// Configures a number; one already configured (in any workspace) is a conflict.
    pub async fn create_number(&self, workspace: &str, n: &NewNumber) -> StoreResult<Number> {
        if !is_e164(&n.number) {
            return Err(StoreError::invalid(
                "number",
                "must be E.164: + then 7 to 15 digits, e.g. +14155550123",
            ));
        }
        if n.objective.trim().is_empty() || n.objective.len() > 8000 {
            return Err(StoreError::invalid("objective", "1 to 8000 characters"));
        }
        self.check_refs(workspace, &n.agent_id, n.calendar_connector_id.as_deref())
            .await?;
        let row = Number {
            id: new_id("num"),
            number: n.number.clone(),
            agent_id: n.agent_id.clone(),
            objective: n.objective.clone(),
            calendar_connector_id: n.calendar_connector_id.clone(),
            created_at: now_ms(),
        };
        let sql = "INSERT INTO numbers (id, workspace_id, number, agent_id, objective, \
                   calendar_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                   ON CONFLICT (number) DO NOTHING";
        let done = on_db!(self, pool => sqlx::query(sql)
            .bind(&row.id).bind(workspace).bind(&row.number).bind(&row.agent_id)
            .bind(&row.objective).bind(&row.calendar_connector_id).bind(row.created_at)
            .execute(pool).await?.rows_affected());
        if done == 0 {
            return Err(StoreError::Conflict(format!(
                "{} is already configured",
                row.number
            )));
        }
        Ok(row)
    }

    /// Checks that `agent` (and `calendar`) exist in `workspace` (422 otherwise).
    pub async fn check_refs(
        &self,
        workspace: &str,
        agent: &str,
        calendar: Option<&str>,
    ) -> StoreResult<()> {
        match self.agent(workspace, agent).await {
            Err(StoreError::NotFound) => {
                return Err(StoreError::invalid("agent_id", "no such agent"));
            }
            other => other.map(drop)?,
        }
        if let Some(c) = calendar {
            match self.calendar(workspace, c).await {
                Err(StoreError::NotFound) => {
                    return Err(StoreError::invalid(
                        "calendar_connector_id",
                        "no such calendar connector",
                    ));
                }
                other => other.map(drop)?,
            }
        }
        Ok(())
    }

    /// The number `id` of `workspace`.
    pub async fn number(&self, workspace: &str, id: &str) -> StoreResult<Number> {
        let sql = format!("SELECT {COLUMNS} FROM numbers WHERE workspace_id = $1 AND id = $2");
        on_db!(self, pool => sqlx::query_as::<_, Number>(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(workspace).bind(id).fetch_optional(pool).await?)
        .ok_or(StoreError::NotFound)
    }

    /// `workspace`'s numbers, newest first, after `(created_at, id)`.
    pub async fn list_numbers(
        &self,
        workspace: &str,
        limit: u32,
        after: Option<(i64, String)>,
    ) -> StoreResult<Vec<Number>> {
        let (t, id) = after.unwrap_or((i64::MAX, String::new()));
        let sql = page_sql(COLUMNS, "numbers");
        Ok(
            on_db!(self, pool => sqlx::query_as::<_, Number>(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(workspace).bind(t).bind(id).bind(i64::from(limit))
            .fetch_all(pool).await?),
        )
    }

    /// Removes the number `id` of `workspace`.
    pub async fn delete_number(&self, workspace: &str, id: &str) -> StoreResult<()> {
        let sql = "DELETE FROM numbers WHERE workspace_id = $1 AND id = $2";
        let n = on_db!(self, pool => sqlx::query(sql).bind(workspace).bind(id)
            .execute(pool).await?.rows_affected());
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// The number a call to `dialled` reaches: exact, or with `+` added when the
    /// trunk sends digits only.
    pub async fn route_number(&self, dialled: &str) -> StoreResult<Option<RoutedNumber>> {
        let plus;
        let number = if dialled.starts_with('+') {
            dialled
        } else {
            plus = format!("+{dialled}");
            &plus
        };
        let sql = format!("SELECT workspace_id, {COLUMNS} FROM numbers WHERE number = $1");
        Ok(
            on_db!(self, pool => sqlx::query_as::<_, RoutedNumber>(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(number).fetch_optional(pool).await?),
        )
    }

    /// The newest lead of `workspace` with this phone number (caller lookup).
    pub async fn lead_by_phone(
        &self,
        workspace: &str,
        phone: &str,
    ) -> StoreResult<Option<super::Lead>> {
        let sql = "SELECT id FROM leads WHERE workspace_id = $1 AND phone = $2 \
                   ORDER BY created_at DESC, id DESC LIMIT 1";
        let id: Option<String> = on_db!(self, pool => sqlx::query_scalar(sql)
            .bind(workspace).bind(phone).fetch_optional(pool).await?);
        match id {
            Some(id) => self.lead(workspace, &id).await.map(Some),
            None => Ok(None),
        }
    }
}
