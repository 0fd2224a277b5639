//! Leads: the embedded CRM's records of the people the agents talk to.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{Store, StoreError, StoreResult, new_id, now_ms, on_db, page_sql};

/// A lead to create.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewLead {
    /// Full name.
    pub name: String,
    /// E.164 (`+` and 7 to 15 digits).
    pub phone: String,
    /// Email address.
    #[serde(default)]
    pub email: Option<String>,
    /// Company.
    #[serde(default)]
    pub company: Option<String>,
    /// IANA time zone (`Europe/Berlin`).
    #[serde(default)]
    pub timezone: Option<String>,
    /// Free-form fields (a JSON object).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub custom: Map<String, Value>,
}

/// A stored lead.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Lead {
    /// `lead_…`.
    pub id: String,
    /// Full name.
    pub name: String,
    /// E.164.
    pub phone: String,
    /// Email address.
    pub email: Option<String>,
    /// Company.
    pub company: Option<String>,
    /// IANA time zone.
    pub timezone: Option<String>,
    /// Free-form fields.
    #[schema(value_type = Object)]
    pub custom: Map<String, Value>,
    /// `new`, `qualified`, `unqualified`, `follow_up`, `meeting_booked`, `unreachable`
    /// (written by each completed call; see the `leads` tag).
    pub status: String,
    /// The latest verdict a call wrote back: `call_id`, `outcome`, `verdict`,
    /// `summary`, `meeting_booked`, `meeting_start`.
    #[schema(value_type = Option<Object>)]
    pub latest_verdict: Option<Value>,
    /// Creation time (Unix ms).
    pub created_at: i64,
    /// Last change (Unix ms).
    pub updated_at: i64,
}

#[derive(sqlx::FromRow)]
struct LeadRow {
    id: String,
    name: String,
    phone: String,
    email: Option<String>,
    company: Option<String>,
    timezone: Option<String>,
    custom: String,
    status: String,
    latest_verdict: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl From<LeadRow> for Lead {
    fn from(r: LeadRow) -> Lead {
        Lead {
            id: r.id,
            name: r.name,
            phone: r.phone,
            email: r.email,
            company: r.company,
            timezone: r.timezone,
            custom: serde_json::from_str(&r.custom).unwrap_or_default(),
            status: r.status,
            latest_verdict: r.latest_verdict.and_then(|v| serde_json::from_str(&v).ok()),
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// Whether `phone` is an E.164 number: `+`, a non-zero digit, 7 to 15 digits in all.
pub fn is_e164(phone: &str) -> bool {
    let Some(digits) = phone.strip_prefix('+') else {
        return false;
    };
    (7..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
}

impl NewLead {
    fn validate(&self) -> StoreResult<()> {
        if self.name.trim().is_empty() || self.name.len() > 200 {
            return Err(StoreError::invalid("name", "1 to 200 characters"));
        }
        if !is_e164(&self.phone) {
            return Err(StoreError::invalid(
                "phone",
                "must be E.164: + then 7 to 15 digits, e.g. +14155550123",
            ));
        }
        if let Some(email) = &self.email
            && (email.len() > 254 || !email.contains('@'))
        {
            return Err(StoreError::invalid("email", "not an email address"));
        }
        if let Some(tz) = &self.timezone
            && jiff::tz::TimeZone::get(tz).is_err()
        {
            return Err(StoreError::invalid(
                "timezone",
                "not an IANA time zone (e.g. America/New_York)",
            ));
        }
        Ok(())
    }
}

const COLUMNS: &str = "id, name, phone, email, company, timezone, custom, status, \
    latest_verdict, created_at, updated_at";

impl Store {
    /// Creates a lead in `workspace`.
    pub async fn create_lead(&self, workspace: &str, lead: &NewLead) -> StoreResult<Lead> {
        lead.validate()?;
        let now = now_ms();
        let row = LeadRow {
            id: new_id("lead"),
            name: lead.name.trim().to_owned(),
            phone: lead.phone.clone(),
            email: lead.email.clone(),
            company: lead.company.clone(),
            timezone: lead.timezone.clone(),
            custom: Value::Object(lead.custom.clone()).to_string(),
            status: "new".into(),
            latest_verdict: None,
            created_at: now,
            updated_at: now,
        };
        let sql = "INSERT INTO leads (id, workspace_id, name, phone, email, company, timezone, \
                   custom, status, created_at, updated_at) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";
        on_db!(self, pool => sqlx::query(sql)
            .bind(&row.id).bind(workspace).bind(&row.name).bind(&row.phone)
            .bind(&row.email).bind(&row.company).bind(&row.timezone).bind(&row.custom)
            .bind(&row.status).bind(row.created_at).bind(row.updated_at)
            .execute(pool).await?.rows_affected());
        Ok(row.into())
    }

    /// `workspace`'s leads, newest first, at most `limit`, strictly after the
    /// `(created_at, id)` position `after`.
    pub async fn list_leads(
        &self,
        workspace: &str,
        limit: u32,
        after: Option<(i64, String)>,
    ) -> StoreResult<Vec<Lead>> {
        let (t, id) = after.unwrap_or((i64::MAX, String::new()));
        let sql = page_sql(COLUMNS, "leads");
        let rows = on_db!(self, pool => sqlx::query_as::<_, LeadRow>(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(workspace).bind(t).bind(id).bind(i64::from(limit))
            .fetch_all(pool).await?);
        Ok(rows.into_iter().map(Lead::from).collect())
    }

    /// The lead `id` of `workspace`.
    pub async fn lead(&self, workspace: &str, id: &str) -> StoreResult<Lead> {
        let sql = format!("SELECT {COLUMNS} FROM leads WHERE workspace_id = $1 AND id = $2");
        on_db!(self, pool => sqlx::query_as::<_, LeadRow>(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(workspace).bind(id).fetch_optional(pool).await?)
        .map(Lead::from)
        .ok_or(StoreError::NotFound)
    }
}

#[cfg(test)]
mod tests {
    use super::is_e164;

    #[test]
    fn e164() {
        assert!(is_e164("+14155550123"));
        assert!(is_e164("+4930123456"));
        assert!(!is_e164("14155550123"));
        assert!(!is_e164("+0123456789"));
        assert!(!is_e164("+1415555012345678"));
        assert!(!is_e164("+1 415 555 0123"));
        assert!(!is_e164("+123456"));
    }
}
