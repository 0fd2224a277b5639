//! The store on both backends (SQLite always, Postgres from `./run test`):
//! workspaces, leads, knowledge search, calendars and bookings, each scoped by
//! workspace; no double booking under concurrent attempts.

mod common;

use std::sync::Arc;

use jiff::Timestamp;
use serde_json::json;
use tenex_voice::store::{BookingRequest, NewCalendar, NewLead, Store, StoreError, WorkingHours};

use common::db::backends;

fn lead(name: &str, phone: &str) -> NewLead {
    NewLead {
        name: name.into(),
        phone: phone.into(),
        email: Some("dana@example.com".into()),
        company: Some("Acme".into()),
        timezone: Some("America/Chicago".into()),
        custom: json!({"plan": "growth", "seats": 12})
            .as_object()
            .cloned()
            .unwrap_or_default(),
    }
}

fn invalid_param(e: StoreError) -> &'static str {
    match e {
        StoreError::Invalid { param, .. } => param,
        other => panic!("expected a validation error, got {other:?}"),
    }
}

#[tokio::test]
async fn workspaces_and_leads() {
    for store in backends("store-leads").await {
        let a = store.create_workspace("acme").await.expect("ws");
        let b = store.create_workspace("globex").await.expect("ws");
        assert!(matches!(
            store.create_workspace("acme").await,
            Err(StoreError::Conflict(_))
        ));
        assert_eq!(store.workspace_by_name("acme").await.expect("by name"), a);

        let l = store
            .create_lead(&a.id, &lead(" Dana Reyes ", "+13125550142"))
            .await
            .expect("lead");
        assert_eq!(l.name, "Dana Reyes");
        assert_eq!(l.status, "new");
        let got = store.lead(&a.id, &l.id).await.expect("get");
        assert_eq!(got, l);
        assert_eq!(got.custom["seats"], 12);
        // Another workspace sees nothing, exactly like a missing id.
        assert!(matches!(
            store.lead(&b.id, &l.id).await,
            Err(StoreError::NotFound)
        ));
        assert!(matches!(
            store.lead(&a.id, "lead_missing").await,
            Err(StoreError::NotFound)
        ));

        let bad = |f: fn(&mut NewLead)| {
            let mut l = lead("Dana", "+13125550142");
            f(&mut l);
            l
        };
        for (l, param) in [
            (bad(|l| l.phone = "312-555-0142".into()), "phone"),
            (bad(|l| l.phone = "+1".into()), "phone"),
            (bad(|l| l.name = "  ".into()), "name"),
            (bad(|l| l.email = Some("nope".into())), "email"),
            (
                bad(|l| l.timezone = Some("Mars/Olympus".into())),
                "timezone",
            ),
        ] {
            let e = store.create_lead(&a.id, &l).await.expect_err("invalid");
            assert_eq!(invalid_param(e), param);
        }
        store.close().await;
    }
}

#[tokio::test]
async fn knowledge_search_ranks_and_stays_in_its_workspace() {
    for store in backends("store-knowledge").await {
        let a = store.create_workspace("acme").await.expect("ws");
        let b = store.create_workspace("globex").await.expect("ws");
        let pricing = store
            .add_document(
                &a.id,
                "Pricing",
                "The Growth plan costs 900 dollars a month and covers up to 5,000 calls a month. \
                 The Starter plan covers 500 calls. Annual billing saves two months.",
            )
            .await
            .expect("doc");
        store
            .add_document(
                &a.id,
                "Security",
                "Recordings are encrypted at rest. Data stays in the EU region on request.",
            )
            .await
            .expect("doc");
        store
            .add_document(
                &a.id,
                "Integrations",
                "Connects to Salesforce and HubSpot; meetings land in Google Calendar.",
            )
            .await
            .expect("doc");
        store
            .add_document(
                &b.id,
                "Pricing",
                "Globex pricing: everything costs 1 dollar.",
            )
            .await
            .expect("doc");

        let hits = store
            .search_knowledge(&a.id, "what does it cost for 2000 calls a month?", 5)
            .await
            .expect("search");
        assert_eq!(hits[0].document_id, pricing.id, "{hits:?}");
        assert!(hits[0].snippet.contains("calls"), "{hits:?}");
        assert!(hits.iter().all(|h| h.score > 0.0));
        assert!(hits.windows(2).all(|w| w[0].score >= w[1].score));
        assert!(
            !hits.iter().any(|h| h.snippet.contains("Globex")),
            "another workspace's documents leaked: {hits:?}"
        );

        let sec = store
            .search_knowledge(&a.id, "Is my data encrypted?", 5)
            .await
            .expect("search");
        assert_eq!(sec[0].title, "Security");
        assert_eq!(sec.len(), 1, "{sec:?}");

        // Search syntax in the text is just words, never an error.
        for q in [
            "\"unbalanced",
            "NEAR(calls plan) AND NOT*",
            "title:Pricing ^ -x",
            "'; DROP TABLE leads; --",
        ] {
            store.search_knowledge(&a.id, q, 5).await.expect(q);
        }
        assert!(
            store
                .search_knowledge(&a.id, "zeppelin", 5)
                .await
                .expect("search")
                .is_empty()
        );
        assert_eq!(
            invalid_param(
                store
                    .search_knowledge(&a.id, " ?! ", 5)
                    .await
                    .expect_err("empty")
            ),
            "query"
        );
        assert_eq!(
            store
                .search_knowledge(&b.id, "pricing", 5)
                .await
                .expect("search")
                .len(),
            1
        );
        store.close().await;
    }
}

fn calendar() -> NewCalendar {
    NewCalendar {
        name: "Sales demos".into(),
        timezone: "Europe/Berlin".into(),
        working_hours: WorkingHours::default(),
        slot_minutes: 30,
    }
}

#[tokio::test]
async fn availability_and_bookings() {
    for store in backends("store-calendar").await {
        let a = store.create_workspace("acme").await.expect("ws");
        let b = store.create_workspace("globex").await.expect("ws");
        let cal = store
            .create_calendar(&a.id, &calendar())
            .await
            .expect("cal");
        let t = |s: &str| cal.parse_time(s).expect(s);
        let now = t("2030-01-01T00:00");

        // Monday 7 January 2030, 09:00–12:00 Berlin: six half-hour slots.
        let (_, slots) = store
            .availability(
                &a.id,
                &cal.id,
                t("2030-01-07T09:00"),
                t("2030-01-07T12:00"),
                now,
            )
            .await
            .expect("availability");
        assert_eq!(slots.len(), 6);
        assert_eq!(cal.format(slots[0].start), "2030-01-07T09:00:00+01:00");

        let req = |start: &str, min: u32| BookingRequest {
            start: t(start),
            duration_min: min,
            notes: "demo",
            lead_id: Some("lead_x"),
            call_id: Some("call_1"),
        };
        let booked = store
            .book(&a.id, &cal.id, &req("2030-01-07T10:00", 45), now)
            .await
            .expect("book");
        assert_eq!(booked.end_ms - booked.start_ms, 45 * 60_000);
        assert_eq!(booked.call_id.as_deref(), Some("call_1"));

        // The booking takes 10:00 and 10:30 (it runs to 10:45).
        let (_, slots) = store
            .availability(
                &a.id,
                &cal.id,
                t("2030-01-07T09:00"),
                t("2030-01-07T12:00"),
                now,
            )
            .await
            .expect("availability");
        let starts: Vec<String> = slots.iter().map(|s| cal.format(s.start)).collect();
        assert_eq!(
            starts,
            [
                "2030-01-07T09:00:00+01:00",
                "2030-01-07T09:30:00+01:00",
                "2030-01-07T11:00:00+01:00",
                "2030-01-07T11:30:00+01:00"
            ]
        );

        // Overlaps in every way are refused; adjacent is fine.
        for (start, min) in [
            ("2030-01-07T10:00", 30),
            ("2030-01-07T09:45", 30),
            ("2030-01-07T10:30", 60),
            ("2030-01-07T09:00", 120),
        ] {
            let e = store
                .book(&a.id, &cal.id, &req(start, min), now)
                .await
                .expect_err(start);
            assert!(
                matches!(&e, StoreError::Conflict(m) if m.contains("already booked")),
                "{e:?}"
            );
        }
        store
            .book(&a.id, &cal.id, &req("2030-01-07T10:45", 15), now)
            .await
            .expect("adjacent");
        // Outside working hours, in the past, silly lengths.
        assert!(matches!(
            store.book(&a.id, &cal.id, &req("2030-01-05T10:00", 30), now).await,
            Err(StoreError::Conflict(m)) if m.contains("outside working hours")
        ));
        assert!(matches!(
            store
                .book(&a.id, &cal.id, &req("2030-01-07T16:45", 30), now)
                .await,
            Err(StoreError::Conflict(_))
        ));
        let e = store
            .book(
                &a.id,
                &cal.id,
                &req("2030-01-07T14:00", 30),
                t("2030-01-08T00:00"),
            )
            .await
            .expect_err("past");
        assert_eq!(invalid_param(e), "start");
        let e = store
            .book(&a.id, &cal.id, &req("2030-01-07T14:00", 600), now)
            .await
            .expect_err("long");
        assert_eq!(invalid_param(e), "duration_min");
        let e = store
            .availability(
                &a.id,
                &cal.id,
                t("2030-01-07T09:00"),
                t("2030-03-07T09:00"),
                now,
            )
            .await
            .expect_err("window");
        assert_eq!(invalid_param(e), "to");

        // Another workspace cannot see or book this calendar.
        assert!(matches!(
            store.calendar(&b.id, &cal.id).await,
            Err(StoreError::NotFound)
        ));
        assert!(matches!(
            store
                .book(&b.id, &cal.id, &req("2030-01-08T10:00", 30), now)
                .await,
            Err(StoreError::NotFound)
        ));
        assert_eq!(store.bookings(&a.id, &cal.id).await.expect("list").len(), 2);
        assert!(
            store
                .bookings(&b.id, &cal.id)
                .await
                .expect("list")
                .is_empty()
        );
        store.close().await;
    }
}

/// Twelve attempts at each of 16 slots, all at once on a pool of connections:
/// for every slot exactly one wins, the rest are told it is taken, and one
/// booking per slot is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_bookings_of_one_slot_never_double_book() {
    const SLOTS: usize = 16;
    const TRIES: usize = 12;
    for store in backends("store-race").await {
        let backend = store.backend();
        let ws = store.create_workspace("acme").await.expect("ws");
        let cal = store
            .create_calendar(&ws.id, &calendar())
            .await
            .expect("cal");
        let now: Timestamp = "2030-01-01T00:00:00Z".parse().expect("now");
        let store = Arc::new(store);
        let barrier = Arc::new(tokio::sync::Barrier::new(SLOTS * TRIES));
        let mut tasks = Vec::new();
        for slot in 0..SLOTS {
            // Tuesday 8 and Wednesday 9 January 2030 from 09:15, one hour apart.
            let start = cal
                .parse_time(&format!("2030-01-08T{:02}:15", 9 + slot % 8))
                .expect("t")
                .checked_add(jiff::SignedDuration::from_hours(24 * (slot / 8) as i64))
                .expect("t");
            for i in 0..TRIES {
                let (store, ws, cal, barrier) = (
                    store.clone(),
                    ws.id.clone(),
                    cal.id.clone(),
                    barrier.clone(),
                );
                tasks.push((
                    slot,
                    tokio::spawn(async move {
                        barrier.wait().await;
                        let call = format!("call_{slot}_{i}");
                        let req = BookingRequest {
                            // Different starts, all overlapping the slot's first quarter hour.
                            start: start
                                .checked_sub(jiff::SignedDuration::from_mins((i % 3) as i64 * 5))
                                .expect("t"),
                            duration_min: 30,
                            notes: "",
                            lead_id: None,
                            call_id: Some(&call),
                        };
                        store.book(&ws, &cal, &req, now).await
                    }),
                ));
            }
        }
        let mut won = [0; SLOTS];
        for (slot, t) in tasks {
            match t.await.expect("task") {
                Ok(_) => won[slot] += 1,
                Err(StoreError::Conflict(m)) => assert!(m.contains("already booked"), "{m}"),
                Err(e) => panic!("{backend:?}: unexpected {e:?}"),
            }
        }
        assert_eq!(won, [1; SLOTS], "{backend:?}: wins per slot");
        assert_eq!(
            store.bookings(&ws.id, &cal.id).await.expect("list").len(),
            SLOTS
        );
        store.close().await;
    }
}

#[tokio::test]
async fn a_sqlite_store_survives_reopening() {
    let dir = common::scratch_dir("store-reopen");
    let ws = {
        let store = Store::open_data_dir(&dir).await.expect("open");
        let ws = store.create_workspace("acme").await.expect("ws");
        store
            .add_document(&ws.id, "Pricing", "Growth plan, 5,000 calls.")
            .await
            .expect("doc");
        store.close().await;
        ws
    };
    let store = Store::open_data_dir(&dir).await.expect("reopen");
    let hits = store
        .search_knowledge(&ws.id, "growth", 3)
        .await
        .expect("search");
    assert_eq!(hits.len(), 1);
    let mode: String = sqlx_journal_mode(&dir).await;
    assert_eq!(mode, "wal");
}

async fn sqlx_journal_mode(dir: &std::path::Path) -> String {
    use sqlx::Connection;
    let mut c =
        sqlx::SqliteConnection::connect(&format!("sqlite://{}", dir.join("tenex.db").display()))
            .await
            .expect("connect");
    sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut c)
        .await
        .expect("pragma")
}

#[tokio::test]
async fn inbound_sessions_are_claimed_once_before_they_expire() {
    use tenex_voice::store::{NewAgent, NewSession, SessionDirection, new_session_id};
    for store in backends("store-sessions").await {
        let ws = store.create_workspace("acme").await.expect("ws").id;
        let other = store.create_workspace("globex").await.expect("ws").id;
        let agent: NewAgent =
            serde_json::from_value(json!({"name": "Ada", "system_prompt": "You are Ada."}))
                .expect("agent");
        let agent = store.create_agent(&ws, &agent).await.expect("agent");
        let lead = store
            .create_lead(&ws, &lead("Dana", "+13125550142"))
            .await
            .expect("lead");
        let body = NewSession {
            direction: SessionDirection::Inbound,
            lead_id: Some(lead.id.clone()),
            agent_id: agent.id.clone(),
            objective: "qualify_for_demo".into(),
            calendar_connector_id: None,
            trunk_id: None,
            caller_id: None,
            expires_in_s: Some(600),
        };
        store.check_session(&ws, &body).await.expect("valid");
        // References are checked in the session's own workspace.
        assert_eq!(
            invalid_param(
                store
                    .check_session(&other, &body)
                    .await
                    .expect_err("other ws")
            ),
            "agent_id"
        );
        let s = store
            .create_session(&ws, new_session_id(), &body, None)
            .await
            .expect("session");
        assert_eq!(s.expires_at, Some(s.created_at + 600_000));
        assert_eq!(s.status(s.created_at), "pending");
        assert_eq!(s.status(s.created_at + 600_000), "expired");
        assert!(matches!(
            store.session(&other, &s.id).await,
            Err(StoreError::NotFound)
        ));
        let late = store
            .claim_session_at(&s.id, s.created_at + 600_000)
            .await
            .expect("claim");
        assert!(late.is_none(), "not at or after expiry");
        let claimed = store
            .claim_session_at(&s.id, s.created_at + 1_000)
            .await
            .expect("claim")
            .expect("claimed");
        assert_eq!(claimed.workspace_id, ws);
        assert_eq!(claimed.session.lead_id.as_deref(), Some(lead.id.as_str()));
        assert!(
            store
                .claim_session_at(&s.id, s.created_at + 2_000)
                .await
                .expect("claim")
                .is_none(),
            "once only"
        );
        let used = store.session(&ws, &s.id).await.expect("session");
        assert_eq!(used.status(s.created_at + 2_000), "used");
        // An outbound session is never claimed by an inbound call.
        let out = NewSession {
            direction: SessionDirection::Outbound,
            expires_in_s: None,
            ..body
        };
        let o = store
            .create_session(
                &ws,
                new_session_id(),
                &out,
                Some("call_0000000000000001".into()),
            )
            .await
            .expect("outbound");
        assert_eq!(o.expires_at, None);
        assert!(
            store
                .claim_session_at(&o.id, o.created_at)
                .await
                .expect("claim")
                .is_none()
        );
        assert_eq!(
            store
                .session(&ws, &o.id)
                .await
                .expect("o")
                .call_id
                .as_deref(),
            Some("call_0000000000000001")
        );
    }
}
