//! End to end: SIPp calls a number routed to a qualifier agent and plays a caller
//! recording; the engine bridges the call to the Realtime simulator; the agent
//! greets, answers, calls `search_knowledge`, submits a verdict and ends the
//! call with `end_call`.

mod common;

use common::agent::*;
use tenex_actors::realtime::{AgentConfig, Speaker};
use tenex_actors::sip::HungUpBy;
use tower::ServiceExt;

/// The calls here run against SIPp scripts with fixed timing (the caller speaks
/// at set seconds whatever the agent does), so they run one at a time: on a
/// two-core machine, four of them at once (one of them Python) can delay an
/// agent's reply past the caller's next line.
static ONE_CALL_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_call_end_to_end_over_sipp_and_the_simulator() {
    let _one = ONE_CALL_AT_A_TIME.lock().await;
    let rig = AgentRig::start("agent-e2e", AgentConfig::default()).await;
    let run = rig
        .call(caller_audio(16.0, &CALLER_AT))
        .await
        .expect("sipp task");
    assert!(
        run.all_ok(1),
        "the agent hung up the call with BYE: {run:?}"
    );

    let record = rig.finished().await;
    assert_eq!(record.hung_up_by, Some(HungUpBy::Us));
    let stored = rig.store.get(record.id).expect("stored call data");

    for s in &stored.segments {
        eprintln!(
            "{:?} {}..{} ms {:?}",
            s.speaker, s.start_ms, s.end_ms, s.text
        );
    }
    assert_transcript(&stored);
    let speakers: Vec<Speaker> = stored.segments.iter().map(|s| s.speaker).collect();
    use Speaker::{Agent as A, Caller as C};
    assert_eq!(
        speakers,
        [A, C, A, C, A, C, A],
        "segments in call-time order: {:?}",
        stored.segments
    );
    for s in &stored.segments {
        assert!(s.end_ms >= s.start_ms, "{s:?}");
    }

    let tools: Vec<&str> = stored.tools.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        tools,
        ["search_knowledge", "submit_qualification", "end_call"]
    );
    assert!(
        stored.tools[0].output.contains("Growth plan"),
        "{:?}",
        stored.tools[0]
    );
    assert!(stored.tools.iter().all(|t| !t.failed));
    let verdict = stored.verdict.clone().expect("verdict stored");
    assert!(verdict.qualified);
    assert_eq!(verdict.score, 80);
    assert_eq!(
        stored.summary.as_deref(),
        Some("Qualified lead, demo agreed.")
    );

    // The recording: the caller's bursts on the left, the agent's voice on the
    // right, each where the transcript says it was spoken.
    let path = record.recording.clone().expect("the call was recorded");
    let (left, right, rate) = read_stereo(&path);
    assert_eq!(rate, 8000);
    let window = |ch: &[i16], from_ms: u64, to_ms: u64| {
        let a = (from_ms * 8) as usize;
        let b = ((to_ms * 8) as usize).min(ch.len());
        rms(&ch[a.min(b)..b])
    };
    for s in &stored.segments {
        let ch = match s.speaker {
            Speaker::Caller => &left,
            Speaker::Agent => &right,
        };
        // A transcript span is at least partly voiced on its own channel.
        let e = window(ch, s.start_ms, s.end_ms.max(s.start_ms + 400));
        assert!(e > 300.0, "{:?} {s:?}: rms {e:.0}", s.speaker);
    }
    let first_caller = stored.by(Speaker::Caller).next().expect("caller");
    assert!(
        window(
            &right,
            first_caller.start_ms + 100,
            first_caller.start_ms + 500
        ) < 50.0,
        "the agent is silent while the caller first speaks"
    );

    let m = &rig.metrics;
    assert!(m.greeting.count() >= 1, "greeting latency recorded");
    assert!(m.end_of_turn.count() >= 3, "end-of-turn latency recorded");
    assert!(m.uplink.count() > 300, "uplink latency recorded per frame");
    assert!(m.downlink.count() > 10, "downlink latency recorded");
    eprintln!(
        "uplink p99 <= {:?} (max {:?}); greeting max {:?}; end-of-turn max {:?}",
        m.uplink.quantile_bound(0.99),
        m.uplink.max(),
        m.greeting.max(),
        m.end_of_turn.max()
    );
    // The same figures over HTTP, as Prometheus scrapes them.
    let app = tenex_voice::http::app(tenex_voice::http::HttpState {
        metrics: rig.metrics.clone(),
        engine: Some(std::sync::Arc::new(rig.engine.stats_reader())),
        api: None,
    });
    let res = app
        .oneshot(
            axum::http::Request::get("/metrics")
                .body(axum::body::Body::empty())
                .expect("request"),
        )
        .await
        .expect("response");
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["content-type"],
        tenex_voice::http::PROMETHEUS_TEXT
    );
    let body = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .expect("body");
    let text = String::from_utf8(body.to_vec()).expect("utf-8");
    for line in [
        "# TYPE tenex_uplink_latency_seconds histogram",
        "tenex_greeting_latency_seconds_count 1",
        "tenex_barge_in_stop_seconds_count 0",
        "tenex_realtime_reconnects_total 0",
        "tenex_active_calls 0",
        "tenex_draining 0",
    ] {
        assert!(text.lines().any(|l| l == line), "{line:?} in\n{text}");
    }
    let uplink_count: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("tenex_uplink_latency_seconds_count "))
        .and_then(|v| v.parse().ok())
        .expect("uplink count");
    assert_eq!(uplink_count, m.uplink.count());
    assert!(
        text.contains("tenex_uplink_latency_seconds_bucket{le=\"0.001\"}"),
        "{text}"
    );

    let events = rig.client_events();
    let types: Vec<&str> = events
        .iter()
        .map(|v| v["type"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(types.first().copied(), Some("session.update"));
    assert!(
        types
            .iter()
            .filter(|t| **t == "input_audio_buffer.append")
            .count()
            > 300
    );
    assert!(types.contains(&"conversation.item.create"));
    rig.check_client_events_against_the_sdk();
}

#[test]
fn the_sdk_check_rejects_what_the_service_would() {
    let _one = ONE_CALL_AT_A_TIME.blocking_lock();
    // The checker that guards every recorded session must itself reject an
    // undeclared field and a wrong type, and pass its own cases.
    let python = std::env::var("TENEX_SDK_PYTHON").expect("TENEX_SDK_PYTHON (run `./run test`)");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scripts/realtime/check_client_events.py");
    let dir = common::scratch_dir("sdk-check");
    let run = |lines: &str| {
        let file = dir.join("events.jsonl");
        std::fs::write(&file, lines).expect("write");
        std::process::Command::new(&python)
            .arg(&script)
            .arg(&file)
            .output()
            .expect("run checker")
            .status
            .code()
    };
    assert_eq!(
        run(r#"{"type":"input_audio_buffer.append","audio":"AAAA"}"#),
        Some(0)
    );
    assert_eq!(
        run(r#"{"type":"session.update","session":{"type":"realtime","volume":3}}"#),
        Some(1),
        "an undeclared field fails"
    );
    assert_eq!(
        run(
            r#"{"type":"conversation.item.truncate","item_id":"i","content_index":0,"audio_end_ms":"12"}"#
        ),
        Some(1),
        "a string for a number fails"
    );
    assert_eq!(run(""), Some(2), "no events is not a pass");
    let selftest = std::process::Command::new(&python)
        .arg(&script)
        .arg("--self-test")
        .status()
        .expect("self-test");
    assert!(selftest.success());
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_call_to_a_lead_is_bridged_and_the_agent_speaks_first() {
    let _one = ONE_CALL_AT_A_TIME.lock().await;
    use tenex_actors::sip::{CallOutcome, DialRequest, DialResult, Direction, OutboundTrunk};
    // Even an agent that waits on inbound calls greets first on outbound ones.
    let agent = AgentConfig {
        speaks_first: false,
        ..AgentConfig::default()
    };
    let rig = AgentRig::start("agent-outbound", agent).await;
    let (port, lead) = lead_phone().await;
    let result = rig
        .engine
        .dial(DialRequest {
            trunk: OutboundTrunk {
                host: "127.0.0.1".into(),
                port,
                transport: tenex_actors::sip::SipTransport::Udp,
                credentials: None,
                caller_id: "+15550001111".into(),
            },
            to: "+15557654321".into(),
            from: None,
            ring_timeout: None,
            app: Some(rig.app.clone()),
            id: None,
            via: None,
        })
        .await
        .expect("dial");
    assert!(matches!(result, DialResult::Answered { .. }), "{result:?}");
    let run = lead.await.expect("sipp");
    assert!(run.all_ok(1), "the agent hung up with BYE: {run:?}");
    let record = rig.finished().await;
    assert_eq!(record.direction, Direction::Outbound);
    assert_eq!(record.outcome, Some(CallOutcome::Completed));
    assert_eq!(record.hung_up_by, Some(HungUpBy::Us));
    let stored = rig.store.get(record.id).expect("stored");
    assert_transcript(&stored);
    assert_eq!(
        stored.segments.first().map(|s| s.speaker),
        Some(Speaker::Agent),
        "the agent spoke first"
    );
    assert!(stored.verdict.is_some());
}

/// An answering machine picks up: the agent hears its greeting and ends the
/// call with `end_call` reason `voicemail`; the call's hang-up cause says so
/// (which makes the stored outcome `voicemail`, not a conversation).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answering_machine_ends_the_call_as_voicemail() {
    let _one = ONE_CALL_AT_A_TIME.lock().await;
    use serde_json::json;
    use tenex_actors::sip::CallOutcome;
    use tenex_voice::realtime_sim::script::Script;
    let script = Script::parse(
        &json!({
            "caller_lines": ["You have reached Dana. Please leave a message after the tone."],
            "turns": [
                {"say": AGENT_LINES[0]},
                {"say": "Goodbye.", "tools": [
                    {"name": "end_call", "arguments": {"reason": "Voicemail"}}]}
            ],
            "summary": "Reached voicemail; no message left."
        })
        .to_string(),
    )
    .expect("script");
    let rig = AgentRig::start_with("agent-voicemail", AgentConfig::default(), |cfg| {
        cfg.script = script
    })
    .await;
    let run = rig
        .call(caller_audio(12.0, &CALLER_AT[..1]))
        .await
        .expect("sipp task");
    assert!(run.all_ok(1), "the agent hung up with BYE: {run:?}");
    let record = rig.finished().await;
    assert_eq!(record.hung_up_by, Some(HungUpBy::Us));
    assert_eq!(record.hangup_cause, Some("voicemail"), "{record:?}");
    assert_eq!(record.outcome, Some(CallOutcome::Completed));
}
