//! Workspace API keys: `tnx_` and 32 random base32 characters (160 bits),
//! shown once at creation and stored only as their SHA-256. A key is found by
//! its hash; a revoked key finds nothing.

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{Store, StoreError, StoreResult, new_id, now_ms, on_db};

/// A stored key (never the secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct ApiKey {
    /// `key_…`.
    pub id: String,
    /// The workspace it opens.
    pub workspace_id: String,
    /// The secret's first characters (`tnx_abcd`), to tell keys apart.
    pub prefix: String,
    /// Creation time (Unix ms).
    pub created_at: i64,
    /// When it was revoked.
    pub revoked_at: Option<i64>,
}

/// The lowercase hex SHA-256 of a key's secret.
fn hash(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

impl Store {
    /// Creates a key for `workspace`; returns it and its secret (shown once).
    pub async fn create_key(&self, workspace: &str) -> StoreResult<(ApiKey, String)> {
        let secret = new_id("tnx");
        let secret = format!("tnx_{}", &secret[4..]);
        let key = ApiKey {
            id: new_id("key"),
            workspace_id: workspace.to_owned(),
            prefix: secret[..8].to_owned(),
            created_at: now_ms(),
            revoked_at: None,
        };
        let sql = "INSERT INTO api_keys (id, workspace_id, hash, prefix, created_at) \
                   VALUES ($1, $2, $3, $4, $5)";
        on_db!(self, pool => sqlx::query(sql)
            .bind(&key.id).bind(workspace).bind(hash(&secret)).bind(&key.prefix)
            .bind(key.created_at)
            .execute(pool).await?.rows_affected());
        Ok((key, secret))
    }

    /// The live key with this secret.
    pub async fn key_by_secret(&self, secret: &str) -> StoreResult<ApiKey> {
        if !secret.starts_with("tnx_") || secret.len() > 100 {
            return Err(StoreError::NotFound);
        }
        let sql = "SELECT id, workspace_id, prefix, created_at, revoked_at FROM api_keys \
                   WHERE hash = $1 AND revoked_at IS NULL";
        on_db!(self, pool => sqlx::query_as::<_, ApiKey>(sql)
            .bind(hash(secret)).fetch_optional(pool).await?)
        .ok_or(StoreError::NotFound)
    }

    /// Revokes key `id` (idempotent); a missing key is [`StoreError::NotFound`].
    pub async fn revoke_key(&self, id: &str) -> StoreResult<ApiKey> {
        let sql = "UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL";
        on_db!(self, pool => sqlx::query(sql)
            .bind(id).bind(now_ms()).execute(pool).await?.rows_affected());
        let sql = "SELECT id, workspace_id, prefix, created_at, revoked_at FROM api_keys \
                   WHERE id = $1";
        on_db!(self, pool => sqlx::query_as::<_, ApiKey>(sql)
            .bind(id).fetch_optional(pool).await?)
        .ok_or(StoreError::NotFound)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn hashes_are_sha256_hex() {
        assert_eq!(
            super::hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
