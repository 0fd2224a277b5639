//! `/webhooks`: subscriptions (URL, event types, signing secret, enabled),
//! secret rotation, the delivery log and replay. Deliveries are signed per the
//! Standard Webhooks spec and sent from a durable outbox (see
//! `crate::webhooks`).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use super::error::found;
use super::page::{Page, PageQuery, page};
use super::{ApiError, ApiJson, ApiQuery, ApiState, Caller};
use crate::store::{Delivery, NewWebhook, Webhook, WebhookPatch};
use crate::webhooks::{check_url, new_secret};

async fn checked_url(s: &ApiState, url: &str) -> Result<(), ApiError> {
    check_url(url, s.allow_private_webhooks)
        .await
        .map(|_| ())
        .map_err(|e| ApiError::invalid("url", e.to_string()))
}

fn secret() -> Result<String, ApiError> {
    new_secret().map_err(ApiError::internal)
}

/// Subscribe a URL to events. The answer carries the signing secret
/// (`whsec_…`), shown only here and when rotated.
///
/// Each delivery is a `POST` of `{"type", "timestamp", "data"}` with the
/// Standard Webhooks headers `webhook-id` (the same on every retry and
/// replay), `webhook-timestamp` and `webhook-signature` (`v1,<base64
/// HMAC-SHA256 of "id.timestamp.body">`). Events: `call.started`,
/// `call.ringing`, `call.answered`, `call.ended`, `agent.run.completed`,
/// `recording.ready`, `crm.writeback.failed`, `batch.completed`. Deliveries go
/// out in event order per subscription, at least once: 2xx = delivered; 410 =
/// the subscription is disabled; otherwise retried after 5 s, 30 s, 2 min,
/// 10 min, 30 min, 1 h, 2 h, 4 h, then every 6 h (each ±20 % jitter) for up to
/// 24 h; 10 s timeout per attempt. URLs must be http(s); loopback, private and
/// link-local hosts are refused unless the operator allows them.
#[utoipa::path(post, path = "/webhooks", tag = "webhooks", request_body = NewWebhook,
    responses((status = 201, description = "The subscription, with its secret.", body = Webhook)))]
pub(super) async fn create(
    State(s): State<ApiState>,
    caller: Caller,
    ApiJson(w): ApiJson<NewWebhook>,
) -> Result<(StatusCode, Json<Webhook>), ApiError> {
    checked_url(&s, &w.url).await?;
    let created = s
        .store
        .create_webhook(&caller.workspace, &w, &secret()?)
        .await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// The workspace's subscriptions, newest first (without secrets).
#[utoipa::path(get, path = "/webhooks", tag = "webhooks", params(PageQuery),
    responses((status = 200, description = "A page of subscriptions.", body = Page<Webhook>)))]
pub(super) async fn list(
    State(s): State<ApiState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<Page<Webhook>>, ApiError> {
    let limit = q.limit()?;
    let rows = s
        .store
        .webhooks(&caller.workspace, limit + 1, q.after()?)
        .await?;
    Ok(Json(page(rows, limit, |w| (w.created_at, w.id.as_str()))))
}

/// One subscription (without its secret).
#[utoipa::path(get, path = "/webhooks/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "The subscription (`wh_…`).")),
    responses((status = 200, description = "The subscription.", body = Webhook)))]
pub(super) async fn get(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Webhook>, ApiError> {
    Ok(Json(found(
        s.store.webhook(&caller.workspace, &id).await,
        "webhook",
    )?))
}

/// Change the URL, event types or enabled flag (re-enabling after a 410 clears
/// `disabled_reason`; deliveries resume with the oldest pending one).
#[utoipa::path(patch, path = "/webhooks/{id}", tag = "webhooks", request_body = WebhookPatch,
    params(("id" = String, Path, description = "The subscription (`wh_…`).")),
    responses((status = 200, description = "The subscription.", body = Webhook)))]
pub(super) async fn update(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(p): ApiJson<WebhookPatch>,
) -> Result<Json<Webhook>, ApiError> {
    if let Some(url) = &p.url {
        checked_url(&s, url).await?;
    }
    Ok(Json(found(
        s.store.update_webhook(&caller.workspace, &id, &p).await,
        "webhook",
    )?))
}

/// Delete a subscription and its delivery log.
#[utoipa::path(delete, path = "/webhooks/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "The subscription (`wh_…`).")),
    responses((status = 204, description = "Deleted.")))]
pub(super) async fn delete(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    found(
        s.store.delete_webhook(&caller.workspace, &id).await,
        "webhook",
    )?;
    Ok(StatusCode::NO_CONTENT)
}

/// A new signing secret. For the next 24 h deliveries are signed with both
/// the new and the previous secret (two `v1,` signatures), so receivers can
/// switch without missing one.
#[utoipa::path(post, path = "/webhooks/{id}/rotate-secret", tag = "webhooks",
    params(("id" = String, Path, description = "The subscription (`wh_…`).")),
    responses((status = 200, description = "The subscription, with its new secret.", body = Webhook)))]
pub(super) async fn rotate_secret(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Webhook>, ApiError> {
    Ok(Json(found(
        s.store
            .rotate_webhook_secret(&caller.workspace, &id, &secret()?)
            .await,
        "webhook",
    )?))
}

/// The subscription's delivery log, newest first: each message's status,
/// attempts, last HTTP status or error, and when the next attempt is due.
#[utoipa::path(get, path = "/webhooks/{id}/deliveries", tag = "webhooks",
    params(("id" = String, Path, description = "The subscription (`wh_…`)."), PageQuery),
    responses((status = 200, description = "A page of deliveries.", body = Page<Delivery>)))]
pub(super) async fn deliveries(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<Page<Delivery>>, ApiError> {
    let limit = q.limit()?;
    let rows = found(
        s.store
            .deliveries(&caller.workspace, &id, limit + 1, q.after()?)
            .await,
        "webhook",
    )?;
    Ok(Json(page(rows, limit, |d| (d.created_at, d.id.as_str()))))
}

/// Send a delivery again now, with the same `webhook-id` (receivers that
/// deduplicate by it see a repeat). It goes ahead of the subscription's later
/// pending deliveries.
#[utoipa::path(post, path = "/webhooks/deliveries/{id}/replay", tag = "webhooks",
    params(("id" = String, Path, description = "The delivery (`msg_…`).")),
    responses((status = 202, description = "Queued to be sent again.", body = Delivery)))]
pub(super) async fn replay(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Delivery>), ApiError> {
    let d = found(
        s.store.replay_delivery(&caller.workspace, &id).await,
        "delivery",
    )?;
    s.store.hub().committed();
    Ok((StatusCode::ACCEPTED, Json(d)))
}
