//! A call in progress, whichever way it was placed: dialog events, media events
//! and commands until it ends, then the final record.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rsipstack::dialog::dialog::{DialogState, DialogStateReceiver};
use rsipstack::dialog::invite_dialog::InviteDialog;
use rsipstack::sip::prelude::HeadersExt;
use rsipstack::sip::{Header, Method, StatusCode};
use tenex_media::SampleRate;
use tenex_media::sdp::{self, Codec, CodecPrefs, LocalMedia, Negotiated, SessionDescription};
use tokio::sync::mpsc;

use super::bridged::LegEvent;
use super::engine::Shared;
use super::info::parse_info_dtmf;
use super::outcome::CallOutcome;
use super::record::{CallId, HungUpBy};
use super::registry::{CallControl, CallGuard};
use crate::media::{MediaCommand, MediaConfig, MediaEvent, MediaLeg, MediaMode, MediaStats};

/// Media events queued per call (DTMF, latch, inactivity).
pub(crate) const MEDIA_EVENTS: usize = 32;

/// The media leg configuration for a negotiated stream.
pub(crate) fn media_config(
    shared: &Shared,
    neg: &Negotiated,
    mode: MediaMode,
    call: CallId,
) -> MediaConfig {
    MediaConfig {
        codec: neg.codec,
        send_pt: neg.send_pt,
        recv_pt: neg.recv_pt,
        dtmf: neg.dtmf.map(|d| (d.send_pt, d.recv_pt, d.clock_rate)),
        remote_rtp: neg.remote_rtp,
        remote_rtcp: neg.remote_rtcp,
        rtcp_mux: neg.rtcp_mux,
        direction: neg.direction,
        pcm_rate: media_rate(neg.codec),
        cname: format!("{call}@tenex-voice"),
        mode,
        inactivity_timeout: shared.cfg.media_timeout,
        rtcp_interval: Duration::from_secs(5),
        recording: shared
            .cfg
            .recordings
            .as_ref()
            .map(|dir| dir.join(format!("{call}.wav"))),
    }
}

/// PCM rate inside a leg with `codec` (G.711 is 8 kHz; Opus runs at 48 kHz).
pub(crate) fn media_rate(codec: Codec) -> SampleRate {
    match codec {
        Codec::Opus => SampleRate::Hz48000,
        Codec::Pcmu | Codec::Pcma => SampleRate::Hz8000,
    }
}

/// Everything a running call owns.
pub(crate) struct CallCtx {
    pub(crate) shared: Arc<Shared>,
    /// Keeps the call in the registry until [`CallCtx::run_supervised`] is done.
    pub(crate) guard: CallGuard,
    pub(crate) dialog: InviteDialog,
    pub(crate) states: DialogStateReceiver,
    pub(crate) control: mpsc::Receiver<CallControl>,
    pub(crate) media: MediaLeg,
    pub(crate) media_events: mpsc::Receiver<MediaEvent>,
    pub(crate) local: LocalMedia,
    pub(crate) negotiated: Negotiated,
    /// The SDP we last sent, re-sent for a re-INVITE without an offer.
    pub(crate) last_sdp: String,
    /// Where a bridged call's leg events go.
    pub(crate) leg: Option<mpsc::Sender<LegEvent>>,
}

impl CallCtx {
    fn id(&self) -> CallId {
        self.guard.id
    }

    /// Runs the call in its own task and stands by it: if the task dies (a
    /// panic in our SIP handling, or the injected [`CallControl::Crash`]), the
    /// far end still gets a BYE, the app learns the call ended (cause
    /// `sip-failed`), and the record is finished with outcome `failed`. The
    /// media leg the dead task owned was dropped with it, which stops it.
    pub(crate) async fn run_supervised(mut self) {
        let id = self.id();
        // The record stays live until this function is done with it, however
        // the call task ends.
        let guard = self.guard.take_duty();
        let shared = self.shared.clone();
        let dialog = self.dialog.clone();
        let leg = self.leg.clone();
        let Err(e) = tokio::spawn(self.run()).await else {
            drop(guard);
            return;
        };
        tracing::error!(call = %id, error = %e, "SIP leg failed: hanging up");
        shared.registry.update(id, |r| {
            r.outcome = Some(CallOutcome::Failed);
            r.hung_up_by.get_or_insert(HungUpBy::Us);
            r.hangup_cause.get_or_insert("sip-failed");
            r.ended_at.get_or_insert_with(SystemTime::now);
        });
        if let Some(tx) = &leg {
            let _ = tx
                .send(LegEvent::Ended {
                    by: HungUpBy::Us,
                    cause: Some("sip-failed"),
                })
                .await;
        }
        if dialog
            .bye_with_reason("internal error".into())
            .await
            .is_err()
        {
            let _ = dialog.hangup().await;
        }
        shared.dialogs.remove_dialog(&dialog.id());
        drop(guard);
    }

    /// Runs the call until its dialog ends.
    async fn run(mut self) {
        let mut we_hung_up = false;
        let mut cause = None;
        loop {
            tokio::select! {
                state = self.states.recv() => match state {
                    None => break,
                    Some(DialogState::Terminated(..)) => break,
                    Some(state) => self.on_state(state).await,
                },
                Some(event) = self.media_events.recv() => match event {
                    MediaEvent::Dtmf(digit) => {
                        self.shared.registry.update(self.id(), |r| r.push_dtmf(digit));
                        self.leg_event(LegEvent::Dtmf(digit));
                    }
                    MediaEvent::Latched(_) => {}
                    MediaEvent::Inactive => {
                        tracing::info!(call = %self.id(), "no RTP from the far end: hanging up");
                        cause = Some("media-timeout");
                        we_hung_up = true;
                        self.send_bye(Some("media timeout"));
                        break;
                    }
                },
                () = self.media.exited() => {
                    tracing::error!(call = %self.id(), "media leg stopped unexpectedly: hanging up");
                    cause = Some("media-failed");
                    we_hung_up = true;
                    self.shared.registry.update(self.id(), |r| r.outcome = Some(CallOutcome::Failed));
                    self.send_bye(Some("media failure"));
                    break;
                }
                Some(cmd) = self.control.recv() => match cmd {
                    CallControl::Hangup => {
                        we_hung_up = true;
                        self.send_bye(None);
                        break;
                    }
                    CallControl::HangupWith { outcome, cause: why } => {
                        we_hung_up = true;
                        cause = Some(why);
                        self.shared.registry.update(self.id(), |r| r.outcome = Some(outcome));
                        self.send_bye(None);
                        break;
                    }
                    CallControl::SendDtmf(digit) => {
                        self.media.command(MediaCommand::SendDtmf(digit));
                    }
                    CallControl::Crash => panic!("injected fault: SIP leg of call {} crashed", self.id()),
                },
            }
        }
        self.finish(
            if we_hung_up {
                HungUpBy::Us
            } else {
                HungUpBy::Them
            },
            cause,
        )
        .await;
    }

    fn leg_event(&self, ev: LegEvent) {
        if let Some(tx) = &self.leg {
            let _ = tx.try_send(ev);
        }
    }

    /// Sends BYE in the background (its transaction may take up to 32 s against an
    /// unresponsive peer) so the call's media and port are released at once.
    fn send_bye(&self, reason: Option<&'static str>) {
        let dialog = self.dialog.clone();
        tokio::spawn(async move {
            let sent = match reason {
                Some(r) => dialog.bye_with_reason(r.into()).await,
                None => dialog.bye().await,
            };
            if sent.is_err() {
                let _ = dialog.hangup().await;
            }
        });
    }

    async fn on_state(&mut self, state: DialogState) {
        match state {
            DialogState::Confirmed(..) => {
                self.shared.registry.update(self.id(), |r| {
                    r.answered_at.get_or_insert_with(SystemTime::now);
                    r.confirmations += 1;
                });
            }
            DialogState::Updated(_, req, handle) => {
                let (status, body) = if matches!(req.method, Method::Invite | Method::Update) {
                    self.renegotiate(&req.body)
                } else {
                    (StatusCode::OK, None)
                };
                let headers = body
                    .as_ref()
                    .map(|_| vec![Header::ContentType("application/sdp".into())]);
                let _ = handle.respond(status, headers, body).await;
            }
            DialogState::Info(_, req, handle) => {
                let ct = req.header_value("Content-Type").unwrap_or_default();
                if let Some(digit) = parse_info_dtmf(&ct, &req.body) {
                    self.shared
                        .registry
                        .update(self.id(), |r| r.push_dtmf(digit));
                    self.leg_event(LegEvent::Dtmf(digit));
                }
                let _ = handle.reply(StatusCode::OK).await;
            }
            DialogState::Options(_, _, h)
            | DialogState::Notify(_, _, h)
            | DialogState::Message(_, _, h) => {
                let _ = h.reply(StatusCode::OK).await;
            }
            DialogState::Refer(_, _, h) | DialogState::Publish(_, _, h) => {
                let _ = h.reply(StatusCode::MethodNotAllowed).await;
            }
            _ => {}
        }
    }

    /// A re-INVITE/UPDATE: hold, unhold, or a moved far end. The codec stays.
    fn renegotiate(&mut self, body: &[u8]) -> (StatusCode, Option<Vec<u8>>) {
        if body.is_empty() {
            // No offer: ours stands (RFC 3264 §8); the answer comes in the ACK.
            return (StatusCode::OK, Some(self.last_sdp.clone().into_bytes()));
        }
        let offer = match SessionDescription::parse(body) {
            Ok(o) => o,
            Err(_) => return (StatusCode::BadRequest, None),
        };
        let Ok(same_codec) = CodecPrefs::new(&[self.negotiated.codec]) else {
            return (StatusCode::ServerInternalError, None);
        };
        let local = self.local.next_version();
        let answer = match sdp::answer(&offer, &local, &same_codec) {
            Ok(a) => a,
            Err(_) => return (StatusCode::NotAcceptableHere, None),
        };
        let neg = answer.negotiated;
        if neg.remote_rtp != self.negotiated.remote_rtp
            || neg.remote_rtcp != self.negotiated.remote_rtcp
        {
            self.media.command(MediaCommand::Remote {
                rtp: neg.remote_rtp,
                rtcp: neg.remote_rtcp,
            });
        }
        self.media.command(MediaCommand::Direction(neg.direction));
        let held = neg.direction != sdp::Direction::SendRecv;
        self.shared.registry.mark_hold(self.id(), held);
        self.local = local;
        self.negotiated = neg;
        self.last_sdp = answer.sdp;
        (StatusCode::OK, Some(self.last_sdp.clone().into_bytes()))
    }

    async fn finish(self, by: HungUpBy, cause: Option<&'static str>) {
        if let Some(tx) = &self.leg {
            // The app must learn the call ended even when its queue is full.
            let _ = tx.send(LegEvent::Ended { by, cause }).await;
        }
        let stats = self.media.stats().clone();
        let jitter = self.media.stop().await;
        let id = self.guard.id;
        self.shared.registry.update(id, |r| {
            r.ended_at = Some(SystemTime::now());
            r.outcome.get_or_insert(CallOutcome::Completed);
            r.hung_up_by.get_or_insert(by);
            if r.hangup_cause.is_none() {
                r.hangup_cause = cause;
            }
            r.rtp_sent = MediaStats::get(&stats.rtp_sent);
            r.rtp_received = MediaStats::get(&stats.rtp_received);
            r.rtp_skipped = MediaStats::get(&stats.ticks_skipped);
            r.rtp_lost = jitter.lost;
        });
        self.shared.dialogs.remove_dialog(&self.dialog.id());
        tracing::info!(call = %id, "call ended");
    }
}

/// Starts a media leg for a call, returning it and its event receiver.
pub(crate) fn start_media(
    shared: &Shared,
    lease: crate::media::PortLease,
    neg: &Negotiated,
    call: CallId,
    mode: MediaMode,
) -> std::io::Result<(MediaLeg, mpsc::Receiver<MediaEvent>)> {
    let (tx, rx) = mpsc::channel(MEDIA_EVENTS);
    let cfg = media_config(shared, neg, mode, call);
    let recording = cfg.recording.clone();
    let leg = MediaLeg::spawn(lease, cfg, tx)?;
    shared.registry.attach_media(call, leg.stats().clone());
    if recording.is_some() {
        shared.registry.update(call, |r| r.recording = recording);
    }
    Ok((leg, rx))
}
