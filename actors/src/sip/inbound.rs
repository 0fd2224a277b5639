//! An inbound INVITE: checks, routing, SDP, and answering.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use rsipstack::dialog::dialog::DialogState;
use rsipstack::sip::prelude::HeadersExt;
use rsipstack::sip::{Header, StatusCode};
use rsipstack::transaction::transaction::Transaction;
use tenex_media::sdp::{self, LocalMedia, SdpErrorKind, SessionDescription};
use tokio::sync::mpsc;

use crate::media::MediaMode;

use super::bridged::{Parties, Rings, hand_over};
use super::call::{CallCtx, start_media};
use super::config::SipTransport;
use super::engine::Shared;
use super::outcome::CallOutcome;
use super::record::{CallId, CallRecord, Direction, HungUpBy};
use super::registry::{CONTROL_QUEUE, EngineCounters, Refused};
use super::router::{IncomingCall, Route};

/// Replies with a final status (and a Retry-After for 503) and keeps the transaction
/// alive long enough for retransmissions of the final response.
async fn reject(mut tx: Transaction, status: StatusCode, retry_after: Option<u32>) {
    let headers =
        retry_after.map_or_else(Vec::new, |s| vec![Header::RetryAfter(s.to_string().into())]);
    let _ = tx.reply_with(status, headers, None).await;
    // Keep driving it briefly so Timer G retransmits the final over UDP if needed.
    let _ = tokio::time::timeout(Duration::from_secs(4), async {
        while tx.receive().await.is_some() {}
    })
    .await;
}

fn fail(shared: &Shared, call: CallId, status: u16, outcome: CallOutcome) {
    shared.registry.update(call, |r| {
        r.final_status = Some(status);
        r.outcome = Some(outcome);
        r.hung_up_by = Some(HungUpBy::Us);
        r.ended_at = Some(SystemTime::now());
    });
}

/// Handles one new inbound INVITE from `source`.
pub(crate) async fn handle_invite(
    shared: Arc<Shared>,
    tx: Transaction,
    source: SocketAddr,
    transport: SipTransport,
) {
    let counters = &shared.registry.counters;
    EngineCounters::bump(&counters.invites);
    let trunks = shared.trunks();
    if !trunks.allowlist().allows(source.ip()) {
        EngineCounters::bump(&counters.forbidden);
        let log = shared
            .rejected_log
            .lock()
            .map(|mut l| l.should_log(source.ip(), std::time::Instant::now()))
            .unwrap_or(false);
        if log {
            tracing::warn!(source = %source.ip(), "INVITE refused: source is not on any trunk's allowlist");
        }
        return reject(tx, StatusCode::Forbidden, None).await;
    }
    let header = |v: Result<String, rsipstack::sip::Error>| v.unwrap_or_default();
    let call = IncomingCall {
        user: tx.original.uri.user().map(str::to_owned),
        from: header(tx.original.from_header().map(|h| h.value().to_string())),
        to: header(tx.original.to_header().map(|h| h.value().to_string())),
        source,
        transport,
    };
    let trunk = trunks.serving(source.ip());
    if let Some(t) = trunk
        && !trunks.take_call(t, std::time::Instant::now())
    {
        EngineCounters::bump(&counters.trunk_limited);
        return reject(tx, StatusCode::ServiceUnavailable, Some(1)).await;
    }
    let (answer_after, app) = match shared.router.route(&call).await {
        Route::NotFound => {
            EngineCounters::bump(&counters.not_found);
            return reject(tx, StatusCode::NotFound, None).await;
        }
        Route::Echo { answer_after } => (answer_after, None),
        Route::Agent { answer_after, app } => (answer_after, Some(app)),
    };
    let rings = app.as_ref().map(|_| Rings::new());
    let mode = rings.as_ref().map_or(MediaMode::Echo, Rings::mode);

    let id = shared.registry.next_id();
    let sip_call_id = header(tx.original.call_id_header().map(|h| h.value().to_string()));
    let mut record = CallRecord::new(
        id,
        sip_call_id,
        Direction::Inbound,
        call.from.clone(),
        call.to.clone(),
        source,
        transport,
    );
    record.tag = app.as_ref().and_then(|a| a.tag());
    record.trunk = trunk.map(|t| t.name.clone());
    let (control_tx, control_rx) = mpsc::channel(CONTROL_QUEUE);
    let guard =
        match shared
            .registry
            .admit(record, control_tx, trunk.and_then(|t| t.max_concurrent))
        {
            Ok(guard) => guard,
            Err(refused) => {
                EngineCounters::bump(match refused {
                    Refused::Capacity => &counters.unavailable,
                    Refused::Trunk => &counters.trunk_limited,
                });
                return reject(
                    tx,
                    StatusCode::ServiceUnavailable,
                    Some(shared.cfg.retry_after_secs),
                )
                .await;
            }
        };

    let Ok(lease) = shared.pool.acquire() else {
        EngineCounters::bump(&counters.unavailable);
        fail(&shared, id, 503, CallOutcome::Failed);
        return reject(
            tx,
            StatusCode::ServiceUnavailable,
            Some(shared.cfg.retry_after_secs),
        )
        .await;
    };
    let session = shared.session_ids.fetch_add(1, Ordering::Relaxed);
    let local = LocalMedia::new(shared.public_ip, lease.port(), session, 1);
    let plan = if tx.original.body.is_empty() {
        // Delayed offer (RFC 3261 §13.2.1): our offer goes in the 200 OK and the
        // answer comes back in the ACK.
        Plan::Offer(sdp::create_offer(&local, &shared.cfg.codecs))
    } else {
        let answer = SessionDescription::parse(&tx.original.body)
            .and_then(|offer| sdp::answer(&offer, &local, &shared.cfg.codecs));
        match answer {
            Ok(a) => Plan::Answer(a),
            Err(e) => {
                let (status, code) = match e.kind() {
                    SdpErrorKind::Malformed => (StatusCode::BadRequest, 400),
                    _ => (StatusCode::NotAcceptableHere, 488),
                };
                bump_sdp(&shared, code);
                fail(&shared, id, code, CallOutcome::Failed);
                drop(lease);
                return reject(tx, status, None).await;
            }
        }
    };

    let (state_tx, mut states) = shared.dialogs.new_dialog_state_channel();
    let contact = shared.contact(call.user.as_deref().unwrap_or(""), transport);
    let Ok(contact) = contact.as_str().try_into() else {
        fail(&shared, id, 500, CallOutcome::Failed);
        return reject(tx, StatusCode::ServerInternalError, None).await;
    };
    let dialog =
        match shared
            .dialogs
            .get_or_create_server_invite(&tx, state_tx, None, Some(contact))
        {
            Ok(d) => d,
            Err(_) => {
                // Typically an INVITE without a Contact header.
                EngineCounters::bump(&counters.bad_request);
                fail(&shared, id, 400, CallOutcome::Failed);
                return reject(tx, StatusCode::BadRequest, None).await;
            }
        };
    let mut handler = dialog.clone();
    let mut tx = tx;
    // 100 Trying first: the dialog handler only sends it if nothing has gone out
    // yet, and our 180 may be queued before it runs.
    let _ = tx.send_trying().await;
    tokio::spawn(async move {
        let _ = handler.handle(&mut tx).await;
    });
    let _ = dialog.ringing(None, None);
    shared.registry.mark_ringing(id);

    // Ring until it is time to answer, unless the caller gives up first (CANCEL: the
    // stack answers 200 to it and 487 to the INVITE).
    let ring_until = tokio::time::Instant::now() + answer_after;
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(ring_until) => break,
            state = states.recv() => match state {
                Some(DialogState::Terminated(..)) | None => {
                    shared.registry.update(id, |r| {
                        r.outcome = Some(CallOutcome::Canceled);
                        r.final_status = Some(487);
                        r.hung_up_by = Some(HungUpBy::Them);
                        r.ended_at = Some(SystemTime::now());
                    });
                    shared.dialogs.remove_dialog(&dialog.id());
                    return;
                }
                Some(_) => {}
            },
        }
    }

    let port = lease.port();
    let our_sdp = match &plan {
        Plan::Answer(a) => a.sdp.clone(),
        Plan::Offer(o) => o.sdp().to_string(),
    };
    let negotiated = match plan {
        Plan::Answer(answer) => {
            let started = start_media(&shared, lease, &answer.negotiated, id, mode);
            if !accept(&dialog, &our_sdp) {
                shared
                    .registry
                    .update(id, |r| r.outcome = Some(CallOutcome::Canceled));
            }
            Started::Now(started, answer.negotiated)
        }
        Plan::Offer(offer) => {
            if !accept(&dialog, &our_sdp) {
                shared
                    .registry
                    .update(id, |r| r.outcome = Some(CallOutcome::Canceled));
            }
            // The answer is in the ACK.
            match wait_for_ack_answer(&mut states, &dialog, &offer).await {
                Some(neg) => Started::Now(start_media(&shared, lease, &neg, id, mode), neg),
                None => Started::Failed,
            }
        }
    };
    let (media, media_events, negotiated) = match negotiated {
        Started::Now(Ok((media, events)), neg) => (media, events, neg),
        Started::Now(Err(e), _) => {
            tracing::error!(call = %id, error = %e, "media leg failed to start");
            let _ = dialog.bye().await;
            fail(&shared, id, 500, CallOutcome::Failed);
            shared.dialogs.remove_dialog(&dialog.id());
            return;
        }
        Started::Failed => {
            // No usable answer in the ACK: end the call we just answered.
            let _ = dialog.bye().await;
            fail(&shared, id, 488, CallOutcome::Failed);
            shared.dialogs.remove_dialog(&dialog.id());
            return;
        }
    };
    shared.registry.mark_answered(id, negotiated.codec, port);
    let leg = match (app, rings) {
        (Some(app), Some(rings)) => Some(hand_over(
            &shared,
            &app,
            id,
            Parties {
                outbound: false,
                dialled: call.user.clone(),
                from: call.from.clone(),
            },
            &media,
            negotiated.codec,
            rings,
        )),
        _ => None,
    };
    CallCtx {
        shared: shared.clone(),
        guard,
        dialog,
        states,
        control: control_rx,
        media,
        media_events,
        local,
        negotiated,
        last_sdp: our_sdp,
        leg,
    }
    .run_supervised()
    .await;
}

/// What our 200 OK carries.
enum Plan {
    /// The caller offered; we answer.
    Answer(sdp::SdpAnswer),
    /// The caller did not offer (delayed offer); we offer.
    Offer(sdp::SdpOffer),
}

enum Started {
    Now(
        std::io::Result<(
            crate::media::MediaLeg,
            mpsc::Receiver<crate::media::MediaEvent>,
        )>,
        sdp::Negotiated,
    ),
    Failed,
}

/// Sends the 200 OK with our SDP; false if the dialog is already gone (cancelled).
fn accept(dialog: &rsipstack::dialog::invite_dialog::InviteDialog, sdp: &str) -> bool {
    let headers = vec![Header::ContentType("application/sdp".into())];
    dialog
        .accept(Some(headers), Some(sdp.as_bytes().to_vec()))
        .is_ok()
}

/// Delayed offer: waits for the ACK (at most 32 s, the stack's ACK timeout) and
/// negotiates the answer it carries.
async fn wait_for_ack_answer(
    states: &mut rsipstack::dialog::dialog::DialogStateReceiver,
    dialog: &rsipstack::dialog::invite_dialog::InviteDialog,
    offer: &sdp::SdpOffer,
) -> Option<sdp::Negotiated> {
    let wait = async {
        while let Some(state) = states.recv().await {
            match state {
                DialogState::Confirmed(..) => return true,
                DialogState::Terminated(..) => return false,
                _ => {}
            }
        }
        false
    };
    if !tokio::time::timeout(Duration::from_secs(33), wait)
        .await
        .unwrap_or(false)
    {
        return None;
    }
    let ack = dialog.last_remote_ack()?;
    let answer = SessionDescription::parse(&ack.body).ok()?;
    sdp::accept_answer(offer, &answer).ok()
}

fn bump_sdp(shared: &Shared, code: u16) {
    let c = &shared.registry.counters;
    if code == 400 {
        EngineCounters::bump(&c.bad_request);
    } else {
        EngineCounters::bump(&c.not_acceptable);
    }
}
