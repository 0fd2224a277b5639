//! The bridge's conversation logic, sans IO: server events, playout progress and
//! tool results in; client events to send and actions for the driver out. It
//! reads no clock (`now` is a parameter), so barge-in, tool batching, the
//! greeting and reconnection are tested as exact event sequences.
//!
//! Drive contract: feed every non-audio server event to [`BridgeCore::handle_event`],
//! ask [`BridgeCore::audio_delta`] before decoding each audio delta (it says
//! whether to play it and under which tag), report queued frames with
//! [`BridgeCore::frames_queued`], feed caller frames to [`BridgeCore::caller_frame`],
//! and after every call drain [`BridgeCore::poll_output`] until `None`.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use tenex_media::SampleRate;
use tenex_media::pacer::{Flushed, ItemTag};
use tenex_media::vad::{EnergyVad, VadConfig, VadEvent};

use super::agent::{AgentConfig, TurnMode};
use super::client::{ClientEvent, Item, ResponseParams};
use super::events::{BridgeEvent, CallUsage, Segment, Speaker};
use super::server::{ErrorBody, ServerEvent};
use super::tools::{ToolCall, ToolError, Verdict};

/// Responses remembered as cancelled (late deltas of older ones cannot arrive).
const CANCELLED_MEMORY: usize = 16;

/// What the driver must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Send this client event.
    Send(String),
    /// Stop playout now and drop what is queued; answer with [`BridgeCore::flushed`].
    FlushPlayout,
    /// Run these data-backed tools; answer with [`BridgeCore::tool_outputs`].
    RunTools(Vec<ToolCall>),
    /// Record this conversation event.
    Event(BridgeEvent),
    /// A latency sample.
    Latency(LatencyKind, Duration),
    /// Hang up once the agent audio already queued has played.
    HangupAfterPlayout,
    /// The session is over (expired): connect a new one, seeded with the conversation.
    Reconnect,
}

/// Which latency a sample measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LatencyKind {
    /// Answer → first agent audio.
    Greeting,
    /// `speech_stopped` → first audio of the response.
    EndOfTurn,
    /// Barge-in decided → playout stopped.
    BargeInStop,
}

impl LatencyKind {
    /// `greeting`, `end_of_turn`, `barge_in_stop`.
    pub fn as_str(self) -> &'static str {
        match self {
            LatencyKind::Greeting => "greeting",
            LatencyKind::EndOfTurn => "end_of_turn",
            LatencyKind::BargeInStop => "barge_in_stop",
        }
    }

    /// The kind named `s` (see [`LatencyKind::as_str`]).
    pub fn parse(s: &str) -> Option<LatencyKind> {
        [
            LatencyKind::Greeting,
            LatencyKind::EndOfTurn,
            LatencyKind::BargeInStop,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

#[derive(Debug, Clone)]
enum Said {
    User(String),
    Assistant(String),
    Call {
        call_id: String,
        name: String,
        arguments: String,
    },
    Output {
        call_id: String,
        output: String,
    },
}

#[derive(Debug, Default, Clone, Copy)]
struct UserTiming {
    start_ms: u64,
    end_ms: Option<u64>,
}

/// The conversation state of one call's bridge.
#[derive(Debug)]
pub struct BridgeCore {
    agent: AgentConfig,
    gate: bool,
    vad: Option<EnergyVad>,
    connected: bool,
    answered_at: Option<Instant>,
    greeting_pending: bool,
    greeting_clock: Option<Instant>,
    turn_clock: Option<Instant>,
    barge_clock: Option<Instant>,
    // Responses.
    active: Option<String>,
    cancelled: VecDeque<String>,
    want_response: bool,
    first_audio_seen: Option<String>,
    calls: Vec<ToolCall>,
    tools_running: Vec<ToolCall>,
    outputs: Vec<(ToolCall, String)>,
    ending: bool,
    summary_pending: bool,
    // Items and playout.
    tags: HashMap<String, u32>,
    tag_items: HashMap<u32, String>,
    next_tag: u32,
    playout_end: Duration,
    item_play: HashMap<String, (Duration, Duration)>,
    playing_frames: u64,
    barged_since_commit: bool,
    // Transcript and history.
    order: Vec<String>,
    said: HashMap<String, Said>,
    user_timing: HashMap<String, UserTiming>,
    session_offset_ms: u64,
    input_ms: u64,
    /// Usage so far, all sessions.
    usage: CallUsage,
    out: VecDeque<Output>,
}

impl BridgeCore {
    /// A bridge for `agent` whose caller audio arrives at `caller_rate`.
    pub fn new(agent: AgentConfig, caller_rate: SampleRate) -> BridgeCore {
        let gate = agent.bridge_gates_barge_in();
        let vad = gate
            .then(|| {
                let threshold = match agent.turn {
                    TurnMode::ServerVad { threshold, .. } => threshold,
                    TurnMode::SemanticVad { .. } => 0.5,
                };
                EnergyVad::new(
                    caller_rate,
                    VadConfig {
                        threshold,
                        min_speech_ms: agent.min_barge_in_ms,
                        ..VadConfig::default()
                    },
                )
                .ok()
            })
            .flatten();
        BridgeCore {
            gate,
            vad,
            connected: false,
            answered_at: None,
            greeting_pending: false,
            greeting_clock: None,
            turn_clock: None,
            barge_clock: None,
            active: None,
            cancelled: VecDeque::new(),
            want_response: false,
            first_audio_seen: None,
            calls: Vec::new(),
            tools_running: Vec::new(),
            outputs: Vec::new(),
            ending: false,
            summary_pending: false,
            tags: HashMap::new(),
            tag_items: HashMap::new(),
            next_tag: 1,
            playout_end: Duration::ZERO,
            item_play: HashMap::new(),
            playing_frames: 0,
            barged_since_commit: false,
            order: Vec::new(),
            said: HashMap::new(),
            user_timing: HashMap::new(),
            session_offset_ms: 0,
            input_ms: 0,
            usage: CallUsage::default(),
            out: VecDeque::new(),
            agent,
        }
    }

    /// The next action, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// Whether a response is being generated.
    pub fn response_active(&self) -> bool {
        self.active.is_some()
    }

    /// Whether the agent has asked to end the call.
    pub fn is_ending(&self) -> bool {
        self.ending
    }

    fn send(&mut self, ev: ClientEvent) {
        self.out.push_back(Output::Send(ev.to_json()));
    }

    fn emit(&mut self, ev: BridgeEvent) {
        self.out.push_back(Output::Event(ev));
    }

    /// A latency sample: for the node's histograms and the call's record.
    fn latency(&mut self, kind: LatencyKind, d: Duration) {
        self.out.push_back(Output::Latency(kind, d));
        self.emit(BridgeEvent::Latency {
            kind,
            ms: u32::try_from(d.as_millis()).unwrap_or(u32::MAX),
        });
    }

    fn call_ms(&self, now: Instant) -> u64 {
        self.answered_at
            .map_or(0, |a| now.saturating_duration_since(a).as_millis() as u64)
    }

    /// A (new) WebSocket session is open: configure it, re-seed what was said, and
    /// resume where the conversation was.
    pub fn connected(&mut self, now: Instant, format: tenex_media::realtime::AudioFormat) {
        self.connected = true;
        self.active = None;
        self.calls.clear();
        self.session_offset_ms = self.call_ms(now);
        self.input_ms = 0;
        self.send(ClientEvent::SessionUpdate {
            session: Box::new(self.agent.session(format)),
        });
        let seed: Vec<Item> = self
            .order
            .iter()
            .filter_map(|id| self.said.get(id))
            .map(|s| match s {
                Said::User(t) => Item::user_text(t),
                Said::Assistant(t) => Item::assistant_text(t),
                Said::Call {
                    call_id,
                    name,
                    arguments,
                } => Item::FunctionCall {
                    call_id: call_id.clone(),
                    name: name.clone(),
                    arguments: arguments.clone(),
                },
                Said::Output { call_id, output } => Item::FunctionCallOutput {
                    call_id: call_id.clone(),
                    output: output.clone(),
                },
            })
            .collect();
        for item in seed {
            self.send(ClientEvent::ItemCreate { item });
        }
        if self.summary_pending {
            self.summary_pending = false;
            self.request_summary();
        } else if self.greeting_pending || self.want_response {
            self.create_response();
        }
    }

    /// The WebSocket closed.
    pub fn disconnected(&mut self) {
        self.connected = false;
        if self.active.take().is_some() && !self.ending {
            // The response died with the session: ask again on the next one.
            self.want_response = true;
        }
    }

    /// The call was answered: the agent speaks first if configured.
    pub fn answered(&mut self, now: Instant, outbound: bool) {
        self.answered_at = Some(now);
        if self.agent.speaks_first || outbound {
            self.greeting_pending = true;
            self.greeting_clock = Some(now);
            if self.connected {
                self.create_response();
            }
        }
    }

    fn create_response(&mut self) {
        if !self.connected || self.ending {
            return;
        }
        if self.active.is_some() {
            self.want_response = true;
            return;
        }
        self.want_response = false;
        self.greeting_pending = false;
        // Marked active at once: a second create before `response.created` would be
        // refused with `conversation_already_has_active_response`.
        self.active = Some(String::new());
        self.send(ClientEvent::ResponseCreate { response: None });
    }

    /// Asks for the end-of-call summary (text only, outside the conversation).
    pub fn request_summary(&mut self) {
        if !self.connected {
            self.summary_pending = true;
            return;
        }
        self.active = Some(String::new());
        let instructions = self.agent.summary_instructions.clone();
        self.send(ClientEvent::ResponseCreate {
            response: Some(ResponseParams::side_text(&instructions)),
        });
    }

    fn cancel_active(&mut self, send_cancel: bool) {
        if let Some(id) = self.active.clone() {
            if send_cancel {
                self.send(ClientEvent::ResponseCancel {});
            }
            if !id.is_empty() {
                self.mark_cancelled(id);
            }
        }
    }

    fn mark_cancelled(&mut self, id: String) {
        if self.cancelled.len() == CANCELLED_MEMORY {
            self.cancelled.pop_front();
        }
        self.cancelled.push_back(id);
    }

    fn barge_in(&mut self, now: Instant, agent_playing: bool, send_cancel: bool) {
        self.cancel_active(send_cancel);
        self.barged_since_commit = true;
        if agent_playing {
            self.barge_clock = Some(now);
            self.out.push_back(Output::FlushPlayout);
        }
    }

    /// One 20 ms frame of caller audio (the bridge's own barge-in gate listens).
    pub fn caller_frame(&mut self, now: Instant, pcm: &[i16], agent_playing: bool) {
        self.input_ms += 20;
        self.usage.audio_in_ms += 20;
        let Some(vad) = self.vad.as_mut() else { return };
        if vad.handle_frame(pcm).is_err() {
            return;
        }
        let mut confirmed = false;
        while let Some(ev) = vad.poll_event() {
            confirmed |= matches!(ev, VadEvent::SpeechConfirmed { .. });
        }
        if confirmed && agent_playing && self.agent.interrupt_response {
            self.barge_in(now, true, true);
        }
    }

    /// The leg dropped queued agent audio after [`Output::FlushPlayout`].
    pub fn flushed(&mut self, now: Instant, flushed: Flushed) {
        if let Some(started) = self.barge_clock.take() {
            self.latency(LatencyKind::BargeInStop, now - started);
        }
        self.playout_end = Duration::ZERO;
        let Some(progress) = flushed.item else { return };
        let Some(item_id) = self.tag_items.get(&progress.item.0).cloned() else {
            return;
        };
        if let Some((_, len)) = self.item_play.get_mut(&item_id) {
            *len = Duration::from_millis(u64::from(progress.played_ms)).min(*len);
        }
        self.send(ClientEvent::ItemTruncate {
            item_id: item_id.clone(),
            content_index: 0,
            audio_end_ms: progress.played_ms,
        });
        self.emit(BridgeEvent::BargeIn {
            item_id,
            played_ms: progress.played_ms,
        });
    }

    /// Whether to play an audio delta, and under which tag. `None`: drop it (its
    /// response was cancelled).
    pub fn audio_delta(
        &mut self,
        now: Instant,
        response_id: &str,
        item_id: &str,
    ) -> Option<ItemTag> {
        if self.cancelled.iter().any(|c| c == response_id) {
            return None;
        }
        if self.first_audio_seen.as_deref() != Some(response_id) {
            self.first_audio_seen = Some(response_id.to_owned());
            if let Some(t) = self.greeting_clock.take() {
                self.latency(LatencyKind::Greeting, now - t);
            } else if let Some(t) = self.turn_clock.take() {
                self.latency(LatencyKind::EndOfTurn, now - t);
            }
        }
        Some(ItemTag(self.tag(item_id)))
    }

    fn tag(&mut self, item_id: &str) -> u32 {
        if let Some(t) = self.tags.get(item_id) {
            return *t;
        }
        let t = self.next_tag;
        self.next_tag = self.next_tag.wrapping_add(1).max(1);
        self.tags.insert(item_id.to_owned(), t);
        self.tag_items.insert(t, item_id.to_owned());
        t
    }

    /// `frames` of 20 ms for `item_id` went into the playout ring.
    pub fn frames_queued(&mut self, now: Instant, item_id: &str, frames: u32) {
        let now_ms = Duration::from_millis(self.call_ms(now));
        let add = Duration::from_millis(20 * u64::from(frames));
        let start = self.playout_end.max(now_ms);
        let entry = self
            .item_play
            .entry(item_id.to_owned())
            .or_insert((start, Duration::ZERO));
        entry.1 += add;
        self.usage.audio_out_ms += add.as_millis() as u64;
        self.playout_end = start + add;
        self.playing_frames += u64::from(frames);
    }

    /// Outputs for the data-backed tools of the last batch.
    pub fn tool_outputs(&mut self, results: Vec<(ToolCall, Result<serde_json::Value, ToolError>)>) {
        for (call, result) in results {
            let (output, failed) = match result {
                Ok(v) => (v.to_string(), false),
                Err(e) => (e.to_output(), true),
            };
            self.tool_done(call, output, failed);
        }
        self.tools_running.clear();
        self.finish_tool_batch();
    }

    fn tool_done(&mut self, call: ToolCall, output: String, failed: bool) {
        self.emit(BridgeEvent::ToolCall {
            name: call.name.clone(),
            arguments: call.arguments.clone(),
            output: output.clone(),
            failed,
        });
        self.outputs.push((call, output));
    }

    fn finish_tool_batch(&mut self) {
        if !self.tools_running.is_empty() || self.outputs.is_empty() {
            return;
        }
        for (call, output) in std::mem::take(&mut self.outputs) {
            let key = format!("out:{}", call.call_id);
            self.order.push(key.clone());
            self.said.insert(
                key,
                Said::Output {
                    call_id: call.call_id.clone(),
                    output: output.clone(),
                },
            );
            self.send(ClientEvent::ItemCreate {
                item: Item::FunctionCallOutput {
                    call_id: call.call_id,
                    output,
                },
            });
        }
        if self.ending {
            self.out.push_back(Output::HangupAfterPlayout);
        } else {
            self.create_response();
        }
    }

    fn run_tools(&mut self) {
        let calls = std::mem::take(&mut self.calls);
        let mut host = Vec::new();
        for call in calls {
            match call.name.as_str() {
                "end_call" => {
                    let reason = serde_json::from_str::<serde_json::Value>(&call.arguments)
                        .ok()
                        .and_then(|v| v.get("reason").and_then(|r| r.as_str()).map(String::from))
                        .unwrap_or_default();
                    self.ending = true;
                    self.emit(BridgeEvent::EndCall { reason });
                    self.tool_done(call, r#"{"ok":true}"#.into(), false);
                }
                "submit_qualification" => match Verdict::from_arguments(&call.arguments) {
                    Ok(v) => {
                        self.emit(BridgeEvent::Verdict(v));
                        self.tool_done(call, r#"{"ok":true}"#.into(), false);
                    }
                    Err(e) => self.tool_done(call, e.to_output(), true),
                },
                name if self.agent.tools.iter().any(|t| t == name) => host.push(call),
                name => {
                    let e = ToolError::Unknown(name.to_owned());
                    self.tool_done(call, e.to_output(), true);
                }
            }
        }
        if host.is_empty() {
            self.finish_tool_batch();
        } else {
            self.tools_running = host.clone();
            self.out.push_back(Output::RunTools(host));
        }
    }

    /// One parsed server event.
    pub fn handle_event(&mut self, now: Instant, ev: ServerEvent, agent_playing: bool) {
        match ev {
            ServerEvent::SessionCreated {}
            | ServerEvent::SessionUpdated {}
            | ServerEvent::Other => {}
            ServerEvent::SpeechStarted {
                audio_start_ms,
                item_id,
            } => {
                self.user_timing.insert(
                    item_id,
                    UserTiming {
                        start_ms: self.session_offset_ms + audio_start_ms,
                        end_ms: None,
                    },
                );
                if !self.gate && self.agent.interrupt_response {
                    // The service cancels its response itself; playout is ours to stop.
                    self.barge_in(now, agent_playing, false);
                }
            }
            ServerEvent::SpeechStopped {
                audio_end_ms,
                item_id,
            } => {
                self.turn_clock = Some(now);
                let end = self.session_offset_ms + audio_end_ms;
                self.user_timing.entry(item_id).or_default().end_ms = Some(end);
            }
            ServerEvent::Committed { item_id } => {
                if !self.order.contains(&item_id) {
                    self.order.push(item_id);
                }
                if self.gate {
                    let backchannel = agent_playing && !self.barged_since_commit;
                    if backchannel {
                        self.emit(BridgeEvent::Backchannel);
                    } else {
                        self.create_response();
                    }
                }
                self.barged_since_commit = false;
            }
            ServerEvent::InputTranscriptDelta { item_id, delta } => {
                self.emit(BridgeEvent::TranscriptDelta {
                    speaker: Speaker::Caller,
                    item_id,
                    delta,
                });
            }
            ServerEvent::InputTranscriptDone {
                item_id,
                transcript,
            } => {
                let t = self.user_timing.get(&item_id).copied().unwrap_or_default();
                if !self.order.contains(&item_id) {
                    self.order.push(item_id.clone());
                }
                self.said
                    .insert(item_id.clone(), Said::User(transcript.clone()));
                self.emit(BridgeEvent::Segment(Segment {
                    speaker: Speaker::Caller,
                    item_id,
                    text: transcript,
                    start_ms: t.start_ms,
                    end_ms: t.end_ms.unwrap_or(t.start_ms),
                }));
            }
            ServerEvent::InputTranscriptFailed { .. } => {}
            ServerEvent::ResponseCreated { response } => {
                self.active = Some(response.id);
            }
            ServerEvent::OutputItemAdded { item, .. } => {
                if !self.order.contains(&item.id) {
                    self.order.push(item.id);
                }
            }
            ServerEvent::OutputAudioDone { .. } => {}
            ServerEvent::OutputTranscriptDelta { item_id, delta, .. } => {
                self.emit(BridgeEvent::TranscriptDelta {
                    speaker: Speaker::Agent,
                    item_id,
                    delta,
                });
            }
            ServerEvent::OutputTranscriptDone {
                item_id,
                transcript,
                ..
            } => {
                let (start, len) = self
                    .item_play
                    .get(&item_id)
                    .copied()
                    .unwrap_or((Duration::from_millis(self.call_ms(now)), Duration::ZERO));
                self.said
                    .insert(item_id.clone(), Said::Assistant(transcript.clone()));
                self.emit(BridgeEvent::Segment(Segment {
                    speaker: Speaker::Agent,
                    item_id,
                    text: transcript,
                    start_ms: start.as_millis() as u64,
                    end_ms: (start + len).as_millis() as u64,
                }));
            }
            ServerEvent::OutputTextDone { text, .. } => {
                self.emit(BridgeEvent::Summary(text));
            }
            ServerEvent::FunctionCallDone {
                item_id,
                call_id,
                name,
                arguments,
                ..
            } => {
                let key = if item_id.is_empty() {
                    format!("call:{call_id}")
                } else {
                    item_id
                };
                if !self.order.contains(&key) {
                    self.order.push(key.clone());
                }
                self.said.insert(
                    key,
                    Said::Call {
                        call_id: call_id.clone(),
                        name: name.clone(),
                        arguments: arguments.clone(),
                    },
                );
                self.calls.push(ToolCall {
                    name,
                    call_id,
                    arguments,
                });
            }
            ServerEvent::ResponseDone { response } => {
                if let Some(u) = response.usage {
                    self.usage.input_tokens += u.input_tokens;
                    self.usage.output_tokens += u.output_tokens;
                }
                self.emit(BridgeEvent::Usage(self.usage));
                if self.active.as_deref() == Some(response.id.as_str())
                    || self.active.as_deref() == Some("")
                {
                    self.active = None;
                }
                if response.status == "completed" && !self.calls.is_empty() {
                    self.run_tools();
                } else {
                    self.calls.clear();
                    if self.want_response {
                        self.create_response();
                    }
                }
            }
            ServerEvent::Truncated { .. } => {}
            ServerEvent::Error { error } => self.on_error(error),
        }
    }

    fn on_error(&mut self, error: ErrorBody) {
        let code = error.code.clone().unwrap_or_else(|| error.kind.clone());
        // Reported first: a reconnect drops what is queued after it.
        self.emit(BridgeEvent::ServiceError {
            code: code.clone(),
            message: error.message,
        });
        match code.as_str() {
            "session_expired" => self.out.push_back(Output::Reconnect),
            "conversation_already_has_active_response" => {
                // Ours was refused: ask again when the running one is done.
                self.want_response = true;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tenex_media::pacer::ItemProgress;
    use tenex_media::realtime::AudioFormat;

    fn sends(core: &mut BridgeCore) -> Vec<Output> {
        std::iter::from_fn(|| core.poll_output()).collect()
    }

    fn types(outs: &[Output]) -> Vec<String> {
        outs.iter()
            .filter_map(|o| match o {
                Output::Send(t) => serde_json::from_str::<serde_json::Value>(t)
                    .ok()
                    .map(|v| v["type"].as_str().unwrap_or("").to_owned()),
                Output::FlushPlayout => Some("FLUSH".into()),
                _ => None,
            })
            .collect()
    }

    fn ev(text: &str) -> ServerEvent {
        ServerEvent::parse(text).expect("event")
    }

    #[test]
    fn service_barge_in_flushes_truncates_at_what_was_heard_and_drops_late_deltas() {
        let agent = AgentConfig {
            min_barge_in_ms: 0,
            ..AgentConfig::default()
        };
        let mut core = BridgeCore::new(agent, SampleRate::Hz8000);
        let t0 = Instant::now();
        core.connected(t0, AudioFormat::Pcm16);
        core.answered(t0, false);
        assert_eq!(
            types(&sends(&mut core)),
            ["session.update", "response.create"]
        );
        core.handle_event(
            t0,
            ev(r#"{"type":"response.created","response":{"id":"r1"}}"#),
            false,
        );
        let tag = core.audio_delta(t0, "r1", "i1").expect("plays");
        core.frames_queued(t0, "i1", 50);
        core.handle_event(
            t0,
            ev(r#"{"type":"input_audio_buffer.speech_started","audio_start_ms":900,"item_id":"u1"}"#),
            true,
        );
        assert_eq!(
            types(&sends(&mut core)),
            ["FLUSH"],
            "no cancel: the service cancels itself"
        );
        core.flushed(
            t0,
            Flushed {
                dropped_frames: 30,
                item: Some(ItemProgress {
                    item: tag,
                    played_ms: 400,
                }),
            },
        );
        let outs = sends(&mut core);
        let truncate = outs
            .iter()
            .find_map(|o| match o {
                Output::Send(t) if t.contains("truncate") => Some(t.clone()),
                _ => None,
            })
            .expect("truncate sent");
        let v: serde_json::Value = serde_json::from_str(&truncate).expect("json");
        assert_eq!(v["item_id"], "i1");
        assert_eq!(v["audio_end_ms"], 400);
        assert_eq!(v["content_index"], 0);
        assert!(outs.iter().any(|o| matches!(
            o,
            Output::Event(BridgeEvent::BargeIn { played_ms: 400, .. })
        )));
        assert_eq!(
            core.audio_delta(t0, "r1", "i1"),
            None,
            "late deltas dropped"
        );
    }

    #[test]
    fn gate_ignores_backchannels_and_interrupts_real_speech() {
        let mut core = BridgeCore::new(AgentConfig::default(), SampleRate::Hz8000);
        let t0 = Instant::now();
        core.connected(t0, AudioFormat::Pcm16);
        core.answered(t0, false);
        sends(&mut core);
        core.handle_event(
            t0,
            ev(r#"{"type":"response.created","response":{"id":"r1"}}"#),
            false,
        );
        core.audio_delta(t0, "r1", "i1");
        let silence = [0i16; 160];
        let loud: Vec<i16> = (0..160)
            .map(|i| if i % 16 < 8 { 8000 } else { -8000 })
            .collect();
        for _ in 0..25 {
            core.caller_frame(t0, &silence, true);
        }
        // 200 ms of speech: a backchannel.
        for _ in 0..10 {
            core.caller_frame(t0, &loud, true);
        }
        for _ in 0..40 {
            core.caller_frame(t0, &silence, true);
        }
        assert!(
            types(&sends(&mut core)).is_empty(),
            "a backchannel does not interrupt"
        );
        core.handle_event(
            t0,
            ev(r#"{"type":"input_audio_buffer.committed","item_id":"u1"}"#),
            true,
        );
        assert!(
            sends(&mut core)
                .iter()
                .any(|o| matches!(o, Output::Event(BridgeEvent::Backchannel)))
        );
        // 400 ms of speech: a real interruption.
        for _ in 0..20 {
            core.caller_frame(t0, &loud, true);
        }
        assert_eq!(types(&sends(&mut core)), ["response.cancel", "FLUSH"]);
    }

    /// speech_started, speech_stopped and committed for one caller turn.
    fn caller_turn(core: &mut BridgeCore, now: Instant, item: &str, start: u64, end: u64) {
        for e in [
            format!(
                r#"{{"type":"input_audio_buffer.speech_started","audio_start_ms":{start},"item_id":"{item}"}}"#
            ),
            format!(
                r#"{{"type":"input_audio_buffer.speech_stopped","audio_end_ms":{end},"item_id":"{item}"}}"#
            ),
            format!(r#"{{"type":"input_audio_buffer.committed","item_id":"{item}"}}"#),
        ] {
            core.handle_event(now, ev(&e), false);
        }
    }

    #[test]
    fn out_of_order_transcriptions_land_where_they_were_spoken() {
        use crate::call::MemoryStore;
        use crate::sip::CallId;
        let mut core = BridgeCore::new(
            AgentConfig {
                speaks_first: false,
                ..AgentConfig::default()
            },
            SampleRate::Hz8000,
        );
        let t0 = Instant::now();
        core.answered(t0, false);
        core.connected(t0, AudioFormat::Pcm16);
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        caller_turn(&mut core, at(1800), "u1", 1000, 1800);
        core.handle_event(
            at(2000),
            ev(r#"{"type":"response.created","response":{"id":"r1"}}"#),
            false,
        );
        core.handle_event(at(2000), ev(r#"{"type":"response.output_item.added","response_id":"r1","output_index":0,"item":{"id":"a1","type":"message","role":"assistant"}}"#), false);
        core.handle_event(at(2000), ev(r#"{"type":"response.output_audio_transcript.done","response_id":"r1","item_id":"a1","output_index":0,"content_index":0,"transcript":"reply"}"#), false);
        core.handle_event(at(2100), ev(r#"{"type":"response.done","response":{"id":"r1","status":"completed","output":[]}}"#), false);
        caller_turn(&mut core, at(3800), "u2", 3000, 3800);
        // The service finishes transcribing the second turn before the first.
        core.handle_event(at(4000), ev(r#"{"type":"conversation.item.input_audio_transcription.completed","item_id":"u2","content_index":0,"transcript":"second"}"#), false);
        core.handle_event(at(4100), ev(r#"{"type":"conversation.item.input_audio_transcription.completed","item_id":"u1","content_index":0,"transcript":"first"}"#), false);
        let store = MemoryStore::default();
        let call = CallId(1);
        for o in sends(&mut core) {
            if let Output::Event(BridgeEvent::Segment(seg)) = o {
                store.add_segment(call, seg);
            }
        }
        let stored = store.get(call).expect("segments");
        let got: Vec<(&str, u64, u64)> = stored
            .segments
            .iter()
            .map(|s| (s.text.as_str(), s.start_ms, s.end_ms))
            .collect();
        assert_eq!(
            got,
            [
                ("first", 1000, 1800),
                ("reply", 2000, 2000),
                ("second", 3000, 3800)
            ]
        );
        // A new session is seeded in conversation order too.
        core.disconnected();
        core.connected(at(5000), AudioFormat::Pcm16);
        let seeded: Vec<String> = sends(&mut core)
            .into_iter()
            .filter_map(|o| match o {
                Output::Send(t) if t.contains("conversation.item.create") => {
                    let v: serde_json::Value = serde_json::from_str(&t).ok()?;
                    v["item"]["content"][0]["text"].as_str().map(str::to_owned)
                }
                _ => None,
            })
            .collect();
        assert_eq!(seeded, ["first", "reply", "second"]);
    }

    #[test]
    fn tool_outputs_then_exactly_one_response_create() {
        let mut core = BridgeCore::new(AgentConfig::default(), SampleRate::Hz8000);
        let t0 = Instant::now();
        core.connected(t0, AudioFormat::Pcm16);
        sends(&mut core);
        core.handle_event(
            t0,
            ev(r#"{"type":"response.created","response":{"id":"r1"}}"#),
            false,
        );
        core.handle_event(t0, ev(r#"{"type":"response.function_call_arguments.done","response_id":"r1","item_id":"f1","call_id":"c1","name":"get_lead","arguments":"{}"}"#), false);
        core.handle_event(t0, ev(r#"{"type":"response.function_call_arguments.done","response_id":"r1","item_id":"f2","call_id":"c2","name":"submit_qualification","arguments":"{\"qualified\":false}"}"#), false);
        assert!(
            types(&sends(&mut core)).is_empty(),
            "nothing before response.done"
        );
        core.handle_event(
            t0,
            ev(r#"{"type":"response.done","response":{"id":"r1","status":"completed"}}"#),
            false,
        );
        let outs = sends(&mut core);
        let Some(Output::RunTools(calls)) = outs.iter().find(|o| matches!(o, Output::RunTools(_)))
        else {
            panic!("{outs:?}")
        };
        assert_eq!(calls.len(), 1);
        assert!(types(&outs).is_empty(), "outputs wait for the host tool");
        core.tool_outputs(vec![(
            calls[0].clone(),
            Ok(serde_json::json!({"name":"Ada"})),
        )]);
        let outs = sends(&mut core);
        assert_eq!(
            types(&outs),
            [
                "conversation.item.create",
                "conversation.item.create",
                "response.create"
            ]
        );
        let bad = outs
            .iter()
            .any(|o| matches!(o, Output::Send(t) if t.contains("invalid arguments")));
        assert!(
            bad,
            "an invalid verdict goes back to the model as an error output"
        );
    }
}
