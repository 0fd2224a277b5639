//! The built-in calendar connector: working hours in a time zone, a slot
//! length, and a bookings table that never holds two overlapping confirmed
//! bookings of one calendar.
//!
//! No double booking, on both backends: the overlap check and the insert run in
//! one transaction that holds the calendar's write lock (SQLite `BEGIN
//! IMMEDIATE`, which serialises writers; Postgres `SELECT … FOR UPDATE` on the
//! calendar row, which serialises bookings of that calendar across nodes).

use jiff::civil::{Date, DateTime, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use serde::{Deserialize, Serialize};

use super::{Store, StoreError, StoreResult, new_id, now_ms, on_db};

/// Working intervals per weekday, local times `"HH:MM"` (`"24:00"` ends a day).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkingHours {
    /// Monday.
    #[serde(default)]
    pub mon: Vec<[String; 2]>,
    /// Tuesday.
    #[serde(default)]
    pub tue: Vec<[String; 2]>,
    /// Wednesday.
    #[serde(default)]
    pub wed: Vec<[String; 2]>,
    /// Thursday.
    #[serde(default)]
    pub thu: Vec<[String; 2]>,
    /// Friday.
    #[serde(default)]
    pub fri: Vec<[String; 2]>,
    /// Saturday.
    #[serde(default)]
    pub sat: Vec<[String; 2]>,
    /// Sunday.
    #[serde(default)]
    pub sun: Vec<[String; 2]>,
}

impl Default for WorkingHours {
    /// Monday to Friday, 09:00–17:00.
    fn default() -> WorkingHours {
        let day = || vec![["09:00".to_owned(), "17:00".to_owned()]];
        WorkingHours {
            mon: day(),
            tue: day(),
            wed: day(),
            thu: day(),
            fri: day(),
            sat: Vec::new(),
            sun: Vec::new(),
        }
    }
}

/// Parses `"HH:MM"`; `"24:00"` is the end of the day (`None` for that bound).
fn parse_hhmm(s: &str) -> Option<Option<Time>> {
    if s == "24:00" {
        return Some(None);
    }
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    Time::new(h.parse().ok()?, m.parse().ok()?, 0, 0)
        .ok()
        .map(Some)
}

impl WorkingHours {
    fn day(&self, weekday: Weekday) -> &[[String; 2]] {
        match weekday {
            Weekday::Monday => &self.mon,
            Weekday::Tuesday => &self.tue,
            Weekday::Wednesday => &self.wed,
            Weekday::Thursday => &self.thu,
            Weekday::Friday => &self.fri,
            Weekday::Saturday => &self.sat,
            Weekday::Sunday => &self.sun,
        }
    }

    /// The working intervals of `date`, as local date-times.
    fn intervals(&self, date: Date) -> Vec<(DateTime, DateTime)> {
        self.day(date.weekday())
            .iter()
            .filter_map(|[a, b]| {
                let start = parse_hhmm(a)??;
                let end = match parse_hhmm(b)? {
                    Some(t) => date.to_datetime(t),
                    None => date.tomorrow().ok()?.to_datetime(Time::midnight()),
                };
                Some((date.to_datetime(start), end))
            })
            .collect()
    }

    fn validate(&self) -> StoreResult<()> {
        for day in [
            &self.mon, &self.tue, &self.wed, &self.thu, &self.fri, &self.sat, &self.sun,
        ] {
            for [a, b] in day {
                let (Some(Some(start)), Some(end)) = (parse_hhmm(a), parse_hhmm(b)) else {
                    return Err(StoreError::invalid(
                        "working_hours",
                        format!("{a:?}–{b:?}: times are \"HH:MM\" (\"24:00\" ends the day)"),
                    ));
                };
                if end.is_some_and(|end| end <= start) {
                    return Err(StoreError::invalid(
                        "working_hours",
                        format!("{a}–{b}: the end must be after the start"),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// A calendar to create.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCalendar {
    /// Display name.
    pub name: String,
    /// IANA time zone of the working hours.
    pub timezone: String,
    /// Working hours (Monday to Friday 09:00–17:00 when absent).
    #[serde(default)]
    pub working_hours: WorkingHours,
    /// Slot length offered by availability, 5–240 minutes (default 30).
    #[serde(default = "default_slot")]
    pub slot_minutes: u32,
}

fn default_slot() -> u32 {
    30
}

/// A stored calendar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Calendar {
    /// `cal_…`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// IANA time zone.
    pub timezone: String,
    /// Working hours.
    pub working_hours: WorkingHours,
    /// Slot length in minutes.
    pub slot_minutes: u32,
    /// Creation time (Unix ms).
    pub created_at: i64,
}

#[derive(sqlx::FromRow)]
struct CalendarRow {
    id: String,
    name: String,
    timezone: String,
    working_hours: String,
    slot_minutes: i64,
    created_at: i64,
}

impl CalendarRow {
    fn into_calendar(self) -> StoreResult<Calendar> {
        Ok(Calendar {
            working_hours: serde_json::from_str(&self.working_hours).map_err(|e| {
                StoreError::Conflict(format!(
                    "calendar {}: stored hours unreadable: {e}",
                    self.id
                ))
            })?,
            id: self.id,
            name: self.name,
            timezone: self.timezone,
            slot_minutes: self.slot_minutes.clamp(5, 240) as u32,
            created_at: self.created_at,
        })
    }
}

/// A bookable slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    /// Start.
    pub start: Timestamp,
    /// End.
    pub end: Timestamp,
}

/// A booking.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Booking {
    /// `bkg_…`.
    pub id: String,
    /// The calendar.
    pub calendar_id: String,
    /// Who the meeting is with.
    pub lead_id: Option<String>,
    /// The call that booked it.
    pub call_id: Option<String>,
    /// Start (Unix ms).
    pub start_ms: i64,
    /// End (Unix ms).
    pub end_ms: i64,
    /// Notes.
    pub notes: String,
    /// `confirmed` or `canceled`.
    pub status: String,
    /// Creation time (Unix ms).
    pub created_at: i64,
}

/// Widest availability window one query may ask for.
pub const MAX_WINDOW_DAYS: i64 = 31;
/// Most slots one availability query returns.
pub const MAX_SLOTS: usize = 40;

impl Calendar {
    /// The calendar's time zone.
    pub fn tz(&self) -> TimeZone {
        TimeZone::get(&self.timezone).unwrap_or(TimeZone::UTC)
    }

    /// Parses a time given by a person or a model: RFC 3339 with an offset, or a
    /// local date-time or date (start of day) in the calendar's time zone.
    pub fn parse_time(&self, s: &str) -> Option<Timestamp> {
        let s = s.trim();
        if let Ok(t) = s.parse::<Timestamp>() {
            return Some(t);
        }
        let tz = self.tz();
        if let Ok(dt) = s.parse::<DateTime>() {
            return dt.to_zoned(tz).ok().map(|z| z.timestamp());
        }
        s.parse::<Date>()
            .ok()?
            .to_datetime(Time::midnight())
            .to_zoned(tz)
            .ok()
            .map(|z| z.timestamp())
    }

    /// Formats Unix milliseconds as RFC 3339 in the calendar's time zone.
    pub fn format_ms(&self, ms: i64) -> Option<String> {
        Timestamp::from_millisecond(ms).ok().map(|t| self.format(t))
    }

    /// Formats `t` as RFC 3339 in the calendar's time zone.
    pub fn format(&self, t: Timestamp) -> String {
        t.to_zoned(self.tz())
            .strftime("%Y-%m-%dT%H:%M:%S%:z")
            .to_string()
    }

    /// Whether `[start, end)` lies inside one working interval.
    fn within_hours(&self, start: Timestamp, end: Timestamp) -> bool {
        let tz = self.tz();
        let local = start.to_zoned(tz.clone()).datetime();
        self.working_hours
            .intervals(local.date())
            .into_iter()
            .any(|(a, b)| {
                let (Ok(a), Ok(b)) = (a.to_zoned(tz.clone()), b.to_zoned(tz.clone())) else {
                    return false;
                };
                a.timestamp() <= start && end <= b.timestamp()
            })
    }

    /// Free slots in `[from, to)` after `now`, given the confirmed bookings, at
    /// most [`MAX_SLOTS`].
    fn free_slots(
        &self,
        from: Timestamp,
        to: Timestamp,
        now: Timestamp,
        busy: &[(i64, i64)],
    ) -> Vec<Slot> {
        let tz = self.tz();
        let slot = i64::from(self.slot_minutes).minutes();
        let mut out = Vec::new();
        let last = to.to_zoned(tz.clone()).date();
        let mut day = from.to_zoned(tz.clone()).date();
        while day <= last && out.len() < MAX_SLOTS {
            for (a, b) in self.working_hours.intervals(day) {
                let mut t = a;
                while let Ok(next) = t.checked_add(slot) {
                    if next > b || out.len() >= MAX_SLOTS {
                        break;
                    }
                    if let (Ok(s), Ok(e)) = (t.to_zoned(tz.clone()), next.to_zoned(tz.clone())) {
                        let (s, e) = (s.timestamp(), e.timestamp());
                        let (sm, em) = (s.as_millisecond(), e.as_millisecond());
                        let free = !busy.iter().any(|&(bs, be)| bs < em && be > sm);
                        if s >= from && e <= to && s >= now && free {
                            out.push(Slot { start: s, end: e });
                        }
                    }
                    t = next;
                }
            }
            match day.tomorrow() {
                Ok(d) => day = d,
                Err(_) => break,
            }
        }
        out
    }
}

const BOOKING_COLUMNS: &str =
    "id, calendar_id, lead_id, call_id, start_ms, end_ms, notes, status, created_at";

/// The overlap check and insert of [`Store::book`], run inside a transaction
/// that already holds the calendar's lock.
macro_rules! insert_if_free {
    ($tx:expr, $ws:expr, $b:expr) => {{
        let taken: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM bookings WHERE calendar_id = $1 AND status = 'confirmed' \
             AND start_ms < $3 AND end_ms > $2",
        )
        .bind(&$b.calendar_id)
        .bind($b.start_ms)
        .bind($b.end_ms)
        .fetch_one(&mut *$tx)
        .await?;
        if taken == 0 {
            sqlx::query(
                "INSERT INTO bookings (id, workspace_id, calendar_id, lead_id, call_id, start_ms, \
                 end_ms, notes, status, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(&$b.id)
            .bind($ws)
            .bind(&$b.calendar_id)
            .bind(&$b.lead_id)
            .bind(&$b.call_id)
            .bind($b.start_ms)
            .bind($b.end_ms)
            .bind(&$b.notes)
            .bind(&$b.status)
            .bind($b.created_at)
            .execute(&mut *$tx)
            .await?;
            $tx.commit().await?;
        }
        taken == 0
    }};
}

/// A booking request.
#[derive(Debug, Clone)]
pub struct BookingRequest<'a> {
    /// Start.
    pub start: Timestamp,
    /// Length, 5–240 minutes.
    pub duration_min: u32,
    /// Notes.
    pub notes: &'a str,
    /// The lead.
    pub lead_id: Option<&'a str>,
    /// The booking call.
    pub call_id: Option<&'a str>,
}

impl Store {
    /// Creates a calendar in `workspace`.
    pub async fn create_calendar(&self, workspace: &str, c: &NewCalendar) -> StoreResult<Calendar> {
        if c.name.trim().is_empty() || c.name.len() > 200 {
            return Err(StoreError::invalid("name", "1 to 200 characters"));
        }
        if TimeZone::get(&c.timezone).is_err() {
            return Err(StoreError::invalid(
                "timezone",
                "not an IANA time zone (e.g. Europe/Berlin)",
            ));
        }
        if !(5..=240).contains(&c.slot_minutes) {
            return Err(StoreError::invalid("slot_minutes", "5 to 240"));
        }
        c.working_hours.validate()?;
        let cal = Calendar {
            id: new_id("cal"),
            name: c.name.trim().to_owned(),
            timezone: c.timezone.clone(),
            working_hours: c.working_hours.clone(),
            slot_minutes: c.slot_minutes,
            created_at: now_ms(),
        };
        let hours = serde_json::to_string(&cal.working_hours)
            .map_err(|e| StoreError::invalid("working_hours", e.to_string()))?;
        let sql = "INSERT INTO calendars (id, workspace_id, name, timezone, working_hours, \
                   slot_minutes, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)";
        on_db!(self, pool => sqlx::query(sql)
            .bind(&cal.id).bind(workspace).bind(&cal.name).bind(&cal.timezone).bind(hours)
            .bind(i64::from(cal.slot_minutes)).bind(cal.created_at)
            .execute(pool).await?.rows_affected());
        Ok(cal)
    }

    /// The calendar `id` of `workspace`.
    pub async fn calendar(&self, workspace: &str, id: &str) -> StoreResult<Calendar> {
        let sql = "SELECT id, name, timezone, working_hours, slot_minutes, created_at \
                   FROM calendars WHERE workspace_id = $1 AND id = $2";
        on_db!(self, pool => sqlx::query_as::<_, CalendarRow>(sql)
            .bind(workspace).bind(id).fetch_optional(pool).await?)
        .ok_or(StoreError::NotFound)?
        .into_calendar()
    }

    /// Free slots of `calendar` in `[from, to)` after `now` (window ≤ 31 days).
    pub async fn availability(
        &self,
        workspace: &str,
        calendar: &str,
        from: Timestamp,
        to: Timestamp,
        now: Timestamp,
    ) -> StoreResult<(Calendar, Vec<Slot>)> {
        let cal = self.calendar(workspace, calendar).await?;
        let slots = self.availability_on(&cal, from, to, now).await?;
        Ok((cal, slots))
    }

    /// [`Store::availability`] of a calendar already read from `workspace`.
    pub async fn availability_on(
        &self,
        cal: &Calendar,
        from: Timestamp,
        to: Timestamp,
        now: Timestamp,
    ) -> StoreResult<Vec<Slot>> {
        if to <= from {
            return Err(StoreError::invalid("to", "must be after from"));
        }
        if to.duration_since(from).as_secs() > MAX_WINDOW_DAYS * 86_400 {
            return Err(StoreError::invalid(
                "to",
                format!("the window is at most {MAX_WINDOW_DAYS} days"),
            ));
        }
        let busy: Vec<(i64, i64)> = on_db!(self, pool => sqlx::query_as(
            "SELECT start_ms, end_ms FROM bookings WHERE calendar_id = $1 AND status = 'confirmed' \
             AND start_ms < $3 AND end_ms > $2")
            .bind(&cal.id).bind(from.as_millisecond()).bind(to.as_millisecond())
            .fetch_all(pool).await?);
        Ok(cal.free_slots(from, to, now, &busy))
    }

    /// Books a meeting: inside working hours, not in the past, overlapping no
    /// confirmed booking (a [`StoreError::Conflict`] otherwise).
    pub async fn book(
        &self,
        workspace: &str,
        calendar: &str,
        req: &BookingRequest<'_>,
        now: Timestamp,
    ) -> StoreResult<Booking> {
        let cal = self.calendar(workspace, calendar).await?;
        self.book_on(workspace, &cal, req, now).await
    }

    /// [`Store::book`] on a calendar already read from `workspace`.
    pub async fn book_on(
        &self,
        workspace: &str,
        cal: &Calendar,
        req: &BookingRequest<'_>,
        now: Timestamp,
    ) -> StoreResult<Booking> {
        if !(5..=240).contains(&req.duration_min) {
            return Err(StoreError::invalid("duration_min", "5 to 240 minutes"));
        }
        if req.notes.len() > 2000 {
            return Err(StoreError::invalid("notes", "at most 2000 characters"));
        }
        let end = req
            .start
            .checked_add(i64::from(req.duration_min).minutes())
            .map_err(|_| StoreError::invalid("start", "out of range"))?;
        if req.start < now {
            return Err(StoreError::invalid("start", "is in the past"));
        }
        if !cal.within_hours(req.start, end) {
            return Err(StoreError::Conflict(format!(
                "{} is outside working hours",
                cal.format(req.start)
            )));
        }
        let booking = Booking {
            id: new_id("bkg"),
            calendar_id: cal.id.clone(),
            lead_id: req.lead_id.map(str::to_owned),
            call_id: req.call_id.map(str::to_owned),
            start_ms: req.start.as_millisecond(),
            end_ms: end.as_millisecond(),
            notes: req.notes.to_owned(),
            status: "confirmed".into(),
            created_at: now_ms(),
        };
        let booked = match &self.db {
            super::Db::Sqlite(pool) => {
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                insert_if_free!(tx, workspace, booking)
            }
            super::Db::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                sqlx::query("SELECT id FROM calendars WHERE id = $1 FOR UPDATE")
                    .bind(&cal.id)
                    .execute(&mut *tx)
                    .await?;
                insert_if_free!(tx, workspace, booking)
            }
        };
        if !booked {
            return Err(StoreError::Conflict(format!(
                "{} is already booked",
                cal.format(req.start)
            )));
        }
        Ok(booking)
    }

    /// Confirmed and canceled bookings of `calendar`, by start time.
    pub async fn bookings(&self, workspace: &str, calendar: &str) -> StoreResult<Vec<Booking>> {
        let sql = format!(
            "SELECT {BOOKING_COLUMNS} FROM bookings WHERE workspace_id = $1 AND calendar_id = $2 \
             ORDER BY start_ms, id"
        );
        Ok(
            on_db!(self, pool => sqlx::query_as::<_, Booking>(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(workspace).bind(calendar).fetch_all(pool).await?),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cal(tz: &str) -> Calendar {
        Calendar {
            id: "cal_x".into(),
            name: "Sales".into(),
            timezone: tz.into(),
            working_hours: WorkingHours::default(),
            slot_minutes: 30,
            created_at: 0,
        }
    }

    #[test]
    fn times_parse_with_offsets_or_in_the_calendar_zone() {
        let c = cal("Europe/Berlin");
        let utc: Timestamp = "2030-01-07T08:00:00Z".parse().expect("ts");
        assert_eq!(c.parse_time("2030-01-07T09:00:00+01:00"), Some(utc));
        assert_eq!(c.parse_time("2030-01-07T09:00"), Some(utc));
        assert_eq!(c.parse_time("2030-01-07 09:00"), Some(utc));
        assert_eq!(
            c.parse_time("2030-01-07"),
            "2030-01-06T23:00:00Z".parse().ok()
        );
        assert_eq!(c.parse_time("next tuesday"), None);
        assert_eq!(c.format(utc), "2030-01-07T09:00:00+01:00");
    }

    #[test]
    fn slots_follow_hours_bookings_and_now() {
        let c = cal("America/New_York");
        let from = c.parse_time("2030-01-04T00:00").expect("from"); // a Friday
        let to = c.parse_time("2030-01-08T00:00").expect("to"); // Tuesday
        let all = c.free_slots(from, to, Timestamp::UNIX_EPOCH, &[]);
        // Friday and Monday, 16 half-hours each; the weekend has none.
        assert_eq!(all.len(), 32);
        assert_eq!(c.format(all[0].start), "2030-01-04T09:00:00-05:00");
        assert_eq!(c.format(all[16].start), "2030-01-07T09:00:00-05:00");
        assert_eq!(c.format(all[31].end), "2030-01-07T17:00:00-05:00");
        // A booking 10:15–10:45 takes the two slots it overlaps.
        let b = (
            c.parse_time("2030-01-04T10:15")
                .expect("b")
                .as_millisecond(),
            c.parse_time("2030-01-04T10:45")
                .expect("b")
                .as_millisecond(),
        );
        let free = c.free_slots(from, to, Timestamp::UNIX_EPOCH, &[b]);
        assert_eq!(free.len(), 30);
        assert!(
            !free
                .iter()
                .any(|s| c.format(s.start).starts_with("2030-01-04T10:"))
        );
        // Nothing before now.
        let now = c.parse_time("2030-01-07T12:10").expect("now");
        let later = c.free_slots(from, to, now, &[]);
        assert_eq!(c.format(later[0].start), "2030-01-07T12:30:00-05:00");
        assert_eq!(later.len(), 9);
    }

    #[test]
    fn hours_are_checked() {
        assert!(WorkingHours::default().validate().is_ok());
        let mut h = WorkingHours {
            sat: vec![["10:00".into(), "24:00".into()]],
            ..WorkingHours::default()
        };
        assert!(h.validate().is_ok());
        h.sun = vec![["17:00".into(), "09:00".into()]];
        assert!(h.validate().is_err());
        h.sun = vec![["9:00".into(), "10:00".into()]];
        assert!(h.validate().is_err());
        let c = cal("UTC");
        let t = |s: &str| c.parse_time(s).expect("t");
        assert!(c.within_hours(t("2030-01-07T16:30"), t("2030-01-07T17:00")));
        assert!(!c.within_hours(t("2030-01-07T16:45"), t("2030-01-07T17:15")));
        assert!(!c.within_hours(t("2030-01-05T10:00"), t("2030-01-05T10:30")));
    }
}
