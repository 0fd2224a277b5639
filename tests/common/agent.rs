//! Harness for the agent-call tests: the Realtime simulator with a scripted
//! qualification conversation, an engine routing `qualify` to an [`AgentApp`],
//! and a SIPp caller playing speech-like bursts.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tenex_actors::call::{AgentApp, CallEvent, LiveCall, MemoryStore, StoredCall};
use tenex_actors::metrics::Metrics;
use tenex_actors::realtime::{AgentConfig, BridgeEvent, RealtimeEndpoint, Speaker};
use tenex_actors::sip::{
    CallApp, CallRecord, CallRouter, IncomingCall, Route, RouteFuture, SipConfig, SipEngine,
};
use tenex_media::g711::G711Law;
use tenex_voice::agent_tools::StoreTools;
use tenex_voice::realtime_sim::{SimConfig, Simulator, script::Script};
use tenex_voice::store::{NewCalendar, NewLead, Store, WorkingHours};
use tokio::task::JoinHandle;

use super::{
    LOCALHOST, Sipp, SippRun, eventually, free_port, rtp_range, scratch_dir, uac_args, uas_args,
};

/// The agent's lines, in order.
pub const AGENT_LINES: [&str; 4] = [
    "Hello, this is Tenex.",
    "How many calls monthly?",
    "Growth plan fits. Who decides?",
    "Great, goodbye!",
];

/// The caller's lines, in order (the simulator's transcriptions).
pub const CALLER_LINES: [&str; 3] = [
    "Yes, go ahead.",
    "About two thousand.",
    "I decide, send an invite.",
];

/// When the caller speaks (seconds from answer), 0.8 s each.
pub const CALLER_AT: [f32; 3] = [3.0, 7.5, 12.5];

/// The workspace the agent works for: a pricing document among others, the
/// lead being called, and a sales calendar (Berlin, Monday to Friday 09–17).
pub struct Workspace {
    /// The database (SQLite in the test's scratch directory).
    pub db: Store,
    /// What the call's tools act on.
    pub tools: StoreTools,
    /// The lead's id.
    pub lead: String,
    /// The calendar's id.
    pub calendar: String,
}

/// Seeds a workspace in a fresh SQLite store under `dir`.
pub async fn seed_workspace(dir: &std::path::Path) -> Workspace {
    let db = Store::open_data_dir(dir).await.expect("store");
    let ws = db.create_workspace("acme").await.expect("workspace");
    for (title, body) in [
        (
            "Pricing",
            "Growth plan: flat monthly price up to 5,000 calls a month. Starter plan: 500 calls.",
        ),
        (
            "Security",
            "Recordings are encrypted at rest and kept for 30 days.",
        ),
        (
            "Integrations",
            "Meetings land in the sales calendar; verdicts go to the CRM.",
        ),
    ] {
        db.add_document(&ws.id, title, body)
            .await
            .expect("document");
    }
    let lead = db
        .create_lead(
            &ws.id,
            &NewLead {
                name: "Dana Reyes".into(),
                phone: "+13125550142".into(),
                company: Some("Acme Support".into()),
                timezone: Some("Europe/Berlin".into()),
                ..NewLead::default()
            },
        )
        .await
        .expect("lead");
    let calendar = db
        .create_calendar(
            &ws.id,
            &NewCalendar {
                name: "Sales demos".into(),
                timezone: "Europe/Berlin".into(),
                working_hours: WorkingHours::default(),
                slot_minutes: 30,
            },
        )
        .await
        .expect("calendar");
    let tools = StoreTools {
        store: db.clone(),
        workspace: ws.id.clone(),
        lead: Some(lead.id.clone()),
        calendar: Some(calendar.id.clone()),
    };
    Workspace {
        db,
        tools,
        lead: lead.id,
        calendar: calendar.id,
    }
}

struct AgentRouter(Arc<dyn CallApp>);

impl CallRouter for AgentRouter {
    fn route<'a>(&'a self, call: &'a IncomingCall) -> RouteFuture<'a> {
        match call.user.as_deref() {
            Some("qualify") => Route::Agent {
                answer_after: Duration::ZERO,
                app: self.0.clone(),
            },
            _ => Route::NotFound,
        }
        .ready()
    }
}

/// The qualification conversation: greeting, a question, a knowledge lookup, an
/// answer, then a verdict and `end_call` with the goodbye.
pub fn script() -> Script {
    Script::parse(
        &json!({
            "caller_lines": CALLER_LINES,
            "turns": [
                {"say": AGENT_LINES[0]},
                {"say": AGENT_LINES[1]},
                {"tools": [{"name": "search_knowledge", "arguments": {"query": "pricing"}}]},
                {"say": AGENT_LINES[2]},
                {"say": AGENT_LINES[3], "tools": [
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

/// A lead's phone: SIPp answering one call on a free loopback port and
/// speaking the caller's lines (`uas_agent`); returns its port once it listens.
pub async fn lead_phone() -> (u16, JoinHandle<SippRun>) {
    let port = free_port();
    let run = tokio::spawn(
        Sipp::scenario("uas_agent")
            .args(uas_args(port, "60s"))
            .pcap_audio("caller.pcap", G711Law::Ulaw, caller_audio(16.0, &CALLER_AT))
            .deadline(Duration::from_secs(70))
            .run(),
    );
    assert!(super::udp_listening(port).await, "the lead's phone is up");
    (port, run)
}

/// 8 kHz caller audio: silence with speech-like bursts at `at` seconds (0.8 s each).
pub fn caller_audio(total_s: f32, at: &[f32]) -> Vec<i16> {
    let bursts: Vec<(f32, f32)> = at.iter().map(|&a| (a, 0.8)).collect();
    caller_bursts(total_s, &bursts)
}

/// 8 kHz caller audio: silence with speech-like bursts `(start, length)` in seconds.
pub fn caller_bursts(total_s: f32, bursts: &[(f32, f32)]) -> Vec<i16> {
    let n = (total_s * 8000.0) as usize;
    let mut pcm = vec![0i16; n];
    for &(start, len) in bursts {
        let first = (start * 8000.0) as usize;
        for i in 0..(len * 8000.0) as usize {
            let t = i as f32 / 8000.0;
            let env = (t / 0.02).min(1.0) * ((len - t) / 0.04).clamp(0.0, 1.0);
            let ph = 2.0 * std::f32::consts::PI * 150.0 * t;
            let s = ph.sin() + 0.5 * (2.0 * ph).sin() + 0.3 * (3.0 * ph).sin();
            if let Some(x) = pcm.get_mut(first + i) {
                *x = (s * env * 6000.0) as i16;
            }
        }
    }
    pcm
}

/// Simulator, engine and agent app for one test.
pub struct AgentRig {
    /// The Realtime simulator.
    pub sim: Simulator,
    /// Where call data lands.
    pub store: Arc<MemoryStore>,
    /// The workspace's data the tools use.
    pub workspace: Workspace,
    /// Node metrics.
    pub metrics: Arc<Metrics>,
    /// The call tree factory.
    pub app: Arc<AgentApp>,
    /// The SIP engine.
    pub engine: SipEngine,
    /// Scratch directory (recordings, recorded client events).
    pub dir: PathBuf,
    /// The simulator's client-event record.
    pub record: PathBuf,
}

impl AgentRig {
    /// Starts everything with `agent` and the qualification script (recordings on).
    pub async fn start(name: &str, agent: AgentConfig) -> AgentRig {
        AgentRig::start_with(name, agent, |_| {}).await
    }

    /// Starts everything with `agent`, the simulator configured by `sim`.
    pub async fn start_with(
        name: &str,
        agent: AgentConfig,
        sim: impl FnOnce(&mut SimConfig),
    ) -> AgentRig {
        AgentRig::start_full(name, agent, sim, |_| {}).await
    }

    /// Starts everything, configuring the simulator with `sim` and the engine with `sip`.
    pub async fn start_full(
        name: &str,
        agent: AgentConfig,
        sim: impl FnOnce(&mut SimConfig),
        sip: impl FnOnce(&mut SipConfig),
    ) -> AgentRig {
        let dir = scratch_dir(name);
        let record = dir.join("client-events.jsonl");
        let mut cfg = SimConfig {
            script: script(),
            record: Some(record.clone()),
            api_key: Some("sk-test".into()),
            ..SimConfig::default()
        };
        sim(&mut cfg);
        let sim = Simulator::start("127.0.0.1:0".parse::<SocketAddr>().expect("addr"), cfg)
            .await
            .expect("simulator");
        let store = Arc::new(MemoryStore::default());
        let workspace = seed_workspace(&dir).await;
        let metrics = Arc::new(Metrics::default());
        let app = Arc::new(AgentApp::new(
            agent,
            RealtimeEndpoint {
                url: sim.url(),
                api_key: "sk-test".into(),
            },
            Arc::new(workspace.tools.clone()),
            metrics.clone(),
            store.clone(),
        ));
        let mut cfg = SipConfig {
            listen: SocketAddr::new(LOCALHOST, 0),
            rtp_ports: rtp_range(4),
            recordings: Some(dir.clone()),
            ..SipConfig::default()
        };
        sip(&mut cfg);
        let engine = SipEngine::start(cfg, Arc::new(AgentRouter(app.clone())))
            .await
            .expect("engine");
        AgentRig {
            sim,
            store,
            workspace,
            metrics,
            app,
            engine,
            dir,
            record,
        }
    }

    /// SIPp calls `qualify`, plays `pcm` (8 kHz PCMU) and waits up to 60 s for
    /// the engine's BYE; runs in the background.
    pub fn call(&self, pcm: Vec<i16>) -> JoinHandle<SippRun> {
        let run = Sipp::scenario("uac_agent")
            .args(uac_args(self.engine.local_addr(), "qualify"))
            .args(["-m", "1", "-timeout", "60s"])
            .pcap_audio("caller.pcap", G711Law::Ulaw, pcm)
            .deadline(Duration::from_secs(70));
        tokio::spawn(run.run())
    }

    /// The first live call, once there is one.
    pub async fn live_call(&self) -> LiveCall {
        let mut found = None;
        eventually(Duration::from_secs(10), || {
            found = self.app.live().first().and_then(|id| self.app.get(*id));
            found.is_some()
        })
        .await;
        found.expect("a live agent call")
    }

    /// The single finished call's record, once the call's tree has stopped
    /// and its SIP leg has ended (the two finish independently: the tree can
    /// stop while the leg's BYE transaction is still completing).
    pub async fn finished(&self) -> CallRecord {
        assert!(
            eventually(Duration::from_secs(15), || self.app.live().is_empty()).await,
            "the call's tree stops after the call"
        );
        assert!(
            eventually(Duration::from_secs(15), || {
                self.engine.calls().iter().all(|r| r.ended_at.is_some())
            })
            .await,
            "the call's SIP leg ends: {:?}",
            self.engine.calls()
        );
        let records = self.engine.calls();
        assert_eq!(records.len(), 1, "{records:?}");
        records.into_iter().next().expect("one record")
    }

    /// Client events the simulator received, as JSON.
    pub fn client_events(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.record)
            .expect("recorded client events")
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

impl AgentRig {
    /// Checks every client event the simulator received against the official
    /// OpenAI SDK's `RealtimeClientEvent` types, with no undeclared field
    /// (`scripts/realtime/check_client_events.py`; `./run test` installs the SDK
    /// and sets `TENEX_SDK_PYTHON`).
    pub fn check_client_events_against_the_sdk(&self) {
        let python = std::env::var("TENEX_SDK_PYTHON").expect(
            "TENEX_SDK_PYTHON is not set: run the tests with `./run test`, which installs \
             the OpenAI SDK these tests check the bridge's events against",
        );
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("scripts/realtime/check_client_events.py");
        let out = std::process::Command::new(python)
            .arg(script)
            .arg(&self.record)
            .output()
            .expect("run the SDK checker");
        assert!(
            out.status.success(),
            "client events rejected by the SDK types:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for AgentRig {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Waits (15 s at most) until `call`'s log has `who` saying `text`; panics otherwise.
pub async fn wait_said(call: &LiveCall, who: Speaker, text: &str) {
    assert!(
        eventually(Duration::from_secs(15), || said(call, who, text)).await,
        "{who:?} said {text:?}"
    );
}

/// The stored transcript is the whole scripted conversation, each line once.
pub fn assert_transcript(stored: &StoredCall) {
    let agent: Vec<&str> = stored.by(Speaker::Agent).map(|s| s.text.as_str()).collect();
    let caller: Vec<&str> = stored
        .by(Speaker::Caller)
        .map(|s| s.text.as_str())
        .collect();
    assert_eq!(agent, AGENT_LINES, "every agent line, once");
    assert_eq!(caller, CALLER_LINES, "every caller line, once");
}

/// Whether `call`'s log has a final segment by `who` saying `text`.
pub fn said(call: &LiveCall, who: Speaker, text: &str) -> bool {
    call.log.since(0).iter().any(|(_, e)| {
        matches!(e, CallEvent::Bridge(BridgeEvent::Segment(s)) if s.speaker == who && s.text == text)
    })
}

/// Reads a stereo WAV: (left, right, rate).
pub fn read_stereo(path: &std::path::Path) -> (Vec<i16>, Vec<i16>, u32) {
    let mut wav = hound::WavReader::open(path).expect("a valid WAV");
    let spec = wav.spec();
    assert_eq!((spec.channels, spec.bits_per_sample), (2, 16), "{spec:?}");
    let all: Vec<i16> = wav.samples::<i16>().map(|s| s.expect("sample")).collect();
    let left = all.iter().step_by(2).copied().collect();
    let right = all.iter().skip(1).step_by(2).copied().collect();
    (left, right, spec.sample_rate)
}

/// RMS of `s` (0 when empty).
pub fn rms(s: &[i16]) -> f64 {
    if s.is_empty() {
        return 0.0;
    }
    (s.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / s.len() as f64).sqrt()
}

/// Relative power of `freq` in `s` (Goertzel), as a fraction of the total power.
pub fn tone_share(s: &[i16], rate: u32, freq: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * freq / f64::from(rate);
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    let mut total = 0.0;
    for &x in s {
        let x = f64::from(x);
        total += x * x;
        let s0 = x + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    if total == 0.0 {
        0.0
    } else {
        2.0 * power / (total * s.len() as f64)
    }
}
