//! The Realtime bridge: one call's conversation with the OpenAI Realtime API (GA
//! protocol) over a WebSocket.
//!
//! - [`client`] / [`server`]: the wire events, typed.
//! - [`agent`]: the agent configuration and the `session.update` it becomes.
//! - [`core`]: the conversation logic, sans IO (barge-in, tools, greeting,
//!   transcripts, re-seeding after a reconnect).
//! - [`driver`]: the WebSocket session and the audio rings around the core.
//! - [`tools`]: tool declarations, the verdict, the host interface.
//!
//! Barge-in: with the agent's `interrupt_response` on and `min_barge_in_ms` > 0
//! (default 300), the session is configured with `interrupt_response: false` and
//! `create_response: false`, and the bridge runs its own energy VAD on the caller
//! audio: only speech with at least `min_barge_in_ms` of voiced audio while agent
//! audio is playing interrupts (flush playout, `response.cancel`, truncate at what
//! was heard); shorter speech ("uh-huh", "ok") is a backchannel and the agent
//! keeps talking. The bridge then asks for a response when the caller's turn is
//! committed, unless that turn was a backchannel. With `min_barge_in_ms = 0` the
//! service interrupts on its own VAD and the bridge stops playout on
//! `speech_started`. With `interrupt_response` off the caller never interrupts.

pub mod agent;
pub mod client;
pub mod core;
pub mod driver;
pub mod events;
pub mod server;
pub mod tools;

pub use agent::{AgentConfig, TurnMode};
pub use core::{BridgeCore, LatencyKind, Output};
pub use driver::{BridgeSink, DriverCommand, DriverExit, DriverParts, MediaPort, RealtimeEndpoint};
pub use events::{BridgeEvent, CallUsage, Segment, Speaker};
pub use tools::{NoTools, ToolCall, ToolError, ToolHost, ToolHosts, Verdict};
