//! One call's supervisor (ractor) and the Realtime bridge actor it supervises.
//!
//! Policy (in `handle_supervisor_evt`):
//! - the Realtime bridge fails (connection refused or dropped) → restart it after
//!   250 ms, 500 ms, 1 s; the new session gets `session.update` and the
//!   conversation so far as items; the phone call stays up. A 4th failure within
//!   10 s → a short tone, then hang up with outcome `failed`;
//! - the transcript publisher or CRM writer fails → restarted; it resumes from the
//!   cursor its store recorded, so no event is lost;
//! - the SIP or media leg ends or fails → the SIP leg sends BYE and reports
//!   [`LegEvent::Ended`]; the supervisor asks for the summary (10 s at most),
//!   drains the readers and stops.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent};
use tokio::sync::mpsc;

use super::log::{CallEvent, CallStore, EventLog};
use super::readers::{Reader, ReaderArgs, ReaderKind, ReaderMsg};
use crate::media::{AudioFrame, MediaCommand};
use crate::metrics::Metrics;
use crate::realtime::driver::{self, DriverCommand, DriverExit, DriverParts, RealtimeEndpoint};
use crate::realtime::{AgentConfig, BridgeCore, BridgeEvent, BridgeSink, MediaPort, ToolHost};
use crate::sip::{CallHandle, CallId, CallOutcome, LegEvent};

/// Failures allowed inside [`FAILURE_WINDOW`] before the call is given up.
const MAX_RESTARTS: usize = 3;
const FAILURE_WINDOW: Duration = Duration::from_secs(10);
const SUMMARY_TIMEOUT: Duration = Duration::from_secs(10);

/// The Realtime bridge actor: a thin shell around the driver task.
#[derive(Debug)]
pub struct BridgeActor;

/// Bridge messages.
#[derive(Debug)]
pub enum BridgeMsg {
    /// Forward to the driver.
    Command(DriverCommand),
    /// The driver task ended.
    Exited(DriverExit),
}

/// How to run a bridge.
#[derive(Debug, Clone)]
pub struct BridgeArgs {
    /// Service location.
    pub endpoint: RealtimeEndpoint,
    /// Model.
    pub model: String,
    /// Core, media, sink, tools, metrics.
    pub parts: DriverParts,
}

#[derive(Debug)]
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Bridge state.
#[derive(Debug)]
pub struct BridgeState {
    commands: mpsc::Sender<DriverCommand>,
    _task: AbortOnDrop,
    parts: DriverParts,
}

impl Actor for BridgeActor {
    type Msg = BridgeMsg;
    type State = BridgeState;
    type Arguments = BridgeArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<BridgeMsg>,
        args: BridgeArgs,
    ) -> Result<BridgeState, ActorProcessingErr> {
        let (tx, mut rx) = mpsc::channel(8);
        let parts = args.parts.clone();
        let task = tokio::spawn(async move {
            loop {
                let ws = match driver::connect(&args.endpoint, &args.model).await {
                    Ok(ws) => ws,
                    Err(e) => {
                        let _ = myself.send_message(BridgeMsg::Exited(DriverExit::Failed(e)));
                        return;
                    }
                };
                match driver::run(&args.parts, ws, &mut rx).await {
                    DriverExit::Expired => {
                        // A new session, seeded with the conversation so far.
                        lock(&args.parts.core).disconnected();
                        args.parts
                            .metrics
                            .reconnects
                            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    exit => {
                        let _ = myself.send_message(BridgeMsg::Exited(exit));
                        return;
                    }
                }
            }
        });
        Ok(BridgeState {
            commands: tx,
            _task: AbortOnDrop(task),
            parts,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<BridgeMsg>,
        msg: BridgeMsg,
        s: &mut BridgeState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            BridgeMsg::Command(c) => {
                let _ = s.commands.try_send(c);
                Ok(())
            }
            BridgeMsg::Exited(DriverExit::Stopped) => {
                myself.stop(None);
                Ok(())
            }
            BridgeMsg::Exited(DriverExit::Failed(e)) => {
                lock(&s.parts.core).disconnected();
                Err(e.into())
            }
            BridgeMsg::Exited(DriverExit::Expired) => {
                lock(&s.parts.core).disconnected();
                Err("session expired".into())
            }
        }
    }
}

fn lock(core: &Mutex<BridgeCore>) -> std::sync::MutexGuard<'_, BridgeCore> {
    core.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The supervisor of one call.
#[derive(Debug)]
pub struct CallSupervisor;

/// Supervisor messages.
#[derive(Debug)]
pub enum CallMsg {
    /// From the SIP leg.
    Leg(LegEvent),
    /// The log grew: wake the readers.
    Logged,
    /// The agent's last words have played: hang up.
    AgentHangup,
    /// Start the bridge again after a failure.
    RestartBridge,
    /// Give up on the agent: hang up with outcome `failed`.
    GiveUp,
    /// The agent's longest call is over: hang up (cause `max-duration`).
    MaxDuration,
    /// Wrap up and stop.
    Finish,
    /// Fault injection (tests, chaos drills): make a child fail.
    KillChild(Child),
}

/// A child of the call's tree, for [`CallMsg::KillChild`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Child {
    /// The Realtime bridge (killed like a crashed actor).
    Bridge,
    /// The transcript publisher (fails with an error).
    Transcript,
    /// The CRM writer (fails with an error).
    Crm,
    /// The media leg's task (exits as if it had crashed).
    Media,
    /// The SIP leg's task (panics).
    Sip,
}

/// Everything a call's tree needs.
#[derive(Debug)]
pub struct CallArgs {
    /// Engine call id.
    pub id: CallId,
    /// Placed by us.
    pub outbound: bool,
    /// The agent.
    pub agent: AgentConfig,
    /// Realtime service.
    pub endpoint: RealtimeEndpoint,
    /// Audio and media control.
    pub media: MediaPort,
    /// Hang-up handle.
    pub handle: CallHandle,
    /// Leg events.
    pub events: mpsc::Receiver<LegEvent>,
    /// Data-backed tools.
    pub tools: Arc<dyn ToolHost>,
    /// Node metrics.
    pub metrics: Arc<Metrics>,
    /// Durable data.
    pub store: Arc<dyn CallStore>,
    /// The log (shared so the caller can inspect it).
    pub log: Arc<EventLog>,
}

#[derive(Debug)]
struct Sink {
    log: Arc<EventLog>,
    sup: ActorRef<CallMsg>,
}

impl BridgeSink for Sink {
    fn event(&self, event: BridgeEvent) {
        self.log.push(CallEvent::Bridge(event));
        let _ = self.sup.send_message(CallMsg::Logged);
    }
    fn hangup(&self) {
        let _ = self.sup.send_message(CallMsg::AgentHangup);
    }
}

/// Supervisor state.
#[derive(Debug)]
pub struct CallState {
    id: CallId,
    log: Arc<EventLog>,
    store: Arc<dyn CallStore>,
    handle: CallHandle,
    bridge_args: BridgeArgs,
    bridge: Option<ActorRef<BridgeMsg>>,
    readers: Vec<(ReaderKind, ActorRef<ReaderMsg>)>,
    failures: VecDeque<Instant>,
    ended: bool,
    finishing: bool,
    gave_up: bool,
}

impl CallState {
    fn poll_readers(&self) {
        for (_, r) in &self.readers {
            let _ = r.send_message(ReaderMsg::Poll);
        }
    }
}

async fn spawn_reader(
    myself: &ActorRef<CallMsg>,
    s: &CallState,
    kind: ReaderKind,
) -> Result<ActorRef<ReaderMsg>, ActorProcessingErr> {
    let args = ReaderArgs {
        kind,
        call: s.id,
        log: s.log.clone(),
        store: s.store.clone(),
    };
    let (r, _) = Actor::spawn_linked(None, Reader, args, myself.get_cell()).await?;
    Ok(r)
}

async fn spawn_bridge(
    myself: &ActorRef<CallMsg>,
    args: &BridgeArgs,
) -> Result<ActorRef<BridgeMsg>, ActorProcessingErr> {
    let (b, _) = Actor::spawn_linked(None, BridgeActor, args.clone(), myself.get_cell()).await?;
    Ok(b)
}

impl Actor for CallSupervisor {
    type Msg = CallMsg;
    type State = CallState;
    type Arguments = CallArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<CallMsg>,
        args: CallArgs,
    ) -> Result<CallState, ActorProcessingErr> {
        let format = args.agent.audio_format(match args.media.law {
            Some(tenex_media::g711::G711Law::Ulaw) => tenex_media::sdp::Codec::Pcmu,
            Some(tenex_media::g711::G711Law::Alaw) => tenex_media::sdp::Codec::Pcma,
            None => tenex_media::sdp::Codec::Opus,
        });
        let core = BridgeCore::new(args.agent.clone(), args.media.rate);
        let sink: Arc<dyn BridgeSink> = Arc::new(Sink {
            log: args.log.clone(),
            sup: myself.clone(),
        });
        let bridge_args = BridgeArgs {
            endpoint: args.endpoint,
            model: args.agent.model.clone(),
            parts: DriverParts {
                core: Arc::new(Mutex::new(core)),
                media: args.media,
                sink,
                tools: args.tools,
                metrics: args.metrics,
                format,
            },
        };
        let mut events = args.events;
        let sup = myself.clone();
        tokio::spawn(async move {
            while let Some(ev) = events.recv().await {
                if sup.send_message(CallMsg::Leg(ev)).is_err() {
                    break;
                }
            }
        });
        args.log.push(CallEvent::Answered);
        let mut state = CallState {
            id: args.id,
            log: args.log,
            store: args.store,
            handle: args.handle,
            bridge_args,
            bridge: None,
            readers: Vec::new(),
            failures: VecDeque::new(),
            ended: false,
            finishing: false,
            gave_up: false,
        };
        for kind in [ReaderKind::Transcript, ReaderKind::Crm] {
            let r = spawn_reader(&myself, &state, kind).await?;
            state.readers.push((kind, r));
        }
        let bridge = spawn_bridge(&myself, &state.bridge_args).await?;
        let _ = bridge.send_message(BridgeMsg::Command(DriverCommand::Answered {
            outbound: args.outbound,
        }));
        state.bridge = Some(bridge);
        if let Some(limit) = args.agent.max_duration {
            myself.send_after(limit, || CallMsg::MaxDuration);
        }
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<CallMsg>,
        msg: CallMsg,
        s: &mut CallState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            CallMsg::Leg(LegEvent::Dtmf(d)) => {
                s.log.push(CallEvent::Dtmf(d.to_char()));
                s.poll_readers();
            }
            CallMsg::Leg(LegEvent::Ended { by, cause }) => {
                s.log.push(CallEvent::Ended { by, cause });
                s.ended = true;
                match &s.bridge {
                    Some(b) if !s.gave_up => {
                        let _ = b.send_message(BridgeMsg::Command(DriverCommand::Summarize));
                        myself.send_after(SUMMARY_TIMEOUT, || CallMsg::Finish);
                    }
                    _ => {
                        let _ = myself.send_message(CallMsg::Finish);
                    }
                }
            }
            CallMsg::Logged => s.poll_readers(),
            CallMsg::AgentHangup => {
                // The agent reached an answering machine: the call's outcome is
                // voicemail (the lead was not reached), not a conversation.
                if last_end_call_reason(&s.log).as_deref() == Some("voicemail") {
                    s.handle.hangup_with(CallOutcome::Completed, "voicemail");
                } else {
                    s.handle.hangup();
                }
            }
            CallMsg::RestartBridge => {
                if !s.ended && s.bridge.is_none() {
                    match spawn_bridge(&myself, &s.bridge_args).await {
                        Ok(b) => s.bridge = Some(b),
                        Err(e) => {
                            tracing::error!(call = %s.id, error = %e, "bridge restart failed")
                        }
                    }
                }
            }
            CallMsg::GiveUp => {
                s.handle
                    .hangup_with(CallOutcome::Failed, "realtime-unavailable");
            }
            CallMsg::MaxDuration => {
                if !s.ended {
                    tracing::info!(call = %s.id, "longest call reached: hanging up");
                    s.handle.hangup_with(CallOutcome::Completed, "max-duration");
                }
            }
            CallMsg::Finish => {
                if s.finishing {
                    return Ok(());
                }
                s.finishing = true;
                if let Some(b) = s.bridge.take() {
                    b.stop(None);
                }
                for (_, r) in &s.readers {
                    let _ = ractor::call_t!(r, ReaderMsg::Drain, 2000);
                }
                // A few quick retries ride out a busy store; the call's record
                // is complete without it, only the run's completion is late.
                for attempt in 0..3u32 {
                    match s.store.run_done(s.id).await {
                        Ok(()) => break,
                        Err(e) => {
                            tracing::warn!(call = %s.id, error = %e, attempt, "reporting the run done failed");
                            tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
                        }
                    }
                }
                myself.stop(None);
            }
            CallMsg::KillChild(child) => match child {
                Child::Bridge => {
                    if let Some(b) = &s.bridge {
                        b.kill();
                    }
                }
                Child::Transcript | Child::Crm => {
                    let kind = if child == Child::Crm {
                        ReaderKind::Crm
                    } else {
                        ReaderKind::Transcript
                    };
                    if let Some((_, r)) = s.readers.iter().find(|(k, _)| *k == kind) {
                        let _ = r.send_message(ReaderMsg::Crash);
                    }
                }
                Child::Media => {
                    let _ = s
                        .bridge_args
                        .parts
                        .media
                        .control
                        .try_send(MediaCommand::Crash);
                }
                Child::Sip => {
                    s.handle.crash();
                }
            },
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<CallMsg>,
        evt: SupervisionEvent,
        s: &mut CallState,
    ) -> Result<(), ActorProcessingErr> {
        let cell = match evt {
            SupervisionEvent::ActorTerminated(cell, _, _) => cell,
            SupervisionEvent::ActorFailed(cell, e) => {
                tracing::warn!(call = %s.id, error = %e, "call child failed");
                cell
            }
            _ => return Ok(()),
        };
        let id = cell.get_id();
        if s.bridge.as_ref().is_some_and(|b| b.get_id() == id) {
            s.bridge = None;
            if s.ended {
                let _ = myself.send_message(CallMsg::Finish);
                return Ok(());
            }
            // A bridge that stops while the call is up (failed, killed, or closed by
            // the service) counts as a failure either way.
            let now = Instant::now();
            while s
                .failures
                .front()
                .is_some_and(|t| now - *t > FAILURE_WINDOW)
            {
                s.failures.pop_front();
            }
            s.failures.push_back(now);
            if s.failures.len() <= MAX_RESTARTS {
                let n = s.failures.len() as u32;
                s.bridge_args
                    .parts
                    .metrics
                    .reconnects
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::warn!(call = %s.id, attempt = n, "Realtime session lost: reconnecting");
                myself.send_after(Duration::from_millis(250 << (n - 1)), || {
                    CallMsg::RestartBridge
                });
            } else {
                tracing::error!(call = %s.id, "Realtime service unreachable: ending the call");
                s.gave_up = true;
                play_tone(&s.bridge_args.parts.media);
                myself.send_after(Duration::from_millis(500), || CallMsg::GiveUp);
            }
            return Ok(());
        }
        if let Some(pos) = s.readers.iter().position(|(_, r)| r.get_id() == id) {
            let (kind, _) = s.readers.remove(pos);
            if !s.finishing {
                s.bridge_args
                    .parts
                    .metrics
                    .reader_restarts
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let r = spawn_reader(&myself, s, kind).await?;
                s.readers.push((kind, r));
            }
        }
        Ok(())
    }
}

/// The reason of the agent's last `end_call`, trimmed and lower-cased.
fn last_end_call_reason(log: &EventLog) -> Option<String> {
    log.since(0).into_iter().rev().find_map(|(_, ev)| match ev {
        CallEvent::Bridge(BridgeEvent::EndCall { reason }) => {
            Some(reason.trim().to_ascii_lowercase())
        }
        _ => None,
    })
}

/// 400 ms of 440 Hz into the playout ring (the "we lost the agent" tone).
fn play_tone(media: &MediaPort) {
    media.downlink.clear();
    let rate = media.rate.hz() as f32;
    let n = media.rate.frame_samples();
    let mut pcm = [0i16; 960];
    for f in 0..20 {
        for (i, s) in pcm[..n].iter_mut().enumerate() {
            let t = (f * n + i) as f32 / rate;
            *s = ((2.0 * std::f32::consts::PI * 440.0 * t).sin() * 6000.0) as i16;
        }
        media
            .downlink
            .push(AudioFrame::new(&pcm[..n], u32::MAX, 20_000));
    }
}
