//! The voice REST API under `/api/v1/voice`: bearer-key auth scoping every
//! request to one workspace, JSON in and out, one error shape
//! (`{"error": {"type", "message", "param"}}`), bodies up to 1 MiB.
//!
//! Resources so far: the workspace and its settings, agents and voice
//! profiles, trunks, numbers, sessions, metrics, calls (filters,
//! transcript, hang-up, live event streams), leads, knowledge documents and search, calendar
//! connectors and their bookings, webhook subscriptions and their deliveries,
//! the external CRM connector, the do-not-call list, outbound campaigns (batches).

mod agents;
mod auth;
pub(crate) mod batches;
mod calendars;
mod calls;
mod crm;
mod dnc;
mod error;
mod extract;
mod knowledge;
mod leads;
mod metrics;
mod numbers;
mod openapi;
mod page;
mod recordings;
mod sessions;
mod stream;
mod trunks;
mod webhooks;
mod workspace;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use tenex_actors::sip::EngineHandle;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use auth::{Caller, Limiter, RateLimit};
pub use error::{ApiError, ErrorBody, ErrorDetail};
pub use extract::{ApiJson, ApiQuery};
pub use page::{DEFAULT_LIMIT, MAX_LIMIT, Page, PageQuery};

use crate::host::{Apps, TrunkSync};
use crate::store::Store;

/// Largest request body.
pub const MAX_BODY: usize = 1 << 20;

/// What the API handlers share.
#[derive(Debug, Clone)]
pub struct ApiState {
    /// The database.
    pub store: Store,
    /// Requests allowed per key.
    pub rate_limit: RateLimit,
    limiter: auth::SharedLimiter,
    /// The SIP engine, for hanging up and placing calls (`None` in tests of
    /// the API alone).
    pub engine: Option<EngineHandle>,
    /// Keeps the engine's trunks in step with the database.
    pub trunk_sync: Option<TrunkSync>,
    /// Makes the agent apps of calls placed through the API.
    pub apps: Option<Apps>,
    /// Where clients reach this API (`https://voice.example.com`), for the
    /// absolute links it hands out; links are relative when `None`.
    pub public_url: Option<String>,
    /// Whether webhook URLs may point at loopback, private and link-local
    /// addresses (`TENEX_WEBHOOK_ALLOW_PRIVATE=1`).
    pub allow_private_webhooks: bool,
    /// How often an idle event stream gets a keep-alive comment.
    pub keep_alive: std::time::Duration,
    /// Host names the MCP endpoint answers for (DNS-rebinding protection):
    /// loopback names, plus the public URL's host when one is set.
    pub mcp_allowed_hosts: Vec<String>,
    /// The recording-URL signing key, read from the database on first use.
    url_key: Arc<tokio::sync::OnceCell<Vec<u8>>>,
}

impl ApiState {
    /// State over `store` with the default rate limit.
    pub fn new(store: Store) -> ApiState {
        ApiState::with_rate_limit(store, RateLimit::default())
    }

    /// State over `store` allowing `rate_limit` per key.
    pub fn with_rate_limit(store: Store, rate_limit: RateLimit) -> ApiState {
        ApiState {
            store,
            rate_limit,
            limiter: Arc::default(),
            engine: None,
            trunk_sync: None,
            apps: None,
            public_url: None,
            allow_private_webhooks: false,
            keep_alive: std::time::Duration::from_secs(15),
            mcp_allowed_hosts: ["localhost", "127.0.0.1", "::1"].map(String::from).to_vec(),
            url_key: Arc::default(),
        }
    }

    /// This state, controlling calls on `engine` (and its trunks: the
    /// database's only; see [`ApiState::with_trunk_sync`]).
    pub fn with_engine(mut self, engine: EngineHandle) -> ApiState {
        self.trunk_sync = Some(TrunkSync {
            store: self.store.clone(),
            engine: engine.clone(),
            fixed: Arc::default(),
        });
        self.engine = Some(engine);
        self
    }

    /// This state, placing calls with `apps` (sessions, campaigns).
    pub fn with_apps(mut self, apps: Apps) -> ApiState {
        self.apps = Some(apps);
        self
    }

    /// This state, allowing webhook URLs on loopback, private and link-local
    /// addresses when `allow` (tests, private networks).
    pub fn with_private_webhooks(mut self, allow: bool) -> ApiState {
        self.allow_private_webhooks = allow;
        self
    }

    /// This state, handing out links under `url` (no trailing slash); MCP
    /// answers for its host too.
    pub fn with_public_url(mut self, url: impl Into<String>) -> ApiState {
        let url = url.into().trim_end_matches('/').to_owned();
        if let Some(host) = url
            .parse::<axum::http::Uri>()
            .ok()
            .and_then(|u| u.host().map(|h| h.trim_matches(['[', ']']).to_owned()))
            && !self.mcp_allowed_hosts.contains(&host)
        {
            self.mcp_allowed_hosts.push(host);
        }
        self.public_url = Some(url);
        self
    }

    /// This state, with MCP answering for these host names as well.
    pub fn with_mcp_hosts(mut self, hosts: impl IntoIterator<Item = String>) -> ApiState {
        for h in hosts {
            if !self.mcp_allowed_hosts.contains(&h) {
                self.mcp_allowed_hosts.push(h);
            }
        }
        self
    }

    /// This state, keeping the engine's trunks with `sync`.
    pub fn with_trunk_sync(mut self, sync: TrunkSync) -> ApiState {
        self.trunk_sync = Some(sync);
        self
    }

    /// Gives the engine the trunks as they are now stored. A failure is logged:
    /// the change is stored, and the periodic refresh applies it.
    async fn sync_trunks(&self) {
        if let Some(sync) = &self.trunk_sync
            && let Err(e) = sync.sync().await
        {
            tracing::error!(error = %e, "trunks could not be reloaded");
        }
    }
}

/// The routes that need a bearer key, with their documentation.
fn authenticated() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(workspace::get, workspace::update))
        .routes(routes!(agents::create, agents::list))
        .routes(routes!(agents::get, agents::update))
        .routes(routes!(agents::voice_profile, agents::set_voice_profile))
        .routes(routes!(trunks::create, trunks::list))
        .routes(routes!(trunks::get, trunks::update, trunks::delete))
        .routes(routes!(numbers::create, numbers::list))
        .routes(routes!(numbers::get, numbers::delete))
        .routes(routes!(sessions::create))
        .routes(routes!(sessions::get))
        .routes(routes!(metrics::get))
        .routes(routes!(calls::list))
        .routes(routes!(calls::get))
        .routes(routes!(calls::transcript))
        .routes(routes!(calls::hangup))
        .routes(routes!(stream::stream))
        .routes(routes!(stream::workspace_stream))
        .routes(routes!(recordings::get, recordings::delete))
        .routes(routes!(leads::create, leads::list))
        .routes(routes!(leads::get))
        .routes(routes!(knowledge::create))
        .routes(routes!(knowledge::search))
        .routes(routes!(knowledge::get))
        .routes(routes!(calendars::create))
        .routes(routes!(calendars::get))
        .routes(routes!(calendars::bookings))
        .routes(routes!(webhooks::create, webhooks::list))
        .routes(routes!(webhooks::get, webhooks::update, webhooks::delete))
        .routes(routes!(webhooks::rotate_secret))
        .routes(routes!(webhooks::deliveries))
        .routes(routes!(webhooks::replay))
        .routes(routes!(crm::get, crm::put, crm::delete))
        .routes(routes!(dnc::create, dnc::list))
        .routes(routes!(dnc::delete))
        .routes(routes!(batches::create, batches::list))
        .routes(routes!(batches::get))
        .routes(routes!(batches::results))
        .routes(routes!(batches::pause))
        .routes(routes!(batches::resume))
        .routes(routes!(batches::cancel))
}

/// The routes that carry their own authority (signed recording links) or
/// need none (the API's documentation).
fn public() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(recordings::serve))
        .routes(routes!(openapi::json))
        .routes(routes!(openapi::page))
}

/// The API's OpenAPI document (what `/openapi.json` serves).
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    openapi::document()
}

/// The API's routes, to be nested at `/api/v1/voice`.
pub fn router(state: ApiState) -> Router {
    let (authenticated, _) = authenticated().split_for_parts();
    let (public, _) = public().split_for_parts();
    authenticated
        .fallback(|| async { ApiError::not_found("route") })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ))
        .merge(public)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

/// The MCP endpoint (`/mcp`, streamable HTTP, stateless), behind the same
/// bearer keys; see [`crate::mcp`].
pub fn mcp_router(state: ApiState) -> Router {
    use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
    use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_allowed_hosts(state.mcp_allowed_hosts.clone())
        .with_max_request_body_bytes(MAX_BODY);
    let store = state.store.clone();
    let service = StreamableHttpService::new(
        move || Ok(crate::mcp::VoiceMcp::new(store.clone())),
        Arc::new(NeverSessionManager::default()),
        config,
    );
    Router::new()
        .route_service("/mcp", service)
        .route_layer(axum::middleware::from_fn_with_state(
            state,
            auth::authenticate,
        ))
}
