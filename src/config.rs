//! Where the database is: shared by every subcommand that opens it.

use std::path::PathBuf;

use crate::store::{Store, StoreResult};

/// Database options (each also read from its environment variable).
#[derive(Debug, Clone, clap::Args)]
pub struct DbArgs {
    /// Postgres URL (`postgres://user:pass@host/db`); SQLite in the data
    /// directory when absent.
    #[arg(long, env = "TENEX_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Data directory: the SQLite database (`tenex.db`), recordings.
    #[arg(long, env = "TENEX_DATA_DIR", default_value = "tenex-data")]
    pub data_dir: PathBuf,
}

impl DbArgs {
    /// Opens the store (running migrations).
    pub async fn open(&self) -> StoreResult<Store> {
        match &self.database_url {
            Some(url) => Store::open(url).await,
            None => Store::open_data_dir(&self.data_dir).await,
        }
    }
}
