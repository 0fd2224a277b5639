//! The engine as `serve` assembles it, on loopback: the Realtime simulator as
//! the model, SQLite, number/session routing, the lifecycle writer, trunks
//! synced from the database, and the API with the engine behind it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tenex_actors::call::AgentApp;
use tenex_actors::metrics::Metrics;
use tenex_actors::realtime::{AgentConfig, NoTools, RealtimeEndpoint};
use tenex_actors::sip::{SipConfig, SipEngine};
use tenex_media::g711::G711Law;
use tenex_voice::api::ApiState;
use tenex_voice::host::{Apps, CallSink, NumberRouter, TrunkSync, lifecycle_writer};
use tenex_voice::realtime_sim::{SimConfig, Simulator};
use tenex_voice::store::{DbCalls, Store};

use super::agent::{CALLER_AT, caller_audio, script};
use super::api::{Api, api_state};
use super::{LOCALHOST, Sipp, rtp_range, scratch_dir, uac_args};

pub struct Rig {
    pub api: Api,
    pub engine: SipEngine,
    pub router: NumberRouter,
    pub sink: CallSink,
    pub _sim: Simulator,
    /// The simulator's record of client events.
    pub record: std::path::PathBuf,
}

/// A rig without the `echo` route.
pub async fn rig(name: &str) -> Rig {
    rig_with(name, false).await
}

/// A rig; `echo` answers the Request-URI user `echo` with the caller's audio.
pub async fn rig_with(name: &str, echo: bool) -> Rig {
    rig_on(name, super::db::sqlite(name).await, echo).await
}

/// The simulator with the agent script, recording client events under `dir`.
pub async fn simulator(dir: &std::path::Path) -> (Simulator, std::path::PathBuf) {
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
    (sim, record)
}

/// One engine node on `store`: the engine (recordings in `dir`), its router
/// (with the apps it makes calls with) and its lifecycle writer, talking to
/// the simulator at `sim_url`.
pub async fn node(
    store: &Store,
    dir: std::path::PathBuf,
    sim_url: String,
    echo: bool,
) -> (SipEngine, NumberRouter, CallSink) {
    let base = AgentApp::new(
        AgentConfig::default(),
        RealtimeEndpoint {
            url: sim_url,
            api_key: "sk-test".into(),
        },
        Arc::new(NoTools),
        Arc::new(Metrics::default()),
        Arc::new(DbCalls(store.clone())),
    );
    let apps = Apps {
        base: Arc::new(base),
        store: store.clone(),
        model: "gpt-realtime".into(),
    };
    let router = NumberRouter { apps, echo };
    let (sink, _writer) = lifecycle_writer(store.clone());
    let engine = SipEngine::start_observed(
        SipConfig {
            listen: SocketAddr::new(LOCALHOST, 0),
            rtp_ports: rtp_range(6),
            recordings: Some(dir),
            echo_route: echo,
            ..SipConfig::default()
        },
        Arc::new(router.clone()),
        Some(Arc::new(sink.clone())),
    )
    .await
    .expect("engine");
    let sync = TrunkSync {
        store: store.clone(),
        engine: engine.handle(),
        fixed: Arc::default(),
    };
    sync.sync().await.expect("trunks");
    (engine, router, sink)
}

/// A rig on `store`.
pub async fn rig_on(name: &str, store: Store, echo: bool) -> Rig {
    let dir = scratch_dir(name);
    let (sim, record) = simulator(&dir).await;
    let (engine, router, sink) = node(&store, dir, sim.url(), echo).await;
    let sync = TrunkSync {
        store: store.clone(),
        engine: engine.handle(),
        fixed: Arc::default(),
    };
    let handle = engine.handle();
    let apps = router.apps.clone();
    let api = api_state(store, move |s: ApiState| {
        s.with_engine(handle)
            .with_trunk_sync(sync)
            .with_apps(apps)
            .with_private_webhooks(true)
    })
    .await;
    Rig {
        api,
        engine,
        router,
        sink,
        _sim: sim,
        record,
    }
}

impl Rig {
    pub async fn post(&self, path: &str, body: Value) -> Value {
        let (st, _, v) = self
            .api
            .call("POST", path, Some(&self.api.a), Some(body))
            .await;
        assert!(st.is_success(), "{path}: {st} {v}");
        v
    }

    pub async fn get(&self, path: &str) -> Value {
        let (st, _, v) = self.api.call("GET", path, Some(&self.api.a), None).await;
        assert_eq!(st, 200, "{path}: {v}");
        v
    }

    /// SIPp dials `user` at the engine, talks, and gets the agent's BYE.
    pub async fn dial(&self, user: &str) {
        let pcm = caller_audio(16.0, &CALLER_AT);
        let run = Sipp::scenario("uac_agent")
            .args(uac_args(self.engine.local_addr(), user))
            .args(["-m", "1", "-timeout", "60s"])
            .pcap_audio("caller.pcap", G711Law::Ulaw, pcm)
            .deadline(Duration::from_secs(70))
            .run()
            .await;
        assert!(run.all_ok(1), "{run:?}");
    }

    /// The workspace's calls once `n` have ended and been written.
    pub async fn ended_calls(&self, n: usize) -> Vec<Value> {
        let mut last = Value::Null;
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        for _ in 0..150 {
            tick.tick().await;
            self.sink.flush().await;
            last = self.get("/calls?status=ended").await;
            let done = last["data"].as_array().map_or(0, Vec::len);
            let summarised = last["data"]
                .as_array()
                .is_some_and(|d| d.iter().all(|c| c["summary"].is_string()));
            if done == n && summarised {
                return last["data"].as_array().cloned().unwrap_or_default();
            }
        }
        panic!("{n} ended calls with summaries expected: {last}");
    }
}
