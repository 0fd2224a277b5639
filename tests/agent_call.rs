//! End to end: SIPp calls a number routed to a qualifier agent and plays a caller
//! recording; the engine bridges the call to the Realtime simulator; the agent
//! greets, answers, calls `search_knowledge`, submits a verdict and ends the
//! call with `end_call`.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use serde_json::json;
use tenex_actors::call::{AgentApp, MemoryStore};
use tenex_actors::metrics::Metrics;
use tenex_actors::realtime::tools::ToolFuture;
use tenex_actors::realtime::{AgentConfig, RealtimeEndpoint, Speaker, ToolError, ToolHost};
use tenex_actors::sip::{CallApp, CallRouter, HungUpBy, IncomingCall, Route, SipConfig, SipEngine};
use tenex_media::g711::G711Law;
use tenex_voice::realtime_sim::{SimConfig, Simulator, script::Script};

#[derive(Debug)]
struct Knowledge;

impl ToolHost for Knowledge {
    fn call<'a>(&'a self, name: &'a str, args: &'a serde_json::Value) -> ToolFuture<'a> {
        Box::pin(async move {
            match name {
                "search_knowledge" => Ok(
                    json!({"query": args["query"], "snippets": ["Growth plan: flat monthly price up to 5,000 calls."]}),
                ),
                other => Err(ToolError::Unknown(other.into())),
            }
        })
    }
}

struct AgentRouter(Arc<dyn CallApp>);

impl CallRouter for AgentRouter {
    fn route(&self, call: &IncomingCall) -> Route {
        match call.user.as_deref() {
            Some("qualify") => Route::Agent {
                answer_after: Duration::ZERO,
                app: self.0.clone(),
            },
            _ => Route::NotFound,
        }
    }
}

fn script() -> Script {
    Script::parse(
        &json!({
            "caller_lines": ["Yes, go ahead.", "About two thousand.", "I decide, send an invite."],
            "turns": [
                {"say": "Hello, this is Tenex."},
                {"say": "How many calls monthly?"},
                {"tools": [{"name": "search_knowledge", "arguments": {"query": "pricing"}}]},
                {"say": "Growth plan fits. Who decides?"},
                {"say": "Great, goodbye!", "tools": [
                    {"name": "submit_qualification", "arguments": {"qualified": true, "score": 80,
                        "reasons": ["volume", "decision maker"], "next_steps": "demo",
                        "evidence_quotes": ["I decide, send an invite."]}},
                    {"name": "end_call", "arguments": {"reason": "done"}}]}
            ],
            "summary": "Qualified lead, demo agreed."
        })
        .to_string(),
    )
    .expect("script")
}

/// 8 kHz caller audio: silence with speech-like bursts at `at` seconds (0.8 s each).
fn caller_audio(total_s: f32, at: &[f32]) -> Vec<i16> {
    let n = (total_s * 8000.0) as usize;
    let mut pcm = vec![0i16; n];
    for start in at {
        let first = (start * 8000.0) as usize;
        for i in 0..6400 {
            let t = i as f32 / 8000.0;
            let env = (t / 0.02).min(1.0) * ((0.8 - t) / 0.04).clamp(0.0, 1.0);
            let ph = 2.0 * std::f32::consts::PI * 150.0 * t;
            let s = ph.sin() + 0.5 * (2.0 * ph).sin() + 0.3 * (3.0 * ph).sin();
            if let Some(x) = pcm.get_mut(first + i) {
                *x = (s * env * 6000.0) as i16;
            }
        }
    }
    pcm
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_call_end_to_end_over_sipp_and_the_simulator() {
    let dir = scratch_dir("agent-e2e");
    let record = dir.join("client-events.jsonl");
    let sim = Simulator::start(
        "127.0.0.1:0".parse::<SocketAddr>().expect("addr"),
        SimConfig {
            script: script(),
            record: Some(record.clone()),
            api_key: Some("sk-test".into()),
            ..SimConfig::default()
        },
    )
    .await
    .expect("simulator");
    let store = Arc::new(MemoryStore::default());
    let metrics = Arc::new(Metrics::default());
    let app = Arc::new(AgentApp::new(
        AgentConfig::default(),
        RealtimeEndpoint {
            url: sim.url(),
            api_key: "sk-test".into(),
        },
        Arc::new(Knowledge),
        metrics.clone(),
        store.clone(),
    ));
    let cfg = SipConfig {
        listen: SocketAddr::new(LOCALHOST, 0),
        rtp_ports: rtp_range(4),
        ..SipConfig::default()
    };
    let engine = SipEngine::start(cfg, Arc::new(AgentRouter(app.clone())))
        .await
        .expect("engine");

    let run = Sipp::scenario("uac_agent")
        .args(uac_args(engine.local_addr(), "qualify"))
        .args(["-m", "1", "-timeout", "60s"])
        .pcap_audio(
            "caller.pcap",
            G711Law::Ulaw,
            caller_audio(16.0, &[3.0, 7.5, 12.5]),
        )
        .deadline(Duration::from_secs(70))
        .run()
        .await;
    assert!(
        run.all_ok(1),
        "the agent hung up the call with BYE: {run:?}"
    );

    assert!(
        eventually(Duration::from_secs(15), || app.live().is_empty()).await,
        "the call's tree stops after the call"
    );
    let records = engine.calls();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].hung_up_by, Some(HungUpBy::Us));
    let stored = store.get(records[0].id).expect("stored call data");

    let agent: Vec<&str> = stored.by(Speaker::Agent).map(|s| s.text.as_str()).collect();
    let caller: Vec<&str> = stored
        .by(Speaker::Caller)
        .map(|s| s.text.as_str())
        .collect();
    assert_eq!(
        agent,
        [
            "Hello, this is Tenex.",
            "How many calls monthly?",
            "Growth plan fits. Who decides?",
            "Great, goodbye!"
        ]
    );
    assert_eq!(
        caller,
        [
            "Yes, go ahead.",
            "About two thousand.",
            "I decide, send an invite."
        ]
    );
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
    let verdict = stored.verdict.expect("verdict stored");
    assert!(verdict.qualified);
    assert_eq!(verdict.score, 80);
    assert_eq!(
        stored.summary.as_deref(),
        Some("Qualified lead, demo agreed.")
    );

    assert!(metrics.greeting.count() >= 1, "greeting latency recorded");
    assert!(
        metrics.end_of_turn.count() >= 3,
        "end-of-turn latency recorded"
    );
    assert!(
        metrics.uplink.count() > 300,
        "uplink latency recorded per frame"
    );
    assert!(metrics.downlink.count() > 10, "downlink latency recorded");
    eprintln!(
        "uplink p99 <= {:?} (max {:?}); greeting max {:?}; end-of-turn max {:?}",
        metrics.uplink.quantile_bound(0.99),
        metrics.uplink.max(),
        metrics.greeting.max(),
        metrics.end_of_turn.max()
    );
    let text = metrics.render();
    assert!(
        text.contains("tenex_greeting_latency_seconds_count 1"),
        "{text}"
    );

    let events = std::fs::read_to_string(&record).expect("recorded client events");
    let types: Vec<String> = events
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|v| v["type"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(types.first().map(String::as_str), Some("session.update"));
    assert!(
        types
            .iter()
            .filter(|t| *t == "input_audio_buffer.append")
            .count()
            > 300
    );
    assert!(types.iter().any(|t| t == "conversation.item.create"));
    let _ = std::fs::remove_dir_all(&dir);
}
