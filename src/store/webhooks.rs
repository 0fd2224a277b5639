//! Webhook subscriptions and their deliveries: the durable outbox.
//!
//! The outbox is the call events table itself: every event is committed with
//! the change that caused it ([`super::events`]). For each enabled
//! subscription, [`Store::enqueue_deliveries`] turns the workspace's events
//! after the subscription's cursor into delivery rows (one per subscription
//! and event, whose id is the `webhook-id` of every attempt) and moves the
//! cursor, in one transaction. Deliveries go out in event order per
//! subscription: only the oldest pending one is attempted.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::events::in_tx;
use super::{Store, StoreError, StoreResult, new_id, now_ms, on_db};

/// The event types a subscription can ask for.
pub const WEBHOOK_EVENTS: &[&str] = &[
    "call.started",
    "call.ringing",
    "call.answered",
    "call.ended",
    "agent.run.completed",
    "recording.ready",
    "crm.writeback.failed",
    "batch.completed",
];

/// How long the previous secret keeps signing after a rotation.
pub const ROTATION_OVERLAP_MS: i64 = 24 * 3_600_000;

/// Events turned into deliveries per subscription per pass.
const ENQUEUE_BATCH: i64 = 500;

/// A subscription to create.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhook {
    /// Where to POST (`http` or `https`).
    pub url: String,
    /// Event types to deliver (see `WEBHOOK_EVENTS`); empty or left out: all.
    #[serde(default)]
    pub event_types: Vec<String>,
    /// Whether it delivers (default true).
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

/// Changes to a subscription (fields left out stay).
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookPatch {
    /// Where to POST.
    pub url: Option<String>,
    /// Event types (empty: all).
    pub event_types: Option<Vec<String>>,
    /// Turn delivery on (also after a 410 disabled it) or off.
    pub enabled: Option<bool>,
}

/// A subscription.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Webhook {
    /// `wh_…`.
    pub id: String,
    /// Where deliveries go.
    pub url: String,
    /// Event types delivered (empty: all).
    pub event_types: Vec<String>,
    /// Whether it delivers.
    pub enabled: bool,
    /// Why delivery stopped (`410 Gone from the endpoint`), when it did.
    pub disabled_reason: Option<String>,
    /// The signing secret (`whsec_…`): only in the answers to create and
    /// rotate; store it then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// Until when (Unix ms) the previous secret also signs, after a rotation.
    pub previous_secret_expires_at: Option<i64>,
    /// Created (Unix ms).
    pub created_at: i64,
    /// Last changed (Unix ms).
    pub updated_at: i64,
}

#[derive(sqlx::FromRow)]
struct WebhookRow {
    id: String,
    url: String,
    event_types: String,
    secret: String,
    old_secret: Option<String>,
    old_secret_until: Option<i64>,
    enabled: i64,
    disabled_reason: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl WebhookRow {
    fn view(self, with_secret: bool) -> Webhook {
        let now = now_ms();
        Webhook {
            id: self.id,
            url: self.url,
            event_types: serde_json::from_str(&self.event_types).unwrap_or_default(),
            enabled: self.enabled == 1,
            disabled_reason: self.disabled_reason,
            secret: with_secret.then_some(self.secret),
            previous_secret_expires_at: self
                .old_secret
                .and(self.old_secret_until)
                .filter(|t| *t > now),
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

const COLUMNS: &str = "id, url, event_types, secret, old_secret, old_secret_until, enabled, \
    disabled_reason, created_at, updated_at";

/// One delivery (a message to one subscription) and how it went.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Delivery {
    /// `msg_…`: the `webhook-id` header of every attempt.
    pub id: String,
    /// The subscription.
    pub webhook_id: String,
    /// The event type.
    pub event_type: String,
    /// The event's position in the workspace's events (its SSE id).
    pub event_seq: i64,
    /// `pending`, `delivered` or `failed` (gave up, or the endpoint answered 410).
    pub status: String,
    /// Attempts made.
    pub attempts: i64,
    /// When the next attempt is due (Unix ms), while pending.
    pub next_attempt_at: i64,
    /// HTTP status of the last attempt.
    pub last_status: Option<i64>,
    /// Why the last attempt failed (timeout, connection refused, a status).
    pub last_error: Option<String>,
    /// Created (Unix ms).
    pub created_at: i64,
    /// Delivered (Unix ms).
    pub delivered_at: Option<i64>,
}

const DELIVERY_COLUMNS: &str = "id, webhook_id, event_type, event_seq, status, attempts, \
    next_attempt_at, last_status, last_error, created_at, delivered_at";

/// The oldest pending delivery of an enabled subscription: what to send next.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Head {
    /// The delivery (`webhook-id`).
    pub id: String,
    /// The subscription.
    pub webhook_id: String,
    /// Where to POST.
    pub url: String,
    /// The exact body.
    pub body: String,
    /// Attempts so far.
    pub attempts: i64,
    /// Due (Unix ms).
    pub next_attempt_at: i64,
    /// Leased by a sender until (Unix ms).
    pub lease_until: Option<i64>,
    /// Created (Unix ms): retries stop 24 h after.
    pub created_at: i64,
    /// `webhook` or `crm` (the CRM connector).
    pub kind: String,
    /// HTTP method (`POST` for webhooks).
    pub method: String,
    /// Extra headers as `[[name, value], …]` JSON (the CRM's auth header).
    pub headers: String,
    /// The call a CRM write-back is for.
    pub call_id: Option<String>,
    /// The workspace.
    pub workspace_id: String,
    secret: String,
    old_secret: Option<String>,
    old_secret_until: Option<i64>,
}

impl Head {
    /// The extra headers.
    pub fn extra_headers(&self) -> Vec<(String, String)> {
        serde_json::from_str(&self.headers).unwrap_or_default()
    }

    /// The secrets that sign it now: the current one, and the previous one
    /// within 24 h of a rotation.
    pub fn secrets(&self, now: i64) -> Vec<&str> {
        let mut out = vec![self.secret.as_str()];
        if let (Some(old), Some(until)) = (&self.old_secret, self.old_secret_until)
            && until > now
        {
            out.push(old);
        }
        out
    }
}

fn check_types(types: &[String]) -> StoreResult<String> {
    if let Some(bad) = types.iter().find(|t| !WEBHOOK_EVENTS.contains(&t.as_str())) {
        return Err(StoreError::invalid(
            "event_types",
            format!(
                "unknown event type {bad:?}; one of {}",
                WEBHOOK_EVENTS.join(", ")
            ),
        ));
    }
    let mut sorted = types.to_vec();
    sorted.sort();
    sorted.dedup();
    Ok(json!(sorted).to_string())
}

/// The message body for an event: `{"type", "timestamp", "data"}`.
fn body(kind: &str, created_at: i64, data: &str) -> String {
    let data: Value = serde_json::from_str(data).unwrap_or(Value::Null);
    let ts = jiff::Timestamp::from_millisecond(created_at).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    json!({"type": kind, "timestamp": ts, "data": data}).to_string()
}

impl Store {
    /// Creates a subscription (its URL already checked by the caller); the
    /// answer carries the secret.
    pub async fn create_webhook(
        &self,
        workspace: &str,
        w: &NewWebhook,
        secret: &str,
    ) -> StoreResult<Webhook> {
        let types = check_types(&w.event_types)?;
        let id = new_id("wh");
        let now = now_ms();
        let sql = "INSERT INTO webhooks (id, workspace_id, url, event_types, secret, enabled, \
                   cursor, created_at, updated_at) \
                   SELECT $1, $2, $3, $4, $5, $6, event_seq, $7, $7 FROM workspaces WHERE id = $2";
        on_db!(self, pool => sqlx::query(sql)
            .bind(&id).bind(workspace).bind(&w.url).bind(&types).bind(secret)
            .bind(i64::from(w.enabled)).bind(now)
            .execute(pool).await?.rows_affected());
        self.webhook_row(workspace, &id).await.map(|r| r.view(true))
    }

    async fn webhook_row(&self, workspace: &str, id: &str) -> StoreResult<WebhookRow> {
        let sql = format!(
            "SELECT {COLUMNS} FROM webhooks WHERE workspace_id = $1 AND id = $2 AND kind = 'webhook'"
        );
        on_db!(self, pool => sqlx::query_as::<_, WebhookRow>(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(workspace).bind(id).fetch_optional(pool).await?)
        .ok_or(StoreError::NotFound)
    }

    /// The subscription `id` (without its secret).
    pub async fn webhook(&self, workspace: &str, id: &str) -> StoreResult<Webhook> {
        self.webhook_row(workspace, id).await.map(|r| r.view(false))
    }

    /// `workspace`'s subscriptions, newest first, after the `(created_at, id)`
    /// position `after`.
    pub async fn webhooks(
        &self,
        workspace: &str,
        limit: u32,
        after: Option<(i64, String)>,
    ) -> StoreResult<Vec<Webhook>> {
        let (t, id) = after.unwrap_or((i64::MAX, String::new()));
        let sql = super::page_sql(
            COLUMNS,
            "(SELECT * FROM webhooks WHERE kind = 'webhook') AS w",
        );
        let rows = on_db!(self, pool => sqlx::query_as::<_, WebhookRow>(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(workspace).bind(t).bind(id).bind(i64::from(limit)).fetch_all(pool).await?);
        Ok(rows.into_iter().map(|r| r.view(false)).collect())
    }

    /// Applies `p` (its URL already checked by the caller). Enabling clears the
    /// reason it was disabled.
    pub async fn update_webhook(
        &self,
        workspace: &str,
        id: &str,
        p: &WebhookPatch,
    ) -> StoreResult<Webhook> {
        let types = p.event_types.as_deref().map(check_types).transpose()?;
        let sql = "UPDATE webhooks SET url = COALESCE($1, url), \
                   event_types = COALESCE($2, event_types), \
                   enabled = COALESCE($3, enabled), \
                   disabled_reason = CASE WHEN $3 = 1 THEN NULL ELSE disabled_reason END, \
                   updated_at = $4 WHERE workspace_id = $5 AND id = $6 AND kind = 'webhook'";
        let n = on_db!(self, pool => sqlx::query(sql)
            .bind(&p.url).bind(&types).bind(p.enabled.map(i64::from)).bind(now_ms())
            .bind(workspace).bind(id)
            .execute(pool).await?.rows_affected());
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        self.webhook(workspace, id).await
    }

    /// Deletes a subscription and its delivery log.
    pub async fn delete_webhook(&self, workspace: &str, id: &str) -> StoreResult<()> {
        let sql = "DELETE FROM webhooks WHERE workspace_id = $1 AND id = $2 AND kind = 'webhook'";
        let n = on_db!(self, pool => sqlx::query(sql).bind(workspace).bind(id)
            .execute(pool).await?.rows_affected());
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Replaces the secret with `secret`; the previous one keeps signing for
    /// 24 h (both signatures are sent). The answer carries the new secret.
    pub async fn rotate_webhook_secret(
        &self,
        workspace: &str,
        id: &str,
        secret: &str,
    ) -> StoreResult<Webhook> {
        let now = now_ms();
        let sql = "UPDATE webhooks SET old_secret = secret, old_secret_until = $1, secret = $2, \
                   updated_at = $3 WHERE workspace_id = $4 AND id = $5 AND kind = 'webhook'";
        let n = on_db!(self, pool => sqlx::query(sql)
            .bind(now + ROTATION_OVERLAP_MS).bind(secret).bind(now).bind(workspace).bind(id)
            .execute(pool).await?.rows_affected());
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        self.webhook_row(workspace, id).await.map(|r| r.view(true))
    }

    /// Turns new events into deliveries for every enabled subscription (and
    /// each completed call with a lead into a delivery for the workspace's CRM
    /// connector); returns how many deliveries were created.
    pub async fn enqueue_deliveries(&self) -> StoreResult<u64> {
        type Sub = (String, String, String, i64, String, String, String);
        let subs: Vec<Sub> = on_db!(self, pool => sqlx::query_as(
            "SELECT id, workspace_id, event_types, cursor, kind, field_map, url FROM webhooks \
             WHERE enabled = 1")
            .fetch_all(pool).await?);
        let mut created = 0;
        for (id, ws, types, cursor, kind, field_map, url_template) in subs {
            let types: Vec<String> = serde_json::from_str(&types).unwrap_or_default();
            let crm = kind == "crm";
            let events: Vec<(i64, String, String, i64)> = on_db!(self, pool => sqlx::query_as(
                "SELECT seq, kind, data, created_at FROM call_events \
                 WHERE workspace_id = $1 AND seq > $2 ORDER BY seq LIMIT $3")
                .bind(&ws).bind(cursor).bind(ENQUEUE_BATCH).fetch_all(pool).await?);
            let Some(last) = events.last().map(|e| e.0) else {
                continue;
            };
            let now = now_ms();
            created += in_tx!(self, tx => {
                // Another node may have moved the cursor: then it made these.
                let moved = sqlx::query("UPDATE webhooks SET cursor = $1 WHERE id = $2 AND cursor = $3")
                    .bind(last).bind(&id).bind(cursor)
                    .execute(&mut *tx).await?.rows_affected();
                let mut n = 0u64;
                if moved == 1 {
                    for (seq, kind, data, at) in &events {
                        let (url, call, body) = if crm {
                            let Some(c) = super::crm_connector::completed_call(kind, data) else {
                                continue;
                            };
                            let lead: Option<super::crm_connector::LeadFields> = sqlx::query_as(
                                super::crm_connector::LEAD_FIELDS)
                                .bind(&c.lead_id).fetch_optional(&mut *tx).await?;
                            let Some(lead) = lead else { continue };
                            let (url, body) = c.request(&url_template, &field_map, &lead);
                            sqlx::query("UPDATE calls SET crm_writeback = 'pending' WHERE id = $1")
                                .bind(&c.call_id).execute(&mut *tx).await?;
                            (Some(url), Some(c.call_id), body)
                        } else {
                            let wanted = WEBHOOK_EVENTS.contains(&kind.as_str())
                                && (types.is_empty() || types.contains(kind));
                            if !wanted {
                                continue;
                            }
                            (None, None, body(kind, *at, data))
                        };
                        n += sqlx::query(
                            "INSERT INTO webhook_deliveries (id, webhook_id, workspace_id, \
                             event_seq, event_type, body, status, next_attempt_at, created_at, \
                             url, call_id) \
                             VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $7, $8, $9) \
                             ON CONFLICT DO NOTHING")
                            .bind(new_id("msg")).bind(&id).bind(&ws).bind(seq).bind(kind)
                            .bind(body).bind(now).bind(url).bind(call)
                            .execute(&mut *tx).await?.rows_affected();
                    }
                }
                n
            });
        }
        Ok(created)
    }

    /// The oldest pending delivery of every enabled subscription.
    pub async fn delivery_heads(&self) -> StoreResult<Vec<Head>> {
        let sql = "SELECT d.id, d.webhook_id, COALESCE(d.url, w.url) AS url, d.body, d.attempts, \
            d.next_attempt_at, d.lease_until, d.created_at, w.secret, w.old_secret, \
            w.old_secret_until, w.kind, w.method, w.headers, d.call_id, d.workspace_id \
            FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id \
            WHERE w.enabled = 1 AND d.status = 'pending' AND d.event_seq = \
              (SELECT MIN(x.event_seq) FROM webhook_deliveries x \
               WHERE x.webhook_id = d.webhook_id AND x.status = 'pending')";
        Ok(on_db!(self, pool => sqlx::query_as::<_, Head>(sql).fetch_all(pool).await?))
    }

    /// Takes delivery `id` for an attempt until `until` (Unix ms); false when
    /// another sender holds it or it is no longer pending.
    pub async fn lease_delivery(&self, id: &str, until: i64) -> StoreResult<bool> {
        let sql = "UPDATE webhook_deliveries SET lease_until = $1 WHERE id = $2 \
                   AND status = 'pending' AND (lease_until IS NULL OR lease_until < $3)";
        let n = on_db!(self, pool => sqlx::query(sql).bind(until).bind(id).bind(now_ms())
            .execute(pool).await?.rows_affected());
        Ok(n == 1)
    }

    /// Records an attempt: delivered (`next` ignored), or failed with the
    /// next attempt due at `next` (`None`: give up, the delivery is `failed`).
    pub async fn record_attempt(
        &self,
        id: &str,
        delivered: bool,
        status: Option<u16>,
        error: Option<&str>,
        next: Option<i64>,
    ) -> StoreResult<()> {
        let now = now_ms();
        let state = match (delivered, next) {
            (true, _) => "delivered",
            (false, Some(_)) => "pending",
            (false, None) => "failed",
        };
        let sql = "UPDATE webhook_deliveries SET status = $1, attempts = attempts + 1, \
                   last_status = $2, last_error = $3, lease_until = NULL, \
                   next_attempt_at = COALESCE($4, next_attempt_at), \
                   delivered_at = CASE WHEN $1 = 'delivered' THEN $5 ELSE delivered_at END \
                   WHERE id = $6";
        on_db!(self, pool => sqlx::query(sql)
            .bind(state).bind(status.map(i64::from)).bind(error).bind(next).bind(now).bind(id)
            .execute(pool).await?.rows_affected());
        Ok(())
    }

    /// Stops a subscription's deliveries (the endpoint answered 410 Gone).
    pub async fn disable_webhook(&self, id: &str, reason: &str) -> StoreResult<()> {
        let sql = "UPDATE webhooks SET enabled = 0, disabled_reason = $1, updated_at = $2 \
                   WHERE id = $3";
        on_db!(self, pool => sqlx::query(sql).bind(reason).bind(now_ms()).bind(id)
            .execute(pool).await?.rows_affected());
        Ok(())
    }

    /// The delivery log of subscription `webhook`, newest first.
    pub async fn deliveries(
        &self,
        workspace: &str,
        webhook: &str,
        limit: u32,
        after: Option<(i64, String)>,
    ) -> StoreResult<Vec<Delivery>> {
        self.webhook_row(workspace, webhook).await?;
        let (t, id) = after.unwrap_or((i64::MAX, String::new()));
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE workspace_id = $1 \
             AND webhook_id = $2 AND (created_at < $3 OR (created_at = $3 AND id < $4)) \
             ORDER BY created_at DESC, id DESC LIMIT $5"
        );
        Ok(
            on_db!(self, pool => sqlx::query_as::<_, Delivery>(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(workspace).bind(webhook).bind(t).bind(id).bind(i64::from(limit))
            .fetch_all(pool).await?),
        )
    }

    /// Sends delivery `id` again, now, with the same `webhook-id` (it goes
    /// ahead of later pending deliveries of its subscription).
    pub async fn replay_delivery(&self, workspace: &str, id: &str) -> StoreResult<Delivery> {
        let sql = "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = $1, \
                   lease_until = NULL WHERE workspace_id = $2 AND id = $3";
        let n = on_db!(self, pool => sqlx::query(sql).bind(now_ms()).bind(workspace).bind(id)
            .execute(pool).await?.rows_affected());
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE workspace_id = $1 AND id = $2"
        );
        on_db!(self, pool => sqlx::query_as::<_, Delivery>(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(workspace).bind(id).fetch_optional(pool).await?)
        .ok_or(StoreError::NotFound)
    }
}
