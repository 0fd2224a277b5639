//! The agent's data-backed tools on the store: `search_knowledge` over the
//! workspace's corpus, `get_lead` (the call's lead), `check_availability` and
//! `book_meeting` on the call's calendar. Every failure goes back to the model
//! as a tool error (`{"error": "..."}`) that says what to do instead; none ends
//! the call.

use std::sync::Arc;

use jiff::Timestamp;
use serde_json::{Value, json};
use tenex_actors::realtime::tools::ToolFuture;
use tenex_actors::realtime::{ToolError, ToolHost, ToolHosts};
use tenex_actors::sip::CallId;

use crate::store::{BookingRequest, Calendar, Store, StoreError};

/// Most knowledge snippets one `search_knowledge` returns to the model.
pub const KNOWLEDGE_HITS: u32 = 3;

/// What a call's tools act on: the workspace, and the call's lead and calendar
/// when it has them. Makes one [`ToolHost`] per call.
#[derive(Debug, Clone)]
pub struct StoreTools {
    /// The database.
    pub store: Store,
    /// The workspace.
    pub workspace: String,
    /// The lead the call is with.
    pub lead: Option<String>,
    /// The calendar meetings are booked on.
    pub calendar: Option<String>,
}

impl ToolHosts for StoreTools {
    fn for_call(&self, call: CallId) -> Arc<dyn ToolHost> {
        Arc::new(CallTools {
            on: self.clone(),
            call: call.to_string(),
        })
    }
}

/// One call's tools.
#[derive(Debug)]
struct CallTools {
    on: StoreTools,
    call: String,
}

fn str_arg<'a>(args: &'a Value, name: &str) -> Result<&'a str, ToolError> {
    args.get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| ToolError::InvalidArguments(format!("`{name}` (a string) is required")))
}

fn store_error(e: StoreError) -> ToolError {
    match e {
        StoreError::Invalid { param, message } => {
            ToolError::InvalidArguments(format!("{param}: {message}"))
        }
        StoreError::Conflict(m) => ToolError::Failed(m),
        StoreError::NotFound => ToolError::Failed("not found".into()),
        other => {
            tracing::warn!(error = %other, "tool: store failed");
            ToolError::Failed("the system is unavailable right now; continue without it".into())
        }
    }
}

impl CallTools {
    async fn search_knowledge(&self, args: &Value) -> Result<Value, ToolError> {
        let query = str_arg(args, "query")?;
        let hits = self
            .on
            .store
            .search_knowledge(&self.on.workspace, query, KNOWLEDGE_HITS)
            .await
            .map_err(store_error)?;
        if hits.is_empty() {
            return Ok(
                json!({"results": [], "note": "Nothing in the knowledge base matches; do not guess."}),
            );
        }
        let results: Vec<Value> = hits
            .iter()
            .map(|h| json!({"title": h.title, "snippet": h.snippet}))
            .collect();
        Ok(json!({ "results": results }))
    }

    async fn get_lead(&self) -> Result<Value, ToolError> {
        let Some(lead) = &self.on.lead else {
            return Err(ToolError::Failed(
                "this call has no lead record; ask the caller for what you need".into(),
            ));
        };
        let lead = self
            .on
            .store
            .lead(&self.on.workspace, lead)
            .await
            .map_err(store_error)?;
        Ok(json!({
            "name": lead.name, "phone": lead.phone, "email": lead.email,
            "company": lead.company, "timezone": lead.timezone, "status": lead.status,
            "custom_fields": lead.custom,
        }))
    }

    /// The call's calendar, read once per tool call.
    async fn calendar(&self) -> Result<Calendar, ToolError> {
        let Some(id) = self.on.calendar.as_deref() else {
            return Err(ToolError::Failed(
                "no calendar is connected to this call; offer to have someone follow up".into(),
            ));
        };
        self.on
            .store
            .calendar(&self.on.workspace, id)
            .await
            .map_err(store_error)
    }

    async fn check_availability(&self, args: &Value) -> Result<Value, ToolError> {
        let cal = self.calendar().await?;
        let (from, to) = (time_arg(&cal, args, "from")?, time_arg(&cal, args, "to")?);
        let slots = self
            .on
            .store
            .availability_on(&cal, from, to, Timestamp::now())
            .await
            .map_err(store_error)?;
        let list: Vec<Value> = slots
            .iter()
            .map(|s| json!({"start": cal.format(s.start), "end": cal.format(s.end)}))
            .collect();
        Ok(json!({
            "timezone": cal.timezone,
            "slot_minutes": cal.slot_minutes,
            "free_slots": list,
            "truncated": slots.len() >= crate::store::MAX_SLOTS,
        }))
    }

    async fn book_meeting(&self, args: &Value) -> Result<Value, ToolError> {
        let cal = self.calendar().await?;
        let start = time_arg(&cal, args, "start")?;
        let duration = args
            .get("duration_min")
            .and_then(Value::as_u64)
            .and_then(|d| u32::try_from(d).ok())
            .ok_or_else(|| {
                ToolError::InvalidArguments("`duration_min` (whole minutes) is required".into())
            })?;
        let notes = args.get("notes").and_then(Value::as_str).unwrap_or("");
        let req = BookingRequest {
            start,
            duration_min: duration,
            notes,
            lead_id: self.on.lead.as_deref(),
            call_id: Some(&self.call),
        };
        let booking = self
            .on
            .store
            .book_on(&self.on.workspace, &cal, &req, Timestamp::now())
            .await
            .map_err(|e| match e {
                StoreError::Conflict(m) => ToolError::Failed(format!(
                    "{m}; call check_availability and offer the caller a free slot"
                )),
                other => store_error(other),
            })?;
        Ok(json!({
            "booked": true,
            "booking_id": booking.id,
            "start": cal.format_ms(booking.start_ms),
            "end": cal.format_ms(booking.end_ms),
            "timezone": cal.timezone,
        }))
    }
}

/// The time argument `name`, read in `cal`'s time zone.
fn time_arg(cal: &Calendar, args: &Value, name: &str) -> Result<Timestamp, ToolError> {
    let s = str_arg(args, name)?;
    cal.parse_time(s).ok_or_else(|| {
        ToolError::InvalidArguments(format!(
            "`{name}`: {s:?} is not an ISO 8601 time (e.g. 2030-01-07T09:00)"
        ))
    })
}

impl ToolHost for CallTools {
    fn call<'a>(&'a self, name: &'a str, arguments: &'a Value) -> ToolFuture<'a> {
        Box::pin(async move {
            match name {
                "search_knowledge" => self.search_knowledge(arguments).await,
                "get_lead" => self.get_lead().await,
                "check_availability" => self.check_availability(arguments).await,
                "book_meeting" => self.book_meeting(arguments).await,
                other => Err(ToolError::Unknown(other.to_owned())),
            }
        })
    }
}
