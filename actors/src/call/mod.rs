//! The per-call actor tree: a [`CallSupervisor`] per bridged call owning the
//! Realtime bridge, the transcript publisher and the CRM writer, fed by the SIP
//! and media legs; and the node-wide [`AgentApp`] that starts one per answered
//! call and finds them by call id.
//!
//! Audio never goes through the actors: the media leg and the bridge's driver
//! exchange frames in bounded rings (drop-oldest, counted). Mailboxes carry
//! control only: leg events, hang-up, restarts, reader wake-ups.

mod log;
mod readers;
mod supervisor;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ractor::{Actor, ActorRef};

pub use log::{
    CallEvent, CallStore, EventLog, MemoryStore, StoreFailure, StoreFuture, StoredCall, ToolRecord,
};
pub use readers::{Reader, ReaderArgs, ReaderKind, ReaderMsg};
pub use supervisor::{BridgeActor, BridgeMsg, CallMsg, CallSupervisor, Child};

use crate::metrics::Metrics;
use crate::realtime::{AgentConfig, RealtimeEndpoint, ToolHosts};
use crate::sip::{BridgedCall, CallApp, CallId, CallTag};

/// A live call's tree.
#[derive(Debug, Clone)]
pub struct LiveCall {
    /// The supervisor.
    pub supervisor: ActorRef<CallMsg>,
    /// Its event log.
    pub log: Arc<EventLog>,
}

/// Starts a supervised tree for every bridged call (the SIP engine's [`CallApp`]).
/// Admission (capacity, drain) is the SIP engine's: a call it admits gets a tree.
#[derive(Debug)]
pub struct AgentApp {
    agent: AgentConfig,
    endpoint: RealtimeEndpoint,
    tools: Arc<dyn ToolHosts>,
    metrics: Arc<Metrics>,
    store: Arc<dyn CallStore>,
    live: Arc<Mutex<HashMap<CallId, LiveCall>>>,
    tag: Option<CallTag>,
}

impl AgentApp {
    /// An app running `agent` against `endpoint`.
    pub fn new(
        agent: AgentConfig,
        endpoint: RealtimeEndpoint,
        tools: Arc<dyn ToolHosts>,
        metrics: Arc<Metrics>,
        store: Arc<dyn CallStore>,
    ) -> AgentApp {
        AgentApp {
            agent,
            endpoint,
            tools,
            metrics,
            store,
            live: Arc::default(),
            tag: None,
        }
    }

    /// An app running `agent` with `tools` that shares this one's endpoint,
    /// metrics, store and live-call table (one per number or session binding).
    pub fn with(&self, agent: AgentConfig, tools: Arc<dyn ToolHosts>) -> AgentApp {
        AgentApp {
            agent,
            endpoint: self.endpoint.clone(),
            tools,
            metrics: self.metrics.clone(),
            store: self.store.clone(),
            live: self.live.clone(),
            tag: None,
        }
    }

    /// This app, tagging the records of the calls it takes with `tag`.
    pub fn tagged(mut self, tag: CallTag) -> AgentApp {
        self.tag = Some(tag);
        self
    }

    /// The live call with this id.
    pub fn get(&self, id: CallId) -> Option<LiveCall> {
        self.live.lock().ok()?.get(&id).cloned()
    }

    /// Ids of live calls.
    pub fn live(&self) -> Vec<CallId> {
        self.live
            .lock()
            .map(|m| m.keys().copied().collect())
            .unwrap_or_default()
    }
}

impl CallApp for AgentApp {
    fn tag(&self) -> Option<CallTag> {
        self.tag.clone()
    }

    fn start(&self, call: BridgedCall) {
        let log = Arc::new(EventLog::default());
        let args = supervisor::CallArgs {
            id: call.id,
            outbound: call.outbound,
            agent: self.agent.clone(),
            endpoint: self.endpoint.clone(),
            media: call.media,
            handle: call.handle,
            events: call.events,
            tools: self.tools.for_call(call.id),
            metrics: self.metrics.clone(),
            store: self.store.clone(),
            log: log.clone(),
        };
        let live = self.live.clone();
        let id = call.id;
        tokio::spawn(async move {
            match Actor::spawn(None, CallSupervisor, args).await {
                Ok((sup, join)) => {
                    if let Ok(mut m) = live.lock() {
                        m.insert(
                            id,
                            LiveCall {
                                supervisor: sup,
                                log,
                            },
                        );
                    }
                    let _ = join.await;
                }
                Err(e) => {
                    tracing::error!(call = %id, error = %e, "call supervisor failed to start")
                }
            }
            if let Ok(mut m) = live.lock() {
                m.remove(&id);
            }
        });
    }
}
