//! Client events the bridge sends, typed so that only fields the official SDK
//! declares can be serialised (the service rejects a whole update that carries an
//! unknown field). `input_audio_buffer.append` is not here: the hot path writes
//! it with [`tenex_media::realtime::AppendWriter`].

use serde::Serialize;

/// One client event.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type")]
pub enum ClientEvent {
    /// Configure the session.
    #[serde(rename = "session.update")]
    SessionUpdate {
        /// The fields to change.
        session: Box<Session>,
    },
    /// Add an item (re-seeding the conversation, or a tool's output).
    #[serde(rename = "conversation.item.create")]
    ItemCreate {
        /// The item.
        item: Item,
    },
    /// Cut an assistant item's audio at what the caller actually heard.
    #[serde(rename = "conversation.item.truncate")]
    ItemTruncate {
        /// The assistant item.
        item_id: String,
        /// Always 0 (the audio part).
        content_index: u32,
        /// Milliseconds of the item's audio played to the caller.
        audio_end_ms: u32,
    },
    /// Ask for a response.
    #[serde(rename = "response.create")]
    ResponseCreate {
        /// Per-response overrides (the end-of-call summary).
        #[serde(skip_serializing_if = "Option::is_none")]
        response: Option<ResponseParams>,
    },
    /// Cancel the active response.
    #[serde(rename = "response.cancel")]
    ResponseCancel {},
}

impl ClientEvent {
    /// The event as the JSON text frame to send.
    pub fn to_json(&self) -> String {
        // Serialising these plain structs cannot fail (no maps with non-string keys,
        // no custom serialisers); fall back to an empty object rather than panic.
        serde_json::to_string(self).unwrap_or_else(|_| String::from("{}"))
    }
}

/// The session object of `session.update`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Session {
    /// Always `"realtime"`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Model name.
    pub model: String,
    /// `["audio"]`.
    pub output_modalities: Vec<&'static str>,
    /// System prompt, objective and lead context.
    pub instructions: String,
    /// Input and output audio settings.
    pub audio: SessionAudio,
    /// Tools the model may call.
    pub tools: Vec<ToolDef>,
    /// `"auto"`.
    pub tool_choice: &'static str,
}

/// `session.audio`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SessionAudio {
    /// Caller audio.
    pub input: AudioInput,
    /// Agent audio.
    pub output: AudioOutput,
}

/// `session.audio.input`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AudioInput {
    /// Wire format of appended audio.
    pub format: Format,
    /// Caller transcription.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transcription: Option<Transcription>,
    /// Server or semantic VAD; `null` turns it off.
    pub turn_detection: Option<TurnDetection>,
    /// Input noise reduction; `null` turns it off.
    pub noise_reduction: Option<NoiseReduction>,
}

/// `session.audio.output`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AudioOutput {
    /// Wire format of audio deltas.
    pub format: Format,
    /// Voice name.
    pub voice: String,
    /// Speaking speed (0.25–1.5).
    pub speed: f32,
}

/// An audio format.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(tag = "type")]
pub enum Format {
    /// 24 kHz PCM16.
    #[serde(rename = "audio/pcm")]
    Pcm {
        /// 24000.
        rate: u32,
    },
    /// G.711 μ-law.
    #[serde(rename = "audio/pcmu")]
    Pcmu,
    /// G.711 A-law.
    #[serde(rename = "audio/pcma")]
    Pcma,
}

impl From<tenex_media::realtime::AudioFormat> for Format {
    fn from(f: tenex_media::realtime::AudioFormat) -> Format {
        use tenex_media::realtime::AudioFormat;
        match f {
            AudioFormat::Pcm16 => Format::Pcm { rate: 24_000 },
            AudioFormat::Pcmu => Format::Pcmu,
            AudioFormat::Pcma => Format::Pcma,
        }
    }
}

/// `audio.input.transcription`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Transcription {
    /// e.g. `gpt-4o-mini-transcribe`.
    pub model: String,
    /// ISO-639-1 language hint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
}

/// `audio.input.turn_detection`.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "type")]
pub enum TurnDetection {
    /// Energy VAD on the server.
    #[serde(rename = "server_vad")]
    ServerVad {
        /// 0–1 activation threshold.
        threshold: f32,
        /// Audio kept before detected speech.
        prefix_padding_ms: u32,
        /// Silence that ends a turn.
        silence_duration_ms: u32,
        /// Whether the server cancels the running response when speech starts.
        interrupt_response: bool,
        /// Whether the server starts a response when a turn ends.
        create_response: bool,
    },
    /// Model-based end-of-turn detection.
    #[serde(rename = "semantic_vad")]
    SemanticVad {
        /// `low`, `medium`, `high` or `auto`.
        eagerness: String,
        /// As for server VAD.
        interrupt_response: bool,
        /// As for server VAD.
        create_response: bool,
    },
}

/// `audio.input.noise_reduction`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct NoiseReduction {
    /// `near_field` or `far_field`.
    #[serde(rename = "type")]
    pub kind: String,
}

/// A function tool declaration.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ToolDef {
    /// Always `"function"`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Function name.
    pub name: &'static str,
    /// What it does, for the model.
    pub description: &'static str,
    /// JSON Schema of the arguments.
    pub parameters: serde_json::Value,
}

/// A conversation item the bridge creates.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "type")]
pub enum Item {
    /// A message (re-seeding what was said).
    #[serde(rename = "message")]
    Message {
        /// `user` or `assistant`.
        role: &'static str,
        /// One text part.
        content: Vec<ContentPart>,
    },
    /// A tool call the model made (re-seeding).
    #[serde(rename = "function_call")]
    FunctionCall {
        /// The call id.
        call_id: String,
        /// Tool name.
        name: String,
        /// JSON arguments as text.
        arguments: String,
    },
    /// A tool's result.
    #[serde(rename = "function_call_output")]
    FunctionCallOutput {
        /// The call id it answers.
        call_id: String,
        /// JSON result as text.
        output: String,
    },
}

impl Item {
    /// What the caller said, as text.
    pub fn user_text(text: &str) -> Item {
        Item::Message {
            role: "user",
            content: vec![ContentPart::InputText { text: text.into() }],
        }
    }

    /// What the agent said, as text.
    pub fn assistant_text(text: &str) -> Item {
        Item::Message {
            role: "assistant",
            content: vec![ContentPart::OutputText { text: text.into() }],
        }
    }
}

/// A message content part.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "type")]
pub enum ContentPart {
    /// User text.
    #[serde(rename = "input_text")]
    InputText {
        /// The text.
        text: String,
    },
    /// Assistant text.
    #[serde(rename = "output_text")]
    OutputText {
        /// The text.
        text: String,
    },
}

/// `response.create`'s `response` object.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ResponseParams {
    /// `"none"` keeps the response out of the conversation.
    pub conversation: &'static str,
    /// `["text"]`.
    pub output_modalities: Vec<&'static str>,
    /// Instructions for this response only.
    pub instructions: String,
}

impl ResponseParams {
    /// A text-only response outside the conversation (the end-of-call summary).
    pub fn side_text(instructions: &str) -> ResponseParams {
        ResponseParams {
            conversation: "none",
            output_modalities: vec!["text"],
            instructions: instructions.into(),
        }
    }
}
