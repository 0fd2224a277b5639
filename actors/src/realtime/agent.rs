//! The agent a call runs with, and the `session.update` it becomes.

use tenex_media::realtime::AudioFormat;
use tenex_media::sdp::Codec;

use super::client::{
    AudioInput, AudioOutput, NoiseReduction, Session, SessionAudio, Transcription, TurnDetection,
};
use super::tools;

/// How the model decides the caller's turn has ended.
#[derive(Debug, Clone, PartialEq)]
pub enum TurnMode {
    /// Energy VAD on the server.
    ServerVad {
        /// 0–1 activation threshold.
        threshold: f32,
        /// Audio kept before detected speech.
        prefix_padding_ms: u32,
        /// Silence that ends a turn.
        silence_duration_ms: u32,
    },
    /// Model-based end-of-turn detection (`low`, `medium`, `high`, `auto`).
    SemanticVad {
        /// Eagerness.
        eagerness: String,
    },
}

/// Everything the bridge needs to know about the agent for one call (the exact
/// configuration is stored with the call).
#[derive(Debug, Clone, PartialEq)]
pub struct AgentConfig {
    /// Realtime model.
    pub model: String,
    /// System prompt.
    pub system_prompt: String,
    /// The call's objective.
    pub objective: String,
    /// What is known about the lead, as text for the model.
    pub lead_context: String,
    /// Voice name.
    pub voice: String,
    /// Speaking speed.
    pub speed: f32,
    /// Turn detection.
    pub turn: TurnMode,
    /// Whether the caller may interrupt the agent at all.
    pub interrupt_response: bool,
    /// Speech shorter than this while the agent talks is a backchannel ("uh-huh")
    /// and does not interrupt. 0 lets the service interrupt on its own VAD.
    pub min_barge_in_ms: u32,
    /// Caller transcription model (`None`: no caller transcript).
    pub transcription_model: Option<String>,
    /// Language hint for transcription.
    pub language: Option<String>,
    /// `near_field`, `far_field`, or `None`.
    pub noise_reduction: Option<String>,
    /// Send G.711 straight through when the leg is G.711.
    pub passthrough: bool,
    /// Tools the model may call (names from [`tools::ALL`]).
    pub tools: Vec<String>,
    /// Verdict fields `submit_qualification` must fill besides its base ones
    /// (from the call's objective, e.g. budget, authority, need, timeline).
    pub verdict_required: Vec<String>,
    /// The agent speaks first on inbound calls (outbound calls always do).
    pub speaks_first: bool,
    /// Instructions for the greeting response (`None`: the model's own).
    pub greeting: Option<String>,
    /// Instructions for the end-of-call summary.
    pub summary_instructions: String,
    /// Hang up (cause `max-duration`) when the call has lasted this long.
    pub max_duration: Option<std::time::Duration>,
}

impl Default for AgentConfig {
    fn default() -> AgentConfig {
        AgentConfig {
            model: "gpt-realtime".into(),
            system_prompt: "You are a friendly, concise phone agent qualifying sales leads.".into(),
            objective: "Find out whether the lead is qualified and book a demo if so.".into(),
            lead_context: String::new(),
            voice: "marin".into(),
            speed: 1.0,
            turn: TurnMode::ServerVad {
                threshold: 0.5,
                prefix_padding_ms: 300,
                silence_duration_ms: 500,
            },
            interrupt_response: true,
            min_barge_in_ms: 300,
            transcription_model: Some("gpt-4o-mini-transcribe".into()),
            language: None,
            noise_reduction: Some("near_field".into()),
            passthrough: false,
            tools: tools::ALL.iter().map(|t| (*t).to_owned()).collect(),
            verdict_required: Vec::new(),
            speaks_first: true,
            greeting: None,
            summary_instructions: "Summarise this phone call in two or three sentences for \
                the sales team: who the lead is, what they need, and the agreed next step."
                .into(),
            max_duration: None,
        }
    }
}

impl AgentConfig {
    /// The Realtime audio format for a leg with `codec`.
    pub fn audio_format(&self, codec: Codec) -> AudioFormat {
        match codec {
            Codec::Pcmu if self.passthrough => AudioFormat::Pcmu,
            Codec::Pcma if self.passthrough => AudioFormat::Pcma,
            _ => AudioFormat::Pcm16,
        }
    }

    /// Whether the bridge gates barge-in itself (the service is told not to
    /// interrupt or auto-respond; the bridge does both after its own check).
    pub fn bridge_gates_barge_in(&self) -> bool {
        self.interrupt_response && self.min_barge_in_ms > 0
    }

    /// The full instructions: prompt, objective, lead context.
    pub fn instructions(&self) -> String {
        let mut s = self.system_prompt.clone();
        if !self.objective.is_empty() {
            s.push_str("\n\nObjective: ");
            s.push_str(&self.objective);
        }
        if !self.lead_context.is_empty() {
            s.push_str("\n\nAbout the person you are speaking with:\n");
            s.push_str(&self.lead_context);
        }
        s
    }

    /// The `session.update` session object for a call in `format`.
    pub fn session(&self, format: AudioFormat) -> Session {
        // With the bridge's own gate the service must neither cut the agent off nor
        // answer a backchannel: the bridge cancels and creates responses itself.
        let (interrupt, create) = if self.bridge_gates_barge_in() {
            (false, false)
        } else {
            (self.interrupt_response, true)
        };
        let turn_detection = match &self.turn {
            TurnMode::ServerVad {
                threshold,
                prefix_padding_ms,
                silence_duration_ms,
            } => TurnDetection::ServerVad {
                threshold: *threshold,
                prefix_padding_ms: *prefix_padding_ms,
                silence_duration_ms: *silence_duration_ms,
                interrupt_response: interrupt,
                create_response: create,
            },
            TurnMode::SemanticVad { eagerness } => TurnDetection::SemanticVad {
                eagerness: eagerness.clone(),
                interrupt_response: interrupt,
                create_response: create,
            },
        };
        Session {
            kind: "realtime",
            model: self.model.clone(),
            output_modalities: vec!["audio"],
            instructions: self.instructions(),
            audio: SessionAudio {
                input: AudioInput {
                    format: format.into(),
                    transcription: self.transcription_model.as_ref().map(|m| Transcription {
                        model: m.clone(),
                        language: self.language.clone(),
                    }),
                    turn_detection: Some(turn_detection),
                    noise_reduction: self
                        .noise_reduction
                        .as_ref()
                        .map(|k| NoiseReduction { kind: k.clone() }),
                },
                output: AudioOutput {
                    format: format.into(),
                    voice: self.voice.clone(),
                    speed: self.speed,
                },
            },
            tools: tools::definitions_for(&self.tools, &self.verdict_required),
            tool_choice: "auto",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::realtime::client::ClientEvent;

    #[test]
    fn session_update_carries_the_agent() {
        let agent = AgentConfig {
            lead_context: "Name: Ada".into(),
            ..AgentConfig::default()
        };
        let ev = ClientEvent::SessionUpdate {
            session: Box::new(agent.session(AudioFormat::Pcm16)),
        };
        let v: serde_json::Value = serde_json::from_str(&ev.to_json()).unwrap();
        assert_eq!(v["type"], "session.update");
        let s = &v["session"];
        assert_eq!(s["type"], "realtime");
        assert_eq!(s["audio"]["input"]["format"]["type"], "audio/pcm");
        assert_eq!(s["audio"]["input"]["format"]["rate"], 24000);
        assert_eq!(s["audio"]["output"]["voice"], "marin");
        let td = &s["audio"]["input"]["turn_detection"];
        assert_eq!(td["type"], "server_vad");
        // The bridge gates barge-in itself by default.
        assert_eq!(td["interrupt_response"], false);
        assert_eq!(td["create_response"], false);
        assert!(s["instructions"].as_str().unwrap().contains("Name: Ada"));
        assert_eq!(s["tools"].as_array().unwrap().len(), tools::ALL.len());
    }

    #[test]
    fn passthrough_only_for_g711_when_enabled() {
        let mut agent = AgentConfig::default();
        assert_eq!(agent.audio_format(Codec::Pcmu), AudioFormat::Pcm16);
        agent.passthrough = true;
        assert_eq!(agent.audio_format(Codec::Pcmu), AudioFormat::Pcmu);
        assert_eq!(agent.audio_format(Codec::Pcma), AudioFormat::Pcma);
        assert_eq!(agent.audio_format(Codec::Opus), AudioFormat::Pcm16);
        let s = agent.session(AudioFormat::Pcma);
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(
            v["audio"]["output"]["format"],
            serde_json::json!({"type":"audio/pcma"})
        );
    }

    #[test]
    fn no_gate_leaves_interruption_to_the_service() {
        let agent = AgentConfig {
            min_barge_in_ms: 0,
            turn: TurnMode::SemanticVad {
                eagerness: "high".into(),
            },
            ..AgentConfig::default()
        };
        let v = serde_json::to_value(agent.session(AudioFormat::Pcm16)).unwrap();
        let td = &v["audio"]["input"]["turn_detection"];
        assert_eq!(td["type"], "semantic_vad");
        assert_eq!(td["interrupt_response"], true);
        assert_eq!(td["create_response"], true);
    }
}
