//! Placing a call through a trunk.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use rsipstack::dialog::authenticate::Credential;
use rsipstack::dialog::dialog::DialogState;
use rsipstack::dialog::invitation::InviteOption;
use rsipstack::transport::SipAddr;
use tenex_media::sdp::{self, LocalMedia, SessionDescription};
use thiserror::Error;
use tokio::sync::mpsc;

use super::bridged::{CallApp, Parties, Rings, hand_over};
use super::call::{CallCtx, start_media};
use super::config::{OutboundTrunk, SipTransport};
use super::engine::Shared;
use super::outcome::CallOutcome;
use super::record::{CallId, CallRecord, Direction, HungUpBy};
use super::registry::{CONTROL_QUEUE, EngineCounters, Refused};
use crate::media::{MediaEvent, MediaLeg, MediaMode};

/// A call to place.
#[derive(Debug, Clone)]
pub struct DialRequest {
    /// The trunk to send it through.
    pub trunk: OutboundTrunk,
    /// Who to call (the Request-URI user: a number or name).
    pub to: String,
    /// Caller id (From user); the trunk's default when `None`.
    pub from: Option<String>,
    /// How long to ring; the engine's default when `None`.
    pub ring_timeout: Option<Duration>,
    /// Bridge the answered call to this app (the agent speaks first); `None`
    /// echoes the callee's audio (line checks).
    pub app: Option<Arc<dyn CallApp>>,
    /// The call's id, reserved with [`SipEngine::reserve_id`](super::SipEngine::reserve_id);
    /// a fresh one when `None`.
    pub id: Option<CallId>,
    /// The name of the engine's trunk this goes through: its concurrency and
    /// calls-per-second limits apply, and the call's record names it.
    pub via: Option<String>,
}

/// How a dial attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialResult {
    /// The callee answered; the call runs until either side hangs up.
    Answered {
        /// The call.
        call: CallId,
    },
    /// The attempt failed.
    Failed {
        /// The call attempt's record id.
        call: CallId,
        /// What happened.
        outcome: CallOutcome,
        /// The final SIP status, when there was one.
        status: Option<u16>,
    },
}

/// Why a call could not even be attempted.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum DialError {
    /// At capacity, draining, or out of RTP ports.
    #[error("no capacity for another call")]
    Unavailable,
    /// The trunk is at its concurrency or calls-per-second limit.
    #[error("trunk {0} is at its call limit")]
    TrunkLimit(String),
    /// The trunk's host did not resolve.
    #[error("cannot resolve trunk {0}")]
    Resolve(String),
    /// The SIP stack refused the request.
    #[error("SIP stack: {0}")]
    Stack(String),
}

async fn resolve(trunk: &OutboundTrunk) -> Result<SocketAddr, DialError> {
    tokio::net::lookup_host((trunk.host.as_str(), trunk.port))
        .await
        .ok()
        .and_then(|mut addrs| addrs.next())
        .ok_or_else(|| DialError::Resolve(format!("{}:{}", trunk.host, trunk.port)))
}

/// Places a call and waits until it is answered or has failed.
pub(crate) async fn dial(shared: Arc<Shared>, req: DialRequest) -> Result<DialResult, DialError> {
    let trunk = &req.trunk;
    let target = resolve(trunk).await?;
    let from_user = req.from.clone().unwrap_or_else(|| trunk.caller_id.clone());
    let transport_param = match trunk.transport {
        SipTransport::Udp => "",
        SipTransport::Tcp => ";transport=tcp",
    };
    let caller = format!("sip:{from_user}@{}", shared.public_ip);
    let callee = format!(
        "sip:{}@{}:{}{transport_param}",
        req.to, trunk.host, trunk.port
    );

    let id = req.id.unwrap_or_else(|| shared.registry.next_id());
    let mut record = CallRecord::new(
        id,
        String::new(),
        Direction::Outbound,
        caller.clone(),
        callee.clone(),
        target,
        trunk.transport,
    );
    record.tag = req.app.as_ref().and_then(|a| a.tag());
    record.trunk = req.via.clone();
    let trunks = shared.trunks();
    let limits = req.via.as_deref().and_then(|name| trunks.named(name));
    let counters = &shared.registry.counters;
    if let Some(t) = limits
        && !trunks.take_call(t, std::time::Instant::now())
    {
        EngineCounters::bump(&counters.trunk_limited);
        return Err(DialError::TrunkLimit(t.name.clone()));
    }
    let (control_tx, control_rx) = mpsc::channel(CONTROL_QUEUE);
    let guard = shared
        .registry
        .admit(record, control_tx, limits.and_then(|t| t.max_concurrent))
        .map_err(|refused| match refused {
            Refused::Capacity => DialError::Unavailable,
            Refused::Trunk => {
                EngineCounters::bump(&counters.trunk_limited);
                DialError::TrunkLimit(req.via.clone().unwrap_or_default())
            }
        })?;
    let lease = shared.pool.acquire().map_err(|_| {
        EngineCounters::bump(&shared.registry.counters.unavailable);
        DialError::Unavailable
    })?;
    let port = lease.port();
    let session = shared.session_ids.fetch_add(1, Ordering::Relaxed);
    let local = LocalMedia::new(shared.public_ip, port, session, 1);
    let offer = sdp::create_offer(&local, &shared.cfg.codecs);

    let uri = |s: &str| -> Result<rsipstack::sip::Uri, DialError> {
        s.try_into()
            .map_err(|_| DialError::Stack(format!("bad URI {s}")))
    };
    let opt = InviteOption {
        caller: uri(&caller)?,
        callee: uri(&callee)?,
        contact: uri(&shared.contact(&from_user, trunk.transport))?,
        destination: Some(SipAddr {
            r#type: Some(match trunk.transport {
                SipTransport::Udp => rsipstack::sip::Transport::Udp,
                SipTransport::Tcp => rsipstack::sip::Transport::Tcp,
            }),
            addr: target.into(),
        }),
        content_type: Some("application/sdp".into()),
        offer: Some(offer.sdp().as_bytes().to_vec()),
        credential: trunk.credentials.as_ref().map(|c| Credential {
            username: c.username.clone(),
            password: c.password.clone(),
            realm: None,
            auth_username: None,
        }),
        ..Default::default()
    };
    let (state_tx, mut states) = shared.dialogs.new_dialog_state_channel();
    let (dialog, mut invite) = shared
        .dialogs
        .do_invite_async(opt, state_tx)
        .map_err(|e| DialError::Stack(e.to_string()))?;
    shared
        .registry
        .update(id, |r| r.sip_call_id = dialog.id().call_id.clone());

    // Ring: early media (180/183 with SDP) starts the media leg without answering.
    let ring_for = req.ring_timeout.unwrap_or(shared.cfg.ring_timeout);
    let ring_timer = tokio::time::sleep(ring_for);
    tokio::pin!(ring_timer);
    let mut lease = Some(lease);
    let mut media: Option<(MediaLeg, mpsc::Receiver<MediaEvent>)> = None;
    let mut negotiated = None;
    let mut timed_out = false;
    let mut rang = false;
    let rings = req.app.as_ref().map(|_| Rings::new());
    let mode = rings.as_ref().map_or(MediaMode::Echo, Rings::mode);
    let final_response = loop {
        tokio::select! {
            // States first: a 180 read together with the 200 still rings.
            biased;
            Some(state) = states.recv() => {
                if matches!(state, DialogState::Early(..)) && !rang {
                    rang = true;
                    shared.registry.mark_ringing(id);
                }
                if let DialogState::Early(_, resp) = state
                    && !resp.body.is_empty()
                    && media.is_none()
                    && let Ok(answer) = SessionDescription::parse(&resp.body)
                    && let Ok(neg) = sdp::accept_answer(&offer, &answer)
                    && let Some(l) = lease.take()
                    && let Ok(m) = start_media(&shared, l, &neg, id, mode.clone())
                {
                    media = Some(m);
                    negotiated = Some(neg);
                }
            }
            done = &mut invite => break done.ok().and_then(|r| r.ok()).and_then(|(_, resp)| resp),
            _ = &mut ring_timer, if !timed_out => {
                timed_out = true;
                let _ = dialog.cancel().await;
            }
        }
    };
    // A provisional response handled together with the final one (both read
    // before this task ran) still means the callee's phone rang.
    while let Ok(state) = states.try_recv() {
        if matches!(state, DialogState::Early(..)) && !rang {
            rang = true;
            shared.registry.mark_ringing(id);
        }
    }
    let status = final_response.as_ref().map(|r| r.status_code.code());
    let answered = status.is_some_and(|s| (200..300).contains(&s));
    if !answered {
        let outcome = match status {
            _ if timed_out => CallOutcome::NoAnswer,
            Some(code) => CallOutcome::from_final_status(code),
            None => CallOutcome::Failed,
        };
        if let Some((leg, _)) = media {
            leg.stop().await;
        }
        shared.registry.update(id, |r| {
            r.outcome = Some(outcome);
            r.final_status = status;
            r.hung_up_by = Some(if timed_out {
                HungUpBy::Us
            } else {
                HungUpBy::Them
            });
            r.ended_at = Some(SystemTime::now());
        });
        shared.dialogs.remove_dialog(&dialog.id());
        drop(guard);
        return Ok(DialResult::Failed {
            call: id,
            outcome,
            status,
        });
    }

    // Answered: the 200's SDP is the answer (it may differ from an early one).
    let body = final_response.map(|r| r.body).unwrap_or_default();
    let answer_neg = SessionDescription::parse(&body)
        .ok()
        .and_then(|a| sdp::accept_answer(&offer, &a).ok());
    let (leg, events, neg) = match (media, answer_neg.or(negotiated)) {
        (Some((leg, events)), Some(neg)) => (leg, events, neg),
        (None, Some(neg)) => match lease
            .take()
            .map(|l| start_media(&shared, l, &neg, id, mode.clone()))
        {
            Some(Ok((leg, events))) => (leg, events, neg),
            _ => return Ok(hang_up_failed(&shared, dialog, guard, id, 500).await),
        },
        (Some((leg, _)), None) => {
            leg.stop().await;
            return Ok(hang_up_failed(&shared, dialog, guard, id, 488).await);
        }
        (None, None) => return Ok(hang_up_failed(&shared, dialog, guard, id, 488).await),
    };
    shared.registry.mark_answered(id, neg.codec, port);
    let leg_events = match (&req.app, rings) {
        (Some(app), Some(rings)) => Some(hand_over(
            &shared,
            app,
            id,
            Parties {
                outbound: true,
                dialled: Some(req.to.clone()),
                from: caller.clone(),
            },
            &leg,
            neg.codec,
            rings,
        )),
        _ => None,
    };
    tokio::spawn(
        CallCtx {
            shared: shared.clone(),
            guard,
            dialog,
            states,
            control: control_rx,
            media: leg,
            media_events: events,
            local,
            negotiated: neg,
            leg: leg_events,
            last_sdp: offer.sdp().to_string(),
        }
        .run_supervised(),
    );
    Ok(DialResult::Answered { call: id })
}

/// An answered call we cannot carry (no usable SDP, no media): hang up at once.
async fn hang_up_failed(
    shared: &Shared,
    dialog: rsipstack::dialog::invite_dialog::InviteDialog,
    guard: super::registry::CallGuard,
    id: CallId,
    status: u16,
) -> DialResult {
    let _ = dialog.bye().await;
    shared.registry.update(id, |r| {
        r.outcome = Some(CallOutcome::Failed);
        r.final_status = Some(status);
        r.hung_up_by = Some(HungUpBy::Us);
        r.ended_at = Some(SystemTime::now());
    });
    shared.dialogs.remove_dialog(&dialog.id());
    drop(guard);
    DialResult::Failed {
        call: id,
        outcome: CallOutcome::Failed,
        status: Some(status),
    }
}
