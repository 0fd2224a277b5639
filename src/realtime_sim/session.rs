//! One simulated Realtime session over one WebSocket.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tenex_actors::tenex_media::SampleRate;
use tenex_actors::tenex_media::g711::{self, G711Law};
use tenex_actors::tenex_media::realtime::base64;
use tenex_actors::tenex_media::resample::Resampler;
use tenex_actors::tenex_media::vad::{EnergyVad, VadConfig, VadEvent};
use tokio::net::TcpStream;
use tokio::time::{Instant, sleep_until};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

use super::config::{Effective, FormatIn, SessionIn};
use super::{Script, Shared, Stats};

/// Audio per delta event.
const CHUNK_MS: usize = 100;
/// Delay before a response's first event ("thinking").
const FIRST_EVENT: Duration = Duration::from_millis(40);
/// Delay of an input transcription after its commit (it arrives asynchronously).
const TRANSCRIPT_DELAY: Duration = Duration::from_millis(60);

struct Scheduled {
    at: Instant,
    response: Option<u64>,
    text: String,
    /// Audio ms this event adds to an item when sent.
    audio: Option<(String, u64)>,
}

/// An event of a response being planned: when, text, audio it adds to an item.
type Planned = (Instant, String, Option<(String, u64)>);

struct Active {
    n: u64,
    id: String,
    item: Option<String>,
}

pub(crate) struct Session {
    shared: Arc<Shared>,
    id: String,
    model: String,
    cfg: Effective,
    seq: u64,
    outbox: VecDeque<Scheduled>,
    active: Option<Active>,
    responses: u64,
    /// The conversation this session follows.
    script: Arc<Script>,
    turn: usize,
    caller_line: usize,
    vad: Option<EnergyVad>,
    pcm_in: Vec<i16>,
    input_ms: u64,
    user_item: Option<String>,
    last_item: Option<String>,
    item_audio_ms: HashMap<String, u64>,
    expires: Instant,
    after_assistant_item: bool,
    sent_garbage: usize,
}

fn ev(v: Value) -> String {
    v.to_string()
}

impl Session {
    pub(crate) fn new(shared: Arc<Shared>, model: String, n: u64) -> Session {
        let expires = Instant::now() + shared.cfg.session_max;
        Session {
            id: format!("sess_sim{n:06}"),
            model,
            cfg: Effective::default(),
            seq: 0,
            outbox: VecDeque::new(),
            active: None,
            responses: 0,
            script: shared.script.clone(),
            turn: 0,
            caller_line: 0,
            vad: None,
            pcm_in: Vec::new(),
            input_ms: 0,
            user_item: None,
            last_item: None,
            item_audio_ms: HashMap::new(),
            expires,
            after_assistant_item: false,
            sent_garbage: 0,
            shared,
        }
    }

    fn next_id(&mut self, prefix: &str) -> String {
        self.seq += 1;
        format!("{prefix}_{:06}{}", self.seq, &self.id[8..])
    }

    fn schedule(&mut self, at: Instant, response: Option<u64>, text: String) {
        self.schedule_audio(at, response, text, None);
    }

    fn schedule_audio(
        &mut self,
        at: Instant,
        response: Option<u64>,
        text: String,
        audio: Option<(String, u64)>,
    ) {
        let pos = self
            .outbox
            .iter()
            .position(|s| s.at > at)
            .unwrap_or(self.outbox.len());
        self.outbox.insert(
            pos,
            Scheduled {
                at,
                response,
                text,
                audio,
            },
        );
    }

    fn now_event(&mut self, v: Value) {
        self.schedule(Instant::now(), None, ev(v));
    }

    fn error(
        &mut self,
        kind: &str,
        code: &str,
        message: &str,
        param: Option<&str>,
        event_id: Option<&str>,
    ) {
        Stats::bump(&self.shared.stats.errors_sent);
        let id = self.next_id("event");
        self.now_event(json!({"type":"error","event_id":id,"error":{
            "type":kind,"code":code,"message":message,"param":param,"event_id":event_id}}));
    }

    /// Runs the session until the client leaves or the session expires.
    pub(crate) async fn run(
        mut self,
        mut ws: WebSocketStream<TcpStream>,
        mut kill: tokio::sync::watch::Receiver<u64>,
    ) {
        let created = json!({"type":"session.created","event_id":self.next_id("event"),
            "session": self.cfg.to_json(&self.id, &self.model)});
        self.now_event(created);
        loop {
            let next = self
                .outbox
                .front()
                .map(|s| s.at)
                .unwrap_or(self.expires)
                .min(self.expires);
            tokio::select! {
                _ = kill.changed() => return,
                msg = ws.next() => match msg {
                    Some(Ok(Message::Text(t))) => self.on_client(t.as_str()),
                    Some(Ok(Message::Binary(_))) => self.error("invalid_request_error", "invalid_value", "Binary frames are not supported.", None, None),
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                    Some(Ok(_)) => {}
                },
                () = sleep_until(next) => {
                    if Instant::now() >= self.expires {
                        self.error("invalid_request_error", "session_expired", "Your session hit the maximum duration of 60 minutes.", None, None);
                        while let Some(s) = self.outbox.pop_front() {
                            if s.response.is_none() && ws.send(Message::text(s.text)).await.is_err() { return; }
                        }
                        let _ = ws.close(None).await;
                        return;
                    }
                    let now = Instant::now();
                    while self.outbox.front().is_some_and(|s| s.at <= now) {
                        let Some(s) = self.outbox.pop_front() else { break };
                        if let Some((item, ms)) = &s.audio {
                            *self.item_audio_ms.entry(item.clone()).or_default() += ms;
                        }
                        if s.text.contains("\"type\":\"response.done\"") {
                            self.active = None;
                        }
                        if ws.send(Message::text(s.text)).await.is_err() {
                            return;
                        }
                        if self.shared.cfg.garbage {
                            let junk = garbage(self.sent_garbage);
                            self.sent_garbage += 1;
                            if ws.send(junk).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            }
        }
    }

    fn on_client(&mut self, text: &str) {
        if let Some(rec) = &self.shared.record {
            rec.write(text);
        }
        Stats::bump(&self.shared.stats.client_events);
        let v: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(_) => {
                return self.error(
                    "invalid_request_error",
                    "invalid_json",
                    "The event is not valid JSON.",
                    None,
                    None,
                );
            }
        };
        let event_id = v.get("event_id").and_then(Value::as_str).map(String::from);
        let eid = event_id.as_deref();
        match v.get("type").and_then(Value::as_str).unwrap_or("") {
            "session.update" => self.session_update(&v, eid),
            "input_audio_buffer.append" => self.append(&v, eid),
            "input_audio_buffer.clear" => {
                self.pcm_in.clear();
                let id = self.next_id("event");
                self.now_event(json!({"type":"input_audio_buffer.cleared","event_id":id}));
            }
            "input_audio_buffer.commit" => self.error(
                "invalid_request_error",
                "input_audio_buffer_commit_empty",
                "Error committing input audio buffer: buffer too small.",
                None,
                eid,
            ),
            "conversation.item.create" => self.item_create(&v, eid),
            "conversation.item.truncate" => self.truncate(&v, eid),
            "response.create" => self.response_create(&v, eid),
            "response.cancel" => {
                if self.active.is_some() {
                    self.cancel("client_cancelled");
                } else {
                    self.error(
                        "invalid_request_error",
                        "response_cancel_not_active",
                        "Cancellation failed: no active response found.",
                        None,
                        eid,
                    );
                }
            }
            other => {
                let msg = format!(
                    "Invalid value: '{other}'. Supported values are: 'session.update', 'input_audio_buffer.append', ..."
                );
                self.error(
                    "invalid_request_error",
                    "invalid_value",
                    &msg,
                    Some("type"),
                    eid,
                );
            }
        }
    }

    fn session_update(&mut self, v: &Value, eid: Option<&str>) {
        let Some(s) = v.get("session") else {
            return self.error(
                "invalid_request_error",
                "missing_required_parameter",
                "Missing required parameter: 'session'.",
                Some("session"),
                eid,
            );
        };
        let parsed: SessionIn = match serde_json::from_value(s.clone()) {
            Ok(p) => p,
            Err(e) => {
                let msg = format!("Invalid session: {e}");
                return self.error(
                    "invalid_request_error",
                    "unknown_parameter",
                    &msg,
                    Some("session"),
                    eid,
                );
            }
        };
        let mut next = self.cfg.clone();
        if let Err((param, msg)) = next.apply(&parsed) {
            return self.error(
                "invalid_request_error",
                "invalid_value",
                &msg,
                Some(&param),
                eid,
            );
        }
        if let Some(m) = &parsed.model {
            self.model = m.clone();
        }
        // A conversation picked by its instructions, before it starts.
        if let Some(instructions) = &parsed.instructions
            && self.turn == 0
            && self.caller_line == 0
            && let Some(script) = self.shared.script_for(instructions)
        {
            self.script = script;
        }
        self.cfg = next;
        self.vad = self.cfg.vad.and_then(|s| {
            EnergyVad::new(
                input_rate(self.cfg.input),
                VadConfig {
                    threshold: s.threshold,
                    prefix_padding_ms: s.prefix_padding_ms,
                    silence_duration_ms: s.silence_duration_ms,
                    ..VadConfig::default()
                },
            )
            .ok()
        });
        let id = self.next_id("event");
        let session = self.cfg.to_json(&self.id, &self.model);
        self.now_event(json!({"type":"session.updated","event_id":id,"session":session}));
    }

    fn append(&mut self, v: &Value, eid: Option<&str>) {
        let Some(audio) = v.get("audio").and_then(Value::as_str) else {
            return self.error(
                "invalid_request_error",
                "missing_required_parameter",
                "Missing required parameter: 'audio'.",
                Some("audio"),
                eid,
            );
        };
        let mut bytes = Vec::with_capacity(audio.len() * 3 / 4);
        if base64::decode(audio.as_bytes(), &mut |b: &[u8]| bytes.extend_from_slice(b)).is_err() {
            return self.error(
                "invalid_request_error",
                "invalid_value",
                "Invalid 'audio'. Expected base64-encoded audio bytes.",
                Some("audio"),
                eid,
            );
        }
        Stats::add(
            &self.shared.stats.audio_in_ms,
            bytes_ms(self.cfg.input, bytes.len()),
        );
        match self.cfg.input {
            FormatIn::Pcm { .. } => self.pcm_in.extend(
                bytes
                    .chunks_exact(2)
                    .map(|c| i16::from_le_bytes([c[0], c[1]])),
            ),
            FormatIn::Pcmu => self
                .pcm_in
                .extend(bytes.iter().map(|b| g711::ulaw_decode(*b))),
            FormatIn::Pcma => self
                .pcm_in
                .extend(bytes.iter().map(|b| g711::alaw_decode(*b))),
        }
        let frame = input_rate(self.cfg.input).frame_samples();
        while self.pcm_in.len() >= frame {
            let chunk: Vec<i16> = self.pcm_in.drain(..frame).collect();
            self.input_ms += 20;
            if let Some(vad) = self.vad.as_mut() {
                let _ = vad.handle_frame(&chunk);
                let mut events = Vec::new();
                while let Some(e) = vad.poll_event() {
                    events.push(e);
                }
                for e in events {
                    self.on_vad(e);
                }
            }
        }
    }

    fn on_vad(&mut self, e: VadEvent) {
        let Some(settings) = self.cfg.vad else { return };
        match e {
            VadEvent::SpeechStarted { audio_start_ms, .. } => {
                let item = self.next_id("item");
                self.user_item = Some(item.clone());
                let id = self.next_id("event");
                self.now_event(json!({"type":"input_audio_buffer.speech_started","event_id":id,"audio_start_ms":audio_start_ms,"item_id":item}));
                if settings.interrupt_response && self.active.is_some() {
                    self.cancel("turn_detected");
                }
            }
            VadEvent::SpeechConfirmed { .. } => {}
            VadEvent::SpeechStopped { audio_end_ms, .. } => {
                let Some(item) = self.user_item.take() else {
                    return;
                };
                let id = self.next_id("event");
                self.now_event(json!({"type":"input_audio_buffer.speech_stopped","event_id":id,"audio_end_ms":audio_end_ms,"item_id":item}));
                let id = self.next_id("event");
                let prev = self.last_item.replace(item.clone());
                self.now_event(json!({"type":"input_audio_buffer.committed","event_id":id,"previous_item_id":prev,"item_id":item}));
                let user_item = json!({"id":item,"object":"realtime.item","type":"message","status":"completed","role":"user","content":[{"type":"input_audio","transcript":null}]});
                let id = self.next_id("event");
                self.now_event(json!({"type":"conversation.item.added","event_id":id,"previous_item_id":prev,"item":user_item}));
                if self.cfg.transcribe {
                    let line = self
                        .script
                        .caller_lines
                        .get(self.caller_line)
                        .cloned()
                        .unwrap_or_else(|| format!("(caller turn {})", self.caller_line + 1));
                    self.caller_line += 1;
                    let at = Instant::now() + TRANSCRIPT_DELAY;
                    let id = self.next_id("event");
                    self.schedule(at, None, ev(json!({"type":"conversation.item.input_audio_transcription.delta","event_id":id,"item_id":item,"content_index":0,"delta":line})));
                    let id = self.next_id("event");
                    self.schedule(at, None, ev(json!({"type":"conversation.item.input_audio_transcription.completed","event_id":id,"item_id":item,"content_index":0,"transcript":line})));
                }
                if settings.create_response && self.active.is_none() {
                    self.start_response(false);
                }
            }
        }
    }

    fn item_create(&mut self, v: &Value, eid: Option<&str>) {
        let Some(item) = v.get("item") else {
            return self.error(
                "invalid_request_error",
                "missing_required_parameter",
                "Missing required parameter: 'item'.",
                Some("item"),
                eid,
            );
        };
        let kind = item.get("type").and_then(Value::as_str).unwrap_or("");
        if !matches!(kind, "message" | "function_call" | "function_call_output") {
            return self.error(
                "invalid_request_error",
                "invalid_value",
                "Invalid value for 'item.type'.",
                Some("item.type"),
                eid,
            );
        }
        // Items a client seeds (a new session resuming a conversation) move the
        // script on, as the real model would continue from the context: a user
        // message is a caller line already heard, an assistant message or a run of
        // function calls is a turn already taken.
        let role = item.get("role").and_then(Value::as_str);
        match (kind, role) {
            ("message", Some("user")) => self.caller_line += 1,
            ("message", Some("assistant")) => self.turn += 1,
            ("function_call", _) if !self.after_assistant_item => self.turn += 1,
            _ => {}
        }
        self.after_assistant_item = matches!(
            (kind, role),
            ("message", Some("assistant")) | ("function_call", _)
        );
        let id = self.next_id("item");
        let mut stored = item.clone();
        stored["id"] = json!(id);
        stored["object"] = json!("realtime.item");
        let prev = self.last_item.replace(id);
        let eid2 = self.next_id("event");
        self.now_event(json!({"type":"conversation.item.added","event_id":eid2,"previous_item_id":prev,"item":stored}));
        let eid3 = self.next_id("event");
        self.now_event(json!({"type":"conversation.item.done","event_id":eid3,"previous_item_id":prev,"item":stored}));
    }

    fn truncate(&mut self, v: &Value, eid: Option<&str>) {
        let item = v
            .get("item_id")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let end = v.get("audio_end_ms").and_then(Value::as_u64).unwrap_or(0);
        let Some(have) = self.item_audio_ms.get(&item).copied() else {
            let msg = format!("Item with item_id '{item}' not found.");
            return self.error(
                "invalid_request_error",
                "item_not_found",
                &msg,
                Some("item_id"),
                eid,
            );
        };
        if end > have {
            Stats::bump(&self.shared.stats.truncate_errors);
            let msg = format!("Audio content of {have}ms is already shorter than {end}ms");
            return self.error(
                "invalid_request_error",
                "invalid_value",
                &msg,
                Some("audio_end_ms"),
                eid,
            );
        }
        self.item_audio_ms.insert(item.clone(), end);
        Stats::bump(&self.shared.stats.truncations);
        let id = self.next_id("event");
        self.now_event(json!({"type":"conversation.item.truncated","event_id":id,"item_id":item,"content_index":0,"audio_end_ms":end}));
    }

    fn response_create(&mut self, v: &Value, eid: Option<&str>) {
        if self.active.is_some() {
            let msg = "Conversation already has an active response in progress. Wait until the response is finished before creating a new one.";
            return self.error(
                "invalid_request_error",
                "conversation_already_has_active_response",
                msg,
                None,
                eid,
            );
        }
        let r = v.get("response");
        let text_only = r.is_some_and(|r| {
            r.get("conversation").and_then(Value::as_str) == Some("none")
                || r.get("output_modalities")
                    .is_some_and(|m| m == &json!(["text"]))
        }) || self.cfg.text_only;
        self.start_response(text_only);
    }

    fn cancel(&mut self, reason: &str) {
        let Some(active) = self.active.take() else {
            return;
        };
        self.outbox.retain(|s| s.response != Some(active.n));
        Stats::bump(&self.shared.stats.cancelled);
        let id = self.next_id("event");
        let output: Vec<Value> = active
            .item
            .iter()
            .map(|i| json!({"id":i,"type":"message","role":"assistant","status":"incomplete"}))
            .collect();
        self.now_event(json!({"type":"response.done","event_id":id,"response":{"id":active.id,"object":"realtime.response",
            "status":"cancelled","status_details":{"type":"cancelled","reason":reason},"output":output,"usage":usage()}}));
    }

    fn start_response(&mut self, text_only: bool) {
        self.responses += 1;
        let n = self.responses;
        let rid = self.next_id("resp");
        Stats::bump(&self.shared.stats.responses);
        let mut at = Instant::now() + FIRST_EVENT;
        let mut out: Vec<Planned> = Vec::new();
        let mut push =
            |at: Instant, v: Value, audio: Option<(String, u64)>| out.push((at, ev(v), audio));
        push(
            at,
            json!({"type":"response.created","response":{"id":rid,"object":"realtime.response","status":"in_progress","output":[]}}),
            None,
        );
        let mut output = Vec::new();
        let mut item_id = None;
        if text_only {
            let text = self
                .script
                .summary
                .clone()
                .unwrap_or_else(|| "A short call.".into());
            let item = self.next_id("item");
            push(
                at,
                json!({"type":"response.output_item.added","response_id":rid,"output_index":0,"item":{"id":item,"type":"message","role":"assistant","status":"in_progress","content":[]}}),
                None,
            );
            push(
                at,
                json!({"type":"response.output_text.delta","response_id":rid,"item_id":item,"output_index":0,"content_index":0,"delta":text}),
                None,
            );
            push(
                at,
                json!({"type":"response.output_text.done","response_id":rid,"item_id":item,"output_index":0,"content_index":0,"text":text}),
                None,
            );
            output.push(json!({"id":item,"type":"message","role":"assistant","status":"completed","content":[{"type":"output_text","text":text}]}));
        } else {
            let turn = self
                .script
                .turns
                .get(self.turn)
                .cloned()
                .unwrap_or_default();
            self.turn += 1;
            let say = turn.say.clone().or_else(|| {
                turn.tools
                    .is_empty()
                    .then(|| "Is there anything else I can help with?".to_owned())
            });
            if let Some(say) = say {
                let item = self.next_id("item");
                item_id = Some(item.clone());
                let msg = json!({"id":item,"object":"realtime.item","type":"message","role":"assistant","status":"in_progress","content":[]});
                push(
                    at,
                    json!({"type":"response.output_item.added","response_id":rid,"output_index":0,"item":msg}),
                    None,
                );
                push(
                    at,
                    json!({"type":"conversation.item.added","item":msg}),
                    None,
                );
                push(
                    at,
                    json!({"type":"response.content_part.added","response_id":rid,"item_id":item,"output_index":0,"content_index":0,"part":{"type":"audio","transcript":""}}),
                    None,
                );
                let bytes = self.shared.voice(&say, self.cfg.output);
                let per_ms = bytes_per_ms(self.cfg.output);
                let chunk = CHUNK_MS * per_ms;
                let words: Vec<&str> = say.split_whitespace().collect();
                let chunks: Vec<&[u8]> = bytes.chunks(chunk).collect();
                for (i, c) in chunks.iter().enumerate() {
                    let mut b64 = Vec::new();
                    base64::encode_into(c, &mut b64);
                    let delta = String::from_utf8(b64).unwrap_or_default();
                    let ms = (c.len() / per_ms) as u64;
                    push(
                        at,
                        json!({"type":"response.output_audio.delta","response_id":rid,"item_id":item,"output_index":0,"content_index":0,"delta":delta}),
                        Some((item.clone(), ms)),
                    );
                    if let Some(w) = words
                        .get(i * words.len() / chunks.len().max(1))
                        .filter(|_| (i * words.len()) % chunks.len().max(1) < words.len())
                    {
                        push(
                            at,
                            json!({"type":"response.output_audio_transcript.delta","response_id":rid,"item_id":item,"output_index":0,"content_index":0,"delta":format!("{w} ")}),
                            None,
                        );
                    }
                    at += Duration::from_millis(CHUNK_MS as u64) / self.shared.cfg.speed.max(1);
                }
                push(
                    at,
                    json!({"type":"response.output_audio.done","response_id":rid,"item_id":item,"output_index":0,"content_index":0}),
                    None,
                );
                push(
                    at,
                    json!({"type":"response.output_audio_transcript.done","response_id":rid,"item_id":item,"output_index":0,"content_index":0,"transcript":say}),
                    None,
                );
                let done = json!({"id":item,"object":"realtime.item","type":"message","role":"assistant","status":"completed","content":[{"type":"output_audio","transcript":say}]});
                push(
                    at,
                    json!({"type":"response.output_item.done","response_id":rid,"output_index":0,"item":done}),
                    None,
                );
                push(
                    at,
                    json!({"type":"conversation.item.done","item":done}),
                    None,
                );
                output.push(done);
            }
            for call in &turn.tools {
                let item = self.next_id("item");
                let call_id = self.next_id("call");
                let args = call.arguments.to_string();
                let idx = output.len();
                push(
                    at,
                    json!({"type":"response.output_item.added","response_id":rid,"output_index":idx,"item":{"id":item,"type":"function_call","status":"in_progress","call_id":call_id,"name":call.name,"arguments":""}}),
                    None,
                );
                push(
                    at,
                    json!({"type":"response.function_call_arguments.delta","response_id":rid,"item_id":item,"output_index":idx,"call_id":call_id,"delta":args}),
                    None,
                );
                push(
                    at,
                    json!({"type":"response.function_call_arguments.done","response_id":rid,"item_id":item,"output_index":idx,"call_id":call_id,"name":call.name,"arguments":args}),
                    None,
                );
                let done = json!({"id":item,"type":"function_call","status":"completed","call_id":call_id,"name":call.name,"arguments":args});
                push(
                    at,
                    json!({"type":"response.output_item.done","response_id":rid,"output_index":idx,"item":done}),
                    None,
                );
                output.push(done);
            }
        }
        push(
            at,
            json!({"type":"response.done","response":{"id":rid,"object":"realtime.response","status":"completed","output":output,"usage":usage()}}),
            None,
        );
        if let Some(item) = &item_id {
            self.last_item = Some(item.clone());
        }
        for (t, text, audio) in out {
            self.schedule_audio(t, Some(n), text, audio);
        }
        self.active = Some(Active {
            n,
            id: rid,
            item: item_id,
        });
    }
}

/// The `n`-th message of a misbehaving peer (`SimConfig::garbage`): not JSON,
/// binary, unknown or mistyped events, audio that is not base64, deltas for
/// responses and items that do not exist, huge and deeply nested payloads.
fn garbage(n: usize) -> Message {
    let text = match n % 10 {
        0 => "this is not json {".to_owned(),
        1 => return Message::binary(vec![0xff, 0x00, 0x13, 0x37]),
        2 => r#"{"type":"response.future_event","x":1}"#.to_owned(),
        3 => r#"{"type":"response.output_audio.delta","response_id":7,"delta":[]}"#.to_owned(),
        4 => r#"{"type":"response.output_audio.delta","response_id":"resp_nope","item_id":"item_nope","delta":"!!!not base64!!!"}"#.to_owned(),
        5 => r#"{"no_type":true}"#.to_owned(),
        6 => format!("{}{}", "[".repeat(5000), "]".repeat(5000)),
        7 => format!(r#"{{"type":"response.output_audio_transcript.delta","response_id":"resp_nope","item_id":"item_nope","delta":"{}"}}"#, "a".repeat(1 << 20)),
        8 => r#"{"type":"response.done","response":{"id":null,"status":42}}"#.to_owned(),
        _ => r#"{"type":"error","error":"not an object"}"#.to_owned(),
    };
    Message::text(text)
}

fn usage() -> Value {
    json!({"total_tokens":120,"input_tokens":80,"output_tokens":40})
}

fn input_rate(f: FormatIn) -> SampleRate {
    match f {
        FormatIn::Pcm { .. } => SampleRate::Hz24000,
        FormatIn::Pcmu | FormatIn::Pcma => SampleRate::Hz8000,
    }
}

fn bytes_per_ms(f: FormatIn) -> usize {
    match f {
        FormatIn::Pcm { .. } => 48,
        FormatIn::Pcmu | FormatIn::Pcma => 8,
    }
}

fn bytes_ms(f: FormatIn, n: usize) -> u64 {
    (n / bytes_per_ms(f)) as u64
}

pub(super) fn encode_output(f: FormatIn, pcm24: &[i16]) -> Vec<u8> {
    match f {
        FormatIn::Pcm { .. } => pcm24.iter().flat_map(|s| s.to_le_bytes()).collect(),
        FormatIn::Pcmu | FormatIn::Pcma => {
            let law = if f == FormatIn::Pcmu {
                G711Law::Ulaw
            } else {
                G711Law::Alaw
            };
            let mut rs = Resampler::new(SampleRate::Hz24000, SampleRate::Hz8000);
            let mut out = Vec::with_capacity(pcm24.len() / 3);
            let mut frame = [0i16; 160];
            let mut codes = [0u8; 160];
            for chunk in pcm24.chunks(480) {
                let mut input = [0i16; 480];
                input[..chunk.len()].copy_from_slice(chunk);
                if rs.process(&input, &mut frame).is_ok() {
                    law.encode(&frame, &mut codes);
                    out.extend_from_slice(&codes);
                }
            }
            out
        }
    }
}
