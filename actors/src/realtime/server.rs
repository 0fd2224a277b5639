//! Server events the bridge acts on. Audio deltas never come through here: the
//! hot path decodes them in place ([`tenex_media::realtime::DeltaDecoder`]).
//! Anything else is parsed with serde; an event type we do not use parses as
//! [`ServerEvent::Other`], and an event that is not valid JSON or lacks a field we
//! need is an error the bridge logs and counts (it never stops the call).

use serde::Deserialize;

/// The `type` of an audio delta, checked before full parsing.
pub const AUDIO_DELTA: &str = "response.output_audio.delta";

/// A parsed server event.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type")]
pub enum ServerEvent {
    /// The session exists.
    #[serde(rename = "session.created")]
    SessionCreated {},
    /// Our `session.update` took effect.
    #[serde(rename = "session.updated")]
    SessionUpdated {},
    /// Server VAD heard the caller start.
    #[serde(rename = "input_audio_buffer.speech_started")]
    SpeechStarted {
        /// Input-buffer time of the start.
        #[serde(default)]
        audio_start_ms: u64,
        /// The user item this speech becomes.
        item_id: String,
    },
    /// Server VAD heard the caller stop.
    #[serde(rename = "input_audio_buffer.speech_stopped")]
    SpeechStopped {
        /// Input-buffer time of the end.
        #[serde(default)]
        audio_end_ms: u64,
        /// The user item.
        item_id: String,
    },
    /// The caller's turn became an item.
    #[serde(rename = "input_audio_buffer.committed")]
    Committed {
        /// The user item.
        item_id: String,
    },
    /// Live caller transcript.
    #[serde(rename = "conversation.item.input_audio_transcription.delta")]
    InputTranscriptDelta {
        /// The user item.
        item_id: String,
        /// New text.
        #[serde(default)]
        delta: String,
    },
    /// Final caller transcript.
    #[serde(rename = "conversation.item.input_audio_transcription.completed")]
    InputTranscriptDone {
        /// The user item.
        item_id: String,
        /// The text.
        #[serde(default)]
        transcript: String,
    },
    /// Transcription failed for an item.
    #[serde(rename = "conversation.item.input_audio_transcription.failed")]
    InputTranscriptFailed {
        /// The user item.
        item_id: String,
    },
    /// A response started.
    #[serde(rename = "response.created")]
    ResponseCreated {
        /// The response.
        response: ResponseRef,
    },
    /// An output item (message or function call) started.
    #[serde(rename = "response.output_item.added")]
    OutputItemAdded {
        /// Its response.
        response_id: String,
        /// The item.
        item: ItemRef,
    },
    /// Audio for an item finished.
    #[serde(rename = "response.output_audio.done")]
    OutputAudioDone {
        /// Its response.
        response_id: String,
        /// The item.
        item_id: String,
    },
    /// Live agent transcript.
    #[serde(rename = "response.output_audio_transcript.delta")]
    OutputTranscriptDelta {
        /// Its response.
        response_id: String,
        /// The item.
        item_id: String,
        /// New text.
        #[serde(default)]
        delta: String,
    },
    /// Final agent transcript of an item.
    #[serde(rename = "response.output_audio_transcript.done")]
    OutputTranscriptDone {
        /// Its response.
        response_id: String,
        /// The item.
        item_id: String,
        /// The text.
        #[serde(default)]
        transcript: String,
    },
    /// Final text of a text-only response.
    #[serde(rename = "response.output_text.done")]
    OutputTextDone {
        /// Its response.
        response_id: String,
        /// The text.
        #[serde(default)]
        text: String,
    },
    /// A complete function call.
    #[serde(rename = "response.function_call_arguments.done")]
    FunctionCallDone {
        /// Its response.
        response_id: String,
        /// The function call item.
        #[serde(default)]
        item_id: String,
        /// Call id for the output.
        call_id: String,
        /// Tool name.
        name: String,
        /// Arguments, JSON text.
        #[serde(default)]
        arguments: String,
    },
    /// A response ended.
    #[serde(rename = "response.done")]
    ResponseDone {
        /// The response with its status.
        response: ResponseRef,
    },
    /// A truncate took effect.
    #[serde(rename = "conversation.item.truncated")]
    Truncated {
        /// The item.
        item_id: String,
        /// Where it was cut.
        #[serde(default)]
        audio_end_ms: u64,
    },
    /// Something went wrong.
    #[serde(rename = "error")]
    Error {
        /// Details.
        error: ErrorBody,
    },
    /// An event the bridge does not act on.
    #[serde(other)]
    Other,
}

impl ServerEvent {
    /// Parses one text frame.
    pub fn parse(text: &str) -> Result<ServerEvent, serde_json::Error> {
        serde_json::from_str(text)
    }
}

/// A response, as carried by `response.created` / `response.done`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ResponseRef {
    /// Response id.
    pub id: String,
    /// `in_progress`, `completed`, `cancelled`, `failed`, `incomplete`.
    #[serde(default)]
    pub status: String,
    /// Token usage (on `response.done`).
    #[serde(default)]
    pub usage: Option<Usage>,
}

/// Token usage of one response.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct Usage {
    /// Input tokens.
    #[serde(default)]
    pub input_tokens: u64,
    /// Output tokens.
    #[serde(default)]
    pub output_tokens: u64,
}

/// An item as carried by output item events.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ItemRef {
    /// Item id.
    pub id: String,
    /// `message`, `function_call`, ...
    #[serde(rename = "type")]
    pub kind: String,
}

/// The body of an `error` event.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ErrorBody {
    /// e.g. `invalid_request_error`, `server_error`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// e.g. `session_expired`.
    #[serde(default)]
    pub code: Option<String>,
    /// Human text.
    #[serde(default)]
    pub message: String,
    /// The client event that caused it.
    #[serde(default)]
    pub event_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_events_the_bridge_uses() {
        let e = ServerEvent::parse(
            r#"{"type":"input_audio_buffer.speech_started","event_id":"e1","audio_start_ms":1200,"item_id":"item_1"}"#,
        )
        .unwrap();
        assert_eq!(
            e,
            ServerEvent::SpeechStarted {
                audio_start_ms: 1200,
                item_id: "item_1".into()
            }
        );
        let e = ServerEvent::parse(
            r#"{"type":"response.done","response":{"id":"resp_1","status":"cancelled","status_details":{"type":"cancelled","reason":"turn_detected"},"output":[],"usage":{"input_tokens":10,"output_tokens":20}}}"#,
        )
        .unwrap();
        let ServerEvent::ResponseDone { response } = e else {
            panic!("{e:?}")
        };
        assert_eq!(response.status, "cancelled");
        assert_eq!(response.usage.unwrap().output_tokens, 20);
        let e = ServerEvent::parse(
            r#"{"type":"error","error":{"type":"invalid_request_error","code":"session_expired","message":"m"}}"#,
        )
        .unwrap();
        let ServerEvent::Error { error } = e else {
            panic!()
        };
        assert_eq!(error.code.as_deref(), Some("session_expired"));
    }

    #[test]
    fn unknown_types_are_other_and_garbage_is_an_error() {
        assert_eq!(
            ServerEvent::parse(r#"{"type":"rate_limits.updated","rate_limits":[]}"#).unwrap(),
            ServerEvent::Other
        );
        assert!(ServerEvent::parse("not json").is_err());
        assert!(ServerEvent::parse(r#"{"type":"response.created"}"#).is_err());
        assert!(ServerEvent::parse(r#"{"no_type":1}"#).is_err());
    }
}
