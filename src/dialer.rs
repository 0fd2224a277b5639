//! The campaign dialer: each engine node runs one. It claims due leads from
//! the database queue ([`Store::claim_next`]), places their calls through the
//! node's engine, renews the leases of the calls it runs, and settles the calls
//! of nodes that died ([`Store::settle_expired`]). Several nodes can share one
//! Postgres queue: claims skip rows another node holds, and every limit
//! (concurrency, calls per second, per batch and per trunk) is counted in the
//! database.

use std::time::Duration;

use tenex_actors::sip::{CallId, EngineHandle};
use tokio::task::JoinHandle;

use crate::host::{Apps, CallPlan, Dial, place_call};
use crate::store::{Claim, Store, StoreResult, call_key, new_id};

/// How the dialer runs.
#[derive(Debug, Clone)]
pub struct DialerConfig {
    /// How often it looks for due leads.
    pub tick: Duration,
    /// How long a claimed call stays this node's without a renewal; a node
    /// silent for longer is taken for dead and its calls are settled.
    pub lease: Duration,
    /// Most calls it places per tick.
    pub burst: usize,
}

impl Default for DialerConfig {
    fn default() -> DialerConfig {
        DialerConfig {
            tick: Duration::from_millis(250),
            lease: Duration::from_secs(30),
            burst: 16,
        }
    }
}

/// One node's dialer.
#[derive(Debug, Clone)]
pub struct Dialer {
    /// The database.
    pub store: Store,
    /// Makes the calls' apps.
    pub apps: Apps,
    /// The node's engine.
    pub engine: EngineHandle,
    /// Settings.
    pub config: DialerConfig,
}

impl Dialer {
    /// Runs the dialer until the task is aborted.
    pub fn spawn(self) -> JoinHandle<()> {
        tokio::spawn(async move { self.run().await })
    }

    async fn run(self) {
        let node = new_id("node");
        let lease_ms = i64::try_from(self.config.lease.as_millis()).unwrap_or(30_000);
        let renew_every = (self.config.lease / 3).max(Duration::from_millis(100));
        let settle_every = (self.config.lease / 2).max(Duration::from_millis(200));
        let mut tick = tokio::time::interval(self.config.tick);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let (mut renewed, mut settled) = (tokio::time::Instant::now(), tokio::time::Instant::now());
        tracing::info!(node, "dialer started");
        loop {
            tick.tick().await;
            if renewed.elapsed() >= renew_every {
                renewed = tokio::time::Instant::now();
                let live: Vec<String> = self
                    .engine
                    .active_calls()
                    .into_iter()
                    .map(call_key)
                    .collect();
                if let Err(e) = self.store.renew_leases(&node, lease_ms, &live).await {
                    tracing::warn!(error = %e, "renewing dialer leases failed");
                }
            }
            if settled.elapsed() >= settle_every {
                settled = tokio::time::Instant::now();
                match self.store.settle_expired().await {
                    Ok(0) => {}
                    Ok(n) => tracing::warn!(calls = n, "settled calls of a node that stopped"),
                    Err(e) => tracing::warn!(error = %e, "settling expired calls failed"),
                }
            }
            if self.engine.is_draining() {
                continue;
            }
            for _ in 0..self.config.burst {
                let id = self.engine.reserve_id();
                match self.store.claim_next(&node, &call_key(id), lease_ms).await {
                    Ok(Some(claim)) => {
                        if let Err(e) = self.dial(&claim, id).await {
                            tracing::warn!(call = %id, lead = claim.lead_id, error = %e,
                                "campaign call could not be placed");
                            if let Err(e) = self.store.fail_claim(&claim, "dial-failed").await {
                                tracing::error!(error = %e, "settling a failed claim");
                            }
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "claiming a lead failed");
                        break;
                    }
                }
            }
        }
    }

    async fn dial(&self, claim: &Claim, id: CallId) -> StoreResult<()> {
        let ws = &claim.workspace;
        let trunk = self.store.trunk(ws, &claim.trunk_id).await?;
        let settings = self.store.settings(ws).await?;
        let plan = CallPlan {
            workspace: ws.clone(),
            agent: self.store.agent(ws, &claim.agent_id).await?,
            objective: claim.objective.clone(),
            lead: Some(self.store.lead(ws, &claim.lead_id).await?),
            calendar: claim.calendar_id.clone(),
            batch_id: Some(claim.batch_id.clone()),
            session_id: None,
            number_id: None,
        };
        let dial = Dial {
            to: claim.phone.clone(),
            caller_id: claim.caller_id.clone().or(settings.default_caller_id),
            ring_timeout: Duration::from_secs(u64::from(claim.ring_timeout_s)),
            queued_at: Some(claim.claimed_at),
        };
        tracing::info!(call = %id, batch = claim.batch_id, lead = claim.lead_id,
            attempt = claim.attempt, "campaign call");
        place_call(&self.apps, &self.engine, &plan, id, &trunk, dial).await
    }
}
