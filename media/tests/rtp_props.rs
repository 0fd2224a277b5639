//! Property tests for the RTP receive parser, the packetizer and the sequence /
//! timestamp arithmetic, cross-checked against the `rtp` crate (webrtc-rs) and
//! against small independent models.

use std::cmp::Ordering;

use proptest::prelude::*;
use rtp::header::{Extension, Header};
use rtp::packet::Packet;
use tenex_media::rtp::{
    PayloadType, RTP_HEADER_LEN, RtpError, RtpPacket, RtpSender, RtpTimestamp, SeqNo, SeqUnwrapper,
    Ssrc, is_rtcp,
};
use webrtc_util::marshal::{Marshal, Unmarshal};

// ---------------------------------------------------------------------------
// Reference model of the wire format
// ---------------------------------------------------------------------------

/// What an independent reading of RFC 3550 §5.1 says about `buf`: the payload's
/// byte range, or which rule rejects it (same precedence as the parser documents).
fn reference_layout(buf: &[u8]) -> Result<(usize, usize), RtpError> {
    let n = buf.len();
    if n < 12 {
        return Err(RtpError::Truncated(n));
    }
    let version = buf[0] >> 6;
    if version != 2 {
        return Err(RtpError::BadVersion(version));
    }
    let pt = buf[1] & 0x7F;
    if (72..=76).contains(&pt) {
        return Err(RtpError::RtcpPayloadType(pt));
    }
    let mut start = 12 + 4 * usize::from(buf[0] & 0x0F);
    if buf[0] & 0x10 != 0 {
        if n < start + 4 {
            return Err(RtpError::Truncated(n));
        }
        let words = usize::from(u16::from_be_bytes([buf[start + 2], buf[start + 3]]));
        start += 4 + 4 * words;
    }
    if n < start {
        return Err(RtpError::Truncated(n));
    }
    let mut end = n;
    if buf[0] & 0x20 != 0 {
        let pad = usize::from(buf[n - 1]);
        if pad == 0 || start + pad > n {
            return Err(RtpError::BadPadding);
        }
        end -= pad;
    }
    Ok((start, end))
}

/// Asserts that `payload` lies inside `buf` and returns its byte range.
fn range_in(buf: &[u8], payload: &[u8]) -> (usize, usize) {
    let base = buf.as_ptr() as usize;
    let at = payload.as_ptr() as usize;
    assert!(
        at >= base && at + payload.len() <= base + buf.len(),
        "payload is not a subslice of the datagram"
    );
    let start = at - base;
    (start, start + payload.len())
}

/// Asserts the fixed-header fields of a parsed packet against the raw bytes.
fn assert_fixed_header(buf: &[u8], p: &RtpPacket<'_>) {
    assert_eq!(p.marker, buf[1] & 0x80 != 0);
    assert_eq!(p.payload_type.get(), buf[1] & 0x7F);
    assert_eq!(p.seq, SeqNo(u16::from_be_bytes([buf[2], buf[3]])));
    assert_eq!(
        p.timestamp,
        RtpTimestamp(u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]))
    );
    assert_eq!(
        p.ssrc,
        Ssrc(u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]))
    );
}

// ---------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------

/// Datagrams that are mostly garbage but often look like RTP version 2, so the
/// deeper branches (CSRCs, extension, padding) are reached.
fn datagram() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..2000),
        (
            0x80u8..=0xBF,
            any::<u8>(),
            proptest::collection::vec(any::<u8>(), 0..200)
        )
            .prop_map(|(b0, b1, rest)| {
                let mut v = vec![b0, b1];
                v.extend(rest);
                v
            }),
        // Version 2 with an extension whose length word is small enough to fit sometimes.
        (
            0u8..16,
            any::<bool>(),
            any::<u8>(),
            0u16..8,
            proptest::collection::vec(any::<u8>(), 0..120)
        )
            .prop_map(|(cc, padding, b1, words, body)| {
                let b0 = 0x90 | if padding { 0x20 } else { 0 } | cc;
                let mut v = vec![b0, b1, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3];
                v.extend(std::iter::repeat_n(0xCC, 4 * usize::from(cc)));
                v.extend_from_slice(&[0xBE, 0xDE]);
                v.extend_from_slice(&words.to_be_bytes());
                v.extend(body);
                v
            }),
    ]
}

/// A payload type that the parser accepts as RTP.
fn rtp_pt() -> impl Strategy<Value = u8> {
    (0u8..=122).prop_map(|pt| if pt >= 72 { pt + 5 } else { pt })
}

#[derive(Debug, Clone)]
enum Ext {
    None,
    OneByte(Vec<(u8, Vec<u8>)>),
    TwoByte(Vec<(u8, Vec<u8>)>),
    /// RFC 3550 §5.3.1 extension with a profile-defined body in whole words.
    Generic(u16, Vec<u8>),
}

fn extension() -> impl Strategy<Value = Ext> {
    use proptest::collection::vec;
    prop_oneof![
        Just(Ext::None),
        vec((1u8..=14, vec(any::<u8>(), 1..=16)), 0..5).prop_map(Ext::OneByte),
        vec((1u8..=255, vec(any::<u8>(), 0..=40)), 0..4).prop_map(Ext::TwoByte),
        (
            any::<u16>().prop_filter("not an RFC 8285 profile", |p| *p != 0xBEDE && *p != 0x1000),
            (0usize..=8).prop_flat_map(|w| vec(any::<u8>(), 4 * w))
        )
            .prop_map(|(profile, body)| Ext::Generic(profile, body)),
    ]
}

#[derive(Debug, Clone)]
struct Spec {
    marker: bool,
    pt: u8,
    seq: u16,
    ts: u32,
    ssrc: u32,
    csrc: Vec<u32>,
    ext: Ext,
    padding: bool,
    payload: Vec<u8>,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        (
            any::<bool>(),
            rtp_pt(),
            any::<u16>(),
            any::<u32>(),
            any::<u32>(),
        ),
        proptest::collection::vec(any::<u32>(), 0..=15),
        extension(),
        any::<bool>(),
        proptest::collection::vec(any::<u8>(), 0..400),
    )
        .prop_map(
            |((marker, pt, seq, ts, ssrc), csrc, ext, padding, payload)| Spec {
                marker,
                pt,
                seq,
                ts,
                ssrc,
                csrc,
                ext,
                padding,
                payload,
            },
        )
}

fn to_packet(s: &Spec) -> Packet {
    let to_exts = |v: &[(u8, Vec<u8>)]| -> Vec<Extension> {
        v.iter()
            .map(|(id, p)| Extension {
                id: *id,
                payload: p.clone().into(),
            })
            .collect()
    };
    let (extension, extension_profile, extensions) = match &s.ext {
        Ext::None => (false, 0, Vec::new()),
        Ext::OneByte(v) => (true, 0xBEDE, to_exts(v)),
        Ext::TwoByte(v) => (true, 0x1000, to_exts(v)),
        Ext::Generic(profile, body) => (
            true,
            *profile,
            vec![Extension {
                id: 0,
                payload: body.clone().into(),
            }],
        ),
    };
    Packet {
        header: Header {
            version: 2,
            padding: s.padding,
            extension,
            marker: s.marker,
            payload_type: s.pt,
            sequence_number: s.seq,
            timestamp: s.ts,
            ssrc: s.ssrc,
            csrc: s.csrc.clone(),
            extension_profile,
            extensions,
            extensions_padding: 0,
        },
        payload: s.payload.clone().into(),
    }
}

/// Length of the header (fixed part, CSRCs and extension) of a marshalled spec.
fn header_len(bytes: &[u8]) -> usize {
    let mut len = RTP_HEADER_LEN + 4 * usize::from(bytes[0] & 0x0F);
    if bytes[0] & 0x10 != 0 {
        len += 4 + 4 * usize::from(u16::from_be_bytes([bytes[len + 2], bytes[len + 3]]));
    }
    len
}

// ---------------------------------------------------------------------------
// Parser properties
// ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Any datagram: no panic, and the verdict (payload range or error) is exactly
    /// the reference reading of the header.
    #[test]
    fn parse_arbitrary_bytes_matches_reference(buf in datagram()) {
        let got = RtpPacket::parse(&buf);
        match (got, reference_layout(&buf)) {
            (Ok(p), Ok((start, end))) => {
                prop_assert_eq!(range_in(&buf, p.payload), (start, end));
                prop_assert!(start <= end && end <= buf.len());
                assert_fixed_header(&buf, &p);
            }
            (Err(e), Err(want)) => prop_assert_eq!(e, want),
            (got, want) => prop_assert!(false, "parse {:?} vs reference {:?}", got, want),
        }
    }

    /// `is_rtcp` is exactly "version 2 and second byte in 192..=223".
    #[test]
    fn is_rtcp_matches_rfc5761(buf in proptest::collection::vec(any::<u8>(), 0..16)) {
        let want = buf.len() >= 2 && buf[0] & 0xC0 == 0x80 && (192..=223).contains(&buf[1]);
        prop_assert_eq!(is_rtcp(&buf), want);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// Packets marshalled by the `rtp` crate: our view, the crate's unmarshal and the
    /// values they were built from agree field by field.
    #[test]
    fn parse_agrees_with_rtp_crate(s in spec()) {
        let packet = to_packet(&s);
        let bytes = packet.marshal().expect("rtp crate marshals a valid packet");
        let theirs = Packet::unmarshal(&mut &bytes[..]).expect("rtp crate unmarshals its own output");
        let ours = RtpPacket::parse(&bytes).expect("valid packet parses");

        // The crate round-trips the header we built (checks the generator).
        prop_assert_eq!(&theirs.header.csrc, &s.csrc);
        prop_assert_eq!(&theirs.header.extensions, &packet.header.extensions);
        prop_assert_eq!(theirs.header.padding, s.padding);

        prop_assert_eq!(ours.marker, theirs.header.marker);
        prop_assert_eq!(ours.marker, s.marker);
        prop_assert_eq!(ours.payload_type.get(), theirs.header.payload_type);
        prop_assert_eq!(ours.payload_type.get(), s.pt);
        prop_assert_eq!(ours.seq, SeqNo(theirs.header.sequence_number));
        prop_assert_eq!(ours.seq, SeqNo(s.seq));
        prop_assert_eq!(ours.timestamp, RtpTimestamp(theirs.header.timestamp));
        prop_assert_eq!(ours.timestamp, RtpTimestamp(s.ts));
        prop_assert_eq!(ours.ssrc, Ssrc(theirs.header.ssrc));
        prop_assert_eq!(ours.ssrc, Ssrc(s.ssrc));
        prop_assert_eq!(ours.payload, &theirs.payload[..]);
        prop_assert_eq!(ours.payload, &s.payload[..]);
        prop_assert_eq!(range_in(&bytes, ours.payload).0, header_len(&bytes));
    }

    /// Every prefix of a valid packet is either parsed consistently or rejected with
    /// the specific error that truncation explains.
    #[test]
    fn truncations_are_typed_errors_or_consistent(s in spec()) {
        let bytes = to_packet(&s).marshal().expect("marshal");
        let hdr = header_len(&bytes);
        for len in 0..=bytes.len() {
            let cut = &bytes[..len];
            let got = RtpPacket::parse(cut);
            if len < hdr {
                prop_assert_eq!(got, Err(RtpError::Truncated(len)), "len {}", len);
                continue;
            }
            if !s.padding {
                let p = got.expect("an unpadded prefix holding the header parses");
                prop_assert_eq!(p.payload, &s.payload[..len - hdr]);
                prop_assert_eq!(p.seq, SeqNo(s.seq));
                prop_assert_eq!(p.timestamp, RtpTimestamp(s.ts));
                prop_assert_eq!(p.ssrc, Ssrc(s.ssrc));
                prop_assert_eq!(p.marker, s.marker);
                continue;
            }
            // Padded: the last byte of the prefix is read as the padding count.
            let pad = usize::from(cut[len - 1]);
            if pad == 0 || pad > len - hdr {
                prop_assert_eq!(got, Err(RtpError::BadPadding), "len {}", len);
            } else {
                let p = got.expect("plausible padding parses");
                prop_assert_eq!(range_in(cut, p.payload), (hdr, len - pad));
                prop_assert_eq!(p.seq, SeqNo(s.seq));
                prop_assert_eq!(p.ssrc, Ssrc(s.ssrc));
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Packetizer
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Send {
    pt: u8,
    marker: bool,
    payload: Vec<u8>,
    duration: u32,
    /// `Some(ts)`: `write_at` with this timestamp; `None`: `write_media`.
    explicit_ts: Option<u32>,
}

fn sends() -> impl Strategy<Value = Vec<Send>> {
    proptest::collection::vec(
        (
            rtp_pt(),
            any::<bool>(),
            proptest::collection::vec(any::<u8>(), 0..300),
            prop_oneof![Just(160u32), Just(960), any::<u32>()],
            proptest::option::weighted(0.2, any::<u32>()),
        )
            .prop_map(|(pt, marker, payload, duration, explicit_ts)| Send {
                pt,
                marker,
                payload,
                duration,
                explicit_ts,
            }),
        1..40,
    )
}

/// Starting points that make sequence and timestamp wrap during a short run.
fn near_wrap_u16() -> impl Strategy<Value = u16> {
    prop_oneof![65500u16..=65535, any::<u16>()]
}

fn near_wrap_u32() -> impl Strategy<Value = u32> {
    prop_oneof![(u32::MAX - 5000)..=u32::MAX, any::<u32>()]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// Everything the sender writes unmarshals with the `rtp` crate to the header the
    /// sender's model predicts, sequence and timestamp wrapping included.
    #[test]
    fn sender_output_unmarshals_with_rtp_crate(
        ssrc in any::<u32>(),
        first_seq in near_wrap_u16(),
        first_ts in near_wrap_u32(),
        sends in sends(),
        small_buf in 0usize..RTP_HEADER_LEN + 10,
    ) {
        let mut sender = RtpSender::new(Ssrc(ssrc), SeqNo(first_seq), RtpTimestamp(first_ts));
        let mut out = vec![0u8; 1500];
        let mut seq = first_seq;
        let mut next_ts = first_ts;
        let mut octets = 0u64;
        for (i, send) in sends.iter().enumerate() {
            let pt = PayloadType::new(send.pt).expect("pt below 128");
            // A buffer that cannot hold the packet is refused without side effects.
            let need = RTP_HEADER_LEN + send.payload.len();
            if small_buf < need {
                let mut tiny = vec![0u8; small_buf];
                prop_assert_eq!(
                    sender.write_media(pt, send.marker, &send.payload, send.duration, &mut tiny),
                    Err(RtpError::BufferTooSmall { need })
                );
                prop_assert_eq!(sender.next_timestamp(), RtpTimestamp(next_ts));
                prop_assert_eq!(sender.packets_sent(), i as u64);
            }
            let (n, ts) = match send.explicit_ts {
                Some(ts) => {
                    let n = sender.write_at(pt, send.marker, RtpTimestamp(ts), &send.payload, &mut out);
                    (n, ts)
                }
                None => {
                    let n = sender.write_media(pt, send.marker, &send.payload, send.duration, &mut out);
                    let ts = next_ts;
                    next_ts = next_ts.wrapping_add(send.duration);
                    (n, ts)
                }
            };
            let n = n.expect("1500-byte buffer is enough");
            prop_assert_eq!(n, need);
            let theirs = Packet::unmarshal(&mut &out[..n]).expect("crate parses our packet");
            let h = &theirs.header;
            prop_assert_eq!(h.version, 2);
            prop_assert!(!h.padding && !h.extension && h.csrc.is_empty());
            prop_assert_eq!(h.marker, send.marker);
            prop_assert_eq!(h.payload_type, send.pt);
            prop_assert_eq!(h.sequence_number, seq);
            prop_assert_eq!(h.timestamp, ts);
            prop_assert_eq!(h.ssrc, ssrc);
            prop_assert_eq!(&theirs.payload[..], &send.payload[..]);
            let ours = RtpPacket::parse(&out[..n]).expect("we parse our own packet");
            prop_assert_eq!(ours.payload, &send.payload[..]);

            seq = seq.wrapping_add(1);
            octets += send.payload.len() as u64;
            prop_assert_eq!(sender.packets_sent(), i as u64 + 1);
            prop_assert_eq!(sender.octets_sent(), octets);
            prop_assert_eq!(sender.last_timestamp(), RtpTimestamp(ts));
            prop_assert_eq!(sender.next_timestamp(), RtpTimestamp(next_ts));
        }
        prop_assert_eq!(sender.ssrc(), Ssrc(ssrc));
    }
}

// ---------------------------------------------------------------------------
// Sequence / timestamp arithmetic
// ---------------------------------------------------------------------------

/// `b - a` modulo `modulus`, as the representative in `[-modulus/2, modulus/2)`.
fn ring_delta(a: i64, b: i64, modulus: i64) -> i64 {
    let d = (b - a).rem_euclid(modulus);
    if d >= modulus / 2 { d - modulus } else { d }
}

/// RFC 3550 A.1 style reference: the extension of `seq` closest to `highest`
/// (a tie, exactly half the ring away, resolves backwards like a signed 16-bit delta).
fn reference_extend(highest: i64, seq: u16) -> i64 {
    let base = highest - highest.rem_euclid(65536);
    (-1..=1)
        .map(|k| base + k * 65536 + i64::from(seq))
        .min_by_key(|c| ((c - highest).abs(), *c >= highest))
        .expect("three candidates")
        .max(0)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn seq_arithmetic_matches_integer_model(a in any::<u16>(), b in any::<u16>()) {
        let (sa, sb) = (SeqNo(a), SeqNo(b));
        let d = ring_delta(i64::from(a), i64::from(b), 1 << 16);
        prop_assert_eq!(i64::from(sa.delta_to(sb)), d);
        prop_assert_eq!(i64::from(sb.delta_to(sa)), if d == -32768 { d } else { -d });
        prop_assert_eq!(sa.next(), SeqNo(((i64::from(a) + 1) % 65536) as u16));
        prop_assert_eq!(sb.is_after(sa), d > 0);
        prop_assert_eq!(sa.is_after(sb), d < 0 && d != -32768);
        let want = match d {
            0 => Some(Ordering::Equal),
            -32768 => None,
            d if d > 0 => Some(Ordering::Greater),
            _ => Some(Ordering::Less),
        };
        prop_assert_eq!(sb.partial_cmp(&sa), want);
        prop_assert_eq!(sa.partial_cmp(&sb), want.map(Ordering::reverse));
        // Adding a delta in (-2^15, 2^15) moves forward/backward by exactly that much.
        let step = (i64::from(b) % 32767) - 16383;
        let moved = SeqNo((i64::from(a) + step).rem_euclid(65536) as u16);
        prop_assert_eq!(i64::from(sa.delta_to(moved)), step);
    }

    #[test]
    fn timestamp_arithmetic_matches_integer_model(a in any::<u32>(), b in any::<u32>(), t in any::<u32>()) {
        let (ta, tb) = (RtpTimestamp(a), RtpTimestamp(b));
        prop_assert_eq!(
            ta.add(t),
            RtpTimestamp(((i64::from(a) + i64::from(t)) % (1 << 32)) as u32)
        );
        prop_assert_eq!(i64::from(ta.delta_to(tb)), ring_delta(i64::from(a), i64::from(b), 1 << 32));
        // add and delta_to are inverse for steps below half the ring.
        let step = t >> 1;
        prop_assert_eq!(i64::from(ta.delta_to(ta.add(step))), i64::from(step));
    }
}

/// A random walk of true (extended) sequence numbers: small steps, mostly forward.
fn walk() -> impl Strategy<Value = (u64, Vec<i64>)> {
    (
        prop_oneof![
            (1u64 << 20) - 300..(1u64 << 20) + 300, // starts next to a wrap
            (1u64 << 20)..(1u64 << 21)
        ],
        0i64..=40,
        proptest::collection::vec(-100i64..=100, 1..1500),
    )
        .prop_map(|(start, bias, steps)| {
            let mut x = start as i64;
            let mut v = vec![x];
            for s in steps {
                x += s + bias;
                v.push(x);
            }
            (start, v)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// The unwrapper agrees with a closest-extension reference on random walks with
    /// jumps of up to ±100, and recovers the true index (shifted so that the first
    /// packet maps to 2^16 + seq) whenever no packet is half a ring behind the newest.
    #[test]
    fn unwrapper_matches_reference_on_random_walks((_start, truth) in walk()) {
        let mut u = SeqUnwrapper::default();
        prop_assert_eq!(u.highest(), None);
        let first = truth[0];
        let first_ext = (1i64 << 16) + first.rem_euclid(65536);
        let mut highest: Option<i64> = None;
        let mut max_truth = first;
        // Once a packet arrives half a ring behind the newest, its true index is lost.
        let mut faithful = true;
        for &x in &truth {
            let seq = x.rem_euclid(65536) as u16;
            let got = u.unwrap(SeqNo(seq)) as i64;
            let want = match highest {
                None => first_ext,
                Some(h) => reference_extend(h, seq),
            };
            prop_assert_eq!(got, want, "seq {}", seq);
            max_truth = max_truth.max(x);
            faithful &= max_truth - x < 32768;
            if faithful {
                prop_assert_eq!(got, x - first + first_ext, "true index of {}", x);
            }
            highest = Some(highest.map_or(got, |h| h.max(got)));
            prop_assert_eq!(u.highest(), highest.map(|h| h as u64));
        }
    }
}
