//! tenex-voice: the service: `serve` runs the SIP engine; `selfcheck` checks the
//! audio hot path. The per-call actor tree and the REST API build on these.

pub mod agent_tools;
pub mod api;
pub mod config;
pub mod demo;
pub mod dialer;
pub mod host;
pub mod http;
pub mod keys_cli;
pub mod mcp;
pub mod realtime_sim;
pub mod selfcheck;
pub mod serve;
pub mod store;
pub mod webhooks;
