//! `/crm-connector`: the workspace's external CRM, written each completed
//! call's verdict (see `crate::store::CrmConnectorConfig`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::error::found;
use super::{ApiError, ApiJson, ApiState, Caller};
use crate::store::{CrmConnector, CrmConnectorConfig};
use crate::webhooks::{check_url, new_secret};

/// The workspace's external CRM connector.
#[utoipa::path(get, path = "/crm-connector", tag = "crm",
    responses((status = 200, description = "The connector (its auth header's value is never shown).",
        body = CrmConnector),
        (status = 404, description = "No connector is configured (`not_found`).", body = super::ErrorBody)))]
pub(super) async fn get(
    State(s): State<ApiState>,
    caller: Caller,
) -> Result<Json<CrmConnector>, ApiError> {
    Ok(Json(found(
        s.store.crm_connector(&caller.workspace).await,
        "CRM connector",
    )?))
}

/// Configure (or replace) the external CRM connector.
///
/// When a call with a lead is complete, the connector sends the mapped fields
/// (`PATCH` by default) to its URL with the auth header and
/// `Idempotency-Key: <call id>` (the same key on every retry), from the
/// durable outbox webhooks use: retried on 5xx, 408, 429 and network errors
/// (5 s, 30 s, 2 min, … for up to 24 h). A write-back that fails for good (any
/// other 4xx, or retries over) sets the call's `crm_writeback` to `failed`
/// and sends the `crm.writeback.failed` webhook. Calls completed before the
/// connector was configured are not written.
#[utoipa::path(put, path = "/crm-connector", tag = "crm", request_body = CrmConnectorConfig,
    responses((status = 200, description = "The connector.", body = CrmConnector)))]
pub(super) async fn put(
    State(s): State<ApiState>,
    caller: Caller,
    ApiJson(c): ApiJson<CrmConnectorConfig>,
) -> Result<Json<CrmConnector>, ApiError> {
    // The template's placeholders are not part of the host.
    check_url(&c.url, s.allow_private_webhooks)
        .await
        .map_err(|e| ApiError::invalid("url", e.to_string()))?;
    let secret = new_secret().map_err(ApiError::internal)?;
    Ok(Json(
        s.store
            .put_crm_connector(&caller.workspace, &c, &secret)
            .await?,
    ))
}

/// Remove the connector (writes not yet sent are dropped).
#[utoipa::path(delete, path = "/crm-connector", tag = "crm",
    responses((status = 204, description = "Removed."),
        (status = 404, description = "No connector is configured (`not_found`).", body = super::ErrorBody)))]
pub(super) async fn delete(
    State(s): State<ApiState>,
    caller: Caller,
) -> Result<StatusCode, ApiError> {
    found(
        s.store.delete_crm_connector(&caller.workspace).await,
        "CRM connector",
    )?;
    Ok(StatusCode::NO_CONTENT)
}
