//! What the bridge reports about the conversation (typed; strings only at the
//! edge, when an event is serialised for SSE or a webhook).

use super::core::LatencyKind;
use super::tools::Verdict;

/// What a call used so far: tokens the service reported on each response, and
/// audio each way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallUsage {
    /// Input tokens, all responses.
    pub input_tokens: u64,
    /// Output tokens, all responses.
    pub output_tokens: u64,
    /// Caller audio sent to the service, ms.
    pub audio_in_ms: u64,
    /// Agent audio received from the service, ms.
    pub audio_out_ms: u64,
}

/// Who spoke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Speaker {
    /// The person on the phone.
    Caller,
    /// The AI agent.
    Agent,
}

impl Speaker {
    /// `caller` / `agent`.
    pub fn as_str(self) -> &'static str {
        match self {
            Speaker::Caller => "caller",
            Speaker::Agent => "agent",
        }
    }
}

/// A final transcript segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// Who.
    pub speaker: Speaker,
    /// The Realtime item id.
    pub item_id: String,
    /// What was said.
    pub text: String,
    /// Start, ms of call time (from answer).
    pub start_ms: u64,
    /// End, ms of call time.
    pub end_ms: u64,
}

/// One event of the conversation.
#[derive(Debug, Clone, PartialEq)]
pub enum BridgeEvent {
    /// Interim text for the live view.
    TranscriptDelta {
        /// Who.
        speaker: Speaker,
        /// The item.
        item_id: String,
        /// New text.
        delta: String,
    },
    /// Final text of one utterance.
    Segment(Segment),
    /// The agent called a tool.
    ToolCall {
        /// Tool name.
        name: String,
        /// Arguments as the model sent them.
        arguments: String,
        /// The output sent back (JSON text).
        output: String,
        /// Whether the tool failed (its error went back to the model).
        failed: bool,
    },
    /// The caller interrupted the agent.
    BargeIn {
        /// The assistant item that was cut.
        item_id: String,
        /// Milliseconds of it the caller heard.
        played_ms: u32,
    },
    /// Short caller speech over the agent that did not interrupt it.
    Backchannel,
    /// The qualification verdict.
    Verdict(Verdict),
    /// The agent asked to end the call.
    EndCall {
        /// Why.
        reason: String,
    },
    /// The end-of-call summary.
    Summary(String),
    /// A latency measured on this call.
    Latency {
        /// Which.
        kind: LatencyKind,
        /// How long, ms.
        ms: u32,
    },
    /// The call's running usage totals (each replaces the last).
    Usage(CallUsage),
    /// The service reported an error.
    ServiceError {
        /// Its code (or type when no code).
        code: String,
        /// Its message.
        message: String,
    },
}
