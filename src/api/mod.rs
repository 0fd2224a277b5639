//! The voice REST API under `/api/v1/voice`: bearer-key auth scoping every
//! request to one workspace, JSON in and out, one error shape
//! (`{"error": {"type", "message", "param"}}`), bodies up to 1 MiB.
//!
//! Resources so far: the workspace and its settings, agents and voice
//! profiles, trunks, numbers, sessions, metrics, calls (filters,
//! transcript, hang-up), leads, knowledge documents and search, calendar
//! connectors and their bookings.

mod agents;
mod auth;
mod calendars;
mod calls;
mod error;
mod extract;
mod knowledge;
mod leads;
mod metrics;
mod numbers;
mod page;
mod recordings;
mod sessions;
mod trunks;
mod workspace;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use tenex_actors::sip::EngineHandle;

pub use auth::{Caller, Limiter, RateLimit};
pub use error::ApiError;
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

    /// This state, handing out links under `url` (no trailing slash).
    pub fn with_public_url(mut self, url: impl Into<String>) -> ApiState {
        self.public_url = Some(url.into().trim_end_matches('/').to_owned());
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

/// The API's routes, to be nested at `/api/v1/voice`.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/workspace", get(workspace::get).patch(workspace::update))
        .route("/agents", post(agents::create).get(agents::list))
        .route("/agents/{id}", get(agents::get).patch(agents::update))
        .route(
            "/agents/{id}/voice-profile",
            get(agents::voice_profile).put(agents::set_voice_profile),
        )
        .route("/trunks", post(trunks::create).get(trunks::list))
        .route(
            "/trunks/{id}",
            get(trunks::get)
                .patch(trunks::update)
                .delete(trunks::delete),
        )
        .route("/numbers", post(numbers::create).get(numbers::list))
        .route("/numbers/{id}", get(numbers::get).delete(numbers::delete))
        .route("/sessions", post(sessions::create))
        .route("/sessions/{id}", get(sessions::get))
        .route("/metrics", get(metrics::get))
        .route("/calls", get(calls::list))
        .route("/calls/{id}", get(calls::get))
        .route("/calls/{id}/transcript", get(calls::transcript))
        .route("/calls/{id}/hangup", post(calls::hangup))
        .route("/leads", post(leads::create).get(leads::list))
        .route("/leads/{id}", get(leads::get))
        .route("/knowledge", post(knowledge::create))
        .route("/knowledge/search", get(knowledge::search))
        .route("/knowledge/{id}", get(knowledge::get))
        .route("/calendar-connectors", post(calendars::create))
        .route("/calendar-connectors/{id}", get(calendars::get))
        .route(
            "/calendar-connectors/{id}/bookings",
            get(calendars::bookings),
        )
        .route(
            "/calls/{id}/recording",
            axum::routing::delete(recordings::delete),
        )
        .fallback(|| async { ApiError::not_found("route") })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ))
        // Signed links carry their own authority: no bearer key.
        .route("/recordings/{file}", get(recordings::serve))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}
