//! The agent's tools: their declarations for `session.update`, the verdict
//! schema, and the host interface that runs the ones backed by the workspace's
//! data (knowledge, lead record, calendar).
//!
//! `end_call` and `submit_qualification` are the bridge's own; the others go to a
//! [`ToolHost`]. A tool error goes back to the model as a JSON error output and
//! never ends the call.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::client::ToolDef;
use crate::sip::CallId;

/// Every tool the bridge knows, in declaration order.
pub const ALL: &[&str] = &[
    "search_knowledge",
    "get_lead",
    "check_availability",
    "book_meeting",
    "submit_qualification",
    "end_call",
];

/// Declarations for the enabled tools (unknown names are skipped).
pub fn definitions(enabled: &[String]) -> Vec<ToolDef> {
    definitions_for(enabled, &[])
}

/// [`definitions`], with `submit_qualification` also requiring the verdict
/// fields in `verdict_required` (those it declares: `budget`, `authority`,
/// `need`, `timeline`; others are ignored), as the call's objective asks.
pub fn definitions_for(enabled: &[String], verdict_required: &[String]) -> Vec<ToolDef> {
    ALL.iter()
        .filter(|name| enabled.iter().any(|e| e == *name))
        .filter_map(|name| definition(name))
        .map(|mut d| {
            if d.name == "submit_qualification" {
                let declared = d.parameters["properties"].clone();
                if let Some(required) = d.parameters["required"].as_array_mut() {
                    for f in verdict_required {
                        let known = declared.get(f.as_str()).is_some();
                        if known && !required.iter().any(|r| r == f.as_str()) {
                            required.push(Value::String(f.clone()));
                        }
                    }
                }
            }
            d
        })
        .collect()
}

fn def(name: &'static str, description: &'static str, parameters: Value) -> ToolDef {
    ToolDef {
        kind: "function",
        name,
        description,
        parameters,
    }
}

fn definition(name: &str) -> Option<ToolDef> {
    Some(match name {
        "search_knowledge" => def(
            "search_knowledge",
            "Search the company's knowledge base (products, pricing, policies). Returns the best matching snippets.",
            json!({"type":"object","properties":{"query":{"type":"string","description":"What to look up"}},"required":["query"]}),
        ),
        "get_lead" => def(
            "get_lead",
            "Get the CRM record of the person on the call.",
            json!({"type":"object","properties":{}}),
        ),
        "check_availability" => def(
            "check_availability",
            "List free meeting slots between two times (ISO 8601).",
            json!({"type":"object","properties":{"from":{"type":"string"},"to":{"type":"string"}},"required":["from","to"]}),
        ),
        "book_meeting" => def(
            "book_meeting",
            "Book a meeting with the lead at a free slot.",
            json!({"type":"object","properties":{"start":{"type":"string","description":"ISO 8601 start time"},"duration_min":{"type":"integer","minimum":5,"maximum":240},"notes":{"type":"string"}},"required":["start","duration_min"]}),
        ),
        "submit_qualification" => def(
            "submit_qualification",
            "Record the qualification verdict for this lead. Call once, before ending the call.",
            json!({"type":"object","properties":{
                "qualified":{"type":"boolean"},
                "score":{"type":"integer","minimum":0,"maximum":100},
                "reasons":{"type":"array","items":{"type":"string"}},
                "budget":{"type":"string"},"authority":{"type":"string"},
                "need":{"type":"string"},"timeline":{"type":"string"},
                "next_steps":{"type":"string"},
                "evidence_quotes":{"type":"array","items":{"type":"string"}}},
                "required":["qualified","score","reasons","next_steps","evidence_quotes"]}),
        ),
        "end_call" => def(
            "end_call",
            "Hang up after your current sentence has finished playing.",
            json!({"type":"object","properties":{"reason":{"type":"string",
                "description":"Why: `done` when the conversation is over, `voicemail` when an \
answering machine or voicemail greeting picked up (hang up without leaving a message), or a \
short phrase."}},"required":["reason"]}),
        ),
        _ => return None,
    })
}

/// The structured verdict `submit_qualification` records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Verdict {
    /// Whether the lead is qualified.
    pub qualified: bool,
    /// 0–100.
    #[cfg_attr(feature = "openapi", schema(maximum = 100))]
    pub score: u8,
    /// Why.
    pub reasons: Vec<String>,
    /// BANT fields, when learned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<String>,
    /// Who decides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authority: Option<String>,
    /// What they need.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub need: Option<String>,
    /// When.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeline: Option<String>,
    /// Agreed next step.
    pub next_steps: String,
    /// The caller's own words backing the verdict.
    pub evidence_quotes: Vec<String>,
}

impl Verdict {
    /// Parses and checks the model's arguments.
    pub fn from_arguments(arguments: &str) -> Result<Verdict, ToolError> {
        let v: Verdict = serde_json::from_str(arguments)
            .map_err(|e| ToolError::InvalidArguments(e.to_string()))?;
        if v.score > 100 {
            return Err(ToolError::InvalidArguments(
                "score must be between 0 and 100".into(),
            ));
        }
        Ok(v)
    }
}

/// Why a tool call failed (sent back to the model).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ToolError {
    /// The arguments are not what the tool declares.
    #[error("invalid arguments: {0}")]
    InvalidArguments(String),
    /// No such tool, or not enabled for this agent.
    #[error("unknown tool: {0}")]
    Unknown(String),
    /// The tool ran and refused (e.g. a slot already booked).
    #[error("{0}")]
    Failed(String),
}

impl ToolError {
    /// The `function_call_output` text for this error.
    pub fn to_output(&self) -> String {
        json!({"error": self.to_string()}).to_string()
    }
}

/// A tool call to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCall {
    /// Tool name.
    pub name: String,
    /// The model's call id.
    pub call_id: String,
    /// JSON arguments text.
    pub arguments: String,
}

/// Future returned by a [`ToolHost`].
pub type ToolFuture<'a> = Pin<Box<dyn Future<Output = Result<Value, ToolError>> + Send + 'a>>;

/// Runs the data-backed tools for one call (knowledge, lead, calendar).
pub trait ToolHost: Send + Sync + std::fmt::Debug + 'static {
    /// Runs `call` (its arguments already parsed as JSON).
    fn call<'a>(&'a self, name: &'a str, arguments: &'a Value) -> ToolFuture<'a>;
}

/// Makes each call's [`ToolHost`]: the tools act for that call (its lead, its
/// calendar, its id on the bookings it makes).
pub trait ToolHosts: Send + Sync + std::fmt::Debug + 'static {
    /// The host for call `call`.
    fn for_call(&self, call: CallId) -> Arc<dyn ToolHost>;
}

/// A host with no data: every data-backed tool answers with an error.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoTools;

impl ToolHosts for NoTools {
    fn for_call(&self, _call: CallId) -> Arc<dyn ToolHost> {
        Arc::new(NoTools)
    }
}

impl ToolHost for NoTools {
    fn call<'a>(&'a self, name: &'a str, _arguments: &'a Value) -> ToolFuture<'a> {
        Box::pin(async move { Err(ToolError::Unknown(name.to_owned())) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definitions_follow_the_enabled_list() {
        let d = definitions(&["end_call".into(), "nope".into(), "get_lead".into()]);
        let names: Vec<_> = d.iter().map(|t| t.name).collect();
        assert_eq!(names, ["get_lead", "end_call"]);
        assert_eq!(
            definitions(&ALL.iter().map(|s| s.to_string()).collect::<Vec<_>>()).len(),
            6
        );
    }

    #[test]
    fn an_objective_adds_required_verdict_fields() {
        let enabled = ["submit_qualification".to_owned(), "end_call".to_owned()];
        let extra = ["budget", "need", "qualified", "colour"].map(String::from);
        let d = definitions_for(&enabled, &extra);
        let required = &d[0].parameters["required"];
        assert_eq!(
            required,
            &json!([
                "qualified",
                "score",
                "reasons",
                "next_steps",
                "evidence_quotes",
                "budget",
                "need"
            ]),
            "known fields once each; unknown ones ignored"
        );
        assert_eq!(d[1].parameters, definitions(&enabled)[1].parameters);
    }

    #[test]
    fn verdict_is_checked() {
        let ok = Verdict::from_arguments(
            r#"{"qualified":true,"score":82,"reasons":["budget set"],"next_steps":"demo","evidence_quotes":["we have budget"]}"#,
        )
        .unwrap();
        assert!(ok.qualified);
        assert_eq!(ok.score, 82);
        assert!(Verdict::from_arguments(r#"{"qualified":true}"#).is_err());
        let e = Verdict::from_arguments(
            r#"{"qualified":true,"score":120,"reasons":[],"next_steps":"","evidence_quotes":[]}"#,
        )
        .unwrap_err();
        assert!(e.to_output().contains("score"));
        assert!(Verdict::from_arguments(r#"{"qualified":true,"score":5,"reasons":[],"next_steps":"","evidence_quotes":[],"extra":1}"#).is_err());
    }
}
