//! Durable storage: one [`Store`] over SQLite (the embedded default, a file in
//! the data directory, WAL) or Postgres (several engine nodes on one database),
//! with the same methods and the same behaviour on both.
//!
//! Everything is scoped by workspace: every read and write takes the workspace
//! id, and a row of another workspace is indistinguishable from a missing one
//! ([`StoreError::NotFound`]). Times are Unix milliseconds; ids are prefixed
//! random strings (`lead_…`, `cal_…`).
//!
//! Migrations are embedded (`migrations/sqlite`, `migrations/postgres`) and run
//! by [`Store::open`].

mod agents;
pub(crate) mod batches;
mod calendar;
mod calls;
pub(crate) mod crm;
mod crm_connector;
mod dnc;
pub(crate) mod events;
mod keys;
mod knowledge;
mod leads;
mod numbers;
mod recordings;
mod sessions;
mod trunks;
mod webhooks;
mod workspaces;

use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

pub use agents::{
    Agent, AgentPatch, AudioPreference, MAX_DURATION_RANGE, NewAgent, TurnDetection, VOICES,
    VoiceProfile,
};
pub use batches::{
    Batch, BatchCreated, CallWindow, Claim, LeadResult, MAX_BATCH_LEADS, NewBatch,
    OBJECTIVE_TEMPLATES, Progress, RETRIABLE, Rejection, RetryPolicy, infer_timezone,
};
pub use calendar::{
    Booking, BookingRequest, Calendar, MAX_SLOTS, MAX_WINDOW_DAYS, NewCalendar, Slot, WorkingHours,
};
pub use calls::{
    Call, CallBinding, CallConfig, CallFilter, CallTotals, DbCalls, OUTCOMES, Qualification,
    STATUSES, ToolCallRow, TranscriptLine, Usage, call_key,
};
pub use crm::{Attempt, lead_status};
pub use crm_connector::{AuthHeader, CRM_FIELDS, CrmConnector, CrmConnectorConfig};
pub use dnc::{DncEntry, NewDnc};
pub use events::{CallEvent, FINAL, Hub, LIFECYCLE, LIVE_BUFFER, LiveEvent, WEBHOOK_ONLY};
pub use keys::ApiKey;
pub use knowledge::{Document, KnowledgeHit, MAX_BODY, MAX_HITS};
pub use leads::{Lead, NewLead, dial_problem, is_e164};
pub use numbers::{NewNumber, Number, RoutedNumber};
pub use recordings::{RecordingRow, remove_file, sweep_recordings};
pub use sessions::{
    ClaimedSession, DEFAULT_SESSION_TTL_S, NewSession, SESSION_TTL_RANGE, Session,
    SessionDirection, new_session_id,
};
pub use trunks::{Destination, NewTrunk, Transport, Trunk, TrunkCredentials, TrunkPatch};
pub use webhooks::{
    Delivery, Head, NewWebhook, ROTATION_OVERLAP_MS, WEBHOOK_EVENTS, Webhook, WebhookPatch,
};
pub use workspaces::{SettingsPatch, Workspace, WorkspaceSettings};

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// No such row in this workspace.
    #[error("not found")]
    NotFound,
    /// A value fails validation; `param` names the field.
    #[error("{param}: {message}")]
    Invalid {
        /// The offending field.
        param: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// The write conflicts with existing data (a taken slot, a duplicate name).
    #[error("{0}")]
    Conflict(String),
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// A migration failed.
    #[error("migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl StoreError {
    pub(crate) fn invalid(param: &'static str, message: impl Into<String>) -> StoreError {
        StoreError::Invalid {
            param,
            message: message.into(),
        }
    }
}

/// Result of a store operation.
pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Debug, Clone)]
enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to whichever backend the store has. The SQL
/// is written once with `$N` placeholders, which both backends accept.
macro_rules! on_db {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.db {
            $crate::store::Db::Sqlite($pool) => $body,
            $crate::store::Db::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_db;

/// The database.
#[derive(Debug, Clone)]
pub struct Store {
    db: Db,
    hub: std::sync::Arc<Hub>,
}

/// Which backend a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite.
    Sqlite,
    /// Postgres.
    Postgres,
}

impl Store {
    /// Opens `url` and runs the migrations: `postgres://…` (or `postgresql://…`)
    /// for Postgres, anything else is a SQLite file path (`sqlite://` optional),
    /// created when missing.
    pub async fn open(url: &str) -> StoreResult<Store> {
        let db = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(10))
                .connect(url)
                .await?;
            sqlx::migrate!("./migrations/postgres").run(&pool).await?;
            Db::Postgres(pool)
        } else {
            let path = url.strip_prefix("sqlite://").unwrap_or(url);
            let options = SqliteConnectOptions::from_str(&format!("sqlite://{path}"))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10));
            let pool = SqlitePoolOptions::new()
                .max_connections(8)
                .connect_with(options)
                .await?;
            sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
            Db::Sqlite(pool)
        };
        Ok(Store {
            db,
            hub: std::sync::Arc::default(),
        })
    }

    /// Opens (creating) `tenex.db` in `dir`.
    pub async fn open_data_dir(dir: &std::path::Path) -> StoreResult<Store> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Db(sqlx::Error::Io(e)))?;
        Store::open(&dir.join("tenex.db").to_string_lossy()).await
    }

    /// The backend.
    pub fn backend(&self) -> Backend {
        match self.db {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// Closes every connection.
    pub async fn close(&self) {
        on_db!(self, pool => pool.close().await)
    }
}

/// `SELECT columns FROM table` of one workspace, newest first, strictly after
/// the `(created_at, id)` position: binds `$1` workspace, `$2` created_at, `$3`
/// id, `$4` limit (the cursor pagination every list uses).
pub(crate) fn page_sql(columns: &str, table: &str) -> String {
    format!(
        "SELECT {columns} FROM {table} WHERE workspace_id = $1 \
         AND (created_at < $2 OR (created_at = $2 AND id < $3)) \
         ORDER BY created_at DESC, id DESC LIMIT $4"
    )
}

/// For `Option<Option<T>>` patch fields: present (possibly `null`) as opposed
/// to left out.
pub(crate) fn present<'de, T, D>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    T: serde::Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}

/// Now, in Unix milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A new id: `prefix_` and 32 random base32 characters (160 bits).
pub fn new_id(prefix: &str) -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut bytes = [0u8; 32];
    // The OS RNG failing is not recoverable; fall back to the clock only so ids
    // stay unique-ish instead of panicking.
    if getrandom::fill(&mut bytes).is_err() {
        let t = now_ms().to_le_bytes();
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = t[i % 8] ^ (i as u8).wrapping_mul(37);
        }
    }
    let mut id = String::with_capacity(prefix.len() + 33);
    id.push_str(prefix);
    id.push('_');
    id.extend(bytes.iter().map(|b| ALPHABET[(b & 31) as usize] as char));
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_prefixed_and_distinct() {
        let a = new_id("lead");
        let b = new_id("lead");
        assert!(a.starts_with("lead_"));
        assert_eq!(a.len(), 5 + 32);
        assert_ne!(a, b);
        assert!(
            a[5..]
                .bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        );
    }
}
