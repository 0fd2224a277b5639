//! Workspaces: the tenancy boundary.

use serde::Serialize;

use super::{Store, StoreError, StoreResult, new_id, now_ms, on_db};

/// A workspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Workspace {
    /// `ws_…`.
    pub id: String,
    /// Unique name.
    pub name: String,
    /// Creation time (Unix ms).
    pub created_at: i64,
}

impl Store {
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
