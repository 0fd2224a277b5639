//! `/calendar-connectors`: the built-in calendar (working hours, time zone,
//! slot length) and its bookings.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;

use super::error::found;
use super::{ApiError, ApiJson, ApiState, Caller};
use crate::store::{Calendar, NewCalendar};

/// Create a built-in calendar.
///
/// Working hours in a time zone, and the length of the slots it offers.
#[utoipa::path(post, path = "/calendar-connectors", tag = "calendar", request_body = NewCalendar,
    responses((status = 201, description = "The calendar.", body = Calendar)))]
pub(super) async fn create(
    State(s): State<ApiState>,
    caller: Caller,
    ApiJson(cal): ApiJson<NewCalendar>,
) -> Result<(StatusCode, Json<Calendar>), ApiError> {
    let cal = s.store.create_calendar(&caller.workspace, &cal).await?;
    Ok((StatusCode::CREATED, Json(cal)))
}

/// One calendar.
#[utoipa::path(get, path = "/calendar-connectors/{id}", tag = "calendar", params(("id" = String, Path, description = "The calendar connector (`cal_…`).")),
    responses((status = 200, description = "The calendar.", body = Calendar)))]
pub(super) async fn get(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Calendar>, ApiError> {
    Ok(Json(found(
        s.store.calendar(&caller.workspace, &id).await,
        "calendar connector",
    )?))
}

/// A calendar's bookings (meetings the agents booked), in time order.
#[utoipa::path(get, path = "/calendar-connectors/{id}/bookings", tag = "calendar", params(("id" = String, Path, description = "The calendar connector (`cal_…`).")),
    responses((status = 200, description = "The bookings.", body = Bookings)))]
pub(super) async fn bookings(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Bookings>, ApiError> {
    let cal = found(
        s.store.calendar(&caller.workspace, &id).await,
        "calendar connector",
    )?;
    let list = s.store.bookings(&caller.workspace, &cal.id).await?;
    let data = list
        .into_iter()
        .map(|b| BookingView {
            start: cal.format_ms(b.start_ms),
            end: cal.format_ms(b.end_ms),
            id: b.id,
            lead_id: b.lead_id,
            call_id: b.call_id,
            notes: b.notes,
            status: b.status,
        })
        .collect();
    Ok(Json(Bookings {
        data,
        timezone: cal.timezone,
    }))
}

/// A calendar's bookings.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct Bookings {
    /// The bookings, in time order.
    data: Vec<BookingView>,
    /// The calendar's time zone (the times' offsets are in it).
    timezone: String,
}

/// A booked meeting.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct BookingView {
    /// `bkg_…`.
    id: String,
    /// Start, RFC 3339 with the calendar's offset.
    start: Option<String>,
    /// End, RFC 3339 with the calendar's offset.
    end: Option<String>,
    /// Who the meeting is with.
    lead_id: Option<String>,
    /// The call that booked it.
    call_id: Option<String>,
    /// Notes.
    notes: String,
    /// `confirmed` or `canceled`.
    status: String,
}
