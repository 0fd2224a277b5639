//! What the engine's host does for calls: routes inbound calls by the dialled
//! number to the number's agent (with the caller's lead record when the caller
//! is a known lead), and writes every bound call's lifecycle to the store.
//!
//! The SIP engine knows nothing of workspaces: the host tags each call it hands
//! to an agent with a [`CallBinding`], and the engine gives the tag back with
//! every lifecycle change ([`CallSink`]).

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tenex_actors::call::AgentApp;
use tenex_actors::sip::{
    self, CallChange, CallObserver, CallRecord, CallRouter, CallTag, EngineHandle, IncomingCall,
    Route, RouteFuture,
};
use tokio::sync::mpsc;

use crate::agent_tools::StoreTools;
use crate::store::{Agent, CallBinding, CallConfig, Lead, Store, StoreResult};

/// Lifecycle changes waiting for the database writer. Three or four per call;
/// when full (the database stalled for a long time) a change is dropped and
/// logged, and the call's next change (each carries the whole record) repairs it.
pub const LIFECYCLE_QUEUE: usize = 4096;

/// The lead as text for the agent's instructions.
pub fn lead_context(lead: &Lead) -> String {
    let mut s = format!("Name: {}\nPhone: {}", lead.name, lead.phone);
    if let Some(c) = &lead.company {
        s.push_str(&format!("\nCompany: {c}"));
    }
    if let Some(e) = &lead.email {
        s.push_str(&format!("\nEmail: {e}"));
    }
    if let Some(tz) = &lead.timezone {
        s.push_str(&format!("\nTime zone: {tz}"));
    }
    for (k, v) in &lead.custom {
        s.push_str(&format!("\n{k}: {v}"));
    }
    s
}

/// What one call runs: the agent, the objective, the lead and calendar.
#[derive(Debug, Clone)]
pub struct CallPlan {
    /// The workspace.
    pub workspace: String,
    /// The agent as it is now (copied into the call).
    pub agent: Agent,
    /// The objective as given.
    pub objective: String,
    /// The lead.
    pub lead: Option<Lead>,
    /// Calendar for bookings.
    pub calendar: Option<String>,
    /// Campaign, session and number the call came through.
    pub batch_id: Option<String>,
    /// Session.
    pub session_id: Option<String>,
    /// Number.
    pub number_id: Option<String>,
}

/// Makes the app for planned calls: an [`AgentApp`] sharing the node's
/// endpoint, metrics and live-call table, with the store's tools and the
/// call's binding as its tag.
#[derive(Debug, Clone)]
pub struct Apps {
    /// The node's base app.
    pub base: Arc<AgentApp>,
    /// The database.
    pub store: Store,
    /// Realtime model.
    pub model: String,
}

impl Apps {
    /// The app that runs `plan`'s call.
    pub fn app(&self, plan: &CallPlan) -> AgentApp {
        self.bound(plan).0
    }

    /// The app that runs `plan`'s call, and the binding it is tagged with.
    pub fn bound(&self, plan: &CallPlan) -> (AgentApp, CallBinding) {
        let config = plan.agent.config(
            &self.model,
            &plan.objective,
            plan.lead.as_ref().map(lead_context).unwrap_or_default(),
        );
        let binding = CallBinding {
            workspace: plan.workspace.clone(),
            agent_id: Some(plan.agent.id.clone()),
            lead_id: plan.lead.as_ref().map(|l| l.id.clone()),
            batch_id: plan.batch_id.clone(),
            session_id: plan.session_id.clone(),
            number_id: plan.number_id.clone(),
            objective: plan.objective.clone(),
            agent_config: json!(CallConfig {
                agent_id: plan.agent.id.clone(),
                name: plan.agent.name.clone(),
                model: config.model.clone(),
                system_prompt: config.system_prompt.clone(),
                objective: config.objective.clone(),
                lead_context: config.lead_context.clone(),
                tools: config.tools.clone(),
                greeting: config.greeting.clone(),
                max_duration_s: plan.agent.max_duration_s,
                voice_profile: plan.agent.voice_profile.clone(),
                agent_updated_at: plan.agent.updated_at,
            }),
        };
        let tools = StoreTools {
            store: self.store.clone(),
            workspace: plan.workspace.clone(),
            lead: binding.lead_id.clone(),
            calendar: plan.calendar.clone(),
        };
        let app = self
            .base
            .with(config, Arc::new(tools))
            .tagged(CallTag::new(binding.clone()));
        (app, binding)
    }
}

/// Keeps the SIP engine's trunks (allowlist, outbound destinations, limits)
/// in step with the database, plus the fixed ones from the trunks file.
#[derive(Debug, Clone)]
pub struct TrunkSync {
    /// The database.
    pub store: Store,
    /// The engine.
    pub engine: EngineHandle,
    /// Trunks from the trunks file, kept as they are.
    pub fixed: Arc<Vec<sip::Trunk>>,
}

impl TrunkSync {
    /// Gives the engine every trunk as stored now; returns how many.
    pub async fn sync(&self) -> StoreResult<usize> {
        let mut all: Vec<sip::Trunk> = self.fixed.as_ref().clone();
        all.extend(
            self.store
                .all_trunks()
                .await?
                .iter()
                .map(crate::store::Trunk::engine_trunk),
        );
        let n = all.len();
        self.engine.set_trunks(all);
        Ok(n)
    }
}

/// Who to call, as whom, for how long to ring.
#[derive(Debug, Clone)]
pub struct Dial {
    /// The callee's number.
    pub to: String,
    /// Caller id; the trunk's when `None`.
    pub caller_id: Option<String>,
    /// How long to ring.
    pub ring_timeout: Duration,
    /// When the call was queued (Unix ms; now when `None`): a campaign call's
    /// is the moment its lead was claimed.
    pub queued_at: Option<i64>,
}

/// Places `plan`'s call to `dial.to` through `trunk` (a stored trunk) as call `id`
/// (reserved with [`EngineHandle::reserve_id`]): the call is stored as queued
/// now, and dialled in the background. A
/// dial that cannot even start (trunk limit, no capacity, unresolvable host)
/// ends the stored call as failed with the reason as its hang-up cause.
pub async fn place_call(
    apps: &Apps,
    engine: &EngineHandle,
    plan: &CallPlan,
    id: tenex_actors::sip::CallId,
    trunk: &crate::store::Trunk,
    dial: Dial,
) -> StoreResult<()> {
    let Some(outbound) = trunk.outbound_trunk() else {
        return Err(crate::store::StoreError::invalid(
            "trunk_id",
            "the trunk has no outbound destination",
        ));
    };
    let (app, binding) = apps.bound(plan);
    apps.store
        .queue_call_at(
            id,
            &binding,
            &dial.to,
            dial.queued_at.unwrap_or_else(crate::store::now_ms),
        )
        .await?;
    let req = sip::DialRequest {
        trunk: outbound,
        to: dial.to,
        from: dial.caller_id,
        ring_timeout: Some(dial.ring_timeout),
        app: Some(Arc::new(app)),
        id: Some(id),
        via: Some(trunk.id.clone()),
    };
    let (engine, store) = (engine.clone(), apps.store.clone());
    let campaign = plan.batch_id.is_some();
    tokio::spawn(async move {
        if let Err(e) = engine.dial(req).await {
            let cause = match e {
                sip::DialError::TrunkLimit(_) => "trunk-limit",
                sip::DialError::Unavailable => "no-capacity",
                sip::DialError::Resolve(_) => "trunk-unresolvable",
                _ => "dial-failed",
            };
            tracing::warn!(call = %id, error = %e, "dial failed");
            // A campaign lead refused for room (other calls fill the trunk or
            // the node) was never dialed: it goes back to the queue, and no
            // call is recorded.
            let released = if campaign && matches!(cause, "trunk-limit" | "no-capacity") {
                store.release_claim(id).await
            } else {
                Ok(false)
            };
            match released {
                Ok(true) => return,
                Ok(false) => {}
                Err(e) => tracing::error!(call = %id, error = %e, "releasing the claim"),
            }
            if let Err(e) = store.fail_queued_call(id, cause).await {
                tracing::error!(call = %id, error = %e, "marking the call failed");
            }
        }
    });
    Ok(())
}

/// Routes inbound calls: `echo` (when on), else the dialled number's agent;
/// unknown numbers get 404.
#[derive(Debug, Clone)]
pub struct NumberRouter {
    /// Makes the apps.
    pub apps: Apps,
    /// Whether the `echo` route answers.
    pub echo: bool,
}

impl NumberRouter {
    async fn plan(&self, call: &IncomingCall) -> StoreResult<Option<CallPlan>> {
        let store = &self.apps.store;
        let Some(dialled) = call.user.as_deref() else {
            return Ok(None);
        };
        if dialled.starts_with("sess_") {
            return self.session_plan(dialled).await;
        }
        let Some(routed) = store.route_number(dialled).await? else {
            return Ok(None);
        };
        let ws = routed.workspace_id;
        let n = routed.number;
        let agent = store.agent(&ws, &n.agent_id).await?;
        let caller = uri_user(&call.from);
        let lead = match caller {
            Some(phone) => store.lead_by_phone(&ws, &normalize(phone)).await?,
            None => None,
        };
        Ok(Some(CallPlan {
            workspace: ws,
            agent,
            objective: n.objective,
            lead,
            calendar: n.calendar_connector_id,
            batch_id: None,
            session_id: None,
            number_id: Some(n.id),
        }))
    }
}

impl NumberRouter {
    /// A call to an inbound session's URI: the session's lead, agent and
    /// objective, once, before it expires.
    async fn session_plan(&self, id: &str) -> StoreResult<Option<CallPlan>> {
        let store = &self.apps.store;
        let Some(claimed) = store.claim_session(id).await? else {
            tracing::info!(session = id, "call to an unknown, used or expired session");
            return Ok(None);
        };
        let ws = claimed.workspace_id;
        let s = claimed.session;
        let lead = match &s.lead_id {
            Some(l) => Some(store.lead(&ws, l).await?),
            None => None,
        };
        Ok(Some(CallPlan {
            agent: store.agent(&ws, &s.agent_id).await?,
            workspace: ws,
            objective: s.objective,
            lead,
            calendar: s.calendar_connector_id,
            batch_id: None,
            session_id: Some(s.id),
            number_id: None,
        }))
    }
}

impl CallRouter for NumberRouter {
    fn route<'a>(&'a self, call: &'a IncomingCall) -> RouteFuture<'a> {
        Box::pin(async move {
            if self.echo && call.user.as_deref() == Some("echo") {
                return Route::Echo {
                    answer_after: Duration::ZERO,
                };
            }
            match self.plan(call).await {
                Ok(Some(plan)) => Route::Agent {
                    answer_after: Duration::ZERO,
                    app: Arc::new(self.apps.app(&plan)),
                },
                Ok(None) => Route::NotFound,
                Err(e) => {
                    // Without the database we cannot tell whose call this is.
                    tracing::error!(error = %e, "routing lookup failed");
                    Route::NotFound
                }
            }
        })
    }
}

/// The user part of a SIP/tel URI in a From or To value.
pub fn uri_user(value: &str) -> Option<&str> {
    let start = ["sip:", "sips:", "tel:"]
        .iter()
        .filter_map(|p| value.find(p).map(|i| i + p.len()))
        .min()?;
    let rest = &value[start..];
    let end = rest.find(['@', ';', '>', '?']).unwrap_or(rest.len());
    Some(&rest[..end]).filter(|u| !u.is_empty())
}

/// `+` added to a digits-only number.
fn normalize(n: &str) -> String {
    if !n.starts_with('+') && n.bytes().all(|b| b.is_ascii_digit()) {
        format!("+{n}")
    } else {
        n.to_owned()
    }
}

enum Lifecycle {
    Change(Box<CallRecord>, CallChange),
    Flush(tokio::sync::oneshot::Sender<()>),
}

/// The engine's [`CallObserver`]: hands bound calls' changes to the writer.
#[derive(Debug, Clone)]
pub struct CallSink {
    tx: mpsc::Sender<Lifecycle>,
}

impl std::fmt::Debug for Lifecycle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Lifecycle")
    }
}

impl CallSink {
    /// Waits until every change queued before this call is written.
    pub async fn flush(&self) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if self.tx.send(Lifecycle::Flush(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

impl CallObserver for CallSink {
    fn observe(&self, record: &CallRecord, change: CallChange) {
        if record
            .tag
            .as_ref()
            .and_then(|t| t.get::<CallBinding>())
            .is_none()
        {
            return;
        }
        let change_of = Lifecycle::Change(Box::new(record.clone()), change);
        if self.tx.try_send(change_of).is_err() {
            tracing::error!(call = %record.id, ?change, "call lifecycle queue full: change dropped");
        }
    }
}

/// Starts the writer of call lifecycle changes; returns the engine's observer.
/// The writer ends when every [`CallSink`] is dropped and the queue is drained.
pub fn lifecycle_writer(store: Store) -> (CallSink, tokio::task::JoinHandle<()>) {
    let (tx, mut rx) = mpsc::channel::<Lifecycle>(LIFECYCLE_QUEUE);
    let task = tokio::spawn(async move {
        while let Some(item) = rx.recv().await {
            let (record, change) = match item {
                Lifecycle::Change(r, c) => (r, c),
                Lifecycle::Flush(done) => {
                    let _ = done.send(());
                    continue;
                }
            };
            let Some(binding) = record.tag.as_ref().and_then(|t| t.get::<CallBinding>()) else {
                continue;
            };
            // A few quick retries ride out a busy database; then give up on this
            // change (the next one carries the whole record again).
            for attempt in 0..3u32 {
                match store.record_call(binding, &record, change).await {
                    Ok(()) => break,
                    Err(e) => {
                        tracing::warn!(call = %record.id, error = %e, attempt, "writing call failed");
                        tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
                    }
                }
            }
        }
    });
    (CallSink { tx }, task)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_users() {
        assert_eq!(
            uri_user("\"Ada\" <sip:+14155550123@10.0.0.1:5060>;tag=1"),
            Some("+14155550123")
        );
        assert_eq!(uri_user("<sip:echo@127.0.0.1>"), Some("echo"));
        assert_eq!(uri_user("tel:+4930123;phone-context=x"), Some("+4930123"));
        assert_eq!(uri_user("<sip:@host>"), None);
        assert_eq!(uri_user("garbage"), None);
        assert_eq!(normalize("4930123"), "+4930123");
        assert_eq!(normalize("+4930123"), "+4930123");
    }
}
