//! Call recordings: where each call's WAV is, whether it is still there
//! (`ready`) or was removed (`deleted` through the API, `expired` by the
//! workspace's retention), and the secret that signs recording URLs.

use super::{Store, StoreError, StoreResult, on_db};

/// A call's recording as the server sees it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RecordingRow {
    /// The call.
    pub id: String,
    /// The call's workspace.
    pub workspace_id: String,
    /// `none`, `ready`, `deleted`, `expired`.
    pub recording_state: String,
    /// The file, while `ready`.
    pub recording_path: Option<String>,
}

impl Store {
    /// The secret `name` (32 random bytes, base64), created on first use and
    /// the same for every node on this database.
    pub async fn secret(&self, name: &str) -> StoreResult<String> {
        use base64::Engine as _;
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)
            .map_err(|e| StoreError::Db(sqlx::Error::Protocol(e.to_string())))?;
        let fresh = base64::engine::general_purpose::STANDARD.encode(bytes);
        let insert =
            "INSERT INTO secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING";
        on_db!(self, pool => sqlx::query(insert).bind(name).bind(&fresh)
            .execute(pool).await?.rows_affected());
        let select = "SELECT value FROM secrets WHERE name = $1";
        Ok(on_db!(self, pool => sqlx::query_scalar(select).bind(name).fetch_one(pool).await?))
    }

    /// The recording of call `id` (any workspace: the signed URL is the
    /// authority).
    pub async fn recording(&self, id: &str) -> StoreResult<Option<RecordingRow>> {
        let sql = "SELECT id, workspace_id, recording_state, recording_path FROM calls \
                   WHERE id = $1 AND status = 'ended'";
        Ok(on_db!(self, pool => sqlx::query_as::<_, RecordingRow>(sql)
            .bind(id).fetch_optional(pool).await?))
    }

    /// Marks call `id`'s recording removed (`deleted` or `expired`); returns
    /// the file to remove, if it was `ready`.
    pub async fn remove_recording(
        &self,
        workspace: &str,
        id: &str,
        state: &'static str,
    ) -> StoreResult<Option<String>> {
        let sql = "SELECT id, workspace_id, recording_state, recording_path FROM calls \
                   WHERE workspace_id = $1 AND id = $2";
        let row = on_db!(self, pool => sqlx::query_as::<_, RecordingRow>(sql)
            .bind(workspace).bind(id).fetch_optional(pool).await?)
        .ok_or(StoreError::NotFound)?;
        if row.recording_state != "ready" {
            return Ok(None);
        }
        let sql = "UPDATE calls SET recording_state = $1, recording_path = NULL \
                   WHERE workspace_id = $2 AND id = $3 AND recording_state = 'ready'";
        let n = on_db!(self, pool => sqlx::query(sql).bind(state).bind(workspace).bind(id)
            .execute(pool).await?.rows_affected());
        Ok(row.recording_path.filter(|_| n == 1))
    }

    /// `workspace`'s calls with a recording that ended before `before` (Unix ms).
    pub async fn recordings_ended_before(
        &self,
        workspace: &str,
        before: i64,
    ) -> StoreResult<Vec<String>> {
        let sql = "SELECT id FROM calls WHERE workspace_id = $1 AND recording_state = 'ready' \
                   AND ended_at < $2 ORDER BY ended_at LIMIT 1000";
        Ok(on_db!(self, pool => sqlx::query_scalar(sql)
            .bind(workspace).bind(before).fetch_all(pool).await?))
    }
}

/// Deletes the recordings the workspaces' retention no longer keeps, as of
/// `now` (Unix ms): the file goes, the call is marked `expired` (its URL then
/// answers 410). Returns how many.
pub async fn sweep_recordings(store: &Store, now: i64) -> StoreResult<usize> {
    let mut swept = 0;
    for (ws, settings) in store.all_settings().await? {
        let Some(days) = settings.recording_retention_days else {
            continue;
        };
        let before = now - i64::from(days) * 86_400_000;
        for id in store.recordings_ended_before(&ws, before).await? {
            if let Some(path) = store.remove_recording(&ws, &id, "expired").await? {
                remove_file(&path).await;
                swept += 1;
            }
        }
    }
    Ok(swept)
}

/// Removes a recording file; one already gone is fine.
pub async fn remove_file(path: &str) {
    match tokio::fs::remove_file(path).await {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!(path, error = %e, "recording file could not be removed"),
    }
}
