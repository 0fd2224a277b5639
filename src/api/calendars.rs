//! `/calendar-connectors`: the built-in calendar (working hours, time zone,
//! slot length) and its bookings.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::error::found;
use super::{ApiError, ApiJson, ApiState, Caller};
use crate::store::{Calendar, NewCalendar};

pub(super) async fn create(
    State(s): State<ApiState>,
    caller: Caller,
    ApiJson(cal): ApiJson<NewCalendar>,
) -> Result<(StatusCode, Json<Calendar>), ApiError> {
    let cal = s.store.create_calendar(&caller.workspace, &cal).await?;
    Ok((StatusCode::CREATED, Json(cal)))
}

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

pub(super) async fn bookings(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let cal = found(
        s.store.calendar(&caller.workspace, &id).await,
        "calendar connector",
    )?;
    let list = s.store.bookings(&caller.workspace, &cal.id).await?;
    let data: Vec<Value> = list
        .iter()
        .map(|b| {
            json!({
                "id": b.id, "start": cal.format_ms(b.start_ms), "end": cal.format_ms(b.end_ms),
                "lead_id": b.lead_id, "call_id": b.call_id, "notes": b.notes,
                "status": b.status,
            })
        })
        .collect();
    Ok(Json(json!({ "data": data, "timezone": cal.timezone })))
}
