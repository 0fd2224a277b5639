//! The workspace's do-not-call list: E.164 numbers that are never dialed.

use serde::{Deserialize, Serialize};

use super::{Store, StoreError, StoreResult, is_e164, new_id, now_ms, on_db, page_sql};

/// A number to add.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDnc {
    /// E.164.
    pub phone: String,
    /// Why (`asked not to be called`), up to 500 characters.
    #[serde(default)]
    pub reason: Option<String>,
}

/// A number on the list.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct DncEntry {
    /// `dnc_…`.
    pub id: String,
    /// E.164.
    pub phone: String,
    /// Why.
    pub reason: Option<String>,
    /// Added (Unix ms).
    pub created_at: i64,
}

const COLUMNS: &str = "id, phone, reason, created_at";

impl Store {
    /// Adds `n` to `workspace`'s list; the entry, and whether it is new (a
    /// number already listed keeps its entry).
    pub async fn add_dnc(&self, workspace: &str, n: &NewDnc) -> StoreResult<(DncEntry, bool)> {
        if !is_e164(&n.phone) {
            return Err(StoreError::invalid(
                "phone",
                "must be E.164: + then 7 to 15 digits, e.g. +14155550123",
            ));
        }
        if n.reason.as_ref().is_some_and(|r| r.len() > 500) {
            return Err(StoreError::invalid("reason", "at most 500 characters"));
        }
        let sql = "INSERT INTO dnc (id, workspace_id, phone, reason, created_at) \
                   VALUES ($1, $2, $3, $4, $5) ON CONFLICT (workspace_id, phone) DO NOTHING";
        let added = on_db!(self, pool => sqlx::query(sql)
            .bind(new_id("dnc")).bind(workspace).bind(&n.phone).bind(&n.reason).bind(now_ms())
            .execute(pool).await?.rows_affected());
        let sql = format!("SELECT {COLUMNS} FROM dnc WHERE workspace_id = $1 AND phone = $2");
        let entry = on_db!(self, pool => sqlx::query_as::<_, DncEntry>(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(workspace).bind(&n.phone).fetch_one(pool).await?);
        Ok((entry, added == 1))
    }

    /// `workspace`'s list, newest first, after the `(created_at, id)` position.
    pub async fn list_dnc(
        &self,
        workspace: &str,
        limit: u32,
        after: Option<(i64, String)>,
    ) -> StoreResult<Vec<DncEntry>> {
        let (t, id) = after.unwrap_or((i64::MAX, String::new()));
        let sql = page_sql(COLUMNS, "dnc");
        Ok(
            on_db!(self, pool => sqlx::query_as::<_, DncEntry>(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(workspace).bind(t).bind(id).bind(i64::from(limit)).fetch_all(pool).await?),
        )
    }

    /// Whether `phone` is on `workspace`'s list.
    pub async fn on_dnc(&self, workspace: &str, phone: &str) -> StoreResult<bool> {
        let sql = "SELECT id FROM dnc WHERE workspace_id = $1 AND phone = $2";
        let hit: Option<String> = on_db!(self, pool => sqlx::query_scalar(sql)
            .bind(workspace).bind(phone).fetch_optional(pool).await?);
        Ok(hit.is_some())
    }

    /// Takes `phone` off `workspace`'s list.
    pub async fn delete_dnc(&self, workspace: &str, phone: &str) -> StoreResult<()> {
        let sql = "DELETE FROM dnc WHERE workspace_id = $1 AND phone = $2";
        let n = on_db!(self, pool => sqlx::query(sql).bind(workspace).bind(phone)
            .execute(pool).await?.rows_affected());
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
