//! The external CRM connector: one per workspace. Each completed call with a
//! lead is written to the configured URL (an HTTP `PATCH`, `POST` or `PUT` of
//! the mapped fields, with the configured auth header and `Idempotency-Key:
//! <call id>`), from the same durable outbox and with the same retries as
//! webhooks ([`super::webhooks`]). A write-back that fails for good (a 4xx
//! other than 408/429, or retries over) marks the call's `crm_writeback`
//! `failed` and appends `crm.writeback.failed` (a webhook event).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::events::{NewEvent, append_events, in_tx};
use super::{Store, StoreError, StoreResult, new_id, now_ms, on_db};

/// The fields a connector can send: from the verdict and the call, from the
/// lead (`name`, `phone`, `email`, `company`), and `custom.<key>` of the
/// lead's custom fields.
pub const CRM_FIELDS: &[&str] = &[
    "call_id",
    "lead_id",
    "batch_id",
    "status",
    "outcome",
    "duration_ms",
    "qualified",
    "score",
    "reasons",
    "budget",
    "authority",
    "need",
    "timeline",
    "next_steps",
    "evidence_quotes",
    "summary",
    "meeting_booked",
    "meeting_start",
    "name",
    "phone",
    "email",
    "company",
];

/// What is sent when no field map is configured (each under its own name).
const DEFAULT_FIELDS: &[&str] = &[
    "call_id",
    "lead_id",
    "status",
    "outcome",
    "qualified",
    "score",
    "reasons",
    "budget",
    "authority",
    "need",
    "timeline",
    "next_steps",
    "evidence_quotes",
    "summary",
    "meeting_booked",
    "meeting_start",
];

/// A header sent with every write (its value is never returned).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthHeader {
    /// Header name (`Authorization`, `X-Api-Key`).
    pub name: String,
    /// Header value (`Bearer …`); write-only.
    pub value: String,
}

/// The connector as configured (`PUT /crm-connector`).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CrmConnectorConfig {
    /// Where to write: http(s), with optional placeholders `{lead_id}`,
    /// `{call_id}`, `{phone}`, `{email}` and `{custom.<key>}` (the lead's
    /// custom field, e.g. its id in your CRM), filled in URL-encoded.
    pub url: String,
    /// `PATCH` (default), `POST` or `PUT`.
    #[serde(default = "patch")]
    pub method: String,
    /// Sent with every write.
    #[serde(default)]
    pub auth_header: Option<AuthHeader>,
    /// The JSON body: your field name → one of our fields (`status`, `score`,
    /// `summary`, `meeting_start`, `custom.<key>`, …). Empty: our fields
    /// under their own names.
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    /// Whether it writes (default true).
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn patch() -> String {
    "PATCH".into()
}

fn yes() -> bool {
    true
}

/// The connector as stored.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CrmConnector {
    /// `crm_…`.
    pub id: String,
    /// URL (template).
    pub url: String,
    /// HTTP method.
    pub method: String,
    /// The auth header's name (its value is never returned).
    pub auth_header_name: Option<String>,
    /// Field map (empty: the default fields).
    pub fields: BTreeMap<String, String>,
    /// Whether it writes.
    pub enabled: bool,
    /// Created (Unix ms).
    pub created_at: i64,
    /// Last changed (Unix ms).
    pub updated_at: i64,
}

#[derive(sqlx::FromRow)]
struct ConnectorRow {
    id: String,
    url: String,
    method: String,
    headers: String,
    field_map: String,
    enabled: i64,
    created_at: i64,
    updated_at: i64,
}

impl From<ConnectorRow> for CrmConnector {
    fn from(r: ConnectorRow) -> CrmConnector {
        let headers: Vec<(String, String)> = serde_json::from_str(&r.headers).unwrap_or_default();
        CrmConnector {
            id: r.id,
            url: r.url,
            method: r.method,
            auth_header_name: headers.into_iter().next().map(|(n, _)| n),
            fields: serde_json::from_str(&r.field_map).unwrap_or_default(),
            enabled: r.enabled == 1,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

impl CrmConnectorConfig {
    fn validate(&self) -> StoreResult<()> {
        if !["PATCH", "POST", "PUT"].contains(&self.method.as_str()) {
            return Err(StoreError::invalid("method", "PATCH, POST or PUT"));
        }
        if let Some(h) = &self.auth_header {
            let token = !h.name.is_empty()
                && h.name.len() <= 100
                && h.name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
            if !token {
                return Err(StoreError::invalid(
                    "auth_header.name",
                    "an HTTP header name",
                ));
            }
            if h.value.is_empty()
                || h.value.len() > 4096
                || h.value.bytes().any(|b| b == b'\r' || b == b'\n')
            {
                return Err(StoreError::invalid(
                    "auth_header.value",
                    "1 to 4096 characters on one line",
                ));
            }
        }
        if self.fields.len() > 50 {
            return Err(StoreError::invalid("fields", "at most 50 fields"));
        }
        for (theirs, ours) in &self.fields {
            if theirs.is_empty() || theirs.len() > 100 {
                return Err(StoreError::invalid(
                    "fields",
                    "field names of 1 to 100 characters",
                ));
            }
            let known = CRM_FIELDS.contains(&ours.as_str())
                || ours.strip_prefix("custom.").is_some_and(|k| !k.is_empty());
            if !known {
                return Err(StoreError::invalid(
                    "fields",
                    format!(
                        "unknown field {ours:?}; one of {} or custom.<key>",
                        CRM_FIELDS.join(", ")
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// A completed call with a lead, from its `agent.run.completed` event.
#[derive(Debug, Clone)]
pub(crate) struct Completed {
    pub(crate) call_id: String,
    pub(crate) lead_id: String,
    data: Value,
}

/// The call in an `agent.run.completed` event's data, when it has a lead.
pub(crate) fn completed_call(kind: &str, data: &str) -> Option<Completed> {
    if kind != super::events::FINAL {
        return None;
    }
    let data: Value = serde_json::from_str(data).ok()?;
    Some(Completed {
        call_id: data["call_id"].as_str()?.to_owned(),
        lead_id: data["lead_id"].as_str()?.to_owned(),
        data,
    })
}

/// The lead's fields a connector can send.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct LeadFields {
    name: String,
    phone: String,
    email: Option<String>,
    company: Option<String>,
    custom: String,
}

pub(crate) const LEAD_FIELDS: &str =
    "SELECT name, phone, email, company, custom FROM leads WHERE id = $1";

/// Percent-encodes all but RFC 3986's unreserved characters.
fn encode(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Completed {
    fn field(&self, lead: &LeadFields, custom: &Map<String, Value>, name: &str) -> Value {
        let d = &self.data;
        let v = &d["verdict"];
        match name {
            "status" => d["lead_status"].clone(),
            "score" | "reasons" | "budget" | "authority" | "need" | "timeline" | "next_steps"
            | "evidence_quotes" => v[name].clone(),
            "name" => json!(lead.name),
            "phone" => json!(lead.phone),
            "email" => json!(lead.email),
            "company" => json!(lead.company),
            other => match other.strip_prefix("custom.") {
                Some(key) => custom.get(key).cloned().unwrap_or(Value::Null),
                None => d[other].clone(),
            },
        }
    }

    /// The URL (its template filled in) and the JSON body for `lead`.
    pub(crate) fn request(
        &self,
        url: &str,
        field_map: &str,
        lead: &LeadFields,
    ) -> (String, String) {
        let custom: Map<String, Value> = serde_json::from_str(&lead.custom).unwrap_or_default();
        let map: BTreeMap<String, String> = serde_json::from_str(field_map).unwrap_or_default();
        let mut body = Map::new();
        if map.is_empty() {
            for f in DEFAULT_FIELDS {
                body.insert((*f).to_owned(), self.field(lead, &custom, f));
            }
        } else {
            for (theirs, ours) in &map {
                body.insert(theirs.clone(), self.field(lead, &custom, ours));
            }
        }
        let mut url = url
            .replace("{lead_id}", &encode(&self.lead_id))
            .replace("{call_id}", &encode(&self.call_id))
            .replace("{phone}", &encode(&lead.phone))
            .replace("{email}", &encode(lead.email.as_deref().unwrap_or("")));
        for (k, v) in &custom {
            let text = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            url = url.replace(&format!("{{custom.{k}}}"), &encode(&text));
        }
        (url, Value::Object(body).to_string())
    }
}

const CONNECTOR_COLUMNS: &str =
    "id, url, method, headers, field_map, enabled, created_at, updated_at";

impl Store {
    /// Creates or replaces `workspace`'s connector (its URL already checked by
    /// the caller). It writes the calls completed from now on.
    pub async fn put_crm_connector(
        &self,
        workspace: &str,
        c: &CrmConnectorConfig,
        secret: &str,
    ) -> StoreResult<CrmConnector> {
        c.validate()?;
        let headers: Vec<(&str, &str)> = c
            .auth_header
            .iter()
            .map(|h| (h.name.as_str(), h.value.as_str()))
            .collect();
        let headers = json!(headers).to_string();
        let fields = json!(c.fields).to_string();
        let now = now_ms();
        let enabled = i64::from(c.enabled);
        in_tx!(self, tx => {
            let n = sqlx::query(
                "UPDATE webhooks SET url = $1, method = $2, headers = $3, field_map = $4, \
                 enabled = $5, disabled_reason = NULL, updated_at = $6 \
                 WHERE workspace_id = $7 AND kind = 'crm'")
                .bind(&c.url).bind(&c.method).bind(&headers).bind(&fields).bind(enabled)
                .bind(now).bind(workspace)
                .execute(&mut *tx).await?.rows_affected();
            if n == 0 {
                sqlx::query(
                    "INSERT INTO webhooks (id, workspace_id, url, event_types, secret, enabled, \
                     cursor, created_at, updated_at, kind, method, headers, field_map) \
                     SELECT $1, $2, $3, $4, $5, $6, event_seq, $7, $7, 'crm', $8, $9, $10 \
                     FROM workspaces WHERE id = $2")
                    .bind(new_id("crm")).bind(workspace).bind(&c.url)
                    .bind(json!([super::events::FINAL]).to_string()).bind(secret).bind(enabled)
                    .bind(now).bind(&c.method).bind(&headers).bind(&fields)
                    .execute(&mut *tx).await?;
            }
        });
        self.crm_connector(workspace).await
    }

    /// `workspace`'s connector.
    pub async fn crm_connector(&self, workspace: &str) -> StoreResult<CrmConnector> {
        let sql = format!(
            "SELECT {CONNECTOR_COLUMNS} FROM webhooks WHERE workspace_id = $1 AND kind = 'crm'"
        );
        on_db!(self, pool => sqlx::query_as::<_, ConnectorRow>(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(workspace).fetch_optional(pool).await?)
        .map(CrmConnector::from)
        .ok_or(StoreError::NotFound)
    }

    /// Removes `workspace`'s connector (pending writes are dropped).
    pub async fn delete_crm_connector(&self, workspace: &str) -> StoreResult<()> {
        let sql = "DELETE FROM webhooks WHERE workspace_id = $1 AND kind = 'crm'";
        let n = on_db!(self, pool => sqlx::query(sql).bind(workspace)
            .execute(pool).await?.rows_affected());
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// The call's CRM write-back went through.
    pub async fn crm_writeback_delivered(&self, call: &str) -> StoreResult<()> {
        let sql = "UPDATE calls SET crm_writeback = 'delivered' WHERE id = $1";
        on_db!(self, pool => sqlx::query(sql).bind(call).execute(pool).await?.rows_affected());
        Ok(())
    }

    /// The call's CRM write-back failed for good: the call shows it, and
    /// `crm.writeback.failed` is appended (webhooks deliver it).
    pub async fn crm_writeback_failed(
        &self,
        workspace: &str,
        call: &str,
        error: &str,
        attempts: i64,
    ) -> StoreResult<()> {
        let appended = in_tx!(self, tx => {
            let lead: Option<Option<String>> = sqlx::query_scalar(
                "UPDATE calls SET crm_writeback = 'failed' WHERE id = $1 RETURNING lead_id")
                .bind(call).fetch_optional(&mut *tx).await?;
            let ev = NewEvent::new("crm.writeback.failed", json!({"call_id": call,
                "lead_id": lead.flatten(), "error": error, "attempts": attempts}),
                "crm.writeback.failed".to_owned());
            append_events!(tx, workspace, call, [ev])
        });
        self.appended(appended);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lead() -> LeadFields {
        LeadFields {
            name: "Dana Reyes".into(),
            phone: "+13125550142".into(),
            email: Some("dana@example.com".into()),
            company: None,
            custom: r#"{"hubspot_id": "hs 42/7"}"#.into(),
        }
    }

    fn done() -> Completed {
        let data = json!({"call_id": "call_1", "lead_id": "lead_1", "outcome": "qualified",
            "lead_status": "meeting_booked", "summary": "Booked.", "meeting_booked": true,
            "verdict": {"qualified": true, "score": 85, "reasons": ["volume"]}});
        completed_call(super::super::events::FINAL, &data.to_string()).expect("completed")
    }

    #[test]
    fn fields_are_mapped_and_the_url_template_filled_in() {
        let map = json!({"hs_lead_status": "status", "tenex_score": "score",
            "notes": "summary", "contact": "email", "crm_id": "custom.hubspot_id"});
        let (url, body) = done().request(
            "https://crm.example.com/contacts/{custom.hubspot_id}?lead={lead_id}&p={phone}",
            &map.to_string(),
            &lead(),
        );
        assert_eq!(
            url,
            "https://crm.example.com/contacts/hs%2042%2F7?lead=lead_1&p=%2B13125550142"
        );
        let body: Value = serde_json::from_str(&body).expect("json");
        assert_eq!(
            body,
            json!({"hs_lead_status": "meeting_booked", "tenex_score": 85, "notes": "Booked.",
                "contact": "dana@example.com", "crm_id": "hs 42/7"})
        );
        // No map: our own names.
        let (_, body) = done().request("https://x.example/", "{}", &lead());
        let body: Value = serde_json::from_str(&body).expect("json");
        assert_eq!(body["status"], "meeting_booked");
        assert_eq!(body["score"], 85);
        assert_eq!(body["call_id"], "call_1");
        assert_eq!(body.as_object().map(Map::len), Some(DEFAULT_FIELDS.len()));
        // Only completed calls with a lead are written.
        assert!(completed_call("call.ended", r#"{"call_id":"c","lead_id":"l"}"#).is_none());
        assert!(
            completed_call(
                super::super::events::FINAL,
                r#"{"call_id":"c","lead_id":null}"#
            )
            .is_none()
        );
    }

    #[test]
    fn configs_are_checked() {
        let ok = CrmConnectorConfig {
            url: "https://x.example/".into(),
            method: "PATCH".into(),
            auth_header: Some(AuthHeader {
                name: "Authorization".into(),
                value: "Bearer k".into(),
            }),
            fields: BTreeMap::from([
                ("s".into(), "status".into()),
                ("c".into(), "custom.x".into()),
            ]),
            enabled: true,
        };
        assert!(ok.validate().is_ok());
        let bad = |f: &dyn Fn(&mut CrmConnectorConfig)| {
            let mut c = ok.clone();
            f(&mut c);
            match c.validate() {
                Err(StoreError::Invalid { param, .. }) => param,
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(bad(&|c| c.method = "GET".into()), "method");
        assert_eq!(
            bad(&|c| c
                .fields
                .insert("x".into(), "password".into())
                .map_or((), drop)),
            "fields"
        );
        assert_eq!(
            bad(&|c| c
                .fields
                .insert("y".into(), "custom.".into())
                .map_or((), drop)),
            "fields"
        );
        assert_eq!(
            bad(&|c| c.auth_header = Some(AuthHeader {
                name: "Bad Header".into(),
                value: "v".into()
            })),
            "auth_header.name"
        );
        assert_eq!(
            bad(&|c| c.auth_header = Some(AuthHeader {
                name: "X".into(),
                value: "a\r\nb".into()
            })),
            "auth_header.value"
        );
    }
}
