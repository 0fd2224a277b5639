//! Offering (we are the UAC, or the UAS of an INVITE without SDP, or we
//! re-INVITE for hold) and accepting the answer.

use super::negotiated::{check_stream, choose_ptime, opus_params, remote_addrs};
use super::render::{self, AudioSpec, FormatKind, LocalFormat};
use super::session::{RtpFormat, SessionDescription};
use super::{
    Codec, CodecPrefs, DEFAULT_PTIME_MS, Direction, DtmfFormat, LocalMedia, Negotiated, SdpError,
    TELEPHONE_EVENT_8K_PT, TELEPHONE_EVENT_48K_PT,
};
use crate::rtp::PayloadType;

/// The events we offer: DTMF 0-15 and flash (16).
const OFFERED_EVENTS: &str = "0-16";

/// An offer we sent: its text, and what it offered, which
/// [`accept_answer`] checks the answer against. Keep it until the answer
/// arrives (the 200 OK, or the ACK for an INVITE without SDP).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdpOffer {
    local: LocalMedia,
    formats: Vec<LocalFormat>,
    ptime_ms: u32,
    sdp: String,
}

impl SdpOffer {
    fn new(local: LocalMedia, formats: Vec<LocalFormat>, ptime_ms: u32) -> SdpOffer {
        let spec = AudioSpec {
            port: local.rtp_port,
            transport: "RTP/AVP",
            formats: &formats,
            ptime_ms,
            direction: local.direction,
            rtcp_mux: local.rtcp_mux,
            rtcp_port: local.rtcp_port(),
        };
        let mut sdp = String::with_capacity(512);
        render::session_header(&mut sdp, &local);
        render::audio_section(&mut sdp, &spec);
        SdpOffer {
            local,
            formats,
            ptime_ms,
            sdp,
        }
    }

    /// The rendered offer (CRLF line endings).
    pub fn sdp(&self) -> &str {
        &self.sdp
    }

    /// The local description it was made from; its `session_version` is the
    /// one to increment for the next offer.
    pub fn local(&self) -> &LocalMedia {
        &self.local
    }

    /// The codecs offered with their payload types, in order of preference.
    pub fn codecs(&self) -> impl Iterator<Item = (Codec, PayloadType)> + '_ {
        self.formats.iter().filter_map(|f| match f.kind {
            FormatKind::Codec(c) => Some((c, f.pt)),
            FormatKind::TelephoneEvent(_) => None,
        })
    }

    fn find(&self, kind: FormatKind) -> Option<&LocalFormat> {
        self.formats.iter().find(|f| f.kind == kind)
    }

    fn kind_at(&self, pt: PayloadType) -> Option<FormatKind> {
        self.formats.iter().find(|f| f.pt == pt).map(|f| f.kind)
    }
}

/// An initial offer: every codec of `prefs` in order (PCMU 0, PCMA 8, Opus
/// 111 with `minptime=10;useinbandfec=1`), `telephone-event/8000` (101) if a
/// G.711 codec is offered and `telephone-event/48000` (110) if Opus is, both
/// `0-16`; `a=ptime:20`, `a=rtcp:` RTP port + 1, `a=rtcp-mux` if
/// `local.rtcp_mux`, and `local.direction`.
pub fn create_offer(local: &LocalMedia, prefs: &CodecPrefs) -> SdpOffer {
    let mut formats: Vec<LocalFormat> = prefs
        .codecs()
        .iter()
        .map(|&c| LocalFormat::codec(c.offer_payload_type(), c))
        .collect();
    for (rate, pt) in [
        (8_000, TELEPHONE_EVENT_8K_PT),
        (48_000, TELEPHONE_EVENT_48K_PT),
    ] {
        if prefs.codecs().iter().any(|c| c.clock_rate() == rate) {
            formats.push(LocalFormat::telephone_event(
                pt,
                rate,
                Some(OFFERED_EVENTS.to_owned()),
            ));
        }
    }
    SdpOffer::new(local.clone(), formats, DEFAULT_PTIME_MS)
}

/// A re-INVITE offer in the same session: `previous` with its version
/// incremented and `direction` set, offering only the codec and DTMF already
/// in use, with the payload types we receive them on, so the re-INVITE cannot
/// renumber or switch codecs (RFC 3264 §8).
pub fn reoffer(previous: &LocalMedia, current: &Negotiated, direction: Direction) -> SdpOffer {
    let local = previous.next_version().with_direction(direction);
    let mut formats = vec![LocalFormat::codec(current.recv_pt, current.codec)];
    if let Some(dtmf) = current.dtmf {
        formats.push(LocalFormat::telephone_event(
            dtmf.recv_pt,
            dtmf.clock_rate,
            Some(OFFERED_EVENTS.to_owned()),
        ));
    }
    SdpOffer::new(local, formats, current.ptime_ms)
}

/// Puts the call on hold: [`reoffer`] with `sendonly` (RFC 3264 §8.4).
pub fn hold_offer(previous: &LocalMedia, current: &Negotiated) -> SdpOffer {
    reoffer(previous, current, Direction::SendOnly)
}

/// Takes the call off hold: [`reoffer`] with `sendrecv`.
pub fn resume_offer(previous: &LocalMedia, current: &Negotiated) -> SdpOffer {
    reoffer(previous, current, Direction::SendRecv)
}

/// Reads the answer to `offer` (RFC 3264 §7).
///
/// The codec is the first one in the answer's `m=` line that we offered,
/// recognised by its `a=rtpmap` (or, if the answer omits it, by our payload
/// type number). Errors: [`SdpError::NoCommonCodec`] if the answer holds
/// nothing we offered, [`SdpError::AudioRejected`] for port 0, and the
/// stream checks of [`answer`](super::answer).
pub fn accept_answer(
    offer: &SdpOffer,
    answer: &SessionDescription,
) -> Result<Negotiated, SdpError> {
    let audio = answer.audio.as_ref().ok_or(SdpError::NoAudio)?;
    check_stream(audio)?;
    let kind_of = |f: &RtpFormat| -> Option<FormatKind> {
        match &f.rtpmap {
            Some(map) => Codec::identify(f).map(FormatKind::Codec).or_else(|| {
                f.is_telephone_event(map.clock_rate)
                    .then_some(FormatKind::TelephoneEvent(map.clock_rate))
            }),
            None => offer.kind_at(f.payload_type),
        }
    };
    let (codec, theirs, ours) = audio
        .formats
        .iter()
        .find_map(|f| match kind_of(f)? {
            FormatKind::Codec(codec) => {
                let ours = offer.find(FormatKind::Codec(codec))?;
                Some((codec, f, ours.pt))
            }
            FormatKind::TelephoneEvent(_) => None,
        })
        .ok_or(SdpError::NoCommonCodec)?;
    let clock_rate = codec.clock_rate();
    let te = FormatKind::TelephoneEvent(clock_rate);
    let dtmf = audio
        .formats
        .iter()
        .find(|f| kind_of(f) == Some(te))
        .zip(offer.find(te))
        .map(|(theirs, ours)| DtmfFormat {
            send_pt: theirs.payload_type,
            recv_pt: ours.pt,
            clock_rate,
        });
    let direction = offer
        .local
        .direction
        .intersect(audio.effective_direction().reversed());
    let rtcp_mux = offer.local.rtcp_mux && audio.rtcp_mux;
    let (remote_rtp, remote_rtcp) = remote_addrs(audio, rtcp_mux);
    Ok(Negotiated {
        codec,
        send_pt: theirs.payload_type,
        recv_pt: ours,
        dtmf,
        ptime_ms: choose_ptime(audio, offer.ptime_ms),
        remote_rtp,
        remote_rtcp,
        rtcp_mux,
        direction,
        opus: opus_params(codec, theirs),
    })
}
