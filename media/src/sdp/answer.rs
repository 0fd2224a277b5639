//! Answering a remote offer (we are the UAS of an INVITE or re-INVITE).

use super::fmtp::telephone_events;
use super::negotiated::{check_stream, choose_ptime, opus_params, remote_addrs};
use super::render::{self, AudioSpec, LocalFormat};
use super::session::{AudioStream, RtpFormat, SessionDescription};
use super::{
    Codec, CodecPrefs, DEFAULT_PTIME_MS, DtmfFormat, LocalMedia, Negotiated, PreferenceOrder,
    SdpError,
};

/// Our answer: the SDP body to send and what it means for the media leg.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SdpAnswer {
    /// The rendered answer (CRLF line endings).
    pub sdp: String,
    /// The negotiated stream.
    pub negotiated: Negotiated,
}

/// Answers `offer` (RFC 3264 §6).
///
/// - Picks one audio codec from the offer that `prefs` accepts, by our order
///   or the offerer's (see [`PreferenceOrder`]), and answers with the
///   offerer's payload type number.
/// - Adds `telephone-event` if offered at the codec's clock rate (8000 for
///   G.711, 48000 for Opus), with the offerer's payload type and event list.
/// - Mirrors the offer's `a=ptime` (10..=120 ms, a multiple of 10, capped by
///   `a=maxptime`), else [`DEFAULT_PTIME_MS`].
/// - Answers the reverse of the offered direction, restricted by
///   `local.direction`; a null connection address counts as the offerer not
///   receiving (RFC 2543 hold).
/// - Accepts `a=rtcp-mux` if offered and `local.rtcp_mux`.
/// - Mirrors every other `m=` line with port 0.
///
/// Errors: [`SdpError::NoCommonCodec`] when nothing matches (SIP 488), and
/// the other [`SdpErrorKind::Incompatible`](super::SdpErrorKind) variants
/// for a missing, rejected, encrypted or host-named audio stream.
pub fn answer(
    offer: &SessionDescription,
    local: &LocalMedia,
    prefs: &CodecPrefs,
) -> Result<SdpAnswer, SdpError> {
    let audio = offer.audio.as_ref().ok_or(SdpError::NoAudio)?;
    check_stream(audio)?;
    if audio.rtcp_mux_only && !local.rtcp_mux {
        return Err(SdpError::RtcpMuxRequired);
    }
    let (codec, chosen) = choose_codec(audio, prefs).ok_or(SdpError::NoCommonCodec)?;
    let pt = chosen.payload_type;
    let clock_rate = codec.clock_rate();
    let dtmf = audio
        .formats
        .iter()
        .find(|f| f.is_telephone_event(clock_rate));
    let ptime_ms = choose_ptime(audio, DEFAULT_PTIME_MS);
    let direction = local
        .direction
        .intersect(audio.effective_direction().reversed());
    let rtcp_mux = audio.rtcp_mux && local.rtcp_mux;

    let mut formats = vec![LocalFormat::codec(pt, codec)];
    if let Some(te) = dtmf {
        let events = te.fmtp.as_deref().and_then(telephone_events);
        formats.push(LocalFormat::telephone_event(
            te.payload_type,
            clock_rate,
            events,
        ));
    }
    let spec = AudioSpec {
        port: local.rtp_port,
        transport: audio.transport.as_str(),
        formats: &formats,
        ptime_ms,
        direction,
        rtcp_mux,
        rtcp_port: if rtcp_mux { None } else { local.rtcp_port() },
    };
    let mut sdp = String::with_capacity(512);
    render::session_header(&mut sdp, local);
    for (index, media) in offer.media.iter().enumerate() {
        if index == audio.index {
            render::audio_section(&mut sdp, &spec);
        } else {
            render::rejected_section(&mut sdp, media);
        }
    }

    let (remote_rtp, remote_rtcp) = remote_addrs(audio, rtcp_mux);
    let negotiated = Negotiated {
        codec,
        send_pt: pt,
        recv_pt: pt,
        dtmf: dtmf.map(|te| DtmfFormat {
            send_pt: te.payload_type,
            recv_pt: te.payload_type,
            clock_rate,
        }),
        ptime_ms,
        remote_rtp,
        remote_rtcp,
        rtcp_mux,
        direction,
        opus: opus_params(codec, chosen),
    };
    Ok(SdpAnswer { sdp, negotiated })
}

/// The offered format to answer with, per `prefs`. Ties (the same codec offered
/// twice) go to the first in the offer.
fn choose_codec<'a>(audio: &'a AudioStream, prefs: &CodecPrefs) -> Option<(Codec, &'a RtpFormat)> {
    let mut candidates = audio.formats.iter().filter_map(|f| {
        let codec = Codec::identify(f)?;
        let rank = prefs.rank(codec)?;
        Some((rank, codec, f))
    });
    let (_, codec, format) = match prefs.order() {
        PreferenceOrder::Offerer => candidates.next(),
        PreferenceOrder::Ours => candidates.min_by_key(|(rank, _, _)| *rank),
    }?;
    Some((codec, format))
}
