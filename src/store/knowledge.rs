//! The workspace's knowledge corpus and its full-text search: SQLite FTS5
//! ranked by BM25 (title weighted twice the body), or Postgres text search
//! ranked by `ts_rank_cd`. A query is free text: its words are matched with
//! OR, so the best documents share the most (and rarest) words with it.

use serde::Serialize;

use super::{Store, StoreError, StoreResult, new_id, now_ms, on_db};

/// A knowledge document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Document {
    /// `doc_…`.
    pub id: String,
    /// Title.
    pub title: String,
    /// Text.
    pub body: String,
    /// Creation time (Unix ms).
    pub created_at: i64,
}

/// One search result.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct KnowledgeHit {
    /// The document.
    pub document_id: String,
    /// Its title.
    pub title: String,
    /// The best matching passage.
    pub snippet: String,
    /// Relevance, higher is better (comparable within one search only).
    pub score: f64,
}

/// Most results a search returns.
pub const MAX_HITS: u32 = 10;
/// Largest document body accepted.
pub const MAX_BODY: usize = 256 * 1024;

/// The query's words (letters and digits), lowercased, at most 32.
fn words(query: &str) -> Vec<String> {
    query
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(32)
        .map(str::to_lowercase)
        .collect()
}

impl Store {
    /// Adds a document to `workspace`'s corpus.
    pub async fn add_document(
        &self,
        workspace: &str,
        title: &str,
        body: &str,
    ) -> StoreResult<Document> {
        if title.trim().is_empty() || title.len() > 300 {
            return Err(StoreError::invalid("title", "1 to 300 characters"));
        }
        if body.trim().is_empty() || body.len() > MAX_BODY {
            return Err(StoreError::invalid("body", "1 byte to 256 KiB of text"));
        }
        let doc = Document {
            id: new_id("doc"),
            title: title.trim().to_owned(),
            body: body.to_owned(),
            created_at: now_ms(),
        };
        let sql = "INSERT INTO knowledge_documents (id, workspace_id, title, body, created_at, \
                   updated_at) VALUES ($1, $2, $3, $4, $5, $5)";
        on_db!(self, pool => sqlx::query(sql)
            .bind(&doc.id).bind(workspace).bind(&doc.title).bind(&doc.body).bind(doc.created_at)
            .execute(pool).await?.rows_affected());
        Ok(doc)
    }

    /// Searches `workspace`'s corpus; best first, at most `limit` (≤ 10) hits.
    /// A query with no words is invalid; one matching nothing returns nothing.
    pub async fn search_knowledge(
        &self,
        workspace: &str,
        query: &str,
        limit: u32,
    ) -> StoreResult<Vec<KnowledgeHit>> {
        let words = words(query);
        if words.is_empty() {
            return Err(StoreError::invalid("query", "needs at least one word"));
        }
        let limit = i64::from(limit.clamp(1, MAX_HITS));
        let hits = match &self.db {
            super::Db::Sqlite(pool) => {
                // Every word quoted: FTS5 operators and punctuation in the
                // caller's text are never interpreted.
                let expr = words
                    .iter()
                    .map(|w| format!("\"{w}\""))
                    .collect::<Vec<_>>()
                    .join(" OR ");
                let sql = "SELECT d.id AS document_id, d.title, \
                           snippet(knowledge_fts, 1, '', '', '…', 32) AS snippet, \
                           -bm25(knowledge_fts, 2.0, 1.0) AS score \
                           FROM knowledge_fts JOIN knowledge_documents d ON d.seq = knowledge_fts.rowid \
                           WHERE knowledge_fts MATCH $1 AND d.workspace_id = $2 \
                           ORDER BY bm25(knowledge_fts, 2.0, 1.0), d.seq LIMIT $3";
                sqlx::query_as::<_, KnowledgeHit>(sql)
                    .bind(expr)
                    .bind(workspace)
                    .bind(limit)
                    .fetch_all(pool)
                    .await?
            }
            super::Db::Postgres(pool) => {
                let expr = words.join(" | ");
                let sql = "SELECT d.id AS document_id, d.title, \
                           ts_headline('english', d.body, q, 'StartSel=\"\", StopSel=\"\", MaxWords=40, MinWords=15') AS snippet, \
                           ts_rank_cd(d.tsv, q)::float8 AS score \
                           FROM knowledge_documents d, to_tsquery('english', $1) q \
                           WHERE d.workspace_id = $2 AND d.tsv @@ q \
                           ORDER BY score DESC, d.created_at, d.id LIMIT $3";
                sqlx::query_as::<_, KnowledgeHit>(sql)
                    .bind(expr)
                    .bind(workspace)
                    .bind(limit)
                    .fetch_all(pool)
                    .await?
            }
        };
        Ok(hits)
    }

    /// The document `id` of `workspace`.
    pub async fn document(&self, workspace: &str, id: &str) -> StoreResult<Document> {
        let sql = "SELECT id, title, body, created_at FROM knowledge_documents \
                   WHERE workspace_id = $1 AND id = $2";
        on_db!(self, pool => sqlx::query_as::<_, Document>(sql)
            .bind(workspace).bind(id).fetch_optional(pool).await?)
        .ok_or(StoreError::NotFound)
    }
}

#[cfg(test)]
mod tests {
    use super::words;

    #[test]
    fn queries_become_plain_words() {
        assert_eq!(
            words("What's the \"price\" -- for 2,000 calls? OR NEAR(x)"),
            [
                "what", "s", "the", "price", "for", "2", "000", "calls", "or", "near", "x"
            ]
        );
        assert!(words(" ?! ").is_empty());
        assert_eq!(words(&"a ".repeat(100)).len(), 32);
    }
}
