//! `tenex-voice keys create --workspace NAME` and `keys revoke KEY_ID`.

use crate::config::DbArgs;
use crate::store::StoreError;

/// `keys` subcommands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum KeysCommand {
    /// Creates an API key for a workspace (creating the workspace if needed)
    /// and prints it once: only its hash is stored.
    Create {
        /// Workspace name.
        #[arg(long)]
        workspace: String,
        /// Where the database is.
        #[command(flatten)]
        db: DbArgs,
    },
    /// Revokes a key by its id (`key_...`, printed at creation).
    Revoke {
        /// The key's id.
        key_id: String,
        /// Where the database is.
        #[command(flatten)]
        db: DbArgs,
    },
}

/// Runs a `keys` subcommand; returns what to print.
pub async fn run(cmd: KeysCommand) -> Result<String, String> {
    match cmd {
        KeysCommand::Create { workspace, db } => {
            let store = db.open().await.map_err(|e| e.to_string())?;
            let ws = match store.workspace_by_name(&workspace).await {
                Ok(ws) => ws,
                Err(StoreError::NotFound) => store
                    .create_workspace(&workspace)
                    .await
                    .map_err(|e| e.to_string())?,
                Err(e) => return Err(e.to_string()),
            };
            let (key, secret) = store.create_key(&ws.id).await.map_err(|e| e.to_string())?;
            store.close().await;
            Ok(format!(
                "{secret}\n\nAPI key {} for workspace {:?} ({}). It is shown only now: store it safely.\n",
                key.id, ws.name, ws.id
            ))
        }
        KeysCommand::Revoke { key_id, db } => {
            let store = db.open().await.map_err(|e| e.to_string())?;
            let key = store.revoke_key(&key_id).await.map_err(|e| match e {
                StoreError::NotFound => format!("no key {key_id}"),
                other => other.to_string(),
            })?;
            store.close().await;
            Ok(format!("revoked {} ({}...)\n", key.id, key.prefix))
        }
    }
}
