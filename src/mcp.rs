//! MCP tools at `/mcp` (streamable HTTP, stateless: every POST stands alone, so
//! any node answers and nothing lives in memory between requests), behind the
//! same `Bearer tnx_…` keys as the REST API and scoped to the key's workspace:
//! - `run_voice_qualifier` starts a campaign and answers at once;
//! - `get_call_results` reads its status and per-lead results, sized for a
//!   model's context (full transcripts stay behind the REST API).

use axum::http::request::Parts;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, Implementation, ServerCapabilities, ServerConfig};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, tool, tool_handler, tool_router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::{ApiError, Caller};
use crate::store::{NewBatch, Store, StoreError};

/// Arguments of `run_voice_qualifier`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunArgs {
    /// The leads to call (ids `lead_…` from the workspace's CRM), 1 to 5000.
    pub lead_ids: Vec<String>,
    /// What the call is for: an objective template's name (`qualify_for_demo`,
    /// `book_meeting`, `reengage`, or one of the agent's) or free text.
    pub objective: String,
    /// Calendar (`cal_…`) the agent books meetings in.
    #[serde(default)]
    pub calendar_connector_id: Option<String>,
    /// The agent (`agent_…`); the workspace's first agent when left out.
    #[serde(default)]
    pub agent_id: Option<String>,
}

/// Arguments of `get_call_results`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResultsArgs {
    /// The batch id `run_voice_qualifier` returned (`batch_…`).
    pub call_batch_id: String,
}

/// The MCP server: one per request.
#[derive(Debug, Clone)]
pub struct VoiceMcp {
    store: Store,
}

fn caller(ctx: &RequestContext<RoleServer>) -> Result<Caller, ErrorData> {
    ctx.extensions
        .get::<Parts>()
        .and_then(|p| p.extensions.get::<Caller>())
        .cloned()
        .ok_or_else(|| ErrorData::internal_error("the request carries no API key", None))
}

/// A tool error the model can read.
fn refused(message: impl Into<String>) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message.into())])
}

fn api_refusal(e: ApiError) -> Result<CallToolResult, ErrorData> {
    match e.status.as_u16() {
        500.. => Err(ErrorData::internal_error(e.message, None)),
        _ => Ok(refused(match e.param {
            Some(p) => format!("{p}: {}", e.message),
            None => e.message,
        })),
    }
}

/// The first sentence of `s`, at most 160 characters.
fn one_line(s: &str) -> String {
    let s = s.trim();
    let end = s
        .char_indices()
        .find(|(_, c)| matches!(c, '.' | '!' | '?' | '\n'))
        .map_or(s.len(), |(i, c)| i + c.len_utf8());
    let first = s[..end].trim();
    if first.chars().count() <= 160 {
        first.to_owned()
    } else {
        let cut: String = first.chars().take(159).collect();
        format!("{cut}…")
    }
}

#[tool_router]
impl VoiceMcp {
    /// A server over `store`.
    pub fn new(store: Store) -> VoiceMcp {
        VoiceMcp { store }
    }

    /// Starts a batch of qualification calls.
    #[tool(
        description = "Start AI voice calls that qualify the given leads (an outbound campaign). \
Returns at once with call_batch_id, how many leads were queued and the rejected ones with the \
reason; the calls run asynchronously (within calling hours, with retries). Read the outcome \
later with get_call_results."
    )]
    pub async fn run_voice_qualifier(
        &self,
        Parameters(args): Parameters<RunArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let caller = caller(&ctx)?;
        let ws = &caller.workspace;
        let agent_id = match args.agent_id {
            Some(a) => a,
            None => match self.store.first_agent(ws).await {
                Ok(Some(a)) => a,
                Ok(None) => {
                    return Ok(refused(
                        "the workspace has no agent: create one with POST /api/v1/voice/agents",
                    ));
                }
                Err(e) => return api_refusal(e.into()),
            },
        };
        let batch = NewBatch {
            lead_ids: args.lead_ids,
            objective: args.objective,
            agent_id,
            calendar_connector_id: args.calendar_connector_id,
            trunk_id: None,
            caller_id: None,
            concurrency: None,
            calls_per_second: None,
            ring_timeout_s: None,
            retry: None,
            window: None,
        };
        match crate::api::batches::start_batch(&self.store, ws, &batch, None).await {
            Ok((created, _)) => Ok(CallToolResult::structured(json!({
                "call_batch_id": created.call_batch_id,
                "queued": created.queued,
                "rejected": created.rejected,
            }))),
            Err(e) => api_refusal(e),
        }
    }

    /// A batch's status and per-lead results.
    #[tool(
        description = "Status and per-lead results of a batch started with run_voice_qualifier: \
status (queued, running, paused, completed, canceled), counts per outcome, and for each lead its \
outcome (qualified, unqualified, no-answer, busy, voicemail, failed, dnc, canceled; null while \
pending), whether it qualified, the score, a one-line summary, the booked meeting's time and the \
last call id. Full transcripts are at GET /api/v1/voice/calls/{call_id}/transcript.",
        annotations(read_only_hint = true)
    )]
    pub async fn get_call_results(
        &self,
        Parameters(args): Parameters<ResultsArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let caller = caller(&ctx)?;
        let ws = &caller.workspace;
        let id = &args.call_batch_id;
        let (batch, results) = match (
            self.store.batch(ws, id).await,
            self.store.batch_results(ws, id).await,
        ) {
            (Ok(b), Ok(r)) => (b, r),
            (Err(StoreError::NotFound), _) | (_, Err(StoreError::NotFound)) => {
                return Ok(refused(format!("no batch {id} in this workspace")));
            }
            (Err(e), _) | (_, Err(e)) => return api_refusal(e.into()),
        };
        let leads: Vec<Value> = results
            .iter()
            .map(|r| {
                json!({
                    "lead_id": r.lead_id,
                    "name": r.name,
                    "state": r.state,
                    "outcome": (r.state == "done" || r.state == "canceled")
                        .then(|| r.outcome.clone()).flatten(),
                    "attempts": r.attempts,
                    "qualified": r.qualified,
                    "score": r.score,
                    "summary": r.summary.as_deref().map(one_line),
                    "meeting_start": r.meeting_start,
                    "call_id": r.call_ids.last(),
                })
            })
            .collect();
        Ok(CallToolResult::structured(json!({
            "call_batch_id": batch.id,
            "status": batch.status,
            "counts": batch.counts,
            "done": batch.progress.done,
            "total": batch.progress.total,
            "results": leads,
        })))
    }
}

#[tool_handler]
impl ServerHandler for VoiceMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(
                "tenex-voice",
                env!("CARGO_PKG_VERSION"),
            ))
            .with_instructions(
                "Qualify leads by phone: run_voice_qualifier starts the calls and returns a \
                 call_batch_id; get_call_results reports each lead's outcome as the calls finish.",
            )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_shrink_to_one_line() {
        assert_eq!(
            one_line("Qualified lead, demo agreed. Budget is approved."),
            "Qualified lead, demo agreed."
        );
        assert_eq!(one_line("  no stop at all "), "no stop at all");
        let long = "x".repeat(300);
        assert_eq!(one_line(&long).chars().count(), 160);
    }
}
