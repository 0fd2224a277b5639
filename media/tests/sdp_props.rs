//! The SDP parser faces the network: random, truncated, mutated and oversized
//! input must give `Ok` or a typed `SdpError`, never a panic, and never more
//! than a fixed amount of memory. Whenever an answer is produced from such
//! input, it must itself be valid SDP that negotiates what it says.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;
use tenex_media::sdp::{
    self, Codec, CodecPrefs, Direction, LocalMedia, MAX_ENCODING_LEN, MAX_FMTP_LEN, MAX_FORMATS,
    MAX_MEDIA, MAX_SDP_LEN, MAX_TOKEN_LEN, PreferenceOrder, SdpError, SdpOffer, SessionDescription,
};

// ---- allocation accounting (per thread, so parallel tests do not interfere) --

struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn track(delta: isize) {
    let _ = LIVE.try_with(|live| {
        let now = live.get() + delta;
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

// SAFETY: every method forwards to `System` unchanged and only updates
// thread-local counters, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            track(layout.size() as isize);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) };
        track(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            track(new_size as isize - layout.size() as isize);
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f` and returns the most heap it held at once, in bytes.
fn peak_heap<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let start = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(start));
    let result = f();
    let peak = PEAK.with(Cell::get);
    (result, (peak - start).max(0) as usize)
}

/// What parsing any input may hold at once: the retained view is a few KiB
/// (see the bounds in `tenex_media::sdp`), plus one line converted from
/// non-UTF-8 at a time.
const PARSE_HEAP_BOUND: usize = 4 * MAX_SDP_LEN;

// ---- the checks every input goes through ------------------------------------

fn us() -> LocalMedia {
    LocalMedia::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10)), 40_000, 7, 1)
}

fn our_offer() -> SdpOffer {
    sdp::create_offer(&us(), &CodecPrefs::default())
}

/// Parses `input` as an offer and as an answer to our offer; checks bounds and,
/// for every answer we produce, that it is well-formed and self-consistent.
fn exercise(input: &[u8]) {
    let (parsed, heap) = peak_heap(|| SessionDescription::parse(input));
    assert!(heap <= PARSE_HEAP_BOUND, "parse held {heap} bytes");
    let offer = match parsed {
        Ok(offer) => offer,
        Err(err) => {
            assert!(!err.to_string().is_empty());
            return;
        }
    };
    check_bounds(&offer);
    for order in [PreferenceOrder::Ours, PreferenceOrder::Offerer] {
        let prefs = CodecPrefs::default().with_order(order);
        if let Ok(reply) = sdp::answer(&offer, &us(), &prefs) {
            check_answer(&offer, &reply);
        }
    }
    if let Ok(n) = sdp::accept_answer(&our_offer(), &offer) {
        let audio = offer.audio.as_ref().expect("accepted answer has audio");
        assert!(audio.format(n.send_pt).is_some());
        assert!(
            our_offer()
                .codecs()
                .any(|(c, pt)| c == n.codec && pt == n.recv_pt)
        );
    }
}

fn check_bounds(sd: &SessionDescription) {
    assert!(sd.media.len() <= MAX_MEDIA);
    for m in &sd.media {
        assert!(m.media.len() <= MAX_TOKEN_LEN && m.first_format.len() <= MAX_TOKEN_LEN);
        assert!(m.transport.as_str().len() <= MAX_TOKEN_LEN);
    }
    if let Some(audio) = &sd.audio {
        assert!(audio.formats.len() <= MAX_FORMATS);
        for f in &audio.formats {
            assert!(f.fmtp.as_ref().is_none_or(|p| p.len() <= MAX_FMTP_LEN));
            assert!(
                f.rtpmap
                    .as_ref()
                    .is_none_or(|m| m.encoding.len() <= MAX_ENCODING_LEN)
            );
        }
    }
}

fn check_answer(offer: &SessionDescription, reply: &sdp::SdpAnswer) {
    let text = &reply.sdp;
    assert!(text.is_ascii() && text.ends_with("\r\n"), "{text:?}");
    assert!(
        text.split_terminator("\r\n")
            .all(|l| !l.contains(['\r', '\n']) && l.as_bytes().get(1) == Some(&b'=')),
        "{text:?}"
    );
    let back = SessionDescription::parse(text.as_bytes()).expect("our answer parses");
    assert_eq!(back.media.len(), offer.media.len());
    let audio = back.audio.as_ref().expect("answer has audio");
    let n = &reply.negotiated;
    assert_eq!(audio.port, 40_000);
    assert_eq!(audio.direction, n.direction);
    assert_eq!(audio.rtcp_mux, n.rtcp_mux);
    assert_eq!(audio.formats[0].payload_type, n.send_pt);
    assert_eq!(Codec::identify(&audio.formats[0]), Some(n.codec));
    let offered = offer.audio.as_ref().expect("offer has audio");
    let chosen = offered.format(n.send_pt).expect("answered PT was offered");
    assert_eq!(Codec::identify(chosen), Some(n.codec));
    if let Some(dtmf) = n.dtmf {
        assert_eq!(dtmf.clock_rate, n.codec.clock_rate());
        let te = offered.format(dtmf.send_pt).expect("DTMF PT was offered");
        assert!(te.is_telephone_event(dtmf.clock_rate));
    }
    let dir = offered.effective_direction().reversed();
    assert_eq!(n.direction, dir);
}

// ---- strategies ---------------------------------------------------------------

fn ipv4() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(|o| Ipv4Addr::from(o).to_string()),
        Just("0.0.0.0".to_owned()),
        "[a-z0-9.-]{0,12}",
    ]
}

fn sdp_line() -> impl Strategy<Value = String> {
    let media = prop::sample::select(vec!["audio", "video", "image", "application", "AUDIO"]);
    let proto = prop::sample::select(vec![
        "RTP/AVP",
        "RTP/AVPF",
        "RTP/SAVP",
        "udptl",
        "UDP/TLS/RTP/SAVPF",
    ]);
    let encoding = prop::sample::select(vec![
        "PCMU",
        "PCMA",
        "opus",
        "telephone-event",
        "G729",
        "G722",
        "pcmu",
        "OPUS",
        "",
    ]);
    let rate = prop::sample::select(vec![8000u32, 16000, 48000, 0, 90000]);
    let flag = prop::sample::select(vec![
        "a=sendrecv",
        "a=sendonly",
        "a=recvonly",
        "a=inactive",
        "a=rtcp-mux",
        "a=rtcp-mux-only",
    ]);
    prop_oneof![
        Just("v=0".to_owned()),
        (any::<u64>(), any::<u64>()).prop_map(|(a, b)| format!("o=- {a} {b} IN IP4 10.0.0.1")),
        Just("s=-".to_owned()),
        Just("t=0 0".to_owned()),
        ipv4().prop_map(|ip| format!("c=IN IP4 {ip}")),
        any::<[u16; 8]>().prop_map(|s| format!("c=IN IP6 {}", Ipv6Addr::from(s))),
        (
            media,
            any::<u16>(),
            proto,
            prop::collection::vec(0u16..300, 0..8)
        )
            .prop_map(|(m, port, proto, pts)| {
                let pts: Vec<String> = pts.iter().map(u16::to_string).collect();
                format!("m={m} {port} {proto} {}", pts.join(" "))
            }),
        (0u16..300, encoding, rate, prop::option::of(0u16..300)).prop_map(|(pt, e, r, ch)| {
            match ch {
                Some(ch) => format!("a=rtpmap:{pt} {e}/{r}/{ch}"),
                None => format!("a=rtpmap:{pt} {e}/{r}"),
            }
        }),
        (0u16..300, "[ -~]{0,40}").prop_map(|(pt, p)| format!("a=fmtp:{pt} {p}")),
        (0u32..2000).prop_map(|n| format!("a=ptime:{n}")),
        (0u32..2000).prop_map(|n| format!("a=maxptime:{n}")),
        flag.prop_map(str::to_owned),
        (any::<u16>(), prop::option::of(ipv4())).prop_map(|(port, ip)| match ip {
            Some(ip) => format!("a=rtcp:{port} IN IP4 {ip}"),
            None => format!("a=rtcp:{port}"),
        }),
        "[a-z]=[ -~]{0,60}",
        "\\PC{0,60}",
    ]
}

/// A payload type: mostly the ones real offers use, sometimes anything.
fn payload_type() -> impl Strategy<Value = u16> {
    prop_oneof![
        4 => prop::sample::select(vec![0u16, 8, 9, 18, 96, 101, 102, 103, 110, 111]),
        1 => 0u16..300,
    ]
}

/// An attribute line of a media section.
fn media_attribute() -> impl Strategy<Value = String> {
    let encoding = prop::sample::select(vec![
        "PCMU",
        "PCMA",
        "opus",
        "telephone-event",
        "G729",
        "G722",
        "pcmu",
        "OPUS",
        "",
    ]);
    let rate = prop::sample::select(vec![8000u32, 48000, 16000, 0]);
    let flag = prop::sample::select(vec![
        "a=sendrecv",
        "a=sendonly",
        "a=recvonly",
        "a=inactive",
        "a=rtcp-mux",
        "a=rtcp-mux-only",
    ]);
    prop_oneof![
        4 => (payload_type(), encoding, rate, prop::option::of(0u16..4)).prop_map(
            |(pt, e, r, ch)| match ch {
                Some(ch) => format!("a=rtpmap:{pt} {e}/{r}/{ch}"),
                None => format!("a=rtpmap:{pt} {e}/{r}"),
            }
        ),
        2 => (payload_type(), prop_oneof!["0-1[56]", "[ -~]{0,40}"])
            .prop_map(|(pt, p)| format!("a=fmtp:{pt} {p}")),
        1 => (0u32..200).prop_map(|n| format!("a=ptime:{n}")),
        1 => (0u32..200).prop_map(|n| format!("a=maxptime:{n}")),
        2 => flag.prop_map(str::to_owned),
        1 => (any::<u16>(), prop::option::of(ipv4())).prop_map(|(port, ip)| match ip {
            Some(ip) => format!("a=rtcp:{port} IN IP4 {ip}"),
            None => format!("a=rtcp:{port}"),
        }),
        1 => ipv4().prop_map(|ip| format!("c=IN IP4 {ip}")),
    ]
}

/// An `m=` line and its attributes.
fn media_section() -> impl Strategy<Value = Vec<String>> {
    let media = prop_oneof![4 => Just("audio"), 1 => Just("video"), 1 => Just("image")];
    let proto = prop_oneof![
        6 => Just("RTP/AVP"),
        1 => Just("RTP/AVPF"),
        1 => Just("RTP/SAVP"),
        1 => Just("udptl"),
    ];
    let port = prop_oneof![6 => 1u16..=u16::MAX, 1 => Just(0u16)];
    (
        media,
        port,
        proto,
        prop::collection::vec(payload_type(), 1..8),
        prop::collection::vec(media_attribute(), 0..10),
    )
        .prop_map(|(m, port, proto, pts, attrs)| {
            let pts: Vec<String> = pts.iter().map(u16::to_string).collect();
            let mut lines = vec![format!("m={m} {port} {proto} {}", pts.join(" "))];
            lines.extend(attrs);
            lines
        })
}

/// SDP-shaped documents: usually a valid header, session attributes, media
/// sections, and a little noise anywhere.
fn sdp_document() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::bool::weighted(0.9),
        prop::collection::vec(sdp_line(), 0..3),
        prop::collection::vec(media_section(), 0..4),
        prop::collection::vec((any::<usize>(), sdp_line()), 0..3),
        any::<bool>(),
    )
        .prop_map(|(header, session, media, noise, crlf)| {
            let mut lines: Vec<String> = Vec::new();
            if header {
                for l in [
                    "v=0",
                    "o=- 1 1 IN IP4 198.51.100.1",
                    "s=-",
                    "c=IN IP4 198.51.100.1",
                    "t=0 0",
                ] {
                    lines.push(l.to_owned());
                }
            }
            lines.extend(session);
            lines.extend(media.into_iter().flatten());
            for (at, line) in noise {
                let at = at % (lines.len() + 1);
                lines.insert(at, line);
            }
            let eol = if crlf { "\r\n" } else { "\n" };
            let mut text = lines.join(eol);
            text.push_str(eol);
            text.into_bytes()
        })
}

const CORPUS: [&str; 4] = [
    "v=0\r\no=root 1504347287 1504347287 IN IP4 54.172.60.1\r\ns=Twilio Media Gateway\r\nc=IN IP4 54.172.60.1\r\nt=0 0\r\nm=audio 17788 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=maxptime:150\r\na=sendrecv\r\n",
    "v=0\r\no=- 1686917 1686917 IN IP4 203.0.113.5\r\ns=Asterisk\r\nc=IN IP4 203.0.113.5\r\nt=0 0\r\nm=audio 10000 RTP/AVP 9 3 8 0 101\r\na=rtpmap:9 G722/8000\r\na=rtpmap:3 GSM/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\nm=video 0 RTP/AVP 96\r\nm=image 5000 udptl t38\r\n",
    "v=0\r\no=FreeSWITCH 1700000000 1700000001 IN IP4 198.51.100.7\r\ns=FreeSWITCH\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\na=sendonly\r\nm=audio 24690 RTP/AVPF 102 0 103 101\r\na=rtpmap:102 opus/48000/2\r\na=fmtp:102 useinbandfec=1; maxaveragebitrate=30000\r\na=rtpmap:103 telephone-event/48000\r\na=fmtp:103 0-16\r\na=rtpmap:101 telephone-event/8000\r\na=rtcp-mux\r\na=rtcp:24691 IN IP4 198.51.100.7\r\n",
    "v=0\r\no=- 5 7 IN IP4 198.51.100.9\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\nm=audio 30000 RTP/AVP 8\r\na=ptime:30\r\n",
];

fn corpus() -> Vec<String> {
    let mut all: Vec<String> = CORPUS.iter().map(|s| (*s).to_owned()).collect();
    all.push(our_offer().sdp().to_owned());
    all
}

#[derive(Debug, Clone)]
enum Mutation {
    Delete,
    Duplicate,
    Replace(String),
    Truncate(usize),
    InsertBytes(usize, Vec<u8>),
    Swap(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        Just(Mutation::Delete),
        Just(Mutation::Duplicate),
        "\\PC{0,80}".prop_map(Mutation::Replace),
        sdp_line().prop_map(Mutation::Replace),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(at, b)| Mutation::InsertBytes(at, b)),
        any::<usize>().prop_map(Mutation::Swap),
    ]
}

fn mutate(doc: &str, line: usize, m: &Mutation) -> Vec<u8> {
    let mut lines: Vec<Vec<u8>> = doc.split("\r\n").map(|l| l.as_bytes().to_vec()).collect();
    let i = line % lines.len();
    match m {
        Mutation::Delete => {
            lines.remove(i);
        }
        Mutation::Duplicate => lines.insert(i, lines[i].clone()),
        Mutation::Replace(s) => lines[i] = s.as_bytes().to_vec(),
        Mutation::Truncate(at) => {
            let len = lines[i].len();
            lines[i].truncate(at % (len + 1));
        }
        Mutation::InsertBytes(at, bytes) => {
            let at = at % (lines[i].len() + 1);
            lines[i].splice(at..at, bytes.iter().copied());
        }
        Mutation::Swap(j) => {
            let j = j % lines.len();
            lines.swap(i, j);
        }
    }
    lines.join(&b"\r\n"[..])
}

fn codec_list() -> impl Strategy<Value = Vec<Codec>> {
    Just(Codec::ALL.to_vec())
        .prop_shuffle()
        .prop_flat_map(|all| (Just(all), 1usize..=3))
        .prop_map(|(all, n)| all[..n].to_vec())
}

fn direction() -> impl Strategy<Value = Direction> {
    prop::sample::select(vec![
        Direction::SendRecv,
        Direction::SendOnly,
        Direction::RecvOnly,
        Direction::Inactive,
    ])
}

fn local_media() -> impl Strategy<Value = LocalMedia> {
    (
        prop_oneof![
            any::<[u8; 4]>().prop_map(|o| IpAddr::V4(Ipv4Addr::from(o))),
            any::<[u16; 8]>().prop_map(|s| IpAddr::V6(Ipv6Addr::from(s))),
        ],
        1u16..=u16::MAX,
        any::<u64>(),
        any::<u64>(),
        direction(),
        any::<bool>(),
    )
        .prop_map(|(ip, port, id, ver, dir, mux)| {
            LocalMedia::new(ip, port, id, ver)
                .with_direction(dir)
                .with_rtcp_mux(mux)
        })
}

/// A declared direction as the other side must read it: a null address means
/// "do not send to me" (RFC 2543 hold).
fn effective(declared: Direction, addr: IpAddr) -> Direction {
    if addr.is_unspecified() {
        Direction::from_flags(declared.sends(), false)
    } else {
        declared
    }
}

// ---- properties -------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes_never_panic(input in prop::collection::vec(any::<u8>(), 0..4096)) {
        exercise(&input);
    }

    #[test]
    fn random_text_never_panics(input in "\\PC{0,2000}") {
        exercise(input.as_bytes());
    }

    #[test]
    fn sdp_shaped_input_never_panics(input in sdp_document()) {
        exercise(&input);
    }

    #[test]
    fn mutated_real_sdps_never_panic(
        doc in 0usize..5,
        line in any::<usize>(),
        muts in prop::collection::vec(mutation(), 1..4),
    ) {
        let docs = corpus();
        let mut text = docs[doc].clone().into_bytes();
        for m in &muts {
            text = mutate(&String::from_utf8_lossy(&text), line, m);
        }
        exercise(&text);
    }

    #[test]
    fn our_offers_round_trip_and_negotiate(
        ours in local_media(),
        theirs in local_media(),
        our_codecs in codec_list(),
        their_codecs in codec_list(),
        their_order in prop::sample::select(vec![PreferenceOrder::Ours, PreferenceOrder::Offerer]),
    ) {
        let our_prefs = CodecPrefs::new(&our_codecs).expect("non-empty");
        let their_prefs = CodecPrefs::new(&their_codecs).expect("non-empty").with_order(their_order);
        let offer = sdp::create_offer(&ours, &our_prefs);

        // The offer parses back into what we meant.
        let view = SessionDescription::parse(offer.sdp().as_bytes()).expect("offer parses");
        prop_assert_eq!(view.origin.session_id, ours.session_id);
        prop_assert_eq!(view.origin.session_version, ours.session_version);
        let audio = view.audio.as_ref().expect("audio");
        prop_assert_eq!(audio.port, ours.rtp_port);
        prop_assert_eq!(audio.direction, ours.direction);
        prop_assert_eq!(audio.rtcp_mux, ours.rtcp_mux);
        prop_assert_eq!(audio.ptime, Some(20));
        let identified: Vec<Codec> = audio.formats.iter().filter_map(Codec::identify).collect();
        prop_assert_eq!(&identified, &our_codecs);
        let ezk = ezk_sdp_types::SessionDescription::parse(&offer.sdp().to_owned().into());
        prop_assert!(ezk.is_ok(), "ezk rejects our offer {:?}", offer.sdp());

        // The far end answers it; we accept the answer.
        let common = our_codecs.iter().any(|c| their_codecs.contains(c));
        match sdp::answer(&view, &theirs, &their_prefs) {
            Err(err) => prop_assert!(!common && err == SdpError::NoCommonCodec, "{err}"),
            Ok(reply) => {
                prop_assert!(common);
                let ezk = ezk_sdp_types::SessionDescription::parse(&reply.sdp.clone().into());
                prop_assert!(ezk.is_ok(), "ezk rejects our answer {:?}", reply.sdp);
                let answer = SessionDescription::parse(reply.sdp.as_bytes()).expect("answer parses");
                let n = sdp::accept_answer(&offer, &answer).expect("answer accepted");
                let t = &reply.negotiated;
                prop_assert_eq!(n.codec, t.codec);
                prop_assert_eq!((n.send_pt, n.recv_pt), (t.recv_pt, t.send_pt));
                prop_assert_eq!(n.dtmf.map(|d| d.clock_rate), t.dtmf.map(|d| d.clock_rate));
                prop_assert_eq!(n.ptime_ms, 20);
                prop_assert_eq!(n.rtcp_mux, ours.rtcp_mux && theirs.rtcp_mux);
                let ours_eff = effective(ours.direction, ours.addr);
                prop_assert_eq!(t.direction, theirs.direction.intersect(ours_eff.reversed()));
                let theirs_eff = effective(t.direction, theirs.addr);
                prop_assert_eq!(n.direction, ours.direction.intersect(theirs_eff.reversed()));
                if theirs.addr.is_unspecified() {
                    prop_assert_eq!(n.remote_rtp, None);
                } else {
                    prop_assert_eq!(n.remote_rtp, Some((theirs.addr, theirs.rtp_port).into()));
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn oversized_input_is_rejected_without_allocating(
        input in prop::collection::vec(any::<u8>(), MAX_SDP_LEN + 1..=1 << 20),
    ) {
        let (result, heap) = peak_heap(|| SessionDescription::parse(&input));
        prop_assert_eq!(result, Err(SdpError::TooLarge { len: input.len(), max: MAX_SDP_LEN }));
        prop_assert_eq!(heap, 0);
    }

    #[test]
    fn inputs_up_to_the_limit_stay_within_the_heap_bound(
        input in prop::collection::vec(any::<u8>(), MAX_SDP_LEN - 64..=MAX_SDP_LEN),
    ) {
        exercise(&input);
    }
}

// ---- deterministic edge cases ------------------------------------------------

#[test]
fn every_truncation_of_real_sdps() {
    let reply = sdp::answer(
        &SessionDescription::parse(CORPUS[2].as_bytes()).expect("corpus parses"),
        &us(),
        &CodecPrefs::default(),
    )
    .expect("answer");
    let mut docs = corpus();
    docs.push(reply.sdp);
    for doc in &docs {
        let bytes = doc.as_bytes();
        for cut in 0..=bytes.len() {
            exercise(&bytes[..cut]);
        }
    }
    // A cut right after the m= line still negotiates, from static PT 0.
    let cut = CORPUS[0].find("a=rtpmap:0").expect("offset");
    let offer = SessionDescription::parse(&CORPUS[0].as_bytes()[..cut]).expect("prefix parses");
    let n = sdp::answer(&offer, &us(), &CodecPrefs::default())
        .expect("answer")
        .negotiated;
    assert_eq!((n.codec, n.dtmf), (Codec::Pcmu, None));
}

#[test]
fn one_mebibyte_and_100k_attributes_are_rejected_unparsed() {
    let mut huge = String::from(CORPUS[0]);
    while huge.len() < 1 << 20 {
        huge.push_str("a=x-filler:0123456789abcdef\r\n");
    }
    let (result, heap) = peak_heap(|| SessionDescription::parse(huge.as_bytes()));
    assert_eq!(
        result,
        Err(SdpError::TooLarge {
            len: huge.len(),
            max: MAX_SDP_LEN
        })
    );
    assert_eq!(heap, 0);

    let many = format!("{}{}", CORPUS[0], "a=x\r\n".repeat(100_000));
    let (result, heap) = peak_heap(|| SessionDescription::parse(many.as_bytes()));
    assert_eq!(
        result,
        Err(SdpError::TooLarge {
            len: many.len(),
            max: MAX_SDP_LEN
        })
    );
    assert_eq!(heap, 0);

    // Garbage over the limit is "too large", not "malformed": the size check
    // comes before any parsing.
    let garbage = vec![0xffu8; MAX_SDP_LEN + 1];
    assert_eq!(
        SessionDescription::parse(&garbage),
        Err(SdpError::TooLarge {
            len: MAX_SDP_LEN + 1,
            max: MAX_SDP_LEN
        })
    );
}

#[test]
fn attributes_up_to_the_limit_are_parsed_and_not_kept() {
    let mut doc = String::from(CORPUS[0]);
    let mut count = 0;
    while doc.len() + 5 <= MAX_SDP_LEN {
        doc.push_str("a=x\r\n");
        count += 1;
    }
    assert!(count > 3000);
    let (result, heap) = peak_heap(|| SessionDescription::parse(doc.as_bytes()));
    let offer = result.expect("parses");
    assert!(heap < 4096, "held {heap} bytes");
    let n = sdp::answer(&offer, &us(), &CodecPrefs::default())
        .expect("answer")
        .negotiated;
    assert_eq!(n.codec, Codec::Pcmu);
}

#[test]
fn payload_type_lists_are_capped() {
    let pts: Vec<String> = (0..2000).map(|i| (i % 128).to_string()).collect();
    let doc = format!(
        "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 5000 RTP/AVP {}\r\n",
        pts.join(" ")
    );
    assert!(doc.len() < MAX_SDP_LEN);
    let offer = SessionDescription::parse(doc.as_bytes()).expect("parses");
    let audio = offer.audio.as_ref().expect("audio");
    assert_eq!(audio.formats.len(), MAX_FORMATS);
    let first: Vec<u8> = audio.formats.iter().map(|f| f.payload_type.get()).collect();
    assert_eq!(first, (0..MAX_FORMATS as u8).collect::<Vec<_>>());
}

#[test]
fn too_many_media_lines_is_an_error() {
    let mut doc =
        String::from("v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n");
    for _ in 0..MAX_MEDIA {
        doc.push_str("m=video 0 RTP/AVP 96\r\n");
    }
    let parsed = SessionDescription::parse(doc.as_bytes()).expect("16 lines are fine");
    assert_eq!(parsed.media.len(), MAX_MEDIA);
    doc.push_str("m=audio 5000 RTP/AVP 0\r\n");
    assert_eq!(
        SessionDescription::parse(doc.as_bytes()),
        Err(SdpError::TooManyMedia { max: MAX_MEDIA })
    );
}

#[test]
fn worst_case_retained_view_is_small() {
    // Every kept string at its maximum: 16 m= lines with 64-byte tokens, 32
    // payload types each with a 32-byte encoding and a 256-byte fmtp.
    let tok = "x".repeat(MAX_TOKEN_LEN);
    let mut doc =
        String::from("v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n");
    let pts: Vec<String> = (96..128).map(|p: u8| p.to_string()).collect();
    doc.push_str(&format!("m=audio 5000 RTP/AVP {}\r\n", pts.join(" ")));
    for pt in 96..128 {
        doc.push_str(&format!(
            "a=rtpmap:{pt} {}/8000\r\n",
            "E".repeat(MAX_ENCODING_LEN)
        ));
        doc.push_str(&format!("a=fmtp:{pt} {}\r\n", "p".repeat(MAX_FMTP_LEN)));
    }
    for _ in 1..MAX_MEDIA {
        doc.push_str(&format!("m={tok} 0 {tok} {tok}\r\n"));
    }
    assert!(doc.len() <= MAX_SDP_LEN);
    let (result, heap) = peak_heap(|| SessionDescription::parse(doc.as_bytes()));
    let offer = result.expect("parses");
    assert_eq!(offer.media.len(), MAX_MEDIA);
    let audio = offer.audio.as_ref().expect("audio");
    assert_eq!(audio.formats.len(), MAX_FORMATS);
    assert!(
        audio
            .formats
            .iter()
            .all(|f| f.fmtp.as_ref().map(String::len) == Some(MAX_FMTP_LEN))
    );
    // The accounting works (the kept fmtp strings alone are 8 KiB) and the
    // whole view stays small.
    assert!(heap > MAX_FORMATS * MAX_FMTP_LEN, "held {heap} bytes");
    assert!(heap < 32 * 1024, "held {heap} bytes");
    eprintln!("worst-case parse peak heap: {heap} bytes");
}

#[test]
fn generators_reach_negotiation() {
    // The properties above are only worth something if the generated inputs
    // get past the parser: count how often they produce an answer.
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let (mut parsed, mut answered) = (0, 0);
    let total = 2000;
    for _ in 0..total {
        let doc = sdp_document()
            .new_tree(&mut runner)
            .expect("value")
            .current();
        if let Ok(offer) = SessionDescription::parse(&doc) {
            parsed += 1;
            if sdp::answer(&offer, &us(), &CodecPrefs::default()).is_ok() {
                answered += 1;
            }
        }
    }
    eprintln!("sdp_document: {parsed}/{total} parsed, {answered}/{total} answered");
    assert!(parsed > total / 2, "only {parsed} parsed");
    assert!(answered > total / 10, "only {answered} answered");
}
