//! Cursor pagination: `?limit=&cursor=` → `{"data": [...], "next_cursor": ...}`,
//! newest first. The cursor is the last row's `(created_at, id)`, opaque to
//! clients; the next page is everything strictly older in that order, so rows
//! inserted while paging (all newer) never shift a page: no duplicates, no
//! skips.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use super::error::ApiError;

/// Default page size.
pub const DEFAULT_LIMIT: u32 = 50;
/// Largest page size.
pub const MAX_LIMIT: u32 = 200;

/// A page of results.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    /// The rows.
    pub data: Vec<T>,
    /// Pass as `cursor` for the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

/// `?limit=&cursor=`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Rows per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// The previous page's `next_cursor`, for the page after it.
    pub cursor: Option<String>,
}

impl PageQuery {
    /// The checked limit.
    pub fn limit(&self) -> Result<u32, ApiError> {
        match self.limit {
            None => Ok(DEFAULT_LIMIT),
            Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            Some(_) => Err(ApiError::invalid("limit", "must be 1 to 200")),
        }
    }

    /// The decoded cursor position.
    pub fn after(&self) -> Result<Option<(i64, String)>, ApiError> {
        let Some(c) = &self.cursor else {
            return Ok(None);
        };
        let bad = || ApiError::invalid("cursor", "not a cursor from this API");
        let bytes = URL_SAFE_NO_PAD.decode(c).map_err(|_| bad())?;
        let text = String::from_utf8(bytes).map_err(|_| bad())?;
        let (t, id) = text.split_once('.').ok_or_else(bad)?;
        Ok(Some((t.parse().map_err(|_| bad())?, id.to_owned())))
    }
}

/// Builds a page from up to `limit + 1` rows (the extra one says there is more).
pub(super) fn page<T>(mut rows: Vec<T>, limit: u32, key: impl Fn(&T) -> (i64, &str)) -> Page<T> {
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next_cursor = more
        .then(|| rows.last().map(&key))
        .flatten()
        .map(|(t, id)| URL_SAFE_NO_PAD.encode(format!("{t}.{id}")));
    Page {
        data: rows,
        next_cursor,
    }
}
