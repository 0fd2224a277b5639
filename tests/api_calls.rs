//! The voice API's agents, voice profiles, numbers and calls through
//! `app(state).oneshot(...)`, on SQLite and on Postgres: validation (422 naming
//! the field), conflicts (409), workspace scoping (another workspace's id is a
//! 404 like a missing one), call filters, pagination while calls are inserted,
//! transcripts, tool calls and the lead's qualification history.

mod common;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::api::{Api, UNLIMITED, api_on, assert_error};
use serde_json::{Value, json};
use tenex_actors::call::{CallStore, ToolRecord};
use tenex_actors::realtime::{CallUsage, LatencyKind, Segment, Speaker, Verdict};
use tenex_actors::sip::{
    CallChange, CallId, CallOutcome, CallRecord, Direction, HungUpBy, SipTransport,
};
use tenex_voice::store::{CallBinding, DbCalls, Store, sweep_recordings};

async fn apis(name: &str) -> Vec<Api> {
    let mut out = Vec::new();
    for store in common::db::backends(name).await {
        out.push(api_on(store, UNLIMITED, None).await);
    }
    out
}

fn agent_body(name: &str) -> Value {
    json!({"name": name, "system_prompt": "You are Ada, calling from Tenex.",
           "objective_templates": {"qualify_for_demo": "Qualify the lead for a product demo."}})
}

async fn ws_of(store: &Store, name: &str) -> String {
    store.workspace_by_name(name).await.expect("workspace").id
}

#[tokio::test]
async fn agents_and_voice_profiles() {
    for api in apis("api-agents").await {
        let (st, _, a) = api
            .call("POST", "/agents", Some(&api.a), Some(agent_body("Ada")))
            .await;
        assert_eq!(st, 201, "{a}");
        let id = a["id"].as_str().expect("id").to_owned();
        assert!(id.starts_with("agent_"));
        assert_eq!(a["voice_profile"]["voice"], "marin");
        assert_eq!(a["voice_profile"]["turn_detection"]["type"], "server_vad");
        assert_eq!(a["max_duration_s"], 900);
        assert_eq!(a["tools"].as_array().map(Vec::len), Some(6));

        // The same name twice in one workspace conflicts; in another it does not.
        let dup = api
            .call("POST", "/agents", Some(&api.a), Some(agent_body("Ada")))
            .await;
        assert_error(&dup, 409, "conflict", None);
        let other = api
            .call("POST", "/agents", Some(&api.b), Some(agent_body("Ada")))
            .await;
        assert_eq!(other.0, 201);

        let bad = |patch: Value| {
            let mut b = agent_body("Bad");
            if let (Some(o), Some(p)) = (b.as_object_mut(), patch.as_object()) {
                o.extend(p.clone());
            }
            b
        };
        for (patch, param) in [
            (
                json!({"tools": ["search_knowledge", "launch_rockets"]}),
                "tools",
            ),
            (json!({"max_duration_s": 5}), "max_duration_s"),
            (json!({"system_prompt": ""}), "system_prompt"),
            (json!({"voice_profile": {"voice": "robot"}}), "voice"),
            (json!({"voice_profile": {"speed": 3.0}}), "speed"),
            (
                json!({"voice_profile": {"language": "english"}}),
                "language",
            ),
            (json!({"voice_profile": {"pitch": 2}}), "pitch"),
        ] {
            api.assert_invalid("POST", "/agents", &api.a, Some(bad(patch.clone())), param)
                .await;
        }

        // Another workspace's agent is a 404, for every verb.
        let path = format!("/agents/{id}");
        for (m, body) in [
            ("GET", None),
            ("PATCH", Some(json!({"system_prompt": "x"}))),
        ] {
            let res = api.call(m, &path, Some(&api.b), body).await;
            assert_error(&res, 404, "not_found", None);
        }
        let vp = format!("/agents/{id}/voice-profile");
        assert_error(
            &api.call("GET", &vp, Some(&api.b), None).await,
            404,
            "not_found",
            None,
        );
        assert_error(
            &api.call("PUT", &vp, Some(&api.b), Some(json!({}))).await,
            404,
            "not_found",
            None,
        );

        let (st, _, a2) = api
            .call(
                "PATCH",
                &path,
                Some(&api.a),
                Some(json!({"system_prompt": "You are Ada v2.", "greeting": "Say hello."})),
            )
            .await;
        assert_eq!(st, 200, "{a2}");
        assert_eq!(a2["system_prompt"], "You are Ada v2.");
        assert_eq!(a2["greeting"], "Say hello.");
        assert_eq!(a2["name"], "Ada");

        let profile = json!({"voice": "cedar", "speed": 1.2, "language": "de",
            "turn_detection": {"type": "semantic_vad", "eagerness": "high"},
            "transcription_model": null, "audio_format": "passthrough", "noise_reduction": "far_field"});
        let (st, _, p) = api
            .call("PUT", &vp, Some(&api.a), Some(profile.clone()))
            .await;
        assert_eq!(st, 200, "{p}");
        let (_, _, got) = api.call("GET", &vp, Some(&api.a), None).await;
        assert_eq!(got, profile);
        let res = api
            .call(
                "PUT",
                &vp,
                Some(&api.a),
                Some(json!({"turn_detection": {"type": "semantic_vad", "eagerness": "eager"}})),
            )
            .await;
        assert_error(&res, 422, "validation_error", Some("eagerness"));
        let res = api
            .call(
                "PUT",
                &vp,
                Some(&api.a),
                Some(json!({"turn_detection": {"type": "server_vad", "silence_duration_ms": 20}})),
            )
            .await;
        assert_error(&res, 422, "validation_error", Some("silence_duration_ms"));

        let (_, _, list) = api.call("GET", "/agents", Some(&api.a), None).await;
        assert_eq!(list["data"].as_array().map(Vec::len), Some(1));
        assert_eq!(list["data"][0]["voice_profile"]["voice"], "cedar");
    }
}

#[tokio::test]
async fn numbers_route_to_an_agent_of_the_same_workspace() {
    for api in apis("api-numbers").await {
        let (_, _, a) = api
            .call("POST", "/agents", Some(&api.a), Some(agent_body("Ada")))
            .await;
        let (_, _, b) = api
            .call("POST", "/agents", Some(&api.b), Some(agent_body("Bob")))
            .await;
        let (_, _, cal) = api
            .call(
                "POST",
                "/calendar-connectors",
                Some(&api.a),
                Some(json!({"name": "Sales", "timezone": "Europe/Berlin"})),
            )
            .await;
        let body = json!({"number": "+14155550100", "agent_id": a["id"],
            "objective": "qualify_for_demo", "calendar_connector_id": cal["id"]});
        let (st, _, n) = api
            .call("POST", "/numbers", Some(&api.a), Some(body.clone()))
            .await;
        assert_eq!(st, 201, "{n}");
        assert_eq!(n["calendar_connector_id"], cal["id"]);
        let id = n["id"].as_str().expect("id").to_owned();

        // A number routes to one place: taken is a conflict, from any workspace.
        let again = api.call("POST", "/numbers", Some(&api.a), Some(body)).await;
        assert_error(&again, 409, "conflict", None);
        let from_b = api
            .call(
                "POST",
                "/numbers",
                Some(&api.b),
                Some(json!({"number": "+14155550100", "agent_id": b["id"], "objective": "x"})),
            )
            .await;
        assert_error(&from_b, 409, "conflict", None);

        // References must be in the caller's own workspace.
        for (body, param) in [
            (
                json!({"number": "+14155550101", "agent_id": b["id"], "objective": "x"}),
                "agent_id",
            ),
            (
                json!({"number": "+14155550101", "agent_id": a["id"], "objective": "x",
                       "calendar_connector_id": "cal_missing"}),
                "calendar_connector_id",
            ),
            (
                json!({"number": "4155550101", "agent_id": a["id"], "objective": "x"}),
                "number",
            ),
            (
                json!({"number": "+14155550101", "agent_id": a["id"], "objective": ""}),
                "objective",
            ),
        ] {
            api.assert_invalid("POST", "/numbers", &api.a, Some(body), param)
                .await;
        }

        let path = format!("/numbers/{id}");
        for m in ["GET", "DELETE"] {
            assert_error(
                &api.call(m, &path, Some(&api.b), None).await,
                404,
                "not_found",
                None,
            );
        }
        let routed = api
            .store
            .route_number("14155550100")
            .await
            .expect("route")
            .expect("digits-only dialled numbers match too");
        assert_eq!(routed.number.id, id);
        let (_, _, list) = api.call("GET", "/numbers", Some(&api.a), None).await;
        assert_eq!(list["data"][0]["id"], id.as_str());
        let (st, _, _) = api.call("DELETE", &path, Some(&api.a), None).await;
        assert_eq!(st, 204);
        assert_error(
            &api.call("GET", &path, Some(&api.a), None).await,
            404,
            "not_found",
            None,
        );
        assert!(
            api.store
                .route_number("+14155550100")
                .await
                .expect("route")
                .is_none()
        );
    }
}

fn at(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms as u64)
}

/// A finished call record as the SIP engine would report it.
fn record(id: u64, direction: Direction, started: i64, outcome: Option<CallOutcome>) -> CallRecord {
    let answered = matches!(outcome, Some(CallOutcome::Completed));
    CallRecord {
        id: CallId(id),
        sip_call_id: format!("sip-{id}"),
        direction,
        from: "<sip:+13125550142@198.51.100.7>".into(),
        to: "<sip:+14155550100@203.0.113.1>".into(),
        remote: SocketAddr::from(([198, 51, 100, 7], 5060)),
        transport: SipTransport::Udp,
        codec: None,
        rtp_port: None,
        started_at: at(started),
        answered_at: answered.then(|| at(started + 2_000)),
        confirmations: 0,
        ended_at: outcome.map(|_| at(started + 62_000)),
        outcome,
        final_status: match outcome {
            Some(CallOutcome::Busy) => Some(486),
            _ => None,
        },
        hung_up_by: outcome.map(|_| HungUpBy::Them),
        hangup_cause: None,
        rtp_sent: 0,
        rtp_received: 0,
        rtp_lost: 0,
        rtp_skipped: 0,
        dtmf: Vec::new(),
        held: false,
        on_hold: false,
        recording: None,
        tag: None,
        trunk: None,
    }
}

fn verdict(qualified: bool) -> Verdict {
    Verdict {
        qualified,
        score: if qualified { 85 } else { 20 },
        reasons: vec!["volume".into()],
        budget: None,
        authority: None,
        need: None,
        timeline: None,
        next_steps: "demo".into(),
        evidence_quotes: vec!["We make 2,000 calls a month.".into()],
    }
}

/// Stores a call that started at `started` and ended with `outcome`.
async fn put(
    store: &Store,
    binding: &CallBinding,
    id: u64,
    direction: Direction,
    started: i64,
    outcome: Option<CallOutcome>,
) -> String {
    let r = record(id, direction, started, outcome);
    store
        .record_call(binding, &r, CallChange::Started)
        .await
        .expect("start");
    if outcome.is_some() {
        store
            .record_call(binding, &r, CallChange::Ended)
            .await
            .expect("end");
    }
    r.id.to_string()
}

// 2026-11-10T12:00:00Z and later days.
const DAY0: i64 = 1_794_312_000_000;
const DAY: i64 = 86_400_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_are_filtered_paged_and_scoped() {
    for api in apis("api-calls").await {
        let store = &api.store;
        let ws = ws_of(store, "acme").await;
        let (_, _, lead) = api
            .call(
                "POST",
                "/leads",
                Some(&api.a),
                Some(json!({"name": "Dana", "phone": "+13125550142"})),
            )
            .await;
        let lead_id = lead["id"].as_str().expect("lead").to_owned();
        let bind = |agent: &str, lead: Option<&str>, batch: Option<&str>| CallBinding {
            workspace: ws.clone(),
            agent_id: Some(agent.to_owned()),
            lead_id: lead.map(str::to_owned),
            batch_id: batch.map(str::to_owned),
            objective: "qualify_for_demo".into(),
            agent_config: json!({"system_prompt": "You are Ada."}),
            ..CallBinding::default()
        };
        let calls = DbCalls(store.clone());
        use CallOutcome::*;
        use Direction::*;
        let q1 = put(
            store,
            &bind("agent_a", Some(&lead_id), Some("batch_1")),
            1,
            Outbound,
            DAY0,
            Some(Completed),
        )
        .await;
        calls
            .verdict(CallId(1), 9, verdict(true))
            .await
            .expect("verdict");
        let u1 = put(
            store,
            &bind("agent_a", Some(&lead_id), Some("batch_1")),
            2,
            Outbound,
            DAY0 + DAY,
            Some(Completed),
        )
        .await;
        calls
            .verdict(CallId(2), 9, verdict(false))
            .await
            .expect("verdict");
        let busy = put(
            store,
            &bind("agent_a", None, Some("batch_1")),
            3,
            Outbound,
            DAY0 + 2 * DAY,
            Some(Busy),
        )
        .await;
        let na = put(
            store,
            &bind("agent_b", None, None),
            4,
            Outbound,
            DAY0 + 3 * DAY,
            Some(NoAnswer),
        )
        .await;
        let failed = put(
            store,
            &bind("agent_b", None, None),
            5,
            Outbound,
            DAY0 + 4 * DAY,
            Some(Rejected),
        )
        .await;
        let canceled = put(
            store,
            &bind("agent_b", None, None),
            6,
            Inbound,
            DAY0 + 5 * DAY,
            Some(Canceled),
        )
        .await;
        let live = put(
            store,
            &bind("agent_b", None, None),
            7,
            Inbound,
            DAY0 + 6 * DAY,
            None,
        )
        .await;
        // An answering machine picked up (the agent hung up on the voicemail
        // greeting): outcome `voicemail`.
        let mut r = record(8, Outbound, DAY0 + 4 * DAY - 3_600_000, Some(Completed));
        r.hangup_cause = Some("voicemail");
        let b = bind("agent_a", None, Some("batch_2"));
        for change in [CallChange::Started, CallChange::Ended] {
            store
                .record_call(&b, &r, change)
                .await
                .expect("voicemail call");
        }
        let vm = r.id.to_string();
        // A verdict replayed (a restarted CRM writer) changes nothing.
        calls
            .verdict(CallId(1), 9, verdict(true))
            .await
            .expect("verdict again");

        let ids = |v: &Value| -> Vec<String> {
            v["data"]
                .as_array()
                .expect("data")
                .iter()
                .map(|c| c["id"].as_str().expect("id").to_owned())
                .collect()
        };
        let get = |q: &str| {
            let path = format!("/calls{q}");
            let api = &api;
            async move {
                let (st, _, body) = api.call("GET", &path, Some(&api.a), None).await;
                assert_eq!(st, 200, "{path}: {body}");
                body
            }
        };
        let all = get("").await;
        assert_eq!(
            ids(&all),
            [&live, &canceled, &failed, &vm, &na, &busy, &u1, &q1].map(String::clone),
            "newest first"
        );
        for (q, want) in [
            ("?outcome=qualified", vec![&q1]),
            ("?outcome=unqualified", vec![&u1]),
            ("?outcome=busy", vec![&busy]),
            ("?outcome=no-answer", vec![&na]),
            ("?outcome=failed", vec![&failed]),
            ("?outcome=canceled", vec![&canceled]),
            ("?outcome=voicemail", vec![&vm]),
            ("?direction=inbound", vec![&live, &canceled]),
            (
                "?direction=outbound",
                vec![&failed, &vm, &na, &busy, &u1, &q1],
            ),
            ("?status=ringing", vec![&live]),
            ("?status=ended&direction=inbound", vec![&canceled]),
            (&format!("?lead_id={lead_id}"), vec![&u1, &q1]),
            ("?agent_id=agent_a", vec![&vm, &busy, &u1, &q1]),
            ("?batch_id=batch_1", vec![&busy, &u1, &q1]),
            ("?batch_id=batch_2", vec![&vm]),
            ("?batch_id=batch_1&outcome=busy", vec![&busy]),
            ("?from=2026-11-11&to=2026-11-12", vec![&busy, &u1]),
            (
                "?from=2026-11-14T12:00:00Z",
                vec![&live, &canceled, &failed],
            ),
            ("?to=2026-11-10", vec![&q1]),
        ] {
            let body = get(q).await;
            let want: Vec<String> = want.into_iter().cloned().collect();
            assert_eq!(ids(&body), want, "{q}");
        }
        for (q, param) in [
            ("?outcome=great", "outcome"),
            ("?status=dancing", "status"),
            ("?direction=sideways", "direction"),
            ("?from=yesterday", "from"),
            ("?to=2026-13-01", "to"),
            ("?limit=0", "limit"),
            ("?limit=201", "limit"),
            ("?lead=x", "lead"),
        ] {
            api.assert_invalid("GET", &format!("/calls{q}"), &api.a, None, param)
                .await;
        }
        // The other workspace sees none of them.
        let (_, _, theirs) = api.call("GET", "/calls", Some(&api.b), None).await;
        assert_eq!(theirs["data"], json!([]));

        // One call: what it ran with, its outcome and verdict; transcript; tools.
        calls
            .segment(
                CallId(1),
                Segment {
                    speaker: Speaker::Caller,
                    item_id: "u1".into(),
                    text: "We make 2,000 calls a month.".into(),
                    start_ms: 4_000,
                    end_ms: 6_000,
                },
            )
            .await
            .expect("segment");
        for _ in 0..2 {
            calls
                .segment(
                    CallId(1),
                    Segment {
                        speaker: Speaker::Agent,
                        item_id: "a1".into(),
                        text: "Hi, this is Ada from Tenex.".into(),
                        start_ms: 500,
                        end_ms: 3_000,
                    },
                )
                .await
                .expect("segment (replayed once)");
            calls
                .tool_call(
                    CallId(1),
                    9,
                    ToolRecord {
                        name: "search_knowledge".into(),
                        arguments: r#"{"query":"pricing"}"#.into(),
                        output: r#"{"results":[]}"#.into(),
                        failed: false,
                    },
                )
                .await
                .expect("tool (replayed once)");
        }
        calls
            .summary(CallId(1), "Qualified, demo agreed.".into())
            .await
            .expect("summary");
        let (st, _, c) = api
            .call("GET", &format!("/calls/{q1}"), Some(&api.a), None)
            .await;
        assert_eq!(st, 200, "{c}");
        assert_eq!(c["outcome"], "qualified");
        assert_eq!(c["status"], "ended");
        assert_eq!(c["duration_ms"], 60_000);
        assert_eq!(c["verdict"]["score"], 85);
        assert_eq!(c["summary"], "Qualified, demo agreed.");
        assert_eq!(c["agent_config"]["system_prompt"], "You are Ada.");
        assert_eq!(c["tool_calls"].as_array().map(Vec::len), Some(1));
        assert!(c.get("recording_url").is_some());
        let (_, _, t) = api
            .call(
                "GET",
                &format!("/calls/{q1}/transcript"),
                Some(&api.a),
                None,
            )
            .await;
        let lines: Vec<(&str, &str)> = t["data"]
            .as_array()
            .expect("lines")
            .iter()
            .map(|l| {
                (
                    l["speaker"].as_str().unwrap_or(""),
                    l["text"].as_str().unwrap_or(""),
                )
            })
            .collect();
        assert_eq!(
            lines,
            [
                ("agent", "Hi, this is Ada from Tenex."),
                ("caller", "We make 2,000 calls a month.")
            ]
        );
        for path in [format!("/calls/{q1}"), format!("/calls/{q1}/transcript")] {
            assert_error(
                &api.call("GET", &path, Some(&api.b), None).await,
                404,
                "not_found",
                None,
            );
        }
        assert_error(
            &api.call("POST", &format!("/calls/{q1}/hangup"), Some(&api.b), None)
                .await,
            404,
            "not_found",
            None,
        );
        assert_error(
            &api.call("POST", &format!("/calls/{q1}/hangup"), Some(&api.a), None)
                .await,
            409,
            "conflict",
            None,
        );

        // The lead's qualification history: one entry per call, replays ignored.
        let (_, _, l) = api
            .call("GET", &format!("/leads/{lead_id}"), Some(&api.a), None)
            .await;
        let history = l["qualification_history"].as_array().expect("history");
        let by_call: Vec<(&str, bool)> = history
            .iter()
            .map(|h| {
                (
                    h["call_id"].as_str().unwrap_or(""),
                    h["verdict"]["qualified"].as_bool().unwrap_or(false),
                )
            })
            .collect();
        assert_eq!(by_call.len(), 2, "{history:?}");
        assert!(by_call.contains(&(q1.as_str(), true)));
        assert!(by_call.contains(&(u1.as_str(), false)));

        // Paging while calls keep arriving: every call that existed at the start
        // is seen exactly once.
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut next = 100;
        loop {
            let q = match &cursor {
                Some(c) => format!("?limit=2&cursor={c}"),
                None => "?limit=2".into(),
            };
            let page = get(&q).await;
            seen.extend(ids(&page));
            for _ in 0..3 {
                next += 1;
                put(
                    store,
                    &bind("agent_c", None, None),
                    next,
                    Inbound,
                    DAY0 + 30 * DAY + next as i64,
                    None,
                )
                .await;
            }
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        let mut want = ids(&all);
        let mut got = seen.clone();
        want.sort();
        got.sort();
        assert_eq!(got, want, "no duplicates, no skips: {seen:?}");

        // The live states: queued (placed, not dialled yet), in progress, on hold.
        let b = bind("agent_d", None, None);
        store
            .queue_call(CallId(300), &b, "sip:+13125550142@carrier")
            .await
            .expect("queue");
        let mut talking = record(301, Inbound, DAY0 + 40 * DAY, None);
        talking.answered_at = Some(at(DAY0 + 40 * DAY + 2_000));
        let mut held = record(302, Inbound, DAY0 + 41 * DAY, None);
        held.answered_at = Some(at(DAY0 + 41 * DAY + 2_000));
        for change in [CallChange::Started, CallChange::Answered] {
            store
                .record_call(&b, &talking, change)
                .await
                .expect("talking");
            store.record_call(&b, &held, change).await.expect("held");
        }
        held.on_hold = true;
        store
            .record_call(&b, &held, CallChange::Hold(true))
            .await
            .expect("hold");
        for (q, want) in [
            ("?status=queued", CallId(300)),
            ("?status=in-progress", CallId(301)),
            ("?status=on-hold", CallId(302)),
        ] {
            assert_eq!(ids(&get(q).await), [want.to_string()], "{q}");
        }
    }
}

#[tokio::test]
async fn trunks_keep_credentials_write_only_and_validate_every_field() {
    for api in apis("api-trunks").await {
        let body = json!({
            "name": "carrier",
            "inbound_sources": ["54.172.60.0/30", "192.0.2.7"],
            "outbound": {"host": "sip.example.net", "transport": "tcp"},
            "credentials": {"username": "acme-user", "password": "s3cret-pass"},
            "caller_id": "+15550001111",
            "max_concurrent": 20,
            "calls_per_second": 2
        });
        let (st, _, t) = api
            .call("POST", "/trunks", Some(&api.a), Some(body.clone()))
            .await;
        assert_eq!(st, 201, "{t}");
        let id = t["id"].as_str().expect("id").to_owned();
        assert!(id.starts_with("trunk_"));
        assert_eq!(
            t["outbound"],
            json!({"host": "sip.example.net", "port": 5060, "transport": "tcp"})
        );
        assert_eq!(t["credentials_set"], true);
        assert_eq!(t["max_concurrent"], 20);
        assert_eq!(t["calls_per_second"], 2);
        let path = format!("/trunks/{id}");
        let (_, _, got) = api.call("GET", &path, Some(&api.a), None).await;
        let (_, _, list) = api.call("GET", "/trunks", Some(&api.a), None).await;
        for shown in [&t, &got, &list] {
            let text = shown.to_string();
            assert!(
                !text.contains("s3cret-pass") && !text.contains("acme-user"),
                "credentials are never returned: {text}"
            );
        }
        assert_eq!(list["data"][0]["id"], id.as_str());
        // The engine's view has them (it answers the carrier's challenges).
        let ws = ws_of(&api.store, "acme").await;
        let stored = api.store.trunk(&ws, &id).await.expect("trunk");
        let engine = stored.engine_trunk();
        assert_eq!(engine.name, id);
        assert_eq!(engine.inbound_sources.len(), 2);
        let out = engine.outbound.expect("outbound");
        assert_eq!(
            out.credentials.map(|c| c.password),
            Some("s3cret-pass".into())
        );
        assert_eq!(out.caller_id, "+15550001111");

        let dup = api
            .call("POST", "/trunks", Some(&api.a), Some(body.clone()))
            .await;
        assert_error(&dup, 409, "conflict", None);
        let (st, _, _) = api.call("POST", "/trunks", Some(&api.b), Some(body)).await;
        assert_eq!(st, 201, "names are per workspace");

        for (body, param) in [
            (
                json!({"name": "x", "inbound_sources": ["10.0.0.0/33"]}),
                "inbound_sources",
            ),
            (
                json!({"name": "x", "inbound_sources": ["not-an-ip"]}),
                "inbound_sources",
            ),
            (json!({"name": ""}), "name"),
            (
                json!({"name": "x", "outbound": {"host": "sip.example.net"}}),
                "caller_id",
            ),
            (
                json!({"name": "x", "outbound": {"host": "bad host!"}, "caller_id": "+15550001111"}),
                "outbound.host",
            ),
            (json!({"name": "x", "caller_id": "5550001111"}), "caller_id"),
            (json!({"name": "x", "max_concurrent": 0}), "max_concurrent"),
            (
                json!({"name": "x", "calls_per_second": 0}),
                "calls_per_second",
            ),
            (
                json!({"name": "x", "credentials": {"username": "", "password": "p"}}),
                "credentials.username",
            ),
        ] {
            api.assert_invalid("POST", "/trunks", &api.a, Some(body), param)
                .await;
        }
        let unknown = api
            .call(
                "POST",
                "/trunks",
                Some(&api.a),
                Some(json!({"name": "x", "bogus": 1})),
            )
            .await;
        assert_eq!(unknown.0, 422, "{:?}", unknown.2);

        // PATCH: the allowlist replaced, credentials and limits cleared with null,
        // fields left out kept.
        let (st, _, p) = api
            .call(
                "PATCH",
                &path,
                Some(&api.a),
                Some(
                    json!({"inbound_sources": ["198.51.100.0/24"], "credentials": null,
                            "calls_per_second": null}),
                ),
            )
            .await;
        assert_eq!(st, 200, "{p}");
        assert_eq!(p["inbound_sources"], json!(["198.51.100.0/24"]));
        assert_eq!(p["credentials_set"], false);
        assert_eq!(p["calls_per_second"], Value::Null);
        assert_eq!(p["max_concurrent"], 20);
        assert_eq!(p["caller_id"], "+15550001111");
        let bad = api
            .call(
                "PATCH",
                &path,
                Some(&api.a),
                Some(json!({"caller_id": null})),
            )
            .await;
        assert_error(&bad, 422, "validation_error", Some("caller_id"));

        for m in ["GET", "PATCH", "DELETE"] {
            let body = (m == "PATCH").then(|| json!({"name": "stolen"}));
            assert_error(
                &api.call(m, &path, Some(&api.b), body).await,
                404,
                "not_found",
                None,
            );
        }
        let (st, _, _) = api.call("DELETE", &path, Some(&api.a), None).await;
        assert_eq!(st, 204);
        assert_error(
            &api.call("GET", &path, Some(&api.a), None).await,
            404,
            "not_found",
            None,
        );
    }
}

#[tokio::test]
async fn workspace_settings_validate_and_default() {
    for api in apis("api-workspace").await {
        let (st, _, w) = api.call("GET", "/workspace", Some(&api.a), None).await;
        assert_eq!(st, 200, "{w}");
        assert_eq!(w["name"], "acme");
        assert_eq!(
            w["settings"],
            json!({"recording_retention_days": null, "recording_url_ttl_s": 3600,
                   "session_ttl_s": 3600, "ring_timeout_s": 30, "default_caller_id": null})
        );
        let (st, _, w) = api
            .call(
                "PATCH",
                "/workspace",
                Some(&api.a),
                Some(json!({"recording_retention_days": 30, "ring_timeout_s": 25,
                            "default_caller_id": "+15550001111"})),
            )
            .await;
        assert_eq!(st, 200, "{w}");
        assert_eq!(w["settings"]["recording_retention_days"], 30);
        assert_eq!(w["settings"]["ring_timeout_s"], 25);
        assert_eq!(w["settings"]["session_ttl_s"], 3600, "left out: kept");
        let (_, _, w) = api
            .call(
                "PATCH",
                "/workspace",
                Some(&api.a),
                Some(json!({"recording_retention_days": null})),
            )
            .await;
        assert_eq!(w["settings"]["recording_retention_days"], Value::Null);
        assert_eq!(w["settings"]["default_caller_id"], "+15550001111");
        // The other workspace is untouched.
        let (_, _, other) = api.call("GET", "/workspace", Some(&api.b), None).await;
        assert_eq!(other["name"], "globex");
        assert_eq!(other["settings"]["ring_timeout_s"], 30);
        for (body, param) in [
            (
                json!({"recording_retention_days": 0}),
                "recording_retention_days",
            ),
            (json!({"recording_url_ttl_s": 10}), "recording_url_ttl_s"),
            (json!({"session_ttl_s": 10}), "session_ttl_s"),
            (json!({"ring_timeout_s": 1}), "ring_timeout_s"),
            (json!({"default_caller_id": "555"}), "default_caller_id"),
        ] {
            api.assert_invalid("PATCH", "/workspace", &api.a, Some(body), param)
                .await;
        }
        let unknown = api
            .call(
                "PATCH",
                "/workspace",
                Some(&api.a),
                Some(json!({"bogus": 1})),
            )
            .await;
        assert_eq!(unknown.0, 422);
    }
}

/// A stereo 8 kHz WAV of `samples` frames: a 44-byte header, then silence.
fn wav(path: &std::path::Path, samples: u32) {
    let data = samples * 4;
    let mut b = Vec::with_capacity(44 + data as usize);
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(36 + data).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&16u32.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&8000u32.to_le_bytes());
    b.extend_from_slice(&32000u32.to_le_bytes());
    b.extend_from_slice(&4u16.to_le_bytes());
    b.extend_from_slice(&16u16.to_le_bytes());
    b.extend_from_slice(b"data");
    b.extend_from_slice(&data.to_le_bytes());
    b.resize(44 + data as usize, 0);
    std::fs::write(path, b).expect("write wav");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recordings_are_signed_ranged_deleted_and_expire() {
    for (n, api) in apis("api-recordings").await.into_iter().enumerate() {
        let store = &api.store;
        let ws = ws_of(store, "acme").await;
        let dir = common::scratch_dir(&format!("api-recordings-{n}"));
        let binding = CallBinding {
            workspace: ws.clone(),
            objective: "x".into(),
            ..CallBinding::default()
        };
        let now = tenex_voice::store::now_ms();
        let mut ids = Vec::new();
        let mut files = Vec::new();
        for i in 0..2u64 {
            let file = dir.join(format!("rec{i}.wav"));
            wav(&file, 8000);
            let mut r = record(
                7_000 + i + 10 * n as u64,
                Direction::Inbound,
                now - 120_000,
                Some(CallOutcome::Completed),
            );
            r.recording = Some(file.clone());
            store
                .record_call(&binding, &r, CallChange::Started)
                .await
                .expect("start");
            store
                .record_call(&binding, &r, CallChange::Ended)
                .await
                .expect("end");
            ids.push(r.id.to_string());
            files.push(file);
        }
        let (_, _, call) = api
            .call("GET", &format!("/calls/{}", ids[0]), Some(&api.a), None)
            .await;
        assert_eq!(call["recording_state"], "ready");
        let url = call["recording_url"]
            .as_str()
            .expect("recording_url")
            .to_owned();
        assert!(
            url.starts_with(&format!("/api/v1/voice/recordings/{}.wav?expires=", ids[0])),
            "{url}"
        );
        let expires: i64 = url
            .split("expires=")
            .nth(1)
            .and_then(|r| r.split('&').next())
            .and_then(|e| e.parse().ok())
            .expect("expires");
        assert!(
            (expires - now / 1000 - 3600).abs() <= 5,
            "one hour by default"
        );
        // The workspace's link lifetime applies, in lists too.
        api.call(
            "PATCH",
            "/workspace",
            Some(&api.a),
            Some(json!({"recording_url_ttl_s": 600})),
        )
        .await;
        let (_, _, list) = api.call("GET", "/calls", Some(&api.a), None).await;
        let listed = list["data"][0]["recording_url"]
            .as_str()
            .expect("listed url")
            .to_owned();
        let listed_expires: i64 = listed
            .split("expires=")
            .nth(1)
            .and_then(|r| r.split('&').next())
            .and_then(|e| e.parse().ok())
            .expect("expires");
        assert!((listed_expires - now / 1000 - 600).abs() <= 5, "{listed}");

        // The link works without a key; Range is honoured.
        let (st, h, body) = api.get_bytes(&url, &[]).await;
        assert_eq!(st, 200);
        assert_eq!(h["content-type"], "audio/wav");
        assert_eq!(h["accept-ranges"], "bytes");
        assert_eq!(body.len(), 44 + 32_000);
        assert_eq!(&body[..4], b"RIFF");
        let (st, h, part) = api.get_bytes(&url, &[("range", "bytes=0-43")]).await;
        assert_eq!(st, 206);
        assert_eq!(h["content-range"], format!("bytes 0-43/{}", 44 + 32_000));
        assert_eq!(part, body[..44]);
        let (st, _, tail) = api.get_bytes(&url, &[("range", "bytes=-100")]).await;
        assert_eq!((st.as_u16(), tail.len()), (206, 100));
        let (st, h, _) = api.get_bytes(&url, &[("range", "bytes=999999-")]).await;
        assert_eq!(st, 416);
        assert_eq!(h["content-range"], format!("bytes */{}", 44 + 32_000));

        // A changed signature, another call's id, or an expired link: 403.
        let tampered = url.replace("sig=", "sig=A");
        assert_eq!(api.get_bytes(&tampered, &[]).await.0, 403);
        let other = url.replace(&ids[0], &ids[1]);
        assert_eq!(api.get_bytes(&other, &[]).await.0, 403);
        let key = {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD
                .decode(store.secret("recording-url").await.expect("secret"))
                .expect("key")
        };
        let sign = |id: &str, exp: i64| {
            use base64::Engine as _;
            use hmac::{KeyInit, Mac};
            let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).expect("key");
            m.update(format!("{id}.{exp}").as_bytes());
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(m.finalize().into_bytes())
        };
        let past = now / 1000 - 1;
        let expired = format!(
            "/api/v1/voice/recordings/{}.wav?expires={past}&sig={}",
            ids[0],
            sign(&ids[0], past)
        );
        let res = api.get_bytes(&expired, &[]).await;
        assert_eq!(res.0, 403, "{}", String::from_utf8_lossy(&res.2));
        assert_eq!(
            api.get_bytes(&url.replace("sig=", "nosig="), &[]).await.0,
            422,
            "a link without its signature"
        );

        // Another workspace cannot delete it; the owner can, then it is gone.
        let path = format!("/calls/{}/recording", ids[0]);
        assert_error(
            &api.call("DELETE", &path, Some(&api.b), None).await,
            404,
            "not_found",
            None,
        );
        let (st, _, _) = api.call("DELETE", &path, Some(&api.a), None).await;
        assert_eq!(st, 204);
        assert!(!files[0].exists(), "the file is removed");
        assert_eq!(api.get_bytes(&url, &[]).await.0, 410);
        assert_error(
            &api.call("DELETE", &path, Some(&api.a), None).await,
            410,
            "gone",
            None,
        );
        let (_, _, call) = api
            .call("GET", &format!("/calls/{}", ids[0]), Some(&api.a), None)
            .await;
        assert_eq!(call["recording_state"], "deleted");
        assert_eq!(call["recording_url"], Value::Null);
        // A replayed lifecycle change does not bring it back.
        let mut r = record(
            7_000 + 10 * n as u64,
            Direction::Inbound,
            now - 120_000,
            Some(CallOutcome::Completed),
        );
        r.recording = Some(files[0].clone());
        store
            .record_call(&binding, &r, CallChange::Ended)
            .await
            .expect("replay");
        let (_, _, call) = api
            .call("GET", &format!("/calls/{}", ids[0]), Some(&api.a), None)
            .await;
        assert_eq!(call["recording_state"], "deleted");

        // Retention: nothing is swept without a setting, nor before its time.
        let (_, _, call) = api
            .call("GET", &format!("/calls/{}", ids[1]), Some(&api.a), None)
            .await;
        let url1 = call["recording_url"].as_str().expect("url").to_owned();
        assert_eq!(
            sweep_recordings(store, now + 400 * DAY)
                .await
                .expect("sweep"),
            0
        );
        api.call(
            "PATCH",
            "/workspace",
            Some(&api.a),
            Some(json!({"recording_retention_days": 2})),
        )
        .await;
        assert_eq!(sweep_recordings(store, now + DAY).await.expect("sweep"), 0);
        assert!(files[1].exists());
        assert_eq!(
            sweep_recordings(store, now + 2 * DAY).await.expect("sweep"),
            1
        );
        assert!(!files[1].exists(), "expired recordings are deleted");
        assert_eq!(api.get_bytes(&url1, &[]).await.0, 410);
        let (_, _, call) = api
            .call("GET", &format!("/calls/{}", ids[1]), Some(&api.a), None)
            .await;
        assert_eq!(call["recording_state"], "expired");
        assert_eq!(call["recording_url"], Value::Null);
        assert_eq!(
            sweep_recordings(store, now + 3 * DAY).await.expect("sweep"),
            0
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_aggregate_calls_and_latency_per_agent_and_period() {
    for api in apis("api-metrics").await {
        let store = &api.store;
        let ws = ws_of(store, "acme").await;
        let bind = |agent: &str, batch: Option<&str>| CallBinding {
            workspace: ws.clone(),
            agent_id: Some(agent.to_owned()),
            batch_id: batch.map(str::to_owned),
            objective: "x".into(),
            ..CallBinding::default()
        };
        let calls = DbCalls(store.clone());
        use CallOutcome::*;
        use Direction::*;
        // Agent A, batch 1, day 0-2: qualified, unqualified, busy. Agent B, day 3: qualified inbound.
        let plan = [
            (
                21,
                "agent_a",
                Some("batch_1"),
                Outbound,
                DAY0,
                Some(Completed),
                Some(true),
            ),
            (
                22,
                "agent_a",
                Some("batch_1"),
                Outbound,
                DAY0 + DAY,
                Some(Completed),
                Some(false),
            ),
            (
                23,
                "agent_a",
                Some("batch_1"),
                Outbound,
                DAY0 + 2 * DAY,
                Some(Busy),
                None,
            ),
            (
                24,
                "agent_b",
                None,
                Inbound,
                DAY0 + 3 * DAY,
                Some(Completed),
                Some(true),
            ),
        ];
        let mut seq = 0;
        for (id, agent, batch, dir, at, outcome, qualified) in plan {
            put(store, &bind(agent, batch), id, dir, at, outcome).await;
            if let Some(q) = qualified {
                calls
                    .verdict(CallId(id), 9, verdict(q))
                    .await
                    .expect("verdict");
                // Greeting 400/500/600 ms by call; end of turn 700 + 100*k, k = 0..3.
                seq += 1;
                let g = 400 + 100 * (id as u32 - 21);
                calls
                    .latency(CallId(id), seq, LatencyKind::Greeting, g)
                    .await
                    .expect("latency");
                for k in 0..4 {
                    seq += 1;
                    calls
                        .latency(CallId(id), seq, LatencyKind::EndOfTurn, 700 + 100 * k)
                        .await
                        .expect("latency");
                }
                // A replayed sample changes nothing.
                calls
                    .latency(CallId(id), seq, LatencyKind::EndOfTurn, 9_999)
                    .await
                    .expect("replay");
                let usage = CallUsage {
                    input_tokens: 800,
                    output_tokens: 400,
                    audio_in_ms: 60_000,
                    audio_out_ms: 20_500,
                };
                calls.usage(CallId(id), usage).await.expect("usage");
            }
        }
        let get = |q: &'static str| {
            let api = &api;
            async move {
                let (st, _, v) = api
                    .call("GET", &format!("/metrics{q}"), Some(&api.a), None)
                    .await;
                assert_eq!(st, 200, "{q}: {v}");
                v
            }
        };
        let all = get("").await;
        assert_eq!(all["calls"], 4);
        assert_eq!(all["connected"], 3);
        assert_eq!(all["connect_rate"], 0.75);
        assert_eq!(all["qualified"], 2);
        assert_eq!(all["qualified_rate"], 2.0 / 3.0);
        assert_eq!(all["avg_duration_ms"], 60_000.0);
        assert_eq!(
            all["greeting_latency_ms"],
            json!({"count": 3, "p50": 500, "p95": 700, "max": 700})
        );
        assert_eq!(
            all["end_of_turn_latency_ms"],
            json!({"count": 12, "p50": 800, "p95": 1000, "max": 1000})
        );
        let a = get("?agent_id=agent_a").await;
        assert_eq!(
            (
                a["calls"].as_i64(),
                a["connected"].as_i64(),
                a["qualified"].as_i64()
            ),
            (Some(3), Some(2), Some(1))
        );
        assert_eq!(a["qualified_rate"], 0.5);
        assert_eq!(a["greeting_latency_ms"]["count"], 2);
        let batch = get("?batch_id=batch_1&direction=outbound").await;
        assert_eq!(batch["calls"], 3);
        // The batch alone leaves out the unbatched inbound call.
        let batch = get("?batch_id=batch_1").await;
        assert_eq!(
            (batch["calls"].as_i64(), batch["qualified"].as_i64()),
            (Some(3), Some(1)),
            "{batch}"
        );
        assert_eq!(get("?batch_id=batch_2").await["calls"], 0);
        let inbound = get("?direction=inbound").await;
        assert_eq!(inbound["calls"], 1);
        assert_eq!(inbound["greeting_latency_ms"]["p50"], 700);
        // Dates: a whole UTC day each; 2026-11-10 is DAY0.
        let day = get("?from=2026-11-11&to=2026-11-12").await;
        assert_eq!(
            (day["calls"].as_i64(), day["connected"].as_i64()),
            (Some(2), Some(1))
        );
        let none = get("?from=2030-01-01").await;
        assert_eq!(none["calls"], 0);
        assert_eq!(none["connect_rate"], Value::Null);
        assert_eq!(none["greeting_latency_ms"]["p50"], Value::Null);
        // The other workspace sees none of it.
        let (_, _, b) = api.call("GET", "/metrics", Some(&api.b), None).await;
        assert_eq!(b["calls"], 0);
        for (q, param) in [
            ("?direction=sideways", "direction"),
            ("?from=yesterday", "from"),
            ("?bogus=1", "bogus"),
        ] {
            let res = api
                .call("GET", &format!("/metrics{q}"), Some(&api.a), None)
                .await;
            assert_eq!(res.0, 422, "{q}: {:?}", res.2);
            assert_eq!(res.2["error"]["param"], param, "{q}");
        }

        // One call's figures.
        let (_, _, c) = api
            .call("GET", "/calls/call_0000000000000018", Some(&api.a), None)
            .await;
        assert_eq!(c["latency"]["greeting_ms"], 700, "{c}");
        assert_eq!(
            c["latency"]["end_of_turn_ms"],
            json!({"count": 4, "p50": 800, "p95": 1000, "max": 1000})
        );
        assert_eq!(c["latency"]["barge_in_stop_ms"]["count"], 0);
        assert_eq!(
            c["usage"],
            json!({"input_tokens": 800, "output_tokens": 400, "total_tokens": 1200,
                   "audio_in_s": 60.0, "audio_out_s": 20.5})
        );
        let (_, _, busy) = api
            .call("GET", "/calls/call_0000000000000017", Some(&api.a), None)
            .await;
        assert_eq!(busy["usage"], Value::Null);
        assert_eq!(busy["latency"]["greeting_ms"], Value::Null);
    }
}

/// Every operation in the OpenAPI document, called as a client would: each
/// answer's status must be one the document lists for it, and each JSON body
/// must validate against the documented schema with no undeclared field; the
/// document itself must be valid OpenAPI, and every operation must have been
/// seen succeeding (so a new endpoint cannot go undocumented or untested here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_answers_as_the_openapi_document_says() {
    let store = common::db::sqlite("api-openapi").await;
    let api = api_on(store.clone(), UNLIMITED, None).await;
    let mut c = api.openapi().await;
    let key = Some(api.a.as_str());
    let ws = ws_of(&store, "acme").await;
    macro_rules! call {
        ($method:expr, $path:expr) => {
            api.checked(&mut c, $method, &$path, key, None).await
        };
        ($method:expr, $path:expr, $body:expr) => {
            api.checked(&mut c, $method, &$path, key, Some($body)).await
        };
    }
    let id = |r: &common::api::Res| r.2["id"].as_str().expect("id").to_owned();

    assert_eq!(call!("GET", "/workspace").0, 200);
    let r = call!(
        "PATCH",
        "/workspace",
        json!({"recording_retention_days": 30})
    );
    assert_eq!(r.0, 200, "{}", r.2);

    let agent = call!("POST", "/agents", agent_body("Ada"));
    assert_eq!(agent.0, 201, "{}", agent.2);
    let agent = id(&agent);
    assert_eq!(call!("POST", "/agents", agent_body("Ada")).0, 409);
    assert_eq!(call!("GET", "/agents?limit=1").0, 200);
    assert_eq!(call!("GET", format!("/agents/{agent}")).0, 200);
    assert_eq!(
        call!(
            "PATCH",
            format!("/agents/{agent}"),
            json!({"greeting": "Hi!"})
        )
        .0,
        200
    );
    assert_eq!(
        call!("GET", format!("/agents/{agent}/voice-profile")).0,
        200
    );
    let r = call!(
        "PUT",
        format!("/agents/{agent}/voice-profile"),
        json!({"voice": "cedar", "turn_detection": {"type": "semantic_vad"}})
    );
    assert_eq!(r.0, 200, "{}", r.2);

    let trunk = call!(
        "POST",
        "/trunks",
        json!({"name": "carrier", "inbound_sources": ["192.0.2.0/24"],
               "outbound": {"host": "sip.carrier.example"},
               "credentials": {"username": "u", "password": "p"},
               "caller_id": "+14155550100", "max_concurrent": 10})
    );
    assert_eq!(trunk.0, 201, "{}", trunk.2);
    let trunk = id(&trunk);
    assert_eq!(call!("GET", "/trunks").0, 200);
    assert_eq!(call!("GET", format!("/trunks/{trunk}")).0, 200);
    let r = call!(
        "PATCH",
        format!("/trunks/{trunk}"),
        json!({"max_concurrent": null})
    );
    assert_eq!(r.0, 200, "{}", r.2);

    let number = call!(
        "POST",
        "/numbers",
        json!({"number": "+14155550100", "agent_id": agent, "objective": "qualify_for_demo"})
    );
    assert_eq!(number.0, 201, "{}", number.2);
    let number = id(&number);
    assert_eq!(call!("GET", "/numbers").0, 200);
    assert_eq!(call!("GET", format!("/numbers/{number}")).0, 200);

    let lead = call!(
        "POST",
        "/leads",
        json!({"name": "Grace Hopper", "phone": "+13125550142", "company": "Navy",
               "custom": {"source": "webinar"}})
    );
    assert_eq!(lead.0, 201, "{}", lead.2);
    let lead = id(&lead);
    assert_eq!(call!("GET", "/leads").0, 200);

    let doc = call!(
        "POST",
        "/knowledge",
        json!({"title": "Pricing", "body": "Plans start at 99 dollars per seat."})
    );
    assert_eq!(doc.0, 201, "{}", doc.2);
    let doc = id(&doc);
    assert_eq!(call!("GET", format!("/knowledge/{doc}")).0, 200);
    let r = call!("GET", "/knowledge/search?q=pricing%20plans");
    assert_eq!(r.0, 200, "{}", r.2);
    assert!(!r.2["data"].as_array().expect("hits").is_empty());

    let cal = call!(
        "POST",
        "/calendar-connectors",
        json!({"name": "Sales", "timezone": "America/Chicago"})
    );
    assert_eq!(cal.0, 201, "{}", cal.2);
    let cal = id(&cal);
    assert_eq!(call!("GET", format!("/calendar-connectors/{cal}")).0, 200);

    // A webhook subscription (a public address: nothing is sent in this test),
    // made before the call so the call's events become its deliveries.
    let hook = call!(
        "POST",
        "/webhooks",
        json!({"url": "https://8.8.8.8/hooks", "event_types": ["call.ended", "agent.run.completed"]})
    );
    assert_eq!(hook.0, 201, "{}", hook.2);
    let hook = id(&hook);
    assert_eq!(call!("GET", "/webhooks").0, 200);
    assert_eq!(call!("GET", format!("/webhooks/{hook}")).0, 200);
    let r = call!(
        "PATCH",
        format!("/webhooks/{hook}"),
        json!({"enabled": true})
    );
    assert_eq!(r.0, 200, "{}", r.2);
    let r = call!("POST", format!("/webhooks/{hook}/rotate-secret"));
    assert_eq!(r.0, 200, "{}", r.2);
    // The do-not-call list.
    let r = call!(
        "POST",
        "/dnc",
        json!({"phone": "+14155550999", "reason": "asked"})
    );
    assert_eq!(r.0, 201, "{}", r.2);
    assert_eq!(
        call!("POST", "/dnc", json!({"phone": "+14155550999"})).0,
        200
    );
    let r = call!("GET", "/dnc");
    assert_eq!(r.2["data"][0]["reason"], "asked", "{}", r.2);
    assert_eq!(call!("DELETE", "/dnc/+14155550999").0, 204);
    assert_eq!(call!("DELETE", "/dnc/+14155550999").0, 404);
    // The external CRM connector (nothing is sent in this test either).
    assert_eq!(call!("GET", "/crm-connector").0, 404);
    let r = call!(
        "PUT",
        "/crm-connector",
        json!({"url": "https://8.8.8.8/contacts/{lead_id}", "method": "PATCH",
               "auth_header": {"name": "Authorization", "value": "Bearer x"},
               "fields": {"status": "status", "score": "score"}})
    );
    assert_eq!(r.0, 200, "{}", r.2);
    assert_eq!(call!("GET", "/crm-connector").0, 200);

    // A finished call with everything a call can carry: lead, agent, verdict,
    // summary, transcript, a tool call, latency, usage, a recording and a
    // booked meeting.
    let agent_row = store.agent(&ws, &agent).await.expect("agent");
    let binding = CallBinding {
        workspace: ws.clone(),
        agent_id: Some(agent.clone()),
        lead_id: Some(lead.clone()),
        objective: "qualify_for_demo".into(),
        agent_config: json!(tenex_voice::store::CallConfig {
            agent_id: agent.clone(),
            name: agent_row.name.clone(),
            model: "gpt-realtime".into(),
            system_prompt: agent_row.system_prompt.clone(),
            objective: agent_row.objective("qualify_for_demo"),
            lead_context: "Grace Hopper, Navy".into(),
            tools: agent_row.tools.clone(),
            greeting: agent_row.greeting.clone(),
            max_duration_s: agent_row.max_duration_s,
            voice_profile: agent_row.voice_profile.clone(),
            agent_updated_at: agent_row.updated_at,
        }),
        ..CallBinding::default()
    };
    let dir = common::scratch_dir("api-openapi");
    let file = dir.join("call.wav");
    wav(&file, 8000);
    let now = tenex_voice::store::now_ms();
    let mut r = record(
        91,
        Direction::Outbound,
        now - 120_000,
        Some(CallOutcome::Completed),
    );
    r.recording = Some(file);
    r.codec = Some(tenex_media::sdp::Codec::Pcmu);
    store
        .record_call(&binding, &r, CallChange::Started)
        .await
        .expect("start");
    store
        .record_call(&binding, &r, CallChange::Ended)
        .await
        .expect("end");
    let call = r.id.to_string();
    let calls = DbCalls(store.clone());
    let cid = CallId(91);
    for (i, (speaker, text)) in [
        (Speaker::Agent, "Hi Grace, this is Ada from Tenex."),
        (Speaker::Caller, "We make 2,000 calls a month."),
    ]
    .into_iter()
    .enumerate()
    {
        let seg = Segment {
            speaker,
            item_id: format!("item{i}"),
            text: text.into(),
            start_ms: 1_000 + 3_000 * i as u64,
            end_ms: 3_000 + 3_000 * i as u64,
        };
        calls.segment(cid, seg).await.expect("segment");
    }
    let tool = ToolRecord {
        name: "search_knowledge".into(),
        arguments: r#"{"query":"pricing"}"#.into(),
        output: r#"{"results":[]}"#.into(),
        failed: false,
    };
    calls.tool_call(cid, 1, tool).await.expect("tool");
    calls.verdict(cid, 9, verdict(true)).await.expect("verdict");
    calls
        .summary(cid, "Qualified; demo booked.".into())
        .await
        .expect("summary");
    calls
        .latency(cid, 2, LatencyKind::Greeting, 450)
        .await
        .expect("latency");
    calls
        .latency(cid, 3, LatencyKind::EndOfTurn, 720)
        .await
        .expect("latency");
    let usage = CallUsage {
        input_tokens: 800,
        output_tokens: 400,
        audio_in_ms: 60_000,
        audio_out_ms: 20_500,
    };
    calls.usage(cid, usage).await.expect("usage");
    let monday = "2030-01-07T15:00:00Z".parse().expect("time");
    let booking = tenex_voice::store::BookingRequest {
        start: monday,
        duration_min: 30,
        notes: "Demo",
        lead_id: Some(&lead),
        call_id: Some(&call),
    };
    store
        .book(&ws, &cal, &booking, jiff::Timestamp::now())
        .await
        .expect("booking");
    let r = call!("GET", format!("/calendar-connectors/{cal}/bookings"));
    assert_eq!(r.2["data"].as_array().map(Vec::len), Some(1), "{}", r.2);

    let r = call!("GET", format!("/leads/{lead}"));
    assert_eq!(r.2["qualification_history"][0]["call_id"], call);
    let r = call!("GET", format!("/calls?lead_id={lead}&outcome=qualified"));
    assert_eq!(r.2["data"][0]["id"], call, "{}", r.2);
    let detail = call!("GET", format!("/calls/{call}"));
    assert_eq!(detail.0, 200);
    assert_eq!(detail.2["usage"]["total_tokens"], 1200, "{}", detail.2);
    assert_eq!(detail.2["latency"]["greeting_ms"], 450);
    let r = call!("GET", format!("/calls/{call}/transcript"));
    assert_eq!(r.2["data"].as_array().map(Vec::len), Some(2), "{}", r.2);
    assert_eq!(call!("GET", "/metrics?from=2026-01-01").0, 200);

    // Its events: the call's stream replays and closes once the run is done;
    // the workspace's lifecycle feed.
    calls.run_done(cid).await.expect("run done");
    let events_path = format!("/calls/{call}/stream");
    let mut s = api.sse(&events_path, &api.a, None).await;
    c.record("GET", &events_path, s.status.as_u16(), &Value::Null);
    let events = s.until_closed(Duration::from_secs(10)).await;
    assert_eq!(
        events.last().map(|e| e.event.as_str()),
        Some("agent.run.completed")
    );
    let done = &events.last().expect("events").data;
    let link = format!("/api/v1/voice/calls/{call}/recording");
    assert_eq!(done["recording_url"], link.as_str());
    assert_eq!(
        done["transcript_url"],
        format!("/api/v1/voice/calls/{call}/transcript")
    );
    assert_eq!(done["summary"], "Qualified; demo booked.");
    assert_eq!(done["meeting_booked"], true);
    assert_eq!(done["lead_status"], "meeting_booked");
    let ready = events.iter().find(|e| e.event == "recording.ready");
    assert!(
        ready.is_none(),
        "recording.ready is for webhooks, not the call's stream"
    );
    let mut s = api.sse("/stream", &api.a, None).await;
    c.record("GET", "/stream", s.status.as_u16(), &Value::Null);
    assert_eq!(
        s.next_event(Duration::from_secs(10))
            .await
            .expect("event")
            .event,
        "call.state"
    );
    let bad = api.sse_error("/stream", &api.a, "-1").await;
    c.record("GET", "/stream", bad.0.as_u16(), &bad.2);

    // The call's webhook deliveries: logged, one replayed, then the
    // subscription deleted.
    // Two for the webhook (call.ended, agent.run.completed), one for the CRM
    // connector (the call has a lead).
    assert_eq!(store.enqueue_deliveries().await.expect("enqueue"), 3);
    let r = call!("GET", format!("/webhooks/{hook}/deliveries"));
    assert_eq!(r.2["data"].as_array().map(Vec::len), Some(2), "{}", r.2);
    let msg = r.2["data"][0]["id"].as_str().expect("delivery").to_owned();
    assert_eq!(
        call!("POST", format!("/webhooks/deliveries/{msg}/replay")).0,
        202
    );
    assert_eq!(call!("DELETE", format!("/webhooks/{hook}")).0, 204);
    assert_eq!(call!("DELETE", "/crm-connector").0, 204);

    // The recording by its signed link (no key), whole and ranged, then deleted.
    let url = detail.2["recording_url"].as_str().expect("url").to_owned();
    let path = url.trim_start_matches("/api/v1/voice").to_owned();
    for range in [None, Some("bytes=0-99"), Some("bytes=99999999-")] {
        let headers: Vec<(&str, &str)> = range.iter().map(|r| ("range", *r)).collect();
        let (status, h, bytes) = api.get_bytes(&url, &headers).await;
        c.record("GET", &path, status.as_u16(), &Value::Null);
        if status.is_success() {
            assert_eq!(h["content-type"], "audio/wav");
            assert!(!bytes.is_empty());
        }
    }
    // With the key, the call's recording redirects to a fresh signed link.
    let r = call!("GET", format!("/calls/{call}/recording"));
    assert_eq!(r.0, 307, "{}", r.2);
    let location = r.1["location"].to_str().expect("location");
    assert!(
        location.starts_with(&format!("/api/v1/voice/recordings/{call}.wav?expires=")),
        "{location}"
    );
    assert_eq!(api.get_bytes(location, &[]).await.0, 200);
    assert_eq!(call!("DELETE", format!("/calls/{call}/recording")).0, 204);
    assert_eq!(call!("GET", format!("/calls/{call}/recording")).0, 410);
    let (status, _, body) = api.get_bytes(&url, &[]).await;
    let body: Value = serde_json::from_slice(&body).expect("error body");
    c.record("GET", &path, status.as_u16(), &body);
    assert_eq!(status, 410);

    // A stored inbound session (placing one needs a SIP engine: this node has
    // none, which POST answers with 503).
    let new = tenex_voice::store::NewSession {
        direction: tenex_voice::store::SessionDirection::Inbound,
        lead_id: Some(lead.clone()),
        agent_id: agent.clone(),
        objective: "qualify_for_demo".into(),
        calendar_connector_id: None,
        trunk_id: None,
        caller_id: None,
        expires_in_s: Some(600),
    };
    let sess = tenex_voice::store::new_session_id();
    store
        .create_session(&ws, sess.clone(), &new, None)
        .await
        .expect("session");
    assert_eq!(call!("GET", format!("/sessions/{sess}")).0, 200);
    let r = call!(
        "POST",
        "/sessions",
        json!({"direction": "inbound", "agent_id": agent, "objective": "qualify_for_demo"})
    );
    assert_eq!(r.0, 503, "{}", r.2);

    // Errors, each in the documented shape.
    assert_eq!(
        api.checked(&mut c, "GET", "/calls", None, None).await.0,
        401
    );
    assert_eq!(call!("GET", "/calls/call_404").0, 404);
    assert_eq!(call!("GET", "/calls?outcome=maybe").0, 422);
    assert_eq!(call!("POST", format!("/calls/{call}/hangup")).0, 409);
    assert_eq!(call!("POST", "/leads", json!({"name": "x"})).0, 422);
    let r = api
        .raw("/leads", Some("application/json"), b"{".to_vec())
        .await;
    c.record("POST", "/leads", r.0.as_u16(), &r.2);
    assert_eq!(r.0, 400);
    let r = api
        .raw(
            "/leads",
            Some("application/json"),
            vec![b' '; (1 << 20) + 1],
        )
        .await;
    c.record("POST", "/leads", r.0.as_u16(), &r.2);
    assert_eq!(r.0, 413);

    // Removals last.
    assert_eq!(call!("DELETE", format!("/numbers/{number}")).0, 204);
    // Campaigns (no dialer runs here: the batch stays queued).
    let batch_body = json!({"lead_ids": [lead, "lead_missing"], "objective": "qualify_for_demo",
                            "agent_id": agent, "concurrency": 2, "calls_per_second": 0.5,
                            "retry": {"max_attempts": 2, "on": ["busy"], "backoff_minutes": 30},
                            "window": {"start": "08:30", "end": "18:00", "days": ["mon", "tue"],
                                       "timezone": "Europe/Berlin"}});
    let r = call!("POST", "/batches", batch_body.clone());
    assert_eq!(r.0, 202, "{}", r.2);
    assert_eq!(r.2["queued"], 1);
    assert_eq!(r.2["rejected"][0]["reason"], "not_found");
    let batch = r.2["call_batch_id"].as_str().expect("batch").to_owned();
    let r = call!("GET", format!("/batches/{batch}"));
    assert_eq!(r.0, 200, "{}", r.2);
    assert_eq!(r.2["calls_per_second"], 0.5);
    assert_eq!(r.2["window"]["respect_lead_timezone"], true);
    assert_eq!(call!("GET", "/batches?limit=5").0, 200);
    assert_eq!(call!("GET", format!("/batches/{batch}/results")).0, 200);
    assert_eq!(call!("POST", format!("/batches/{batch}/pause")).0, 200);
    assert_eq!(call!("POST", format!("/batches/{batch}/resume")).0, 200);
    let r = call!("DELETE", format!("/trunks/{trunk}"));
    assert_eq!(r.0, 409, "a running batch's trunk stays: {}", r.2);
    assert_eq!(call!("POST", format!("/batches/{batch}/cancel")).0, 200);
    assert_eq!(call!("POST", format!("/batches/{batch}/pause")).0, 409);
    assert_eq!(call!("GET", "/batches/batch_nope").0, 404);
    let mut bad = batch_body.clone();
    bad["window"]["end"] = json!("07:00");
    assert_eq!(call!("POST", "/batches", bad).0, 422);
    assert_eq!(call!("DELETE", format!("/trunks/{trunk}")).0, 204);

    // The docs page: self-contained, rendering this document.
    let (status, h, page) = api.get_bytes("/api/v1/voice/docs", &[]).await;
    c.record("GET", "/docs", status.as_u16(), &Value::Null);
    assert_eq!(status, 200);
    assert!(
        h["content-type"]
            .to_str()
            .is_ok_and(|t| t.starts_with("text/html"))
    );
    let csp = h["content-security-policy"].to_str().expect("csp");
    assert!(
        csp.contains("default-src 'none'") && csp.contains("connect-src 'self'"),
        "{csp}"
    );
    let page = String::from_utf8(page).expect("utf-8");
    assert!(page.contains(r#"fetch("openapi.json")"#));
    for external in [
        "http://",
        "https://",
        "//cdn",
        "<script src",
        "<link",
        "@import",
    ] {
        assert!(
            !page.contains(external),
            "the docs page refers elsewhere: {external}"
        );
    }
    // ...and it renders every operation and schema of the document (its script
    // run by Node against a minimal DOM).
    let dir = common::scratch_dir("api-docs-page");
    std::fs::write(dir.join("docs.html"), &page).expect("write page");
    std::fs::write(dir.join("openapi.json"), c.doc().to_string()).expect("write doc");
    let out = std::process::Command::new("node")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/common/docs_render.js"
        ))
        .arg(dir.join("docs.html"))
        .arg(dir.join("openapi.json"))
        .output()
        .expect("node (the nodejs package; ./run test installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shown: Value = serde_json::from_slice(&out.stdout).expect("render report");
    assert_eq!(shown["fetched"], json!(["openapi.json"]));
    assert_eq!(shown["error"], json!([]));
    let listed: BTreeSet<(String, String)> = shown["operations"]
        .as_array()
        .expect("operations")
        .iter()
        .filter_map(|o| o.as_str()?.split_once(' '))
        .map(|(m, p)| (m.to_owned(), p.to_owned()))
        .collect();
    assert_eq!(listed, c.operations());
    let schemas = c.doc()["components"]["schemas"]
        .as_object()
        .expect("schemas");
    assert_eq!(shown["schemas"], schemas.len());
    let text = shown["text"].as_str().expect("text");
    for (method, path) in c.operations() {
        let (_, op) = c.operation(&method, &path).expect("operation");
        let summary = op["summary"].as_str().expect("summary");
        assert!(text.contains(summary), "{method} {path}: {summary}");
    }
    assert!(text.contains("`qualified / connected`") || text.contains("qualified / connected"));
    let (status, _, served) = api.get_bytes("/api/v1/voice/openapi.json", &[]).await;
    let served: Value = serde_json::from_slice(&served).expect("openapi.json");
    assert_eq!(&served, c.doc());
    c.record("GET", "/openapi.json", status.as_u16(), &served);

    // Every operation was seen succeeding, 2xx or a redirect (placing a session's call and
    // hanging up a live one need a SIP engine: trunks_and_sessions.rs holds
    // those answers to the document).
    let ok: BTreeSet<String> = c
        .seen
        .iter()
        .filter(|(_, s)| (200..400).contains(s))
        .map(|(op, _)| op.clone())
        .collect();
    let mut all = BTreeSet::new();
    for (method, path) in c.operations() {
        let (_, op) = c.operation(&method, &path).expect("operation");
        all.insert(op["operationId"].as_str().expect("operationId").to_owned());
    }
    let missing: Vec<_> = all
        .difference(&ok)
        .filter(|op| !["sessions_create", "calls_hangup"].contains(&op.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "operations never seen succeeding: {missing:?}"
    );
    c.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_do_not_call_list_is_validated_idempotent_and_per_workspace() {
    for api in apis("api-dnc").await {
        let add = |key: &str, body: Value| {
            let key = key.to_owned();
            let api = &api;
            async move { api.call("POST", "/dnc", Some(&key), Some(body)).await }
        };
        let r = add(&api.a, json!({"phone": "+13125550142", "reason": "asked"})).await;
        assert_eq!(r.0, 201, "{}", r.2);
        assert!(r.2["id"].as_str().is_some_and(|i| i.starts_with("dnc_")));
        let again = add(&api.a, json!({"phone": "+13125550142"})).await;
        assert_eq!(again.0, 200);
        assert_eq!(again.2, r.2, "the existing entry");
        api.assert_invalid(
            "POST",
            "/dnc",
            &api.a,
            Some(json!({"phone": "3125550142"})),
            "phone",
        )
        .await;
        api.assert_invalid(
            "POST",
            "/dnc",
            &api.a,
            Some(json!({"phone": "+13125550143", "reason": "x".repeat(501)})),
            "reason",
        )
        .await;
        for n in 0..3 {
            let r = add(&api.a, json!({"phone": format!("+1312555020{n}")})).await;
            assert_eq!(r.0, 201);
        }
        // Paged newest first, all four.
        let (_, _, p1) = api.call("GET", "/dnc?limit=3", Some(&api.a), None).await;
        assert_eq!(p1["data"].as_array().map(Vec::len), Some(3));
        let cursor = p1["next_cursor"].as_str().expect("cursor");
        let (_, _, p2) = api
            .call(
                "GET",
                &format!("/dnc?limit=3&cursor={cursor}"),
                Some(&api.a),
                None,
            )
            .await;
        assert_eq!(p2["data"].as_array().map(Vec::len), Some(1));
        assert_eq!(p2["data"][0]["phone"], "+13125550142");
        // Another workspace neither sees nor removes A's numbers.
        let (_, _, b) = api.call("GET", "/dnc", Some(&api.b), None).await;
        assert_eq!(b["data"], json!([]));
        let res = api
            .call("DELETE", "/dnc/+13125550142", Some(&api.b), None)
            .await;
        assert_error(&res, 404, "not_found", None);
        assert!(
            api.store
                .on_dnc(&ws_of(&api.store, "acme").await, "+13125550142")
                .await
                .expect("check")
        );
        let (st, _, _) = api
            .call("DELETE", "/dnc/%2B13125550142", Some(&api.a), None)
            .await;
        assert_eq!(st, 204, "an encoded + works too");
        assert!(
            !api.store
                .on_dnc(&ws_of(&api.store, "acme").await, "+13125550142")
                .await
                .expect("check")
        );
    }
}
