//! The SIP engine: listeners, the request loop, and the public API.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rsipstack::EndpointBuilder;
use rsipstack::dialog::dialog_layer::DialogLayer;
use rsipstack::platform::CancellationToken;
use rsipstack::sip::prelude::HeadersExt;
use rsipstack::sip::{Header, Method, StatusCode};
use rsipstack::transaction::transaction::Transaction;
use rsipstack::transport::udp::UdpConnection;
use rsipstack::transport::{TcpListenerConnection, TransportLayer};
use thiserror::Error;
use tokio::task::JoinHandle;

use super::config::{SipConfig, SipTransport, Trunk};
use super::inbound;
use super::outbound::{self, DialError, DialRequest, DialResult};
use super::record::{CallId, CallObserver, CallRecord};
use super::registry::{CallControl, EngineCounters, EngineStats, Registry};
use super::router::CallRouter;
use super::security::{LogThrottle, RateLimiter, TrunkSet};
use crate::media::PortPool;
use tenex_media::dtmf::DtmfDigit;

/// Methods we answer, for `Allow` headers.
pub(crate) const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE";

/// Why the engine could not start.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SipError {
    /// A socket could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The SIP stack refused to start.
    #[error("SIP stack: {0}")]
    Stack(String),
}

/// What every call task shares.
pub(crate) struct Shared {
    pub(crate) cfg: SipConfig,
    pub(crate) dialogs: Arc<DialogLayer>,
    pub(crate) registry: Arc<Registry>,
    pub(crate) pool: PortPool,
    pub(crate) router: Arc<dyn CallRouter>,
    trunks: std::sync::RwLock<Arc<TrunkSet>>,
    pub(crate) rejected_log: Mutex<LogThrottle>,
    /// The address we put in Contact, Via and SDP.
    pub(crate) public_ip: IpAddr,
    pub(crate) sip_port: u16,
    pub(crate) session_ids: AtomicU64,
}

impl Shared {
    /// The trunks in force now.
    pub(crate) fn trunks(&self) -> Arc<TrunkSet> {
        self.trunks
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Our Contact URI for a call over `transport`.
    pub(crate) fn contact(&self, user: &str, transport: SipTransport) -> String {
        let user = if user.is_empty() { "tenex" } else { user };
        match transport {
            SipTransport::Udp => format!("sip:{user}@{}:{}", self.public_ip, self.sip_port),
            SipTransport::Tcp => format!(
                "sip:{user}@{}:{};transport=tcp",
                self.public_ip, self.sip_port
            ),
        }
    }
}

/// A running SIP engine: UDP and TCP listeners, inbound routing, outbound dialing.
pub struct SipEngine {
    shared: Arc<Shared>,
    token: CancellationToken,
    serve: JoinHandle<()>,
    requests: JoinHandle<()>,
    local: SocketAddr,
}

fn stats_of(shared: &Shared) -> EngineStats {
    EngineStats {
        active_calls: shared.registry.active_count(),
        ports_free: shared.pool.free(),
        ports_total: shared.pool.total(),
        draining: shared.registry.draining(),
    }
}

impl std::fmt::Debug for SipEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SipEngine")
            .field("local", &self.local)
            .finish_non_exhaustive()
    }
}

impl SipEngine {
    /// Starts listening (UDP and TCP on the same port) and serving calls.
    pub async fn start(cfg: SipConfig, router: Arc<dyn CallRouter>) -> Result<SipEngine, SipError> {
        SipEngine::start_observed(cfg, router, None).await
    }

    /// Like [`SipEngine::start`], telling `observer` about every call's lifecycle.
    pub async fn start_observed(
        cfg: SipConfig,
        router: Arc<dyn CallRouter>,
        observer: Option<Arc<dyn CallObserver>>,
    ) -> Result<SipEngine, SipError> {
        let token = CancellationToken::new();
        let public_ip = match (cfg.advertised_ip, cfg.listen.ip()) {
            (Some(ip), _) => ip,
            (None, ip) if !ip.is_unspecified() => ip,
            (None, _) => IpAddr::from([127, 0, 0, 1]),
        };
        let transport = TransportLayer::new(token.child_token());
        // UDP and TCP share one port. With port 0 the kernel picks the UDP one;
        // if TCP is taken there, try another (up to 16 times).
        let mut attempts = 0;
        let (udp, local) = loop {
            let attempt = token.child_token();
            let udp = UdpConnection::create_connection(cfg.listen, None, Some(attempt.clone()))
                .await
                .map_err(|e| SipError::Stack(e.to_string()))?;
            let udp_addr = udp
                .get_addr()
                .get_socketaddr()
                .map_err(|e| SipError::Stack(e.to_string()))?;
            let local = SocketAddr::new(cfg.listen.ip(), udp_addr.port());
            // The stack binds TCP lazily and only logs a failure: check the port first.
            match std::net::TcpListener::bind(local) {
                Ok(_) => break (udp, local),
                Err(_) if cfg.listen.port() == 0 && attempts < 16 => {
                    attempts += 1;
                    attempt.cancel();
                }
                Err(source) => {
                    return Err(SipError::Bind {
                        addr: local,
                        source,
                    });
                }
            }
        };
        let advertised = SocketAddr::new(public_ip, local.port());
        transport.add_transport(udp.into());
        let tcp = TcpListenerConnection::new(local, Some(advertised))
            .await
            .map_err(|e| SipError::Stack(e.to_string()))?;
        transport.add_transport(tcp.into());

        let registry = Registry::new(cfg.max_calls, cfg.history, observer);
        let limiter = Arc::new(Mutex::new(RateLimiter::new(
            cfg.rate_limit_per_sec,
            cfg.rate_limit_burst,
        )));
        let endpoint = EndpointBuilder::new()
            .with_user_agent("tenex-voice")
            .with_cancel_token(token.clone())
            .with_transport_layer(transport)
            .build();
        let incoming = endpoint
            .incoming_transactions()
            .map_err(|e| SipError::Stack(e.to_string()))?;
        let dialogs = Arc::new(DialogLayer::new(endpoint.inner.clone()));
        let trunks = std::sync::RwLock::new(Arc::new(TrunkSet::new(cfg.trunks.clone())));
        let pool = PortPool::new(public_ip, cfg.rtp_ports);
        let shared = Arc::new(Shared {
            cfg,
            dialogs,
            registry,
            pool,
            router,
            trunks,
            rejected_log: Mutex::new(LogThrottle::default()),
            public_ip,
            sip_port: local.port(),
            session_ids: AtomicU64::new(1),
        });
        let inner = endpoint.inner.clone();
        let serve = tokio::spawn(async move {
            if let Err(e) = inner.serve().await {
                tracing::error!(error = %e, "SIP endpoint stopped");
            }
        });
        let requests = tokio::spawn(request_loop(shared.clone(), incoming));
        wait_for_tcp(local).await;
        {
            let registry = shared.registry.clone();
            let limiter = limiter.clone();
            // Runs for every datagram and every TCP accept, before parsing.
            endpoint
                .inner
                .transport_layer
                .set_whitelist(move |ip: IpAddr| {
                    let allowed = limiter
                        .lock()
                        .map(|mut l| l.allow(ip, Instant::now()))
                        .unwrap_or(true);
                    if !allowed {
                        EngineCounters::bump(&registry.counters.rate_limited);
                    }
                    async move { allowed }
                });
        }
        tracing::info!(%local, "SIP listening on UDP and TCP");
        Ok(SipEngine {
            shared,
            token,
            serve,
            requests,
            local,
        })
    }

    /// An id for a call about to be placed with [`DialRequest::id`], so the host
    /// can store the call before the INVITE goes out.
    pub fn reserve_id(&self) -> CallId {
        self.shared.registry.reserve_id()
    }

    /// The listening address (UDP and TCP).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// A snapshot of calls and ports.
    pub fn stats(&self) -> EngineStats {
        stats_of(&self.shared)
    }

    /// A reader of [`SipEngine::stats`] that outlives this handle's borrows
    /// (for the metrics endpoint).
    pub fn stats_reader(&self) -> impl Fn() -> EngineStats + Send + Sync + 'static {
        let shared = self.shared.clone();
        move || stats_of(&shared)
    }

    /// Engine counters (rejections by reason, rate limiting, ...).
    pub fn counters(&self) -> &EngineCounters {
        &self.shared.registry.counters
    }

    /// Records of live and recently finished calls, oldest first.
    pub fn calls(&self) -> Vec<CallRecord> {
        self.shared.registry.records()
    }

    /// RTP packets (sent, received) so far by a call in progress; `None` when
    /// the call is not active or has no media yet.
    pub fn live_rtp(&self, call: CallId) -> Option<(u64, u64)> {
        self.shared.registry.live_rtp(call)
    }

    /// Ids of calls in progress.
    pub fn active_calls(&self) -> Vec<CallId> {
        self.shared.registry.active_ids()
    }

    /// Hangs a call up; false if there is no such call.
    pub fn hangup(&self, call: CallId) -> bool {
        self.shared.registry.control(call, CallControl::Hangup)
    }

    /// Sends a key press into a call (RFC 4733); false if there is no such call.
    pub fn send_dtmf(&self, call: CallId, digit: DtmfDigit) -> bool {
        self.shared
            .registry
            .control(call, CallControl::SendDtmf(digit))
    }

    /// Drain mode: stop admitting calls (503), let live calls finish.
    pub fn set_draining(&self, on: bool) {
        self.shared.registry.set_draining(on);
    }

    /// Returns once no call is live (at once when none is).
    pub async fn idle(&self) {
        self.shared.registry.idle().await;
    }

    /// Places a call through a trunk and waits for it to be answered or to fail.
    pub async fn dial(&self, req: DialRequest) -> Result<DialResult, DialError> {
        outbound::dial(self.shared.clone(), req).await
    }

    /// A handle for controlling calls from elsewhere (the API): it outlives
    /// borrows of the engine.
    pub fn handle(&self) -> EngineHandle {
        EngineHandle {
            shared: self.shared.clone(),
        }
    }

    /// Stops listening and hangs up nothing: call tasks end with their dialogs.
    pub async fn shutdown(self) {
        self.token.cancel();
        self.requests.abort();
        let _ = self.serve.await;
    }
}

/// Controls calls of a running engine (cheap to clone).
#[derive(Clone)]
pub struct EngineHandle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for EngineHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EngineHandle")
    }
}

impl EngineHandle {
    /// Hangs a call up; false if there is no such call.
    pub fn hangup(&self, call: CallId) -> bool {
        self.shared.registry.control(call, CallControl::Hangup)
    }

    /// See [`SipEngine::active_calls`].
    pub fn active_calls(&self) -> Vec<CallId> {
        self.shared.registry.active_ids()
    }

    /// Whether the engine is draining (admitting no new calls).
    pub fn is_draining(&self) -> bool {
        self.shared.registry.draining()
    }

    /// See [`SipEngine::reserve_id`].
    pub fn reserve_id(&self) -> CallId {
        self.shared.registry.reserve_id()
    }

    /// See [`SipEngine::dial`].
    pub async fn dial(&self, req: DialRequest) -> Result<DialResult, DialError> {
        outbound::dial(self.shared.clone(), req).await
    }

    /// See [`SipEngine::stats`].
    pub fn stats(&self) -> EngineStats {
        stats_of(&self.shared)
    }

    /// A SIP URI that reaches this engine with `user` as the Request-URI user
    /// (what a PBX transfers a call to).
    pub fn sip_uri(&self, user: &str) -> String {
        self.shared.contact(user, SipTransport::Udp)
    }

    /// Replaces the trunks (allowlist, limits) for calls from now on; calls in
    /// progress keep going.
    pub fn set_trunks(&self, trunks: Vec<Trunk>) {
        let set = Arc::new(TrunkSet::new(trunks));
        *self
            .shared
            .trunks
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = set;
    }
}

/// Source address and transport of a request.
fn origin(tx: &Transaction) -> (SocketAddr, SipTransport) {
    let Some(conn) = tx.connection.as_ref() else {
        return (SocketAddr::from(([0, 0, 0, 0], 0)), SipTransport::Udp);
    };
    let transport = match conn.transport() {
        rsipstack::sip::Transport::Tcp => SipTransport::Tcp,
        _ => SipTransport::Udp,
    };
    let addr = conn
        .get_remote_addr()
        .and_then(|a| a.get_socketaddr().ok())
        .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
    (addr, transport)
}

async fn request_loop(
    shared: Arc<Shared>,
    mut incoming: rsipstack::transaction::TransactionReceiver,
) {
    while let Some(mut tx) = incoming.recv().await {
        let (source, transport) = origin(&tx);
        let in_dialog = tx
            .original
            .to_header()
            .ok()
            .and_then(|t| t.tag().ok().flatten())
            .is_some();
        let method = tx.original.method;
        if in_dialog {
            match shared.dialogs.match_dialog(&tx) {
                Some(mut dialog) => {
                    tokio::spawn(async move {
                        let _ = dialog.handle(&mut tx).await;
                    });
                }
                None => {
                    EngineCounters::bump(&shared.registry.counters.unknown_dialog);
                    tokio::spawn(async move {
                        let _ = tx.reply(StatusCode::CallTransactionDoesNotExist).await;
                    });
                }
            }
            continue;
        }
        match method {
            Method::Invite => {
                tokio::spawn(inbound::handle_invite(
                    shared.clone(),
                    tx,
                    source,
                    transport,
                ));
            }
            Method::Options => {
                EngineCounters::bump(&shared.registry.counters.options);
                tokio::spawn(async move {
                    let headers = vec![Header::Allow(ALLOW.into())];
                    let _ = tx.reply_with(StatusCode::OK, headers, None).await;
                });
            }
            Method::Bye | Method::Info | Method::Update => {
                // Out of dialog: there is no such call.
                EngineCounters::bump(&shared.registry.counters.unknown_dialog);
                tokio::spawn(async move {
                    let _ = tx.reply(StatusCode::CallTransactionDoesNotExist).await;
                });
            }
            _ => {
                EngineCounters::bump(&shared.registry.counters.not_allowed);
                tokio::spawn(async move {
                    let headers = vec![Header::Allow(ALLOW.into())];
                    let _ = tx
                        .reply_with(StatusCode::MethodNotAllowed, headers, None)
                        .await;
                });
            }
        }
    }
}

/// The stack binds its TCP listener only once it starts serving (in the task
/// spawned above): wait until the port accepts, so a TCP peer that connects
/// right after `start` returns is not refused. Gives up after 2 s (the listener
/// then logged why it failed).
async fn wait_for_tcp(local: SocketAddr) {
    let ip = match local.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::from([127, 0, 0, 1]),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let probe = SocketAddr::new(ip, local.port());
    // On loopback the probe comes from 127.0.0.254, so the stack's accept (which
    // may run after the rate limit is installed) counts against an address no
    // peer uses rather than against 127.0.0.1.
    let from = match ip {
        IpAddr::V4(v4) if v4.is_loopback() => Some(SocketAddr::from(([127, 0, 0, 254], 0))),
        _ => None,
    };
    for _ in 0..200 {
        let connected = match from {
            Some(from) => match tokio::net::TcpSocket::new_v4() {
                Ok(sock) => match sock.bind(from) {
                    Ok(()) => sock.connect(probe).await.is_ok(),
                    Err(_) => tokio::net::TcpStream::connect(probe).await.is_ok(),
                },
                Err(_) => false,
            },
            None => tokio::net::TcpStream::connect(probe).await.is_ok(),
        };
        if connected {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tracing::warn!(%local, "the SIP TCP listener did not come up");
}
