//! Parsers for the values of the SDP fields we interpret: `o=`, `c=`,
//! `a=rtpmap`, `a=fmtp`, `a=ptime`, `a=rtcp`, and the RFC 3551 static
//! payload types. Each returns `None` for a malformed value; the scanner in
//! `parse.rs` decides whether that fails the body or is ignored.

use std::net::IpAddr;

use super::session::{ConnectionAddress, Origin, RtcpAttr, RtpMap};
use super::{MAX_ENCODING_LEN, MAX_FMTP_LEN, MAX_TOKEN_LEN};
use crate::rtp::PayloadType;

/// Longest host name accepted in `c=` (RFC 1035).
const MAX_HOSTNAME_LEN: usize = 253;
/// Largest `a=ptime`/`a=maxptime` value kept, in milliseconds.
const MAX_PTIME_MS: u32 = 1000;

/// A short token of visible ASCII.
pub(super) fn is_token(token: &str) -> bool {
    !token.is_empty() && token.len() <= MAX_TOKEN_LEN && token.bytes().all(|b| b.is_ascii_graphic())
}

/// `o=<username> <sess-id> <sess-version> <nettype> <addrtype> <address>`,
/// read from the end so that a username with spaces still parses.
pub(super) fn parse_origin(value: &str) -> Option<Origin> {
    let mut tokens = value.split_ascii_whitespace().rev();
    let _address = tokens.next()?;
    let _addrtype = tokens.next()?;
    let _nettype = tokens.next()?;
    let session_version = tokens.next()?.parse().ok()?;
    let session_id = tokens.next()?.parse().ok()?;
    tokens.next()?; // username
    Some(Origin {
        session_id,
        session_version,
    })
}

/// `<nettype> <addrtype> <address>[/ttl][/count]` (RFC 8866 §5.7), as found in
/// `c=` and at the end of `a=rtcp`.
pub(super) fn parse_connection(value: &str) -> Option<ConnectionAddress> {
    let mut tokens = value.split_ascii_whitespace();
    let (Some(nettype), Some(addrtype), Some(address), None) =
        (tokens.next(), tokens.next(), tokens.next(), tokens.next())
    else {
        return None;
    };
    if !nettype.eq_ignore_ascii_case("IN")
        || !(addrtype.eq_ignore_ascii_case("IP4") || addrtype.eq_ignore_ascii_case("IP6"))
    {
        return None;
    }
    let address = address.split('/').next()?;
    if let Ok(ip) = address.parse::<IpAddr>() {
        return Some(ConnectionAddress::Ip(ip));
    }
    let hostname = !address.is_empty()
        && address.len() <= MAX_HOSTNAME_LEN
        && address
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    hostname.then(|| ConnectionAddress::Hostname(address.to_owned()))
}

/// `<pt> <encoding>/<clock rate>[/<channels>]`.
pub(super) fn parse_rtpmap(value: &str) -> Option<(PayloadType, RtpMap)> {
    let (pt, rest) = value.split_once(|c: char| c.is_ascii_whitespace())?;
    let pt = PayloadType::new(pt.parse().ok()?)?;
    let mut parts = rest.trim().split('/');
    let encoding = parts.next()?;
    let clock_rate = parts.next()?.parse::<u32>().ok()?;
    let channels = match parts.next() {
        None => None,
        Some(ch) => Some(ch.parse::<u8>().ok()?),
    };
    if parts.next().is_some()
        || clock_rate == 0
        || encoding.is_empty()
        || encoding.len() > MAX_ENCODING_LEN
        || !encoding.bytes().all(|b| b.is_ascii_graphic())
    {
        return None;
    }
    Some((
        pt,
        RtpMap {
            encoding: encoding.to_owned(),
            clock_rate,
            channels,
        },
    ))
}

/// `<pt> <parameters>`; parameters must be printable ASCII and short, because
/// we may echo them into our answer.
pub(super) fn parse_fmtp(value: &str) -> Option<(PayloadType, &str)> {
    let (pt, params) = value.split_once(|c: char| c.is_ascii_whitespace())?;
    let pt = PayloadType::new(pt.parse().ok()?)?;
    let params = params.trim();
    let printable = params.bytes().all(|b| (0x20..0x7f).contains(&b));
    (!params.is_empty() && params.len() <= MAX_FMTP_LEN && printable).then_some((pt, params))
}

/// `a=ptime`/`a=maxptime`: milliseconds; a fractional part is truncated.
pub(super) fn parse_ms(value: &str) -> Option<u32> {
    let whole = value.split('.').next()?;
    let ms = whole.parse::<u32>().ok()?;
    (1..=MAX_PTIME_MS).contains(&ms).then_some(ms)
}

/// `a=rtcp:<port> [<nettype> <addrtype> <address>]` (RFC 3605).
pub(super) fn parse_rtcp(value: &str) -> Option<RtcpAttr> {
    let (port, rest) = match value.split_once(|c: char| c.is_ascii_whitespace()) {
        Some((port, rest)) => (port, Some(rest)),
        None => (value, None),
    };
    let port = port.parse::<u16>().ok()?;
    let address = match rest {
        Some(rest) => Some(parse_connection(rest)?),
        None => None,
    };
    Some(RtcpAttr { port, address })
}

/// The RFC 3551 §6 mapping of static audio payload types.
pub(super) fn static_rtpmap(pt: PayloadType) -> Option<RtpMap> {
    let (encoding, clock_rate, channels) = match pt.get() {
        0 => ("PCMU", 8000, None),
        3 => ("GSM", 8000, None),
        4 => ("G723", 8000, None),
        5 => ("DVI4", 8000, None),
        6 => ("DVI4", 16000, None),
        7 => ("LPC", 8000, None),
        8 => ("PCMA", 8000, None),
        9 => ("G722", 8000, None),
        10 => ("L16", 44100, Some(2)),
        11 => ("L16", 44100, None),
        12 => ("QCELP", 8000, None),
        13 => ("CN", 8000, None),
        14 => ("MPA", 90000, None),
        15 => ("G728", 8000, None),
        16 => ("DVI4", 11025, None),
        17 => ("DVI4", 22050, None),
        18 => ("G729", 8000, None),
        _ => return None,
    };
    Some(RtpMap {
        encoding: encoding.to_owned(),
        clock_rate,
        channels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn connection_forms() {
        assert_eq!(
            parse_connection("IN IP4 224.2.1.1/127/3"),
            Some(ConnectionAddress::Ip(IpAddr::V4(Ipv4Addr::new(
                224, 2, 1, 1
            ))))
        );
        assert_eq!(
            parse_connection("IN IP6 ::1"),
            Some(ConnectionAddress::Ip("::1".parse().expect("ip")))
        );
        assert_eq!(
            parse_connection("IN IP4 sbc.example.com"),
            Some(ConnectionAddress::Hostname("sbc.example.com".into()))
        );
        assert_eq!(parse_connection("IN IP4"), None);
        assert_eq!(parse_connection("ATM NSAP 1.2.3.4"), None);
        assert_eq!(parse_connection("IN IP4 1.2.3.4 extra"), None);
        assert_eq!(parse_connection("IN IP4 bad_host!"), None);
    }

    #[test]
    fn rtpmap_forms() {
        let (pt, map) = parse_rtpmap("111 opus/48000/2").expect("rtpmap");
        assert_eq!(pt.get(), 111);
        assert_eq!(map.encoding, "opus");
        assert_eq!(map.clock_rate, 48000);
        assert_eq!(map.channels, Some(2));
        assert_eq!(parse_rtpmap("128 PCMU/8000"), None);
        assert_eq!(parse_rtpmap("0 PCMU"), None);
        assert_eq!(parse_rtpmap("0 PCMU/0"), None);
        assert_eq!(parse_rtpmap("0 PCMU/8000/1/9"), None);
        assert_eq!(parse_rtpmap("0 /8000"), None);
    }

    #[test]
    fn ptime_and_rtcp() {
        assert_eq!(parse_ms("20"), Some(20));
        assert_eq!(parse_ms("20.0"), Some(20));
        assert_eq!(parse_ms("0"), None);
        assert_eq!(parse_ms("99999"), None);
        assert_eq!(
            parse_rtcp("53021 IN IP4 126.16.64.4"),
            Some(RtcpAttr {
                port: 53021,
                address: Some(ConnectionAddress::Ip(IpAddr::V4(Ipv4Addr::new(
                    126, 16, 64, 4
                ))))
            })
        );
        assert_eq!(
            parse_rtcp("9"),
            Some(RtcpAttr {
                port: 9,
                address: None
            })
        );
        assert_eq!(parse_rtcp("x"), None);
    }

    #[test]
    fn origin_reads_from_the_end() {
        assert_eq!(
            parse_origin("Sonus UAC 42 7 IN IP4 10.0.0.1"),
            Some(Origin {
                session_id: 42,
                session_version: 7
            })
        );
        assert_eq!(parse_origin("42 7 IN IP4 10.0.0.1"), None);
        assert_eq!(parse_origin("- x 7 IN IP4 10.0.0.1"), None);
    }
}
