//! Live monitoring over SSE and the CRM write-back, on SQLite and Postgres: a
//! call's events in order with increasing ids, `Last-Event-ID` resuming exactly
//! after an event, a finished call's stream replaying and closing, the
//! workspace-wide lifecycle feed, replayed writes adding nothing, and the lead's
//! status, latest verdict and attempt history written once per call. The last
//! test follows a real SIPp call with 100 monitors at once.

mod common;

use std::time::Duration;

use common::api::{Api, UNLIMITED, api_state, assert_error};
use common::calls::{record, verdict};
use common::sse::SseEvent;
use serde_json::{Value, json};
use tenex_actors::call::{CallStore, ToolRecord};
use tenex_actors::realtime::{Segment, Speaker};
use tenex_actors::sip::{CallChange, CallId, CallOutcome};
use tenex_voice::store::{CallBinding, DbCalls, Store};

const WAIT: Duration = Duration::from_secs(10);

async fn apis(name: &str) -> Vec<Api> {
    let mut out = Vec::new();
    for store in common::db::backends(name).await {
        out.push(
            api_state(store, |mut s| {
                s.rate_limit = UNLIMITED;
                s.keep_alive = Duration::from_millis(100);
                s
            })
            .await,
        );
    }
    out
}

fn segment(i: usize, speaker: Speaker, text: &str) -> Segment {
    Segment {
        speaker,
        item_id: format!("item{i}"),
        text: text.into(),
        start_ms: 1_000 + 3_000 * i as u64,
        end_ms: 3_000 + 3_000 * i as u64,
    }
}

async fn workspace(api: &Api, name: &str) -> String {
    api.store
        .workspace_by_name(name)
        .await
        .expect("workspace")
        .id
}

async fn new_lead(api: &Api, phone: &str) -> String {
    let (st, _, lead) = api
        .call(
            "POST",
            "/leads",
            Some(&api.a),
            Some(json!({"name": "Dana Reyes", "phone": phone})),
        )
        .await;
    assert_eq!(st, 201, "{lead}");
    lead["id"].as_str().expect("id").to_owned()
}

fn binding(ws: &str, lead: Option<&str>) -> CallBinding {
    CallBinding {
        workspace: ws.to_owned(),
        lead_id: lead.map(str::to_owned),
        objective: "qualify_for_demo".into(),
        ..CallBinding::default()
    }
}

/// Everything one answered call writes, in the order the engine and the call
/// tree write it; `run_done` last.
async fn a_whole_call(store: &Store, b: &CallBinding, id: u64, started: i64) {
    let calls = DbCalls(store.clone());
    let cid = CallId(id);
    let live = record(id, started, CallOutcome::Completed, false);
    for change in [CallChange::Started, CallChange::Ringing] {
        store.record_call(b, &live, change).await.expect("ringing");
    }
    store
        .record_call(b, &live, CallChange::Answered)
        .await
        .expect("answered");
    let said = [
        (Speaker::Agent, "Hi Dana, this is Ada from Tenex."),
        (Speaker::Caller, "We make 2,000 calls a month."),
    ];
    for (i, (who, text)) in said.into_iter().enumerate() {
        calls
            .segment(cid, segment(i, who, text))
            .await
            .expect("segment");
    }
    let tool = ToolRecord {
        name: "search_knowledge".into(),
        arguments: r#"{"query":"pricing"}"#.into(),
        output: format!(r#"{{"results":["{}"]}}"#, "x".repeat(400)),
        failed: false,
    };
    calls.tool_call(cid, 5, tool).await.expect("tool");
    calls.dtmf(cid, 6, '5').await.expect("dtmf");
    calls
        .barge_in(cid, 7, "item2".into(), 1_240)
        .await
        .expect("barge-in");
    store
        .record_call(b, &live, CallChange::Hold(true))
        .await
        .expect("hold");
    store
        .record_call(b, &live, CallChange::Hold(false))
        .await
        .expect("unhold");
    calls.verdict(cid, 9, verdict(true)).await.expect("verdict");
    calls
        .summary(cid, "Qualified; wants a demo.".into())
        .await
        .expect("summary");
    let ended = record(id, started, CallOutcome::Completed, true);
    store
        .record_call(b, &ended, CallChange::Ended)
        .await
        .expect("ended");
    calls.run_done(cid).await.expect("run done");
}

fn kinds(events: &[SseEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| match e.event.as_str() {
            "call.state" => format!("call.state:{}", e.data["state"].as_str().unwrap_or("?")),
            k => k.to_owned(),
        })
        .collect()
}

const WHOLE_CALL: &[&str] = &[
    "call.state:ringing",
    "call.state:answered",
    "transcript.segment",
    "transcript.segment",
    "agent.tool_call",
    "dtmf",
    "barge_in",
    "call.state:on-hold",
    "call.state:answered",
    "verdict",
    "call.state:ended",
    "call.ended",
    "agent.run.completed",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_calls_stream_replays_in_order_resumes_after_an_id_and_closes() {
    for api in apis("sse-replay").await {
        let ws = workspace(&api, "acme").await;
        let lead = new_lead(&api, "+13125550142").await;
        let b = binding(&ws, Some(&lead));
        a_whole_call(&api.store, &b, 7, 1_794_312_000_000).await;
        let call = CallId(7).to_string();
        let path = format!("/calls/{call}/stream");

        let mut s = api.sse(&path, &api.a, None).await;
        assert_eq!(s.status, 200);
        assert_eq!(s.headers["content-type"], "text/event-stream");
        let all = s.until_closed(WAIT).await;
        assert_eq!(kinds(&all), WHOLE_CALL);
        let ids: Vec<i64> = all
            .iter()
            .map(|e| e.id.expect("stored events have ids"))
            .collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
        assert!(all.iter().all(|e| e.data["call_id"] == call.as_str()));

        // What each event says.
        assert_eq!(all[0].data["lead_id"], lead.as_str());
        assert_eq!(all[0].data["direction"], "outbound");
        assert_eq!(all[2].data["speaker"], "agent");
        assert_eq!(all[3].data["text"], "We make 2,000 calls a month.");
        assert_eq!(all[4].data["name"], "search_knowledge");
        assert_eq!(all[4].data["arguments"]["query"], "pricing");
        let result = all[4].data["result"].as_str().expect("result summary");
        assert!(
            result.chars().count() <= 201 && result.ends_with('…'),
            "{result}"
        );
        assert_eq!(all[5].data["digit"], "5");
        assert_eq!(all[6].data["played_ms"], 1_240);
        assert_eq!(all[9].data["qualified"], true);
        assert_eq!(all[9].data["score"], 85);
        assert_eq!(all[11].data["outcome"], "qualified");
        assert_eq!(all[11].data["duration_ms"], 60_000);
        let done = &all[12].data;
        assert_eq!(done["summary"], "Qualified; wants a demo.");
        assert_eq!(done["verdict"]["budget"], "$2k/month");
        assert_eq!(done["lead_id"], lead.as_str());
        assert_eq!(done["lead_status"], "qualified");
        assert_eq!(
            done["transcript_url"],
            format!("/api/v1/voice/calls/{call}/transcript")
        );

        // Resuming after each event gives exactly the events after it.
        for (k, id) in ids.iter().enumerate() {
            let mut s = api.sse(&path, &api.a, Some(&id.to_string())).await;
            assert_eq!(s.status, 200);
            let rest = s.until_closed(WAIT).await;
            assert_eq!(rest, all[k + 1..], "after {id}");
        }

        // The call tree's readers restarting and the engine repeating the end
        // write nothing twice.
        let calls = DbCalls(api.store.clone());
        calls
            .segment(
                CallId(7),
                segment(1, Speaker::Caller, "We make 2,000 calls a month."),
            )
            .await
            .expect("segment again");
        calls
            .verdict(CallId(7), 9, verdict(true))
            .await
            .expect("verdict again");
        calls.dtmf(CallId(7), 6, '5').await.expect("dtmf again");
        calls.run_done(CallId(7)).await.expect("run done again");
        let ended = record(7, 1_794_312_000_000, CallOutcome::Completed, true);
        api.store
            .record_call(&b, &ended, CallChange::Ended)
            .await
            .expect("ended again");
        let again = api.sse(&path, &api.a, None).await.until_closed(WAIT).await;
        assert_eq!(again, all);

        // The verdict is on the lead's record, once.
        let (_, _, got) = api
            .call("GET", &format!("/leads/{lead}"), Some(&api.a), None)
            .await;
        assert_eq!(got["status"], "qualified", "{got}");
        assert_eq!(got["latest_verdict"]["call_id"], call.as_str());
        assert_eq!(got["latest_verdict"]["verdict"]["score"], 85);
        assert_eq!(got["latest_verdict"]["summary"], "Qualified; wants a demo.");
        assert_eq!(got["attempts"].as_array().map(Vec::len), Some(1), "{got}");
        assert_eq!(got["attempts"][0]["outcome"], "qualified");

        // Another workspace's key cannot watch it; a bad id is named.
        let s = api.sse(&path, &api.b, None).await;
        assert_eq!(s.status, 404);
        let res = api.sse_error(&path, &api.a, "seven").await;
        assert_error(&res, 422, "validation_error", Some("Last-Event-ID"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_follower_gets_each_event_as_it_is_committed_and_interim_text_without_ids() {
    let api = apis("sse-live").await.remove(0);
    let ws = workspace(&api, "acme").await;
    let b = binding(&ws, None);
    let calls = DbCalls(api.store.clone());
    let live = record(3, 1_794_312_000_000, CallOutcome::Completed, false);
    for change in [CallChange::Started, CallChange::Ringing] {
        api.store
            .record_call(&b, &live, change)
            .await
            .expect("ringing");
    }
    let mut s = api
        .sse(&format!("/calls/{}/stream", CallId(3)), &api.a, None)
        .await;
    let first = s.next_event(WAIT).await.expect("ringing");
    assert_eq!(kinds(&[first]), ["call.state:ringing"]);

    api.store
        .record_call(&b, &live, CallChange::Answered)
        .await
        .expect("answered");
    let e = s.next_event(WAIT).await.expect("answered");
    assert_eq!(kinds(&[e]), ["call.state:answered"]);

    // Interim text goes out live, without an id, and is not stored.
    calls.delta(CallId(3), Speaker::Agent, "item0".into(), "Hi Da".into());
    calls.delta(CallId(3), Speaker::Agent, "item0".into(), "na".into());
    for want in ["Hi Da", "na"] {
        let e = s.next_event(WAIT).await.expect("delta");
        assert_eq!(e.event, "transcript.delta");
        assert_eq!(e.id, None);
        assert_eq!(e.data["delta"], want);
        assert_eq!(e.data["speaker"], "agent");
    }
    calls
        .segment(CallId(3), segment(0, Speaker::Agent, "Hi Dana."))
        .await
        .expect("segment");
    let e = s.next_event(WAIT).await.expect("segment");
    assert_eq!(e.event, "transcript.segment");
    assert_eq!(e.data["text"], "Hi Dana.");

    // A key-press, then the end: the stream closes after the run completes.
    calls.dtmf(CallId(3), 4, '#').await.expect("dtmf");
    assert_eq!(s.next_event(WAIT).await.expect("dtmf").data["digit"], "#");
    let ended = record(3, 1_794_312_000_000, CallOutcome::Completed, true);
    api.store
        .record_call(&b, &ended, CallChange::Ended)
        .await
        .expect("ended");
    let tail = s.until("call.ended", WAIT).await;
    assert_eq!(kinds(&tail), ["call.state:ended", "call.ended"]);
    // The agent's run is not over yet: the stream stays open (keep-alive
    // comments only) until it is.
    assert!(
        s.quiet_for(Duration::from_millis(500)).await,
        "no event before the run is done"
    );
    calls.run_done(CallId(3)).await.expect("run done");
    let rest = s.until_closed(WAIT).await;
    assert_eq!(kinds(&rest), ["agent.run.completed"]);
    // No verdict: the call is complete without one.
    assert_eq!(rest[0].data["verdict"], Value::Null);
    assert_eq!(rest[0].data["outcome"], "unqualified");

    // Replayed, the interim text is gone and everything else is there.
    let replay = api
        .sse(&format!("/calls/{}/stream", CallId(3)), &api.a, None)
        .await
        .until_closed(WAIT)
        .await;
    assert_eq!(
        kinds(&replay),
        [
            "call.state:ringing",
            "call.state:answered",
            "transcript.segment",
            "dtmf",
            "call.state:ended",
            "call.ended",
            "agent.run.completed"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_workspace_stream_carries_every_calls_lifecycle_and_resumes() {
    // Idle streams get a comment every 15 s unless configured otherwise.
    let default = tenex_voice::api::ApiState::new(common::db::sqlite("sse-defaults").await);
    assert_eq!(default.keep_alive, Duration::from_secs(15));
    for api in apis("sse-workspace").await {
        let ws = workspace(&api, "acme").await;
        let b = binding(&ws, None);
        let mut board = api.sse("/stream", &api.a, None).await;
        assert_eq!(board.status, 200);
        // An idle stream gets keep-alive comments (every 100 ms in this test).
        assert!(board.comment_within(WAIT).await, "a keep-alive comment");
        let mut other = api.sse("/stream", &api.b, None).await;

        a_whole_call(&api.store, &b, 1, 1_794_312_000_000).await;
        let no_answer = record(2, 1_794_312_100_000, CallOutcome::NoAnswer, true);
        for change in [CallChange::Started, CallChange::Ringing] {
            api.store
                .record_call(&b, &no_answer, change)
                .await
                .expect("ringing");
        }
        api.store
            .record_call(&b, &no_answer, CallChange::Ended)
            .await
            .expect("ended");

        let mut seen = Vec::new();
        while seen.len() < 11 {
            seen.push(board.next_event(WAIT).await.expect("lifecycle event"));
        }
        let by_call = |c: u64| {
            let id = CallId(c).to_string();
            kinds(
                &seen
                    .iter()
                    .filter(|e| e.data["call_id"] == id.as_str())
                    .cloned()
                    .collect::<Vec<_>>(),
            )
        };
        assert_eq!(
            by_call(1),
            [
                "call.state:ringing",
                "call.state:answered",
                "call.state:on-hold",
                "call.state:answered",
                "call.state:ended",
                "call.ended",
                "agent.run.completed"
            ]
        );
        assert_eq!(
            by_call(2),
            [
                "call.state:ringing",
                "call.state:ended",
                "call.ended",
                "agent.run.completed"
            ]
        );
        let ids: Vec<i64> = seen.iter().map(|e| e.id.expect("id")).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
        assert!(board.quiet_for(Duration::from_millis(300)).await);

        // Resume after the 4th: the other 7, in order.
        let mut resumed = api.sse("/stream", &api.a, Some(&ids[3].to_string())).await;
        let mut rest = Vec::new();
        while rest.len() < 7 {
            rest.push(resumed.next_event(WAIT).await.expect("event"));
        }
        assert_eq!(rest, seen[4..]);

        // The other workspace saw none of it.
        assert!(other.quiet_for(Duration::from_millis(300)).await);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crm_write_back_sets_status_latest_verdict_and_history_once_per_call() {
    for api in apis("crm-writeback").await {
        let ws = workspace(&api, "acme").await;
        let lead = new_lead(&api, "+13125550199").await;
        let b = binding(&ws, Some(&lead));
        let store = &api.store;
        let lead_now = || async {
            api.call("GET", &format!("/leads/{lead}"), Some(&api.a), None)
                .await
                .2
        };
        const T: i64 = 1_794_312_000_000;

        // 1. No answer: unreachable.
        let r = record(1, T, CallOutcome::NoAnswer, true);
        store
            .record_call(&b, &r, CallChange::Started)
            .await
            .expect("start");
        store
            .record_call(&b, &r, CallChange::Ended)
            .await
            .expect("end");
        let got = lead_now().await;
        assert_eq!(got["status"], "unreachable", "{got}");
        assert_eq!(got["latest_verdict"], Value::Null);

        // 2. Answered, qualified, a meeting booked on the call: meeting_booked.
        let cal = api
            .call(
                "POST",
                "/calendar-connectors",
                Some(&api.a),
                Some(json!({"name": "Sales", "timezone": "UTC"})),
            )
            .await
            .2["id"]
            .as_str()
            .expect("calendar")
            .to_owned();
        let start = T + 3_600_000;
        let live = record(2, start, CallOutcome::Completed, false);
        store
            .record_call(&b, &live, CallChange::Started)
            .await
            .expect("start");
        store
            .record_call(&b, &live, CallChange::Answered)
            .await
            .expect("answer");
        let call2 = CallId(2).to_string();
        let booking = tenex_voice::store::BookingRequest {
            start: "2030-01-07T15:00:00Z".parse().expect("time"),
            duration_min: 30,
            notes: "Demo",
            lead_id: Some(&lead),
            call_id: Some(&call2),
        };
        store
            .book(&ws, &cal, &booking, jiff::Timestamp::now())
            .await
            .expect("booked");
        let calls = DbCalls(store.clone());
        calls
            .verdict(CallId(2), 3, verdict(true))
            .await
            .expect("verdict");
        calls
            .summary(CallId(2), "Booked a demo.".into())
            .await
            .expect("summary");
        calls.run_done(CallId(2)).await.expect("run done");
        // The run finished before the SIP leg's end was written: the call
        // completes when it is.
        assert_eq!(lead_now().await["status"], "unreachable");
        let ended = record(2, start, CallOutcome::Completed, true);
        store
            .record_call(&b, &ended, CallChange::Ended)
            .await
            .expect("end");
        let got = lead_now().await;
        assert_eq!(got["status"], "meeting_booked", "{got}");
        assert_eq!(got["latest_verdict"]["call_id"], call2.as_str());
        assert_eq!(got["latest_verdict"]["meeting_booked"], true);
        assert_eq!(
            got["latest_verdict"]["meeting_start"],
            "2030-01-07T15:00:00Z"
        );
        assert_eq!(got["latest_verdict"]["summary"], "Booked a demo.");

        // 3. A later busy retry does not erase what the conversation established.
        let r = record(3, T + 7_200_000, CallOutcome::Busy, true);
        store
            .record_call(&b, &r, CallChange::Started)
            .await
            .expect("start");
        store
            .record_call(&b, &r, CallChange::Ended)
            .await
            .expect("end");
        let got = lead_now().await;
        assert_eq!(got["status"], "meeting_booked");

        // 4. An older call completing late adds to the history only.
        let old = record(4, T - 3_600_000, CallOutcome::Completed, true);
        store
            .record_call(&b, &old, CallChange::Started)
            .await
            .expect("start");
        calls
            .verdict(CallId(4), 2, verdict(false))
            .await
            .expect("verdict");
        store
            .record_call(&b, &old, CallChange::Ended)
            .await
            .expect("end");
        calls.run_done(CallId(4)).await.expect("run done");
        let got = lead_now().await;
        assert_eq!(got["status"], "meeting_booked");
        assert_eq!(got["latest_verdict"]["call_id"], call2.as_str());

        // 5. A retry that fails at once while an earlier call is still talking
        //    does not hold back that call's verdict when it completes.
        let talking = record(5, T + 9_000_000, CallOutcome::Completed, false);
        store
            .record_call(&b, &talking, CallChange::Started)
            .await
            .expect("start");
        store
            .record_call(&b, &talking, CallChange::Answered)
            .await
            .expect("answer");
        let refused = record(6, T + 9_100_000, CallOutcome::Busy, true);
        store
            .record_call(&b, &refused, CallChange::Started)
            .await
            .expect("start");
        store
            .record_call(&b, &refused, CallChange::Ended)
            .await
            .expect("end");
        calls
            .verdict(CallId(5), 2, verdict(false))
            .await
            .expect("verdict");
        let talked = record(5, T + 9_000_000, CallOutcome::Completed, true);
        store
            .record_call(&b, &talked, CallChange::Ended)
            .await
            .expect("end");
        calls.run_done(CallId(5)).await.expect("run done");
        let got = lead_now().await;
        assert_eq!(got["status"], "unqualified", "{got}");
        assert_eq!(got["latest_verdict"]["call_id"], CallId(5).to_string());

        // Replays of every completion change nothing.
        for id in 1..=6 {
            calls.run_done(CallId(id)).await.expect("again");
        }
        store
            .record_call(&b, &ended, CallChange::Ended)
            .await
            .expect("again");
        let got = lead_now().await;
        let attempts: Vec<(String, String)> = got["attempts"]
            .as_array()
            .expect("attempts")
            .iter()
            .map(|a| {
                (
                    a["call_id"].as_str().unwrap_or_default().to_owned(),
                    a["outcome"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        let id = |n: u64| CallId(n).to_string();
        assert_eq!(
            attempts,
            [
                (id(4), "unqualified".to_owned()),
                (id(1), "no-answer".to_owned()),
                (id(2), "qualified".to_owned()),
                (id(3), "busy".to_owned()),
                (id(5), "unqualified".to_owned()),
                (id(6), "busy".to_owned()),
            ]
        );
        assert_eq!(got["attempts"][2]["meeting_booked"], 1);
        for n in 1..=6 {
            let events = api
                .sse(&format!("/calls/{}/stream", CallId(n)), &api.a, None)
                .await
                .until_closed(WAIT)
                .await;
            let done = events
                .iter()
                .filter(|e| e.event == "agent.run.completed")
                .count();
            assert_eq!(done, 1, "call {n}: {:?}", kinds(&events));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_monitors_follow_a_real_call_and_a_stalled_one_holds_nothing_up() {
    let rig = common::host::rig("sse-hundred").await;
    let agent = rig
        .post(
            "/agents",
            json!({"name": "Ada", "system_prompt": "You are Ada, calling for Tenex.",
                   "objective_templates": {"qualify_for_demo": "Find out if they need a demo."}}),
        )
        .await;
    rig.post(
        "/numbers",
        json!({"number": "+14155550100", "agent_id": agent["id"], "objective": "qualify_for_demo"}),
    )
    .await;

    let monitors = async {
        // The call is stored as soon as the INVITE is admitted.
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        let id = loop {
            tick.tick().await;
            if let Some(id) = rig.get("/calls").await["data"][0]["id"].as_str() {
                break id.to_owned();
            }
        };
        let path = format!("/calls/{id}/stream");
        // One monitor that never reads a byte.
        let stalled = rig.api.sse(&path, &rig.api.a, None).await;
        let mut streams = Vec::new();
        for _ in 0..100 {
            streams.push(rig.api.sse(&path, &rig.api.a, None).await);
        }
        let seen = futures_util::future::join_all(
            streams
                .into_iter()
                .map(|mut s| async move { s.until_closed(Duration::from_secs(90)).await }),
        )
        .await;
        (id, stalled, seen)
    };
    let ((), (id, stalled, seen)) = tokio::join!(rig.dial("14155550100"), monitors);
    drop(stalled);

    // The call itself went as it goes with nobody watching.
    let calls = rig.ended_calls(1).await;
    assert_eq!(calls[0]["outcome"], "qualified", "{}", calls[0]);
    assert_eq!(calls[0]["id"], id.as_str());

    // Every monitor got the same stored events, in order, ending with the run's
    // completion, plus interim text as it was spoken.
    let replay = rig
        .api
        .sse(&format!("/calls/{id}/stream"), &rig.api.a, None)
        .await
        .until_closed(WAIT)
        .await;
    for (n, events) in seen.iter().enumerate() {
        let stored: Vec<&SseEvent> = events.iter().filter(|e| e.id.is_some()).collect();
        assert_eq!(stored, replay.iter().collect::<Vec<_>>(), "monitor {n}");
        let deltas = events
            .iter()
            .filter(|e| e.event == "transcript.delta")
            .count();
        assert!(deltas > 0, "monitor {n} saw interim text");
        assert_eq!(
            events.len(),
            stored.len() + deltas,
            "monitor {n}: nothing but stored events and interim text"
        );
    }
    let k = kinds(&replay);
    assert_eq!(k.first().map(String::as_str), Some("call.state:ringing"));
    for want in [
        "call.state:answered",
        "transcript.segment",
        "agent.tool_call",
        "verdict",
        "call.state:ended",
        "call.ended",
    ] {
        assert!(k.iter().any(|x| x == want), "{want} in {k:?}");
    }
    let done = replay.last().expect("events");
    assert_eq!(done.event, "agent.run.completed");
    assert_eq!(done.data["outcome"], "qualified");
    assert_eq!(done.data["verdict"]["score"], 80);
    assert_eq!(done.data["summary"], "Qualified lead, demo agreed.");
    let tools: Vec<&str> = replay
        .iter()
        .filter(|e| e.event == "agent.tool_call")
        .filter_map(|e| e.data["name"].as_str())
        .collect();
    assert_eq!(
        tools,
        ["search_knowledge", "submit_qualification", "end_call"]
    );
}
