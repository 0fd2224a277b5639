//! The HTTP side of a node: `fn app(state) -> Router`, served by `serve` on
//! `TENEX_HTTP_ADDR`: `GET /metrics`, the Prometheus text exposition of the
//! node's call metrics (latency histograms, counters) and SIP engine gauges;
//! and the voice API under `/api/v1/voice` ([`crate::api`]).

use std::fmt::Write as _;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use tenex_actors::metrics::Metrics;
use tenex_actors::sip::EngineStats;

/// Reads the SIP engine's gauges.
pub type StatsFn = Arc<dyn Fn() -> EngineStats + Send + Sync>;

/// What the HTTP handlers read.
#[derive(Clone)]
pub struct HttpState {
    /// The node's call metrics.
    pub metrics: Arc<Metrics>,
    /// The SIP engine's gauges, when the node runs one.
    pub engine: Option<StatsFn>,
    /// The voice API, when the node serves it.
    pub api: Option<crate::api::ApiState>,
}

impl std::fmt::Debug for HttpState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpState")
            .field("engine", &self.engine.is_some())
            .finish_non_exhaustive()
    }
}

/// The node's HTTP routes.
pub fn app(state: HttpState) -> Router {
    let api = state.api.clone();
    let router = Router::new()
        .route("/metrics", get(metrics))
        .with_state(state);
    match api {
        Some(api) => router
            .nest("/api/v1/voice", crate::api::router(api.clone()))
            .merge(crate::api::mcp_router(api)),
        None => router,
    }
}

/// The Prometheus text format's content type.
pub const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

async fn metrics(State(state): State<HttpState>) -> impl IntoResponse {
    let mut body = state.metrics.render();
    if let Some(stats) = &state.engine {
        let s = stats();
        for (name, help, value) in [
            (
                "tenex_active_calls",
                "Calls in progress.",
                s.active_calls as u64,
            ),
            (
                "tenex_rtp_ports_free",
                "RTP ports free.",
                s.ports_free as u64,
            ),
            (
                "tenex_rtp_ports_total",
                "RTP ports in the pool.",
                s.ports_total as u64,
            ),
            (
                "tenex_draining",
                "1 while the node refuses new calls.",
                u64::from(s.draining),
            ),
        ] {
            let _ = writeln!(
                body,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        }
    }
    ([(header::CONTENT_TYPE, PROMETHEUS_TEXT)], body)
}
