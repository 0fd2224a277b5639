//! `tenex-voice realtime-sim`: an offline server speaking the Realtime GA protocol
//! at `ws://ADDR/v1/realtime?model=...`, for tests, the demo and load runs.
//!
//! It behaves like the service in what the bridge relies on: `session.created`
//! then `session.updated` (an update with an unknown field is refused whole),
//! audio in `audio/pcm` 24 kHz, `audio/pcmu` and `audio/pcma`, energy server VAD
//! (`speech_started`, `speech_stopped`, `committed`), input transcriptions that
//! arrive after the commit (text from the script), scripted responses streaming
//! audio 20x faster than real time with transcripts, cancellation on barge-in
//! (`response.done` with status `cancelled`), an error for a truncate past the
//! item's audio, `conversation_already_has_active_response`, scripted function
//! calls, text-only side responses, and `session_expired` after the session's
//! maximum duration. Each session is one tokio task.

mod config;
pub mod script;
mod session;
mod voice;

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;

pub use script::Script;

/// How to run the simulator.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The conversation.
    pub script: Script,
    /// Write every client event received, one JSON line each.
    pub record: Option<PathBuf>,
    /// Varies the synthetic voice.
    pub seed: u64,
    /// When set, the bearer key must equal it; otherwise any non-empty key passes.
    pub api_key: Option<String>,
    /// Session lifetime before `session_expired` (the service's is 60 minutes).
    pub session_max: Duration,
    /// How many times faster than real time response audio streams (default 20).
    pub speed: u32,
    /// Misbehave: after every event, send a garbage message (robustness tests).
    pub garbage: bool,
    /// Scripts chosen per session: the first whose phrase appears in the
    /// session's instructions (as set before the conversation starts) replaces
    /// `script` for that session (one simulator, a different conversation per
    /// lead).
    pub scripts_by_instructions: Vec<(String, Script)>,
    /// Recorded agent speech by line text (24 kHz PCM16); lines without a
    /// recording get the synthetic voice.
    pub recorded: std::collections::HashMap<String, Arc<[i16]>>,
}

impl Default for SimConfig {
    fn default() -> SimConfig {
        SimConfig {
            script: Script::qualifier(),
            record: None,
            seed: 0,
            api_key: None,
            session_max: Duration::from_secs(3600),
            speed: 20,
            garbage: false,
            scripts_by_instructions: Vec::new(),
            recorded: std::collections::HashMap::new(),
        }
    }
}

/// Counters across all sessions.
#[derive(Debug, Default)]
pub struct Stats {
    /// WebSocket sessions accepted.
    pub sessions: AtomicU64,
    /// Connections refused (path, key).
    pub refused: AtomicU64,
    /// Client events received.
    pub client_events: AtomicU64,
    /// Caller audio received, ms.
    pub audio_in_ms: AtomicU64,
    /// Responses started.
    pub responses: AtomicU64,
    /// Responses cancelled.
    pub cancelled: AtomicU64,
    /// Truncations applied.
    pub truncations: AtomicU64,
    /// Truncations refused (past the item's audio).
    pub truncate_errors: AtomicU64,
    /// `error` events sent.
    pub errors_sent: AtomicU64,
}

impl Stats {
    fn bump(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }
    fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }
    /// A counter's value.
    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
}

struct Recorder(Mutex<std::io::BufWriter<std::fs::File>>);

impl Recorder {
    fn write(&self, line: &str) {
        if let Ok(mut w) = self.0.lock() {
            let _ = writeln!(w, "{line}");
            let _ = w.flush();
        }
    }
}

/// Encoded lines by (text, output format).
type VoiceCache = std::collections::HashMap<(String, config::FormatIn), Arc<Vec<u8>>>;

struct Shared {
    cfg: SimConfig,
    script: Arc<Script>,
    /// `cfg.scripts_by_instructions`, shareable.
    alternatives: Vec<(String, Arc<Script>)>,
    record: Option<Recorder>,
    stats: Arc<Stats>,
    /// Bumped to drop every open session (fault injection).
    kill: tokio::sync::watch::Sender<u64>,
    /// Refuse new sessions with 503 (fault injection).
    refusing: std::sync::atomic::AtomicBool,
    /// Synthesised lines per output format: every session saying the same line
    /// shares one encoding (what keeps hundreds of sessions cheap).
    voices: Mutex<VoiceCache>,
}

impl Shared {
    /// The script for a session with these instructions.
    fn script_for(&self, instructions: &str) -> Option<Arc<Script>> {
        self.alternatives
            .iter()
            .find(|(phrase, _)| instructions.contains(phrase.as_str()))
            .map(|(_, script)| script.clone())
    }

    /// `text` spoken in `format`'s bytes.
    fn voice(&self, text: &str, format: config::FormatIn) -> Arc<Vec<u8>> {
        let key = (text.to_owned(), format);
        if let Some(v) = self.voices.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return v;
        }
        let bytes = Arc::new(match self.cfg.recorded.get(text) {
            Some(pcm) => session::encode_output(format, pcm),
            None => session::encode_output(format, &voice::speak(text, self.cfg.seed)),
        });
        if let Ok(mut m) = self.voices.lock() {
            // Scripts are small; a bound keeps a hostile script from growing it.
            if m.len() < 1024 {
                m.insert(key, bytes.clone());
            }
        }
        bytes
    }
}

/// A running simulator.
#[derive(Debug)]
pub struct Simulator {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Simulator {
    /// Binds `listen` and serves until dropped.
    pub async fn start(listen: SocketAddr, cfg: SimConfig) -> std::io::Result<Simulator> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let record = match &cfg.record {
            Some(p) => Some(Recorder(Mutex::new(std::io::BufWriter::new(
                std::fs::File::create(p)?,
            )))),
            None => None,
        };
        let shared = Arc::new(Shared {
            script: Arc::new(cfg.script.clone()),
            alternatives: cfg
                .scripts_by_instructions
                .iter()
                .map(|(phrase, script)| (phrase.clone(), Arc::new(script.clone())))
                .collect(),
            cfg,
            record,
            stats: Arc::default(),
            kill: tokio::sync::watch::Sender::new(0),
            refusing: false.into(),
            voices: Mutex::default(),
        });
        let task = tokio::spawn(accept_loop(listener, shared.clone()));
        Ok(Simulator { addr, shared, task })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `ws://ADDR/v1/realtime`.
    pub fn url(&self) -> String {
        format!("ws://{}/v1/realtime", self.addr)
    }

    /// Counters.
    pub fn stats(&self) -> &Stats {
        &self.shared.stats
    }

    /// Fault injection: drops every open session's connection at once, without a
    /// close frame (as a network failure or a crashed server would).
    pub fn drop_sessions(&self) {
        self.shared.kill.send_modify(|g| *g += 1);
    }

    /// Fault injection: while set, new connections are refused with 503.
    pub fn refuse_new_sessions(&self, refuse: bool) {
        self.shared.refusing.store(refuse, Ordering::SeqCst);
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").finish_non_exhaustive()
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
            let mut model = String::from("gpt-realtime");
            // The handshake callback's error type is tungstenite's (a full HTTP response).
            #[allow(clippy::result_large_err)]
            let check = |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
                let refuse = |code: StatusCode, msg: &str| {
                    let mut r = ErrorResponse::new(Some(format!(
                        r#"{{"error":{{"type":"invalid_request_error","code":"{}","message":"{msg}"}}}}"#,
                        if code == StatusCode::UNAUTHORIZED {
                            "invalid_api_key"
                        } else {
                            "not_found"
                        }
                    )));
                    *r.status_mut() = code;
                    r
                };
                if shared.refusing.load(Ordering::SeqCst) {
                    let mut r = ErrorResponse::new(Some(
                        r#"{"error":{"type":"server_error","code":"unavailable","message":"The server is overloaded."}}"#.to_owned(),
                    ));
                    *r.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
                    return Err(r);
                }
                if req.uri().path() != "/v1/realtime" {
                    return Err(refuse(StatusCode::NOT_FOUND, "Unknown path."));
                }
                let key = req
                    .headers()
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("Bearer "))
                    .unwrap_or("");
                let ok = match &shared.cfg.api_key {
                    Some(k) => key == k,
                    None => !key.is_empty(),
                };
                if !ok {
                    return Err(refuse(
                        StatusCode::UNAUTHORIZED,
                        "Incorrect API key provided.",
                    ));
                }
                if let Some(q) = req.uri().query() {
                    for pair in q.split('&') {
                        if let Some(m) = pair.strip_prefix("model=") {
                            model = m.to_owned();
                        }
                    }
                }
                Ok(resp)
            };
            match tokio_tungstenite::accept_hdr_async(stream, check).await {
                Ok(ws) => {
                    let n = shared.stats.sessions.fetch_add(1, Ordering::Relaxed) + 1;
                    let kill = shared.kill.subscribe();
                    session::Session::new(shared.clone(), model, n)
                        .run(ws, kill)
                        .await;
                }
                Err(_) => Stats::bump(&shared.stats.refused),
            }
        });
    }
}
