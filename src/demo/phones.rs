//! The leads' phones: a second SIP engine on loopback whose numbers behave like
//! the people being called. A talking phone answers after a couple of rings,
//! listens, and says its next recorded line once the agent has finished
//! speaking; a silent one rings until the caller gives up.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tenex_actors::media::{AudioFrame, PortRange};
use tenex_actors::realtime::MediaPort;
use tenex_actors::sip::{
    BridgedCall, CallApp, CallRouter, IncomingCall, LegEvent, Route, RouteFuture, SipConfig,
    SipEngine,
};
use tenex_actors::tenex_media::SampleRate;
use tenex_actors::tenex_media::resample::Resampler;

/// Rings before a talking phone picks up.
const ANSWER_AFTER: Duration = Duration::from_secs(2);
/// A phone that never answers rings this long (the caller gives up first).
const NEVER: Duration = Duration::from_secs(3600);
/// How long the agent must have been quiet before the person speaks, counted
/// in audio received (a scheduling stall on a busy machine is not silence).
/// Well above the pauses inside a recorded line (250 ms at most).
const REPLY_AFTER_MS: u64 = 1500;
/// A 20 ms frame louder than this (RMS) is the agent speaking.
const SPEECH_RMS: f64 = 400.0;

/// What a number does when called.
#[derive(Debug, Clone)]
pub(super) enum Behaviour {
    /// Answers and says these lines (8 kHz PCM16), one per agent turn.
    Talks(Vec<Arc<[i16]>>),
    /// Rings until the caller gives up.
    NeverAnswers,
}

/// What one number saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct PhoneLog {
    /// INVITEs received.
    pub(super) calls: u32,
    /// Calls answered.
    pub(super) answered: u32,
    /// Lines said.
    pub(super) lines_said: usize,
    /// Agent speech heard, ms.
    pub(super) agent_heard_ms: u64,
    /// Calls that ended after being answered.
    pub(super) hung_up: u32,
}

type Logs = Arc<Mutex<HashMap<String, PhoneLog>>>;

fn log(logs: &Logs, number: &str, f: impl FnOnce(&mut PhoneLog)) {
    if let Ok(mut m) = logs.lock() {
        f(m.entry(number.to_owned()).or_default());
    }
}

/// The running phones.
#[derive(Debug)]
pub(super) struct Phones {
    engine: SipEngine,
    logs: Logs,
}

impl Phones {
    /// Starts the phones on 127.0.0.1 (a free SIP port, RTP in `rtp_ports`).
    pub(super) async fn start(
        book: HashMap<String, Behaviour>,
        rtp_ports: PortRange,
    ) -> Result<Phones, String> {
        let logs = Logs::default();
        let router = PhoneRouter {
            book,
            logs: logs.clone(),
        };
        let engine = SipEngine::start(
            SipConfig {
                listen: SocketAddr::from(([127, 0, 0, 1], 0)),
                rtp_ports,
                echo_route: false,
                ..SipConfig::default()
            },
            Arc::new(router),
        )
        .await
        .map_err(|e| format!("lead phones: {e}"))?;
        Ok(Phones { engine, logs })
    }

    /// Where the phones take calls (UDP).
    pub(super) fn addr(&self) -> SocketAddr {
        self.engine.local_addr()
    }

    /// What each number saw so far.
    pub(super) fn logs(&self) -> HashMap<String, PhoneLog> {
        self.logs.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// Hangs up and stops.
    pub(super) async fn stop(self) {
        self.engine.shutdown().await;
    }
}

struct PhoneRouter {
    book: HashMap<String, Behaviour>,
    logs: Logs,
}

impl CallRouter for PhoneRouter {
    fn route<'a>(&'a self, call: &'a IncomingCall) -> RouteFuture<'a> {
        let number = call.user.clone().unwrap_or_default();
        let route = match self.book.get(&number) {
            None => Route::NotFound,
            Some(behaviour) => {
                log(&self.logs, &number, |l| l.calls += 1);
                let (answer_after, lines) = match behaviour {
                    Behaviour::Talks(lines) => (ANSWER_AFTER, lines.clone()),
                    Behaviour::NeverAnswers => (NEVER, Vec::new()),
                };
                Route::Agent {
                    answer_after,
                    app: Arc::new(Person {
                        number,
                        lines,
                        logs: self.logs.clone(),
                    }),
                }
            }
        };
        route.ready()
    }
}

/// The person who picks up.
#[derive(Debug)]
struct Person {
    number: String,
    lines: Vec<Arc<[i16]>>,
    logs: Logs,
}

impl CallApp for Person {
    fn start(&self, call: BridgedCall) {
        log(&self.logs, &self.number, |l| l.answered += 1);
        tokio::spawn(converse(
            call,
            self.number.clone(),
            self.lines.clone(),
            self.logs.clone(),
        ));
    }
}

/// Listens; once the agent has spoken and gone quiet, says the next line.
async fn converse(mut call: BridgedCall, number: String, lines: Vec<Arc<[i16]>>, logs: Logs) {
    let port = call.media.clone();
    let frame_ms = 20u64;
    let mut next = 0usize;
    let mut heard_since_last_line = false;
    let mut quiet_ms = 0u64;
    let mut tick = tokio::time::interval(Duration::from_millis(frame_ms));
    loop {
        tokio::select! {
            event = call.events.recv() => match event {
                Some(LegEvent::Ended { .. }) | None => break,
                Some(LegEvent::Dtmf(_)) => continue,
            },
            _ = tick.tick() => {}
        }
        let mut heard_ms = 0;
        while let Some(frame) = port.uplink.pop() {
            if rms(frame.pcm()) > SPEECH_RMS {
                heard_since_last_line = true;
                quiet_ms = 0;
                heard_ms += frame_ms;
            } else {
                quiet_ms += frame_ms;
            }
        }
        if heard_ms > 0 {
            log(&logs, &number, |l| l.agent_heard_ms += heard_ms);
        }
        // Our own line still playing: keep listening.
        if port.agent_playing() {
            continue;
        }
        if heard_since_last_line
            && quiet_ms >= REPLY_AFTER_MS
            && let Some(line) = lines.get(next)
        {
            tracing::debug!(%number, line = next + 1, "the lead speaks");
            say(&port, line, next as u32 + 1);
            next += 1;
            heard_since_last_line = false;
            log(&logs, &number, |l| l.lines_said = next);
        }
    }
    log(&logs, &number, |l| l.hung_up += 1);
}

fn rms(pcm: &[i16]) -> f64 {
    if pcm.is_empty() {
        return 0.0;
    }
    (pcm.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / pcm.len() as f64).sqrt()
}

/// Queues a line (8 kHz) for playout at the call's rate, 20 ms per frame.
fn say(port: &MediaPort, line: &[i16], item: u32) {
    let mut rs = Resampler::new(SampleRate::Hz8000, port.rate);
    let n_in = SampleRate::Hz8000.frame_samples();
    let mut frame = vec![0i16; n_in];
    let mut out = vec![0i16; port.rate.frame_samples()];
    for chunk in line.chunks(n_in) {
        frame.fill(0);
        frame[..chunk.len()].copy_from_slice(chunk);
        if let Ok(n) = rs.process(&frame, &mut out) {
            port.downlink.push(AudioFrame::new(&out[..n], item, 20_000));
        }
    }
}
