//! The session object the simulator accepts: the SDK's declared fields, strictly
//! (an unknown field rejects the whole update, as the real service does).

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SessionIn {
    #[serde(rename = "type")]
    pub(crate) kind: Option<String>,
    pub(crate) model: Option<String>,
    pub(crate) output_modalities: Option<Vec<String>>,
    pub(crate) instructions: Option<String>,
    pub(crate) audio: Option<AudioIn>,
    pub(crate) tools: Option<Vec<Value>>,
    pub(crate) tool_choice: Option<Value>,
    pub(crate) max_output_tokens: Option<Value>,
    pub(crate) include: Option<Vec<String>>,
    pub(crate) prompt: Option<Value>,
    pub(crate) tracing: Option<Value>,
    pub(crate) truncation: Option<Value>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AudioIn {
    pub(crate) input: Option<InputIn>,
    pub(crate) output: Option<OutputIn>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct InputIn {
    pub(crate) format: Option<FormatIn>,
    pub(crate) transcription: Option<Option<TranscriptionIn>>,
    pub(crate) turn_detection: Option<Option<TurnIn>>,
    pub(crate) noise_reduction: Option<Option<NoiseIn>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OutputIn {
    pub(crate) format: Option<FormatIn>,
    pub(crate) voice: Option<String>,
    pub(crate) speed: Option<f32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", deny_unknown_fields)]
pub(crate) enum FormatIn {
    #[serde(rename = "audio/pcm")]
    Pcm { rate: Option<u32> },
    #[serde(rename = "audio/pcmu")]
    Pcmu,
    #[serde(rename = "audio/pcma")]
    Pcma,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TranscriptionIn {
    pub(crate) model: Option<String>,
    pub(crate) language: Option<String>,
    pub(crate) prompt: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NoiseIn {
    #[serde(rename = "type")]
    pub(crate) kind: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", deny_unknown_fields)]
pub(crate) enum TurnIn {
    #[serde(rename = "server_vad")]
    ServerVad {
        threshold: Option<f32>,
        prefix_padding_ms: Option<u32>,
        silence_duration_ms: Option<u32>,
        interrupt_response: Option<bool>,
        create_response: Option<bool>,
        idle_timeout_ms: Option<u32>,
    },
    #[serde(rename = "semantic_vad")]
    SemanticVad {
        eagerness: Option<String>,
        interrupt_response: Option<bool>,
        create_response: Option<bool>,
    },
}

/// The effective settings of a simulated session.
#[derive(Debug, Clone)]
pub(crate) struct Effective {
    pub(crate) input: FormatIn,
    pub(crate) output: FormatIn,
    pub(crate) vad: Option<VadSettings>,
    pub(crate) transcribe: bool,
    pub(crate) voice: String,
    pub(crate) text_only: bool,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct VadSettings {
    pub(crate) threshold: f32,
    pub(crate) prefix_padding_ms: u32,
    pub(crate) silence_duration_ms: u32,
    pub(crate) interrupt_response: bool,
    pub(crate) create_response: bool,
}

impl Default for VadSettings {
    fn default() -> VadSettings {
        VadSettings {
            threshold: 0.5,
            prefix_padding_ms: 300,
            silence_duration_ms: 500,
            interrupt_response: true,
            create_response: true,
        }
    }
}

impl Default for Effective {
    fn default() -> Effective {
        Effective {
            input: FormatIn::Pcm { rate: Some(24_000) },
            output: FormatIn::Pcm { rate: Some(24_000) },
            vad: Some(VadSettings::default()),
            transcribe: false,
            voice: "alloy".into(),
            text_only: false,
        }
    }
}

impl Effective {
    /// Applies an update; an error names the offending parameter.
    pub(crate) fn apply(&mut self, s: &SessionIn) -> Result<(), (String, String)> {
        if let Some(k) = &s.kind
            && k != "realtime"
        {
            return Err(("session.type".into(), format!("Invalid value: '{k}'.")));
        }
        if let Some(m) = &s.output_modalities {
            self.text_only = m.iter().all(|m| m == "text");
        }
        if let Some(audio) = &s.audio {
            if let Some(input) = &audio.input {
                if let Some(f) = input.format {
                    check_rate(f, "session.audio.input.format.rate")?;
                    self.input = f;
                }
                if let Some(t) = &input.transcription {
                    self.transcribe = t.is_some();
                }
                if let Some(td) = &input.turn_detection {
                    self.vad = td.as_ref().map(|t| match t {
                        TurnIn::ServerVad {
                            threshold,
                            prefix_padding_ms,
                            silence_duration_ms,
                            interrupt_response,
                            create_response,
                            ..
                        } => VadSettings {
                            threshold: threshold.unwrap_or(0.5),
                            prefix_padding_ms: prefix_padding_ms.unwrap_or(300),
                            silence_duration_ms: silence_duration_ms.unwrap_or(500),
                            interrupt_response: interrupt_response.unwrap_or(true),
                            create_response: create_response.unwrap_or(true),
                        },
                        TurnIn::SemanticVad {
                            interrupt_response,
                            create_response,
                            ..
                        } => VadSettings {
                            interrupt_response: interrupt_response.unwrap_or(true),
                            create_response: create_response.unwrap_or(true),
                            ..VadSettings::default()
                        },
                    });
                }
            }
            if let Some(output) = &audio.output {
                if let Some(f) = output.format {
                    check_rate(f, "session.audio.output.format.rate")?;
                    self.output = f;
                }
                if let Some(v) = &output.voice {
                    self.voice = v.clone();
                }
            }
        }
        Ok(())
    }

    /// The effective session as `session.updated` reports it.
    pub(crate) fn to_json(&self, id: &str, model: &str) -> Value {
        let vad = self.vad.map(|v| {
            serde_json::json!({"type":"server_vad","threshold":v.threshold,
                "prefix_padding_ms":v.prefix_padding_ms,"silence_duration_ms":v.silence_duration_ms,
                "interrupt_response":v.interrupt_response,"create_response":v.create_response})
        });
        serde_json::json!({
            "type":"realtime","object":"realtime.session","id":id,"model":model,
            "output_modalities":[if self.text_only {"text"} else {"audio"}],
            "audio":{"input":{"format":self.input,"turn_detection":vad},
                     "output":{"format":self.output,"voice":self.voice}}
        })
    }
}

fn check_rate(f: FormatIn, param: &str) -> Result<(), (String, String)> {
    match f {
        FormatIn::Pcm { rate: Some(r) } if r != 24_000 => Err((
            param.into(),
            format!("Invalid value: {r}. Supported values are: 24000."),
        )),
        _ => Ok(()),
    }
}
