//! Workspaces: the tenancy boundary.

use serde::{Deserialize, Serialize};

use super::{Store, StoreError, StoreResult, is_e164, new_id, now_ms, on_db, present};
use crate::store::SESSION_TTL_RANGE;

/// A workspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Workspace {
    /// `ws_…`.
    pub id: String,
    /// Unique name.
    pub name: String,
    /// Creation time (Unix ms).
    pub created_at: i64,
}

/// A workspace's settings: retention and calling defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct WorkspaceSettings {
    /// Days a call recording is kept after the call ends; then the sweeper
    /// deletes it and its URL answers 410. `null`: kept until deleted.
    pub recording_retention_days: Option<u32>,
    /// Seconds a signed `recording_url` stays valid (default 3600).
    pub recording_url_ttl_s: u32,
    /// Seconds an inbound session's SIP URI stays valid when the session does
    /// not say (default 3600).
    pub session_ttl_s: u32,
    /// Seconds an outbound call rings before it is given up as no-answer
    /// (default 30).
    pub ring_timeout_s: u32,
    /// Caller id (E.164) for outbound calls that give none, before the trunk's.
    pub default_caller_id: Option<String>,
}

impl Default for WorkspaceSettings {
    fn default() -> WorkspaceSettings {
        WorkspaceSettings {
            recording_retention_days: None,
            recording_url_ttl_s: 3600,
            session_ttl_s: super::DEFAULT_SESSION_TTL_S,
            ring_timeout_s: 30,
            default_caller_id: None,
        }
    }
}

/// Changes to the settings: fields left out stay; `null` clears a nullable one.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsPatch {
    /// New retention, or null to keep recordings until deleted.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u32>)]
    pub recording_retention_days: Option<Option<u32>>,
    /// New URL lifetime.
    pub recording_url_ttl_s: Option<u32>,
    /// New session URI lifetime.
    pub session_ttl_s: Option<u32>,
    /// New ring timeout.
    pub ring_timeout_s: Option<u32>,
    /// New default caller id, or null.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub default_caller_id: Option<Option<String>>,
}

impl WorkspaceSettings {
    fn validate(&self) -> StoreResult<()> {
        if self
            .recording_retention_days
            .is_some_and(|d| !(1..=3650).contains(&d))
        {
            return Err(StoreError::invalid(
                "recording_retention_days",
                "1 to 3650 days (null keeps recordings)",
            ));
        }
        if !(60..=7 * 24 * 3600).contains(&self.recording_url_ttl_s) {
            return Err(StoreError::invalid(
                "recording_url_ttl_s",
                "60 to 604800 seconds",
            ));
        }
        if !SESSION_TTL_RANGE.contains(&self.session_ttl_s) {
            return Err(StoreError::invalid("session_ttl_s", "60 to 604800 seconds"));
        }
        if !(5..=300).contains(&self.ring_timeout_s) {
            return Err(StoreError::invalid("ring_timeout_s", "5 to 300 seconds"));
        }
        if let Some(id) = &self.default_caller_id
            && !is_e164(id)
        {
            return Err(StoreError::invalid("default_caller_id", "must be E.164"));
        }
        Ok(())
    }
}

impl Store {
    /// `workspace`'s record and settings.
    pub async fn workspace(&self, workspace: &str) -> StoreResult<(Workspace, WorkspaceSettings)> {
        let sql = "SELECT id, name, created_at FROM workspaces WHERE id = $1";
        let ws = on_db!(self, pool => sqlx::query_as::<_, Workspace>(sql)
            .bind(workspace).fetch_optional(pool).await?)
        .ok_or(StoreError::NotFound)?;
        Ok((ws, self.settings(workspace).await?))
    }

    /// `workspace`'s settings (defaults for what was never set).
    pub async fn settings(&self, workspace: &str) -> StoreResult<WorkspaceSettings> {
        let sql = "SELECT settings FROM workspaces WHERE id = $1";
        let text: Option<String> = on_db!(self, pool => sqlx::query_scalar(sql)
            .bind(workspace).fetch_optional(pool).await?);
        let text = text.ok_or(StoreError::NotFound)?;
        // Settings written by an older version may lack fields: defaults fill in.
        Ok(serde_json::from_str(&text).unwrap_or_default())
    }

    /// Every workspace with its settings (for the retention sweeper).
    pub async fn all_settings(&self) -> StoreResult<Vec<(String, WorkspaceSettings)>> {
        let sql = "SELECT id, settings FROM workspaces ORDER BY id";
        let rows: Vec<(String, String)> = on_db!(self, pool => sqlx::query_as(sql)
            .fetch_all(pool).await?);
        Ok(rows
            .into_iter()
            .map(|(id, s)| (id, serde_json::from_str(&s).unwrap_or_default()))
            .collect())
    }

    /// Applies `patch` to `workspace`'s settings.
    pub async fn update_settings(
        &self,
        workspace: &str,
        patch: &SettingsPatch,
    ) -> StoreResult<WorkspaceSettings> {
        let mut s = self.settings(workspace).await?;
        if let Some(d) = patch.recording_retention_days {
            s.recording_retention_days = d;
        }
        if let Some(t) = patch.recording_url_ttl_s {
            s.recording_url_ttl_s = t;
        }
        if let Some(t) = patch.session_ttl_s {
            s.session_ttl_s = t;
        }
        if let Some(t) = patch.ring_timeout_s {
            s.ring_timeout_s = t;
        }
        if let Some(c) = &patch.default_caller_id {
            s.default_caller_id = c.clone();
        }
        s.validate()?;
        let text = serde_json::to_string(&s).unwrap_or_default();
        let sql = "UPDATE workspaces SET settings = $1 WHERE id = $2";
        on_db!(self, pool => sqlx::query(sql).bind(&text).bind(workspace)
            .execute(pool).await?.rows_affected());
        Ok(s)
    }

    /// Creates a workspace; a taken name is a conflict.
    pub async fn create_workspace(&self, name: &str) -> StoreResult<Workspace> {
        let name = name.trim();
        if name.is_empty() || name.len() > 100 {
            return Err(StoreError::invalid("name", "1 to 100 characters"));
        }
        let ws = Workspace {
            id: new_id("ws"),
            name: name.to_owned(),
            created_at: now_ms(),
        };
        let sql = "INSERT INTO workspaces (id, name, created_at) VALUES ($1, $2, $3) \
                   ON CONFLICT (name) DO NOTHING";
        let done = on_db!(self, pool => sqlx::query(sql)
            .bind(&ws.id).bind(&ws.name).bind(ws.created_at)
            .execute(pool).await?.rows_affected());
        if done == 0 {
            return Err(StoreError::Conflict(format!(
                "a workspace named {name:?} exists"
            )));
        }
        Ok(ws)
    }

    /// The workspace with this name.
    pub async fn workspace_by_name(&self, name: &str) -> StoreResult<Workspace> {
        let sql = "SELECT id, name, created_at FROM workspaces WHERE name = $1";
        on_db!(self, pool => sqlx::query_as::<_, Workspace>(sql)
            .bind(name).fetch_optional(pool).await?)
        .ok_or(StoreError::NotFound)
    }
}
