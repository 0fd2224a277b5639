//! Writing our session descriptions: CRLF line endings, `v o s c t m` order
//! (RFC 8866 §5), visible ASCII only.

use std::fmt::{self, Write};
use std::net::IpAddr;

use super::session::MediaLine;
use super::{Codec, Direction, LocalMedia};
use crate::rtp::PayloadType;

/// What one payload type of ours is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum FormatKind {
    /// An audio codec.
    Codec(Codec),
    /// `telephone-event` at this clock rate.
    TelephoneEvent(u32),
}

/// One payload type in an `m=` line we write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LocalFormat {
    pub(crate) pt: PayloadType,
    pub(crate) kind: FormatKind,
    pub(crate) fmtp: Option<String>,
}

impl LocalFormat {
    pub(crate) fn codec(pt: PayloadType, codec: Codec) -> LocalFormat {
        LocalFormat {
            pt,
            kind: FormatKind::Codec(codec),
            fmtp: codec.local_fmtp().map(str::to_owned),
        }
    }

    pub(crate) fn telephone_event(
        pt: PayloadType,
        clock_rate: u32,
        events: Option<String>,
    ) -> LocalFormat {
        LocalFormat {
            pt,
            kind: FormatKind::TelephoneEvent(clock_rate),
            fmtp: events,
        }
    }
}

/// Our audio `m=` section.
#[derive(Debug)]
pub(crate) struct AudioSpec<'a> {
    pub(crate) port: u16,
    pub(crate) transport: &'a str,
    pub(crate) formats: &'a [LocalFormat],
    pub(crate) ptime_ms: u32,
    pub(crate) direction: Direction,
    pub(crate) rtcp_mux: bool,
    /// `a=rtcp:` port to declare, if any.
    pub(crate) rtcp_port: Option<u16>,
}

fn line(out: &mut String, args: fmt::Arguments<'_>) {
    // Writing into a String cannot fail.
    let _ = out.write_fmt(args);
    out.push_str("\r\n");
}

fn addr_type(addr: IpAddr) -> &'static str {
    match addr {
        IpAddr::V4(_) => "IP4",
        IpAddr::V6(_) => "IP6",
    }
}

/// `v=`, `o=`, `s=`, `c=`, `t=`.
pub(crate) fn session_header(out: &mut String, local: &LocalMedia) {
    let at = addr_type(local.addr);
    line(out, format_args!("v=0"));
    line(
        out,
        format_args!(
            "o=- {} {} IN {at} {}",
            local.session_id, local.session_version, local.addr
        ),
    );
    line(out, format_args!("s=-"));
    line(out, format_args!("c=IN {at} {}", local.addr));
    line(out, format_args!("t=0 0"));
}

/// Our audio `m=` line and its attributes.
pub(crate) fn audio_section(out: &mut String, spec: &AudioSpec<'_>) {
    let _ = write!(out, "m=audio {} {}", spec.port, spec.transport);
    for f in spec.formats {
        let _ = write!(out, " {}", f.pt.get());
    }
    out.push_str("\r\n");
    for f in spec.formats {
        let pt = f.pt.get();
        match f.kind {
            FormatKind::Codec(codec) => line(out, format_args!("a=rtpmap:{pt} {codec}")),
            FormatKind::TelephoneEvent(rate) => {
                line(out, format_args!("a=rtpmap:{pt} telephone-event/{rate}"));
            }
        }
        if let Some(fmtp) = &f.fmtp {
            line(out, format_args!("a=fmtp:{pt} {fmtp}"));
        }
    }
    line(out, format_args!("a=ptime:{}", spec.ptime_ms));
    if let Some(port) = spec.rtcp_port {
        line(out, format_args!("a=rtcp:{port}"));
    }
    if spec.rtcp_mux {
        line(out, format_args!("a=rtcp-mux"));
    }
    line(out, format_args!("a={}", spec.direction));
}

/// A remote `m=` line we do not take, mirrored with port 0 (RFC 3264 §6).
pub(crate) fn rejected_section(out: &mut String, media: &MediaLine) {
    line(
        out,
        format_args!(
            "m={} 0 {} {}",
            media.media,
            media.transport.as_str(),
            media.first_format
        ),
    );
}
