//! `/batches`: outbound campaigns. A batch queues its leads in the database;
//! every node's dialer calls them within the batch's limits, windows and retry
//! policy (see [`crate::dialer`]).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};

use super::error::found;
use super::page::{Page, PageQuery, page};
use super::{ApiError, ApiJson, ApiQuery, ApiState, Caller};
use crate::store::{Batch, BatchCreated, LeadResult, NewBatch, Store, StoreError, Trunk};

/// The trunk `id`, or the workspace's oldest one with an outbound
/// destination; one without an outbound destination is refused.
pub(super) async fn outbound_trunk(
    store: &Store,
    workspace: &str,
    id: Option<&str>,
) -> Result<Trunk, ApiError> {
    let trunk = match id {
        Some(t) => match store.trunk(workspace, t).await {
            Err(StoreError::NotFound) => {
                return Err(ApiError::invalid("trunk_id", "no such trunk"));
            }
            other => other?,
        },
        None => store
            .default_outbound_trunk(workspace)
            .await?
            .ok_or_else(|| {
                ApiError::invalid(
                    "trunk_id",
                    "no trunk with an outbound destination: create one with POST /trunks",
                )
            })?,
    };
    if trunk.outbound.is_none() {
        return Err(ApiError::invalid(
            "trunk_id",
            "the trunk has no outbound destination",
        ));
    }
    Ok(trunk)
}

/// Starts batch `b` in `workspace` (shared by the REST API and MCP): resolves
/// the trunk, then queues the leads. The answer, and whether it is new.
pub(crate) async fn start_batch(
    store: &Store,
    workspace: &str,
    b: &NewBatch,
    key: Option<&str>,
) -> Result<(BatchCreated, bool), ApiError> {
    let trunk = outbound_trunk(store, workspace, b.trunk_id.as_deref()).await?;
    Ok(store.create_batch(workspace, b, &trunk.id, key).await?)
}

/// Start an outbound campaign.
///
/// Queues the leads and answers at once (202); every node's dialer then calls
/// them, at most `concurrency` at a time and `calls_per_second` new calls per
/// second (and within the trunk's own limits), inside each lead's calling
/// window (the lead's time zone, else the one its number's country code
/// implies), skipping numbers on the do-not-call list (outcome `dnc`), and
/// retrying the outcomes in `retry.on` after `retry.backoff_minutes` up to
/// `retry.max_attempts` calls. Unknown leads, leads without a valid number and
/// duplicates are listed in `rejected`, not queued. With an `Idempotency-Key`
/// header a retried request answers the first one's batch (200 from the second
/// time); the same key with a different body is a conflict (409). When the
/// batch ends, `batch.completed` goes to webhooks with the counts per outcome.
#[utoipa::path(post, path = "/batches", tag = "batches", request_body = NewBatch,
    params(("Idempotency-Key" = Option<String>, Header,
        description = "Makes a retried request return the same batch (1 to 255 characters).")),
    responses(
        (status = 202, description = "Queued.", body = BatchCreated),
        (status = 200, description = "The batch this Idempotency-Key started before.", body = BatchCreated),
        (status = 409, description = "The Idempotency-Key was used with a different request.",
            body = super::ErrorBody),
    ))]
pub(super) async fn create(
    State(s): State<ApiState>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(b): ApiJson<NewBatch>,
) -> Result<(StatusCode, Json<BatchCreated>), ApiError> {
    let key = match headers.get("idempotency-key") {
        Some(v) => Some(
            v.to_str()
                .map_err(|_| ApiError::invalid("Idempotency-Key", "must be visible ASCII"))?,
        ),
        None => None,
    };
    let (created, new) = start_batch(&s.store, &caller.workspace, &b, key).await?;
    let status = if new {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(created)))
}

/// The workspace's batches, newest first.
#[utoipa::path(get, path = "/batches", tag = "batches", params(PageQuery),
    responses((status = 200, description = "A page of batches.", body = Page<Batch>)))]
pub(super) async fn list(
    State(s): State<ApiState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<Page<Batch>>, ApiError> {
    let limit = q.limit()?;
    let rows = s
        .store
        .list_batches(&caller.workspace, limit + 1, q.after()?)
        .await?;
    Ok(Json(page(rows, limit, |b| (b.created_at, b.id.as_str()))))
}

/// A batch: status, counts per final outcome, progress.
#[utoipa::path(get, path = "/batches/{id}", tag = "batches",
    params(("id" = String, Path, description = "The batch (`batch_…`).")),
    responses((status = 200, description = "The batch.", body = Batch)))]
pub(super) async fn get(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Batch>, ApiError> {
    Ok(Json(found(
        s.store.batch(&caller.workspace, &id).await,
        "batch",
    )?))
}

/// Results per lead, in the order given: state, attempts, outcome, verdict
/// summary, meeting, call ids.
#[utoipa::path(get, path = "/batches/{id}/results", tag = "batches",
    params(("id" = String, Path, description = "The batch (`batch_…`).")),
    responses((status = 200, description = "One entry per queued lead.", body = BatchResults)))]
pub(super) async fn results(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<BatchResults>, ApiError> {
    let data = found(s.store.batch_results(&caller.workspace, &id).await, "batch")?;
    Ok(Json(BatchResults { data }))
}

/// A batch's results.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(super) struct BatchResults {
    /// One entry per queued lead.
    data: Vec<LeadResult>,
}

async fn act(
    s: &ApiState,
    caller: &Caller,
    id: &str,
    action: &str,
) -> Result<Json<Batch>, ApiError> {
    Ok(Json(found(
        s.store.batch_action(&caller.workspace, id, action).await,
        "batch",
    )?))
}

/// Pause: no new calls until resumed; calls in progress finish.
#[utoipa::path(post, path = "/batches/{id}/pause", tag = "batches",
    params(("id" = String, Path, description = "The batch (`batch_…`).")),
    responses(
        (status = 200, description = "The batch, paused.", body = Batch),
        (status = 409, description = "The batch is completed or canceled.", body = super::ErrorBody),
    ))]
pub(super) async fn pause(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Batch>, ApiError> {
    act(&s, &caller, &id, "pause").await
}

/// Resume a paused batch.
#[utoipa::path(post, path = "/batches/{id}/resume", tag = "batches",
    params(("id" = String, Path, description = "The batch (`batch_…`).")),
    responses(
        (status = 200, description = "The batch, running.", body = Batch),
        (status = 409, description = "The batch is completed or canceled.", body = super::ErrorBody),
    ))]
pub(super) async fn resume(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Batch>, ApiError> {
    act(&s, &caller, &id, "resume").await
}

/// Cancel: queued leads end `canceled`; calls in progress finish, then the
/// batch is `canceled` and `batch.completed` goes out.
#[utoipa::path(post, path = "/batches/{id}/cancel", tag = "batches",
    params(("id" = String, Path, description = "The batch (`batch_…`).")),
    responses(
        (status = 200, description = "The batch, canceled.", body = Batch),
        (status = 409, description = "The batch is completed.", body = super::ErrorBody),
    ))]
pub(super) async fn cancel(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Batch>, ApiError> {
    act(&s, &caller, &id, "cancel").await
}
