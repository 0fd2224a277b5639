//! What the simulated model says and does, turn by turn.

use serde::Deserialize;
use serde_json::{Value, json};

/// A conversation script (`--script FILE`, JSON).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Script {
    /// Transcripts for the caller's turns, in order (then a placeholder).
    #[serde(default)]
    pub caller_lines: Vec<String>,
    /// The agent's responses, in order: each `response.create` (or VAD-created
    /// response) takes the next one.
    pub turns: Vec<Turn>,
    /// Text of text-only responses (the end-of-call summary).
    #[serde(default)]
    pub summary: Option<String>,
}

/// One agent response.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Turn {
    /// Spoken text (audio + transcript).
    #[serde(default)]
    pub say: Option<String>,
    /// Function calls made in the same response, after the speech.
    #[serde(default)]
    pub tools: Vec<ScriptCall>,
}

/// A scripted function call.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptCall {
    /// Tool name.
    pub name: String,
    /// Arguments object.
    #[serde(default)]
    pub arguments: Value,
}

impl Script {
    /// Parses a script file's text.
    pub fn parse(text: &str) -> Result<Script, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// The built-in lead-qualification conversation: a greeting, a question,
    /// `search_knowledge` on turn 2, an answer, then `submit_qualification` and
    /// `end_call` on turn 4.
    pub fn qualifier() -> Script {
        let say = |s: &str| Turn {
            say: Some(s.into()),
            tools: Vec::new(),
        };
        Script {
            caller_lines: vec![
                "Sure, I have a minute.".into(),
                "We take about two thousand support calls a month. What would that cost?".into(),
                "I run the support team, so it is my call. A demo next week works.".into(),
            ],
            turns: vec![
                say("Hi, this is Marin from Tenex. Do you have a minute to talk about your phone support?"),
                say("Great. How many calls does your team handle each month?"),
                Turn {
                    say: None,
                    tools: vec![ScriptCall {
                        name: "search_knowledge".into(),
                        arguments: json!({"query": "pricing for two thousand calls a month"}),
                    }],
                },
                say("That volume fits our growth plan at a flat monthly price. Who decides on tools like this?"),
                Turn {
                    say: Some("Perfect, I will send you an invite for a demo next week. Thanks, goodbye!".into()),
                    tools: vec![
                        ScriptCall {
                            name: "submit_qualification".into(),
                            arguments: json!({
                                "qualified": true, "score": 85,
                                "reasons": ["2,000 calls a month", "decision maker", "wants a demo"],
                                "authority": "runs the support team",
                                "need": "phone support automation",
                                "timeline": "demo next week",
                                "next_steps": "demo next week",
                                "evidence_quotes": ["I run the support team, so it is my call."]
                            }),
                        },
                        ScriptCall {
                            name: "end_call".into(),
                            arguments: json!({"reason": "qualified, demo agreed"}),
                        },
                    ],
                },
            ],
            summary: Some("The lead runs a support team taking about 2,000 calls a month, decides on tooling, and agreed to a demo next week. Qualified.".into()),
        }
    }
}
