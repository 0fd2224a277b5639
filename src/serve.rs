//! `tenex-voice serve`: run the SIP engine.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use tenex_actors::call::AgentApp;
use tenex_actors::media::PortRange;
use tenex_actors::metrics::Metrics;
use tenex_actors::realtime::{AgentConfig, NoTools, RealtimeEndpoint};
use tenex_actors::sip::{
    Credentials, OutboundTrunk, SipConfig, SipEngine, SipTransport, Trunk, parse_source,
};

use crate::host::{Apps, CallSink, NumberRouter, TrunkSync, lifecycle_writer};

/// How often trunks are reloaded from the database (changes made through
/// this node's API apply at once).
const TRUNK_REFRESH: Duration = Duration::from_secs(15);
use crate::store::{DbCalls, sweep_recordings};

/// How often recordings past their retention are looked for.
/// How long open HTTP connections get to finish when the node stops.
const HTTP_CLOSE_GRACE: Duration = Duration::from_secs(2);
const RETENTION_SWEEP: Duration = Duration::from_secs(600);

/// Options for `serve` (each also read from its environment variable).
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// SIP listen address, UDP and TCP.
    #[arg(long, env = "TENEX_SIP_ADDR", default_value = "127.0.0.1:5060")]
    pub sip_addr: SocketAddr,
    /// Address advertised in Contact and SDP when listening on 0.0.0.0.
    #[arg(long, env = "TENEX_PUBLIC_IP")]
    pub public_ip: Option<std::net::IpAddr>,
    /// RTP port range, FIRST-LAST (even ports are used, each with its odd neighbour).
    #[arg(long, env = "TENEX_RTP_PORTS", default_value = "20000-20999")]
    pub rtp_ports: PortRange,
    /// Most concurrent calls.
    #[arg(long, env = "TENEX_MAX_CALLS", default_value_t = 200)]
    pub max_calls: usize,
    /// Answer calls to the Request-URI user `echo` with the caller's own audio.
    #[arg(long, env = "TENEX_ECHO_ROUTE", default_value_t = true, action = clap::ArgAction::Set)]
    pub echo_route: bool,
    /// JSON file listing SIP trunks (see README).
    #[arg(long, env = "TENEX_TRUNKS_FILE")]
    pub trunks_file: Option<PathBuf>,
    /// HTTP listen address (`/metrics`, `/api/v1/voice`).
    #[arg(long, env = "TENEX_HTTP_ADDR", default_value = "127.0.0.1:8080")]
    pub http_addr: SocketAddr,
    /// Base URL clients reach the HTTP side at, for the links the API hands
    /// out (recording URLs); `http://<http-addr>` when not set.
    #[arg(long, env = "TENEX_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Where the database is.
    #[command(flatten)]
    pub db: crate::config::DbArgs,
    /// The Realtime API (the key is read from `OPENAI_API_KEY`).
    #[arg(
        long,
        env = "TENEX_REALTIME_URL",
        default_value = "wss://api.openai.com/v1/realtime"
    )]
    pub realtime_url: String,
    /// Realtime model.
    #[arg(long, env = "TENEX_REALTIME_MODEL", default_value = "gpt-realtime")]
    pub realtime_model: String,
    /// Allow webhook URLs on loopback, private and link-local addresses
    /// (refused by default).
    #[arg(long, env = "TENEX_WEBHOOK_ALLOW_PRIVATE", default_value_t = false,
        action = clap::ArgAction::Set, value_parser = clap::builder::BoolishValueParser::new())]
    pub webhook_allow_private: bool,
    /// One webhook attempt's limit, seconds (connect to response).
    #[arg(long, env = "TENEX_WEBHOOK_TIMEOUT_S", default_value_t = 10,
        value_parser = clap::value_parser!(u64).range(1..=60))]
    pub webhook_timeout_s: u64,
    /// Seconds a campaign call stays this node's without a renewal: after a
    /// crash, another node (or this one, restarted) settles the calls the dead
    /// node was running once their lease is this old.
    #[arg(long, env = "TENEX_DIALER_LEASE_S", default_value_t = 30,
        value_parser = clap::value_parser!(u64).range(2..=600))]
    pub dialer_lease_s: u64,
    /// Host names `/mcp` answers for besides loopback and the public URL's
    /// host (comma-separated); requests naming another Host get 403
    /// (DNS-rebinding protection).
    #[arg(long, env = "TENEX_MCP_ALLOWED_HOSTS", value_delimiter = ',')]
    pub mcp_allowed_hosts: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TrunkFile {
    name: String,
    #[serde(default)]
    inbound_sources: Vec<String>,
    outbound: Option<OutboundFile>,
    max_concurrent: Option<u32>,
    calls_per_second: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OutboundFile {
    host: String,
    #[serde(default = "default_port")]
    port: u16,
    #[serde(default)]
    transport: TransportFile,
    username: Option<String>,
    password: Option<String>,
    caller_id: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
enum TransportFile {
    #[default]
    Udp,
    Tcp,
}

fn default_port() -> u16 {
    5060
}

/// Parses a trunks file.
pub fn parse_trunks(json: &str) -> Result<Vec<Trunk>, String> {
    let files: Vec<TrunkFile> =
        serde_json::from_str(json).map_err(|e| format!("trunks file: {e}"))?;
    files
        .into_iter()
        .map(|t| {
            let inbound_sources = t
                .inbound_sources
                .iter()
                .map(|s| parse_source(s))
                .collect::<Result<Vec<_>, _>>()?;
            let outbound = t.outbound.map(|o| OutboundTrunk {
                host: o.host,
                port: o.port,
                transport: match o.transport {
                    TransportFile::Udp => SipTransport::Udp,
                    TransportFile::Tcp => SipTransport::Tcp,
                },
                credentials: o
                    .username
                    .zip(o.password)
                    .map(|(username, password)| Credentials { username, password }),
                caller_id: o.caller_id,
            });
            Ok(Trunk {
                name: t.name,
                inbound_sources,
                outbound,
                max_concurrent: t.max_concurrent,
                calls_per_second: t.calls_per_second,
            })
        })
        .collect()
}

/// Runs the engine until Ctrl-C or SIGTERM, then drains: no new calls, live calls
/// finish (up to a minute), then exits.
pub async fn run(args: ServeArgs) -> Result<(), String> {
    let node = start(args, std::env::var("OPENAI_API_KEY").unwrap_or_default()).await?;
    println!(
        "tenex-voice: SIP on {} (UDP and TCP), HTTP on http://{}; Ctrl-C to drain and stop",
        node.sip_addr(),
        node.http_addr()
    );
    shutdown_signal().await;
    node.stop(Duration::from_secs(60)).await;
    Ok(())
}

/// An engine node running in this process: the SIP engine, the HTTP API, the
/// dialer, the webhook dispatcher.
#[derive(Debug)]
pub struct Node {
    engine: SipEngine,
    store: crate::store::Store,
    http_addr: SocketAddr,
    public_url: String,
    sink: CallSink,
    dialer: tokio::task::JoinHandle<()>,
    /// Trunk refresh, retention sweep, webhook dispatch.
    background: Vec<tokio::task::JoinHandle<()>>,
    stop_http: tokio::sync::oneshot::Sender<()>,
    http_task: tokio::task::JoinHandle<()>,
}

impl Node {
    /// The SIP listen address (UDP and TCP).
    pub fn sip_addr(&self) -> SocketAddr {
        self.engine.local_addr()
    }

    /// The HTTP listen address.
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// The base URL of the HTTP side (the public URL when one is set).
    pub fn base_url(&self) -> &str {
        &self.public_url
    }

    /// The node's database.
    pub fn store(&self) -> &crate::store::Store {
        &self.store
    }

    /// Drains (no new campaign calls; calls in progress may finish for up to
    /// `grace`), then stops everything and closes the database.
    pub async fn stop(self, grace: Duration) {
        // Draining: the dialer places no new calls but keeps renewing the leases
        // of the calls still running.
        self.engine.set_draining(true);
        tracing::info!(active = self.engine.stats().active_calls, "draining");
        let _ = tokio::time::timeout(grace, self.engine.idle()).await;
        self.dialer.abort();
        self.engine.shutdown().await;
        for task in &self.background {
            task.abort();
        }
        // Open streams (SSE monitors) would hold a graceful shutdown forever:
        // they get a moment to finish, then the server stops anyway.
        let _ = self.stop_http.send(());
        let mut http_task = self.http_task;
        if tokio::time::timeout(HTTP_CLOSE_GRACE, &mut http_task)
            .await
            .is_err()
        {
            http_task.abort();
        }
        self.sink.flush().await;
        self.store.close().await;
    }
}

/// Starts a node with `args` (the engine, HTTP API, dialer and webhook
/// dispatcher); `openai_key` is the Realtime API key.
pub async fn start(args: ServeArgs, openai_key: String) -> Result<Node, String> {
    let file_trunks = match &args.trunks_file {
        Some(path) => parse_trunks(
            &std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?,
        )?,
        None => Vec::new(),
    };
    let store = args.db.open().await.map_err(|e| format!("database: {e}"))?;
    let recordings = args.db.data_dir.join("recordings");
    std::fs::create_dir_all(&recordings)
        .map_err(|e| format!("recordings directory {}: {e}", recordings.display()))?;
    let cfg = SipConfig {
        listen: args.sip_addr,
        advertised_ip: args.public_ip,
        rtp_ports: args.rtp_ports,
        max_calls: args.max_calls,
        echo_route: args.echo_route,
        trunks: file_trunks.clone(),
        recordings: Some(recordings),
        ..SipConfig::default()
    };
    let metrics = Arc::new(Metrics::default());
    let endpoint = RealtimeEndpoint {
        url: args.realtime_url.clone(),
        api_key: openai_key,
    };
    let base = AgentApp::new(
        AgentConfig::default(),
        endpoint,
        Arc::new(NoTools),
        metrics.clone(),
        Arc::new(DbCalls(store.clone())),
    );
    let apps = Apps {
        base: Arc::new(base),
        store: store.clone(),
        model: args.realtime_model.clone(),
    };
    let router = Arc::new(NumberRouter {
        apps: apps.clone(),
        echo: cfg.echo_route,
    });
    let (sink, _writer) = lifecycle_writer(store.clone());
    let engine = SipEngine::start_observed(cfg, router, Some(Arc::new(sink.clone())))
        .await
        .map_err(|e| e.to_string())?;
    let sync = TrunkSync {
        store: store.clone(),
        engine: engine.handle(),
        fixed: Arc::new(file_trunks),
    };
    let trunks = sync.sync().await.map_err(|e| format!("trunks: {e}"))?;
    tracing::info!(trunks, "trunks loaded");
    // Other nodes sharing the database change trunks too: reload now and then.
    let refresh = sync.clone();
    let refresher = tokio::spawn(async move {
        let mut every = tokio::time::interval(TRUNK_REFRESH);
        every.tick().await;
        loop {
            every.tick().await;
            if let Err(e) = refresh.sync().await {
                tracing::warn!(error = %e, "trunk refresh failed");
            }
        }
    });
    let http = tokio::net::TcpListener::bind(args.http_addr)
        .await
        .map_err(|e| format!("HTTP listen on {}: {e}", args.http_addr))?;
    let http_addr = http.local_addr().map_err(|e| e.to_string())?;
    // Recordings past their workspace's retention are deleted now and then.
    let sweeper = store.clone();
    let sweeper = tokio::spawn(async move {
        let mut every = tokio::time::interval(RETENTION_SWEEP);
        loop {
            every.tick().await;
            match sweep_recordings(&sweeper, crate::store::now_ms()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(recordings = n, "expired recordings deleted"),
                Err(e) => tracing::warn!(error = %e, "recording retention sweep failed"),
            }
        }
    });
    // Webhooks go out from the outbox on every node (leases keep them from
    // sending one attempt twice).
    let webhooks = crate::webhooks::Dispatcher::new(
        store.clone(),
        crate::webhooks::DispatcherConfig {
            allow_private: args.webhook_allow_private,
            timeout: std::time::Duration::from_secs(args.webhook_timeout_s),
            ..Default::default()
        },
    )
    .spawn();
    // Campaign calls: every node dials from the shared queue.
    let dialer = crate::dialer::Dialer {
        store: store.clone(),
        apps: apps.clone(),
        engine: engine.handle(),
        config: crate::dialer::DialerConfig {
            lease: Duration::from_secs(args.dialer_lease_s),
            ..Default::default()
        },
    }
    .spawn();
    let public_url = args
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{http_addr}"));
    let app = crate::http::app(crate::http::HttpState {
        metrics,
        engine: Some(Arc::new(engine.stats_reader())),
        api: Some(
            crate::api::ApiState::new(store.clone())
                .with_private_webhooks(args.webhook_allow_private)
                .with_engine(engine.handle())
                .with_trunk_sync(sync)
                .with_apps(apps)
                .with_public_url(public_url.clone())
                .with_mcp_hosts(args.mcp_allowed_hosts.clone()),
        ),
    });
    let public_url_for_node = public_url;
    let (stop_http, http_stopped) = tokio::sync::oneshot::channel::<()>();
    let http_task = tokio::spawn(async move {
        let serve = axum::serve(http, app).with_graceful_shutdown(async {
            let _ = http_stopped.await;
        });
        if let Err(e) = serve.await {
            tracing::error!(error = %e, "HTTP server failed");
        }
    });
    Ok(Node {
        engine,
        store,
        http_addr,
        public_url: public_url_for_node,
        sink,
        dialer,
        background: vec![refresher, sweeper, webhooks],
        stop_http,
        http_task,
    })
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trunk_files_parse_and_reject_unknown_fields() {
        let trunks = parse_trunks(
            r#"[{"name":"carrier","inbound_sources":["54.172.60.0/30","192.0.2.7"],
                 "outbound":{"host":"sip.example.net","transport":"tcp","username":"u","password":"p","caller_id":"+15550001111"}}]"#,
        )
        .expect("parse");
        assert_eq!(trunks.len(), 1);
        assert_eq!(trunks[0].inbound_sources.len(), 2);
        let out = trunks[0].outbound.as_ref().expect("outbound");
        assert_eq!((out.port, out.transport), (5060, SipTransport::Tcp));
        assert_eq!(
            out.credentials.as_ref().map(|c| c.username.as_str()),
            Some("u")
        );
        assert!(parse_trunks(r#"[{"name":"x","bogus":1}]"#).is_err());
        assert!(parse_trunks(r#"[{"name":"x","inbound_sources":["not-an-ip"]}]"#).is_err());
    }
}
