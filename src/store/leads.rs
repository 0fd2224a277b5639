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

/// The country calling codes the ITU has assigned (E.164), geographic and
/// global services alike; no code is a prefix of another.
const COUNTRY_CODES: &str = "1 7 20 27 30 31 32 33 34 36 39 40 41 43 44 45 46 47 48 49 \
    51 52 53 54 55 56 57 58 60 61 62 63 64 65 66 81 82 84 86 90 91 92 93 94 95 98 \
    211 212 213 216 218 220 221 222 223 224 225 226 227 228 229 230 231 232 233 234 235 \
    236 237 238 239 240 241 242 243 244 245 246 247 248 249 250 251 252 253 254 255 256 \
    257 258 260 261 262 263 264 265 266 267 268 269 290 291 297 298 299 350 351 352 353 \
    354 355 356 357 358 359 370 371 372 373 374 375 376 377 378 379 380 381 382 383 385 \
    386 387 389 420 421 423 500 501 502 503 504 505 506 507 508 509 590 591 592 593 594 \
    595 596 597 598 599 670 672 673 674 675 676 677 678 679 680 681 682 683 685 686 687 \
    688 689 690 691 692 800 808 850 852 853 855 856 870 878 880 881 882 883 886 888 960 \
    961 962 963 964 965 966 967 968 970 971 972 973 974 975 976 977 979 991 992 993 \
    994 995 996 998";

/// Why `phone` cannot be dialed, or `None` when it can: it must be E.164, its
/// country calling code assigned, and a `+1` (NANP) number must be ten digits
/// whose area code and exchange start with 2-9 and are not N11 service codes.
/// Leads are stored with any E.164 number; this is checked when a lead is
/// queued or called.
pub fn dial_problem(phone: &str) -> Option<String> {
    if !is_e164(phone) {
        return Some("the number is not E.164 (+ then 7 to 15 digits)".to_owned());
    }
    let digits = &phone[1..];
    if let Some(national) = digits.strip_prefix('1') {
        let b = national.as_bytes();
        let part_ok = |p: &[u8]| p[0] >= b'2' && &p[1..] != b"11";
        return (national.len() != 10 || !part_ok(&b[..3]) || !part_ok(&b[3..6])).then(|| {
            format!(
                "{phone} is not a North American number: +1, then a 3-digit area code and \
                 a 3-digit exchange that start with 2-9 (and are not N11), then 4 digits"
            )
        });
    }
    let assigned = COUNTRY_CODES
        .split_ascii_whitespace()
        .any(|code| digits.starts_with(code));
    (!assigned).then(|| {
        let code: String = digits.chars().take(3).collect();
        format!("{phone} has no assigned country calling code (+{code}…)")
    })
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
    use super::{COUNTRY_CODES, dial_problem, is_e164};

    #[test]
    fn country_codes_are_distinct_and_prefix_free() {
        let codes: Vec<&str> = COUNTRY_CODES.split_ascii_whitespace().collect();
        for (i, a) in codes.iter().enumerate() {
            assert!(a.bytes().all(|b| b.is_ascii_digit()) && !a.starts_with('0'));
            for b in &codes[i + 1..] {
                assert!(!a.starts_with(b) && !b.starts_with(a), "{a} {b}");
            }
        }
    }

    #[test]
    fn dialable_numbers() {
        for ok in [
            "+14155550123",
            "+13125550101",
            "+4930123456",
            "+353123456789",
            "+38640123456",
            "+8613812345678",
            "+97150123456",
            "+79161234567",
        ] {
            assert_eq!(dial_problem(ok), None, "{ok}");
        }
        for (bad, says) in [
            ("4155550123", "not E.164"),
            ("+1415555012", "North American"),
            ("+141555501234", "North American"),
            ("+10155550123", "North American"),
            ("+14150550123", "North American"),
            ("+19115550123", "North American"),
            ("+14154110123", "North American"),
            ("+999123456789", "+999"),
            ("+2141234567", "+214"),
            ("+80112345678", "+801"),
            ("+3841234567", "+384"),
        ] {
            let problem = dial_problem(bad).unwrap_or_default();
            assert!(problem.contains(says), "{bad}: {problem:?}");
        }
    }

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
