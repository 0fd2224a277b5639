//! The bridge's I/O: one WebSocket session to the Realtime service, the call's
//! two audio rings, and the [`BridgeCore`] that decides what to do.
//!
//! Audio path per 20 ms: caller frame out of the uplink ring → (resample to
//! 24 kHz | G.711 encode) → `input_audio_buffer.append` text → WebSocket.
//! Audio delta → base64 decoded in place → 20 ms frames → (resample to the leg
//! rate | G.711 decode) → downlink ring → the leg's pacer. Nothing on this path
//! allocates except the WebSocket message itself (tungstenite takes owned
//! buffers).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tenex_media::SampleRate;
use tenex_media::g711::G711Law;
use tenex_media::pacer::ItemTag;
use tenex_media::realtime::scan::{self, Value};
use tenex_media::realtime::{AppendWriter, AudioFormat, DeltaDecoder, event_type, pcm16_from_le};
use tenex_media::resample::Resampler;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, http};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::core::{BridgeCore, LatencyKind, Output};
use super::events::BridgeEvent;
use super::server::{AUDIO_DELTA, ServerEvent};
use super::tools::{ToolCall, ToolError, ToolHost};
use crate::media::{AudioFrame, AudioRing, MediaCommand, MediaStats};
use crate::metrics::Metrics;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Where the Realtime service is.
#[derive(Debug, Clone)]
pub struct RealtimeEndpoint {
    /// `wss://api.openai.com/v1/realtime` or a simulator's `ws://.../v1/realtime`.
    pub url: String,
    /// Bearer key.
    pub api_key: String,
}

impl RealtimeEndpoint {
    /// From `TENEX_REALTIME_URL` and `OPENAI_API_KEY`.
    pub fn from_env() -> RealtimeEndpoint {
        RealtimeEndpoint {
            url: std::env::var("TENEX_REALTIME_URL")
                .unwrap_or_else(|_| "wss://api.openai.com/v1/realtime".into()),
            api_key: std::env::var("OPENAI_API_KEY").unwrap_or_default(),
        }
    }
}

/// The media side of a bridged call.
#[derive(Debug, Clone)]
pub struct MediaPort {
    /// Caller frames at `rate`.
    pub uplink: AudioRing,
    /// Agent frames at `rate`, tagged with their item.
    pub downlink: AudioRing,
    /// The leg's control queue (flush on barge-in).
    pub control: mpsc::Sender<MediaCommand>,
    /// The leg's counters (playout progress).
    pub stats: Arc<MediaStats>,
    /// PCM rate of the rings.
    pub rate: SampleRate,
    /// The G.711 law of the leg, when it is G.711 (allows passthrough).
    pub law: Option<G711Law>,
}

impl MediaPort {
    /// Whether agent audio is queued or playing.
    pub fn agent_playing(&self) -> bool {
        !self.downlink.is_empty() || MediaStats::get(&self.stats.playout_queued) > 0
    }

    /// Stops playout now; what was heard of the playing item.
    pub async fn flush(&self) -> Option<tenex_media::pacer::Flushed> {
        let (tx, rx) = oneshot::channel();
        self.control.send(MediaCommand::Flush(tx)).await.ok()?;
        tokio::time::timeout(Duration::from_millis(200), rx)
            .await
            .ok()?
            .ok()
    }
}

/// Where the bridge's conversation events and requests go.
pub trait BridgeSink: Send + Sync + std::fmt::Debug + 'static {
    /// A conversation event (transcript, tool call, verdict, ...).
    fn event(&self, event: BridgeEvent);
    /// The agent ended the call and its last words have played.
    fn hangup(&self);
}

/// Control for a running driver.
#[derive(Debug)]
pub enum DriverCommand {
    /// The call was answered.
    Answered {
        /// Placed by us (the agent always speaks first).
        outbound: bool,
    },
    /// Ask for the end-of-call summary; the driver stops once it arrives.
    Summarize,
    /// Close the session now.
    Stop,
}

/// Why a driver returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DriverExit {
    /// Stopped on request (or after the summary).
    Stopped,
    /// The session expired: connect a new one.
    Expired,
    /// The connection failed or dropped.
    Failed(String),
}

/// Connects to the service for `model`.
pub async fn connect(endpoint: &RealtimeEndpoint, model: &str) -> Result<Ws, String> {
    let sep = if endpoint.url.contains('?') { '&' } else { '?' };
    let url = format!("{}{sep}model={model}", endpoint.url);
    let mut req = url.into_client_request().map_err(|e| e.to_string())?;
    let auth = http::HeaderValue::from_str(&format!("Bearer {}", endpoint.api_key))
        .map_err(|e| e.to_string())?;
    req.headers_mut().insert(http::header::AUTHORIZATION, auth);
    let cfg = WebSocketConfig::default()
        .max_message_size(Some(64 << 20))
        .max_frame_size(Some(32 << 20));
    let connecting = tokio_tungstenite::connect_async_with_config(req, Some(cfg), true);
    let (ws, _) = tokio::time::timeout(Duration::from_secs(10), connecting)
        .await
        .map_err(|_| "connect timed out".to_owned())?
        .map_err(|e| e.to_string())?;
    Ok(ws)
}

/// Everything one driver run needs.
#[derive(Debug, Clone)]
pub struct DriverParts {
    /// Conversation state (survives reconnects).
    pub core: Arc<Mutex<BridgeCore>>,
    /// The call's audio.
    pub media: MediaPort,
    /// Events and hang-up requests.
    pub sink: Arc<dyn BridgeSink>,
    /// Data-backed tools.
    pub tools: Arc<dyn ToolHost>,
    /// Latency histograms and counters.
    pub metrics: Arc<Metrics>,
    /// Session audio format.
    pub format: AudioFormat,
}

struct Audio {
    writer: AppendWriter,
    decoder: DeltaDecoder,
    up: Resampler,
    conv: Down,
    pcm24: [i16; 960],
    g711: [u8; 960],
    /// Uplink ring drops already made up for with silence.
    uplink_dropped: u64,
}

/// 20 ms of silence at up to 48 kHz, sent in place of frames the uplink ring
/// dropped, so the service's audio clock stays the call's clock (transcript
/// times stay where the words were said).
const SILENCE: [i16; 960] = [0; 960];
/// Most dropped frames made up for at once (the ring's capacity).
const MAX_FILL: u64 = 50;

/// Downlink conversion state (apart from the decoder so both can be borrowed).
struct Down {
    resampler: Resampler,
    pcm24: [i16; 960],
    pcm_leg: [i16; 960],
}

/// Runs one session until it stops, expires or fails.
pub async fn run(
    parts: &DriverParts,
    mut ws: Ws,
    commands: &mut mpsc::Receiver<DriverCommand>,
) -> DriverExit {
    let format = parts.format;
    let rate = parts.media.rate;
    let mut audio = Audio {
        writer: AppendWriter::with_audio_capacity(format.frame_bytes()),
        decoder: DeltaDecoder::new(format.frame_bytes()),
        up: Resampler::new(rate, SampleRate::Hz24000),
        conv: Down {
            resampler: Resampler::new(SampleRate::Hz24000, rate),
            pcm24: [0; 960],
            pcm_leg: [0; 960],
        },
        pcm24: [0; 960],
        g711: [0; 960],
        uplink_dropped: parts.media.uplink.dropped(),
    };
    let (tool_tx, mut tool_rx) =
        mpsc::channel::<Vec<(ToolCall, Result<serde_json::Value, ToolError>)>>(4);
    let mut pending: Vec<Output> = Vec::with_capacity(16);
    let mut hangup_after_playout = false;
    let mut summarizing = false;
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    // The session's audio starts with the oldest frame still waiting, captured
    // that many frames ago (frames dropped before the session are not its audio).
    let waiting = Duration::from_millis(20 * parts.media.uplink.len() as u64);
    let now = Instant::now();
    lock(&parts.core).connected(now.checked_sub(waiting).unwrap_or(now), format);
    loop {
        if let Some(exit) = apply(
            parts,
            &mut ws,
            &mut audio,
            &mut pending,
            &tool_tx,
            &mut hangup_after_playout,
        )
        .await
        {
            return exit;
        }
        tokio::select! {
            msg = ws.next() => match msg {
                Some(Ok(Message::Text(text))) => {
                    let got_summary = on_text(parts, &mut audio, text.as_str());
                    if summarizing && got_summary {
                        drain(parts, &mut pending);
                        for out in pending.drain(..) {
                            if let Output::Event(ev) = out {
                                parts.sink.event(ev);
                            }
                        }
                        let _ = ws.close(None).await;
                        return DriverExit::Stopped;
                    }
                }
                Some(Ok(Message::Close(_))) | None => return DriverExit::Failed("the service closed the connection".into()),
                Some(Ok(_)) => {}
                Some(Err(e)) => return DriverExit::Failed(e.to_string()),
            },
            () = parts.media.uplink.ready() => {
                if let Err(e) = uplink(parts, &mut ws, &mut audio).await {
                    return DriverExit::Failed(e);
                }
            }
            cmd = commands.recv() => match cmd {
                Some(DriverCommand::Answered { outbound }) => lock(&parts.core).answered(Instant::now(), outbound),
                Some(DriverCommand::Summarize) => {
                    summarizing = true;
                    lock(&parts.core).request_summary();
                }
                Some(DriverCommand::Stop) | None => {
                    let _ = ws.close(None).await;
                    return DriverExit::Stopped;
                }
            },
            Some(results) = tool_rx.recv() => lock(&parts.core).tool_outputs(results),
            _ = tick.tick(), if hangup_after_playout => {
                if !parts.media.agent_playing() {
                    hangup_after_playout = false;
                    parts.sink.hangup();
                }
            }
        }
        drain(parts, &mut pending);
    }
}

fn lock(core: &Mutex<BridgeCore>) -> std::sync::MutexGuard<'_, BridgeCore> {
    core.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn drain(parts: &DriverParts, pending: &mut Vec<Output>) {
    let mut core = lock(&parts.core);
    while let Some(o) = core.poll_output() {
        pending.push(o);
    }
}

async fn apply(
    parts: &DriverParts,
    ws: &mut Ws,
    audio: &mut Audio,
    pending: &mut Vec<Output>,
    tool_tx: &mpsc::Sender<Vec<(ToolCall, Result<serde_json::Value, ToolError>)>>,
    hangup_after_playout: &mut bool,
) -> Option<DriverExit> {
    drain(parts, pending);
    let mut i = 0;
    while i < pending.len() {
        let out = std::mem::replace(&mut pending[i], Output::HangupAfterPlayout);
        i += 1;
        match out {
            Output::Send(text) => {
                if let Err(e) = ws.send(Message::text(text)).await {
                    pending.clear();
                    return Some(DriverExit::Failed(e.to_string()));
                }
            }
            Output::FlushPlayout => {
                audio.decoder.frames().clear();
                audio.conv.resampler.reset();
                let flushed = parts.media.flush().await;
                parts.media.downlink.clear();
                let mut core = lock(&parts.core);
                if let Some(f) = flushed {
                    core.flushed(Instant::now(), f);
                }
                while let Some(o) = core.poll_output() {
                    pending.push(o);
                }
            }
            Output::RunTools(calls) => {
                let tools = parts.tools.clone();
                let tx = tool_tx.clone();
                tokio::spawn(async move {
                    let mut results = Vec::with_capacity(calls.len());
                    for call in calls {
                        let result =
                            match serde_json::from_str::<serde_json::Value>(&call.arguments) {
                                Ok(args) => {
                                    match tokio::time::timeout(
                                        Duration::from_secs(10),
                                        tools.call(&call.name, &args),
                                    )
                                    .await
                                    {
                                        Ok(r) => r,
                                        Err(_) => {
                                            Err(ToolError::Failed("the tool timed out".into()))
                                        }
                                    }
                                }
                                Err(e) => Err(ToolError::InvalidArguments(e.to_string())),
                            };
                        results.push((call, result));
                    }
                    let _ = tx.send(results).await;
                });
            }
            Output::Event(ev) => {
                if let BridgeEvent::ServiceError { code, .. } = &ev {
                    parts.metrics.count_error(code);
                }
                parts.sink.event(ev);
            }
            Output::Latency(kind, d) => match kind {
                LatencyKind::Greeting => parts.metrics.greeting.observe(d),
                LatencyKind::EndOfTurn => parts.metrics.end_of_turn.observe(d),
                LatencyKind::BargeInStop => parts.metrics.barge_in_stop.observe(d),
            },
            Output::HangupAfterPlayout => *hangup_after_playout = true,
            Output::Reconnect => {
                pending.clear();
                return Some(DriverExit::Expired);
            }
        }
    }
    pending.clear();
    None
}

async fn uplink(parts: &DriverParts, ws: &mut Ws, audio: &mut Audio) -> Result<(), String> {
    while let Some(frame) = parts.media.uplink.pop() {
        let pcm = frame.pcm();
        let dropped = parts.media.uplink.dropped();
        let lost = dropped.saturating_sub(audio.uplink_dropped).min(MAX_FILL);
        audio.uplink_dropped = dropped;
        for _ in 0..lost {
            let silence = &SILENCE[..pcm.len().min(SILENCE.len())];
            if let Some(text) = encode_up(parts, audio, silence) {
                ws.send(Message::text(text))
                    .await
                    .map_err(|e| e.to_string())?;
            }
        }
        let playing = parts.media.agent_playing();
        lock(&parts.core).caller_frame(Instant::now(), pcm, playing);
        let Some(text) = encode_up(parts, audio, pcm) else {
            continue;
        };
        ws.send(Message::text(text))
            .await
            .map_err(|e| e.to_string())?;
        if let Some(at) = frame.at {
            parts.metrics.uplink.observe(at.elapsed());
        }
    }
    Ok(())
}

/// One caller frame as `input_audio_buffer.append` text in the session's format.
fn encode_up<'a>(parts: &DriverParts, audio: &'a mut Audio, pcm: &[i16]) -> Option<&'a str> {
    match parts.format.law() {
        Some(law) => {
            let n = pcm.len().min(audio.g711.len());
            law.encode(&pcm[..n], &mut audio.g711[..n]);
            Some(audio.writer.g711(&audio.g711[..n]))
        }
        None => match audio.up.process(pcm, &mut audio.pcm24) {
            Ok(n) => Some(audio.writer.pcm16(&audio.pcm24[..n])),
            Err(_) => None,
        },
    }
}

/// Handles one text frame; returns whether it was the summary text.
fn on_text(parts: &DriverParts, audio: &mut Audio, text: &str) -> bool {
    let received = Instant::now();
    if let Ok(Some(AUDIO_DELTA)) = event_type(text) {
        on_delta(parts, audio, text, received);
        return false;
    }
    let ev = match ServerEvent::parse(text) {
        Ok(ev) => ev,
        Err(e) => {
            parts
                .metrics
                .bad_events
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tracing::debug!(error = %e, "unparseable Realtime event");
            return false;
        }
    };
    if let ServerEvent::OutputAudioDone {
        item_id,
        response_id,
    } = &ev
    {
        pad_tail(parts, audio, response_id, item_id);
    }
    let summary = matches!(ev, ServerEvent::OutputTextDone { .. });
    let playing = parts.media.agent_playing();
    lock(&parts.core).handle_event(received, ev, playing);
    summary
}

fn push_frame(parts: &DriverParts, down: &mut Down, bytes: &[u8], tag: ItemTag, audio_us: u32) {
    let n = match parts.format.law() {
        Some(law) => {
            let n = bytes.len().min(down.pcm_leg.len());
            law.decode(&bytes[..n], &mut down.pcm_leg[..n]);
            n
        }
        None => {
            let samples = (bytes.len() / 2).min(down.pcm24.len());
            pcm16_from_le(bytes, &mut down.pcm24[..samples]);
            match down
                .resampler
                .process(&down.pcm24[..samples], &mut down.pcm_leg)
            {
                Ok(n) => n,
                Err(_) => return,
            }
        }
    };
    parts
        .media
        .downlink
        .push(AudioFrame::new(&down.pcm_leg[..n], tag.0, audio_us));
}

fn on_delta(parts: &DriverParts, audio: &mut Audio, text: &str, received: Instant) {
    let mut response_id = "";
    let mut item_id = "";
    if scan::scan_object(text, |k, v| match (k.raw, v) {
        ("response_id", Value::Str(s)) if !s.escaped => response_id = s.raw,
        ("item_id", Value::Str(s)) if !s.escaped => item_id = s.raw,
        _ => {}
    })
    .is_err()
    {
        parts
            .metrics
            .bad_events
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        return;
    }
    let tag = lock(&parts.core).audio_delta(received, response_id, item_id);
    let Some(tag) = tag else { return };
    let mut frames = 0u32;
    let conv = &mut audio.conv;
    let result = audio.decoder.decode(text, &mut |bytes: &[u8]| {
        push_frame(parts, conv, bytes, tag, 20_000);
        frames += 1;
    });
    if result.is_err() {
        parts
            .metrics
            .bad_events
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    if frames > 0 {
        lock(&parts.core).frames_queued(received, item_id, frames);
        parts.metrics.downlink.observe(received.elapsed());
    }
}

fn pad_tail(parts: &DriverParts, audio: &mut Audio, response_id: &str, item_id: &str) {
    let pending = audio.decoder.frames().pending();
    if pending == 0 {
        return;
    }
    let tag = lock(&parts.core).audio_delta(Instant::now(), response_id, item_id);
    let Some(tag) = tag else {
        audio.decoder.frames().clear();
        return;
    };
    let silence = match parts.format {
        AudioFormat::Pcm16 => 0,
        AudioFormat::Pcmu => 0xFF,
        AudioFormat::Pcma => 0xD5,
    };
    let audio_us = parts.format.duration_us(pending);
    let conv = &mut audio.conv;
    let emitted = audio
        .decoder
        .frames()
        .flush_padded(silence, &mut |bytes: &[u8]| {
            push_frame(parts, conv, bytes, tag, audio_us);
        });
    if emitted {
        lock(&parts.core).frames_queued(Instant::now(), item_id, 1);
    }
}
