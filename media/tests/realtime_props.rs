//! Property tests for the Realtime API framing: base64 (against the `base64`
//! crate), the top-level JSON scanner, the downlink `DeltaDecoder` and the
//! uplink `AppendWriter`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use tenex_media::realtime::base64::{self as ours, Base64Error};
use tenex_media::realtime::downlink::{AUDIO_DELTA_TYPE, MAX_FRAME_BYTES};
use tenex_media::realtime::scan::{MAX_DEPTH, RawStr, ScanError, Value, scan_object};
use tenex_media::realtime::{AppendWriter, DeltaDecoder, DeltaError, event_type, pcm16_from_le};

// ---------------------------------------------------------------------------
// Allocation counting (per thread, so parallel tests do not disturb each other)
// ---------------------------------------------------------------------------

struct CountingAlloc;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count_allocation() {
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}

/// Heap allocations made by this thread so far.
fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

// SAFETY: every call is forwarded unchanged to the system allocator; the counter is a
// const-initialised thread-local `Cell` without destructor, which never allocates.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_allocation();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_allocation();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_allocation();
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// SplitMix64: cheap deterministic bytes and choices derived from a proptest seed.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn encode(data: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    ours::encode_into(data, &mut v);
    v
}

fn decode(text: &[u8]) -> Result<Vec<u8>, Base64Error> {
    let mut v = Vec::new();
    ours::decode(text, &mut |b| v.extend_from_slice(b))?;
    Ok(v)
}

fn le_bytes(samples: &[i16]) -> Vec<u8> {
    samples.iter().flat_map(|s| s.to_le_bytes()).collect()
}

// ---------------------------------------------------------------------------
// base64
// ---------------------------------------------------------------------------

/// A character of a base64-looking text: mostly alphabet, some `=`, a few invalid.
fn b64_char() -> impl Strategy<Value = u8> {
    prop_oneof![
        40 => select(ALPHABET.to_vec()),
        5 => Just(b'='),
        2 => select(vec![b'!', b' ', b'\n', b'-', b'_', b'.', b'\\', b'"', 0u8, 0x7F, 0xC3, 0xFF]),
    ]
}

/// Texts near the edge of validity: random characters, whole groups with a random
/// last group, and canonical encodings with a few characters rewritten near the end.
fn b64_text() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        vec(b64_char(), 0..40),
        (vec(select(ALPHABET.to_vec()), 0..10), vec(b64_char(), 4)).prop_map(|(body, last)| {
            let mut t: Vec<u8> = body.iter().flat_map(|&c| [c; 4]).collect();
            t.extend(last);
            t
        }),
        (vec(any::<u8>(), 0..60), vec((0usize..8, b64_char()), 0..3)).prop_map(|(data, edits)| {
            let mut t = STANDARD.encode(&data).into_bytes();
            for (from_end, c) in edits {
                if from_end < t.len() {
                    let at = t.len() - 1 - from_end;
                    t[at] = c;
                }
            }
            t
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(600))]

    /// `encode_into` appends exactly the `base64` crate's STANDARD encoding.
    #[test]
    fn encode_matches_base64_crate(
        prefix in vec(any::<u8>(), 0..8),
        data in vec(any::<u8>(), 0..3000),
    ) {
        let mut out = prefix.clone();
        ours::encode_into(&data, &mut out);
        prop_assert_eq!(&out[..prefix.len()], &prefix[..]);
        let want = STANDARD.encode(&data);
        prop_assert_eq!(&out[prefix.len()..], want.as_bytes());
        prop_assert_eq!(out.len() - prefix.len(), ours::encoded_len(data.len()));
    }

    /// PCM16 samples encode exactly like the crate's encoding of their LE bytes.
    #[test]
    fn encode_pcm16_matches_crate_on_le_bytes(
        prefix in vec(any::<u8>(), 0..8),
        samples in vec(any::<i16>(), 0..1500),
    ) {
        let mut out = prefix.clone();
        ours::encode_pcm16_into(&samples, &mut out);
        prop_assert_eq!(&out[..prefix.len()], &prefix[..]);
        let want = STANDARD.encode(le_bytes(&samples));
        prop_assert_eq!(&out[prefix.len()..], want.as_bytes());
    }

    /// Our decoder recovers what the crate encoded.
    #[test]
    fn decode_round_trips_crate_encoding(data in vec(any::<u8>(), 0..3000)) {
        prop_assert_eq!(decode(STANDARD.encode(&data).as_bytes()), Ok(data.clone()));
        prop_assert_eq!(decode(&encode(&data)), Ok(data));
    }

    /// Our decoder accepts exactly what the crate's STANDARD (padded, canonical)
    /// engine accepts, with the same bytes.
    #[test]
    fn decode_accepts_exactly_what_crate_accepts(text in b64_text()) {
        match (decode(&text), STANDARD.decode(&text)) {
            (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
            (Err(_), Err(_)) => {}
            (a, b) => prop_assert!(
                false,
                "{:?}: ours {:?}, base64 crate {:?}",
                String::from_utf8_lossy(&text),
                a,
                b
            ),
        }
    }

    /// The streaming decoder, fed the text in random pieces, gives the one-shot result
    /// (same bytes, or an error; the same error when the length is whole groups).
    #[test]
    fn streaming_decoder_equals_one_shot(
        text in prop_oneof![
            vec(any::<u8>(), 0..600).prop_map(|d| STANDARD.encode(d).into_bytes()),
            b64_text(),
        ],
        cuts in vec(any::<prop::sample::Index>(), 0..12),
    ) {
        let mut cuts: Vec<usize> = cuts.iter().map(|i| i.index(text.len() + 1)).collect();
        cuts.push(0);
        cuts.push(text.len());
        cuts.sort_unstable();
        let mut d = ours::Decoder::new();
        let mut got = Vec::new();
        let mut streamed = Ok(());
        for w in cuts.windows(2) {
            streamed = d.push(&text[w[0]..w[1]], &mut |b| got.extend_from_slice(b));
            if streamed.is_err() {
                break;
            }
        }
        if streamed.is_ok() {
            streamed = d.finish();
        }
        match decode(&text) {
            Ok(bytes) => {
                prop_assert_eq!(streamed, Ok(()));
                prop_assert_eq!(got, bytes);
            }
            Err(e) if text.len() % 4 == 0 => prop_assert_eq!(streamed, Err(e)),
            Err(e) => {
                prop_assert_eq!(e, Base64Error::BadLength(text.len()));
                match streamed {
                    Err(Base64Error::BadLength(n)) => prop_assert_eq!(n, text.len()),
                    Err(_) => {}
                    Ok(()) => prop_assert!(false, "stream accepted a partial group"),
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// JSON scanner
// ---------------------------------------------------------------------------

/// A JSON string as written: its raw text between the quotes.
#[derive(Debug, Clone)]
struct JStr {
    raw: String,
    escaped: bool,
}

#[derive(Debug, Clone)]
enum Json {
    Null,
    Bool(bool),
    Num(String),
    Str(JStr),
    Arr(Vec<Json>),
    Obj(Vec<(JStr, Json)>),
}

fn jstr() -> impl Strategy<Value = JStr> {
    let piece = prop_oneof![
        6 => any::<char>()
            .prop_filter("needs escaping", |c| *c != '"' && *c != '\\' && *c >= ' ')
            .prop_map(|c| (c.to_string(), false)),
        3 => "[a-zA-Z0-9_./:{}\\[\\],]{1,6}".prop_map(|s| (s, false)),
        1 => select(vec!["\\\"", "\\\\", "\\/", "\\b", "\\f", "\\n", "\\r", "\\t"])
            .prop_map(|s| (s.to_string(), true)),
        1 => "[0-9a-fA-F]{4}".prop_map(|h| (format!("\\u{h}"), true)),
    ];
    vec(piece, 0..10).prop_map(|pieces| JStr {
        escaped: pieces.iter().any(|(_, e)| *e),
        raw: pieces.into_iter().map(|(s, _)| s).collect(),
    })
}

fn json() -> impl Strategy<Value = Json> {
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::Bool),
        "-?(0|[1-9][0-9]{0,8})(\\.[0-9]{1,6})?([eE][+-]?[0-9]{1,3})?".prop_map(Json::Num),
        jstr().prop_map(Json::Str),
    ];
    leaf.prop_recursive(6, 64, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Json::Arr),
            vec((jstr(), inner), 0..6).prop_map(Json::Obj),
        ]
    })
}

/// Serializes with whitespace chosen by `rng` between every pair of tokens.
struct Writer {
    out: String,
    rng: Rng,
}

impl Writer {
    fn ws(&mut self) {
        const WS: [&str; 8] = ["", "", "", " ", "\n", "\t", "\r\n", "  "];
        let w = WS[self.rng.below(WS.len())];
        self.out.push_str(w);
    }

    fn string(&mut self, s: &JStr) {
        self.out.push('"');
        self.out.push_str(&s.raw);
        self.out.push('"');
    }

    fn value(&mut self, v: &Json) {
        match v {
            Json::Null => self.out.push_str("null"),
            Json::Bool(b) => self.out.push_str(if *b { "true" } else { "false" }),
            Json::Num(n) => self.out.push_str(n),
            Json::Str(s) => self.string(s),
            Json::Arr(items) => {
                self.out.push('[');
                for (i, item) in items.iter().enumerate() {
                    self.ws();
                    if i > 0 {
                        self.out.push(',');
                        self.ws();
                    }
                    self.value(item);
                }
                self.ws();
                self.out.push(']');
            }
            Json::Obj(members) => {
                self.out.push('{');
                for (i, (k, v)) in members.iter().enumerate() {
                    self.ws();
                    if i > 0 {
                        self.out.push(',');
                        self.ws();
                    }
                    self.member(k, v);
                }
                self.ws();
                self.out.push('}');
            }
        }
    }

    /// Writes `"key": value` and returns the byte range of the value.
    fn member(&mut self, k: &JStr, v: &Json) -> (usize, usize) {
        self.string(k);
        self.ws();
        self.out.push(':');
        self.ws();
        let start = self.out.len();
        self.value(v);
        (start, self.out.len())
    }
}

/// What the scanner should report for one member: key raw, key escaped, value.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Str(String, bool),
    Other(String),
}

fn seen(v: Value<'_>) -> Seen {
    match v {
        Value::Str(s) => Seen::Str(s.raw.to_string(), s.escaped),
        Value::Other(o) => Seen::Other(o.to_string()),
    }
}

type Members = Vec<(String, bool, Seen)>;

/// Serializes a top-level object and lists what a correct scan reports.
fn object_text(members: &[(JStr, Json)], seed: u64) -> (String, Members) {
    let mut w = Writer {
        out: String::new(),
        rng: Rng(seed),
    };
    let mut want = Vec::new();
    w.ws();
    w.out.push('{');
    for (i, (k, v)) in members.iter().enumerate() {
        w.ws();
        if i > 0 {
            w.out.push(',');
            w.ws();
        }
        let (start, end) = w.member(k, v);
        let value = match v {
            Json::Str(s) => Seen::Str(s.raw.clone(), s.escaped),
            _ => Seen::Other(w.out[start..end].to_string()),
        };
        want.push((k.raw.clone(), k.escaped, value));
    }
    w.ws();
    w.out.push('}');
    w.ws();
    (w.out, want)
}

fn scan_members(text: &str) -> Result<Members, ScanError> {
    let mut got = Vec::new();
    scan_object(text, |k, v| {
        got.push((k.raw.to_string(), k.escaped, seen(v)))
    })?;
    Ok(got)
}

/// Top-level members in shuffled order, always including a `type`.
fn top_members() -> impl Strategy<Value = Vec<(JStr, Json)>> {
    (vec((jstr(), json()), 0..10), "[a-z_.]{1,30}")
        .prop_map(|(mut m, ty)| {
            let plain = |s: &str| JStr {
                raw: s.to_string(),
                escaped: false,
            };
            m.push((plain("type"), Json::Str(plain(&ty))));
            m
        })
        .prop_shuffle()
}

/// Whether `part` is a subslice of `whole` (by address), returning its offset.
fn offset_in(whole: &str, part: &str) -> Option<usize> {
    let (w, p) = (whole.as_ptr() as usize, part.as_ptr() as usize);
    (p >= w && p + part.len() <= w + whole.len()).then(|| p - w)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// Any text: no panic; what is reported lies inside the text, strings between quotes.
    #[test]
    fn scan_arbitrary_text_never_panics(
        text in prop_oneof![
            any::<String>(),
            "[{}\\[\\]\":, \t\n0-9a-zA-Z\\\\/.+-]{0,120}",
            "\\{[\"a-z:,0-9\\[\\]{} \\\\]{0,80}\\}",
        ]
    ) {
        let mut members = Vec::new();
        let r = scan_object(&text, |k: RawStr<'_>, v: Value<'_>| members.push((k, v)));
        if r.is_ok() {
            let framed = text.trim_start().starts_with('{') && text.trim_end().ends_with('}');
            prop_assert!(framed, "accepted {:?}", text);
        }
        for (k, v) in members {
            let at = offset_in(&text, k.raw).expect("key inside the text");
            prop_assert_eq!(&text[at - 1..at], "\"");
            prop_assert_eq!(&text[at + k.raw.len()..at + k.raw.len() + 1], "\"");
            prop_assert_eq!(k.escaped, k.raw.contains('\\'));
            match v {
                Value::Str(s) => {
                    let at = offset_in(&text, s.raw).expect("string inside the text");
                    prop_assert_eq!(&text[at - 1..at], "\"");
                    prop_assert_eq!(&text[at + s.raw.len()..at + s.raw.len() + 1], "\"");
                    prop_assert_eq!(s.escaped, s.raw.contains('\\'));
                }
                Value::Other(o) => {
                    offset_in(&text, o).expect("value inside the text");
                    prop_assert!(o.starts_with(['{', '[', '-', 't', 'f', 'n'])
                        || o.starts_with(|c: char| c.is_ascii_digit()), "value {:?}", o);
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(150))]

    /// Random objects: exactly the top-level members, in order, with each string's raw
    /// text and escape flag and each other value's exact source text.
    #[test]
    fn scan_finds_exactly_the_top_level_members(members in top_members(), seed in any::<u64>()) {
        let (text, want) = object_text(&members, seed);
        prop_assert_eq!(scan_members(&text), Ok(want.clone()));
        let ty = want.iter().rev().find(|(k, _, _)| k == "type").map(|(_, _, v)| v.clone());
        let found = event_type(&text).expect("valid object").map(|t| Seen::Str(t.to_string(), false));
        let ty = ty.filter(|v| matches!(v, Seen::Str(_, false)));
        prop_assert_eq!(found, ty);
    }

    /// Every proper prefix of an object (ignoring trailing whitespace) is rejected.
    #[test]
    fn scan_rejects_every_truncation(members in top_members(), seed in any::<u64>()) {
        let (text, _) = object_text(&members, seed);
        let body = text.trim_end();
        let step = (body.len() / 200).max(1);
        for len in (0..body.len()).step_by(step).filter(|&l| body.is_char_boundary(l)) {
            prop_assert!(scan_object(&body[..len], |_, _| {}).is_err(), "accepted {:?}", &body[..len]);
        }
        prop_assert_eq!(scan_object(body, |_, _| {}), Ok(()));
    }

    /// Nesting up to MAX_DEPTH is skipped as one value; one level deeper is TooDeep;
    /// a closing bracket of the wrong kind is a syntax error.
    #[test]
    fn scan_nesting_bound_and_bracket_kinds(
        kinds in vec(any::<bool>(), 1..2 * MAX_DEPTH),
        swap in any::<prop::sample::Index>(),
    ) {
        let open: String = kinds.iter().map(|&o| if o { "{\"k\":" } else { "[" }).collect();
        let close: String = kinds.iter().rev().map(|&o| if o { "}" } else { "]" }).collect();
        let value = format!("{open}1{close}");
        let text = format!("{{\"a\":{value},\"b\":\"x\"}}");
        let r = scan_members(&text);
        if kinds.len() <= MAX_DEPTH {
            prop_assert_eq!(r, Ok(vec![
                ("a".to_string(), false, Seen::Other(value)),
                ("b".to_string(), false, Seen::Str("x".to_string(), false)),
            ]));
        } else {
            prop_assert_eq!(r, Err(ScanError::TooDeep));
        }
        if kinds.len() <= MAX_DEPTH {
            let i = swap.index(close.len());
            let mut bad = close.clone().into_bytes();
            bad[i] = if bad[i] == b'}' { b']' } else { b'}' };
            let bad = String::from_utf8(bad).expect("ascii");
            let text = format!("{{\"a\":{open}1{bad},\"b\":\"x\"}}");
            prop_assert!(matches!(scan_members(&text), Err(ScanError::Syntax(_))), "{}", text);
        }
    }
}

#[test]
fn scan_rejects_100k_deep_nesting_without_recursion() {
    let depth = 100_000;
    for (open, close) in [("[", "]"), ("{\"a\":", "}")] {
        let text = format!("{{\"a\":{}0{}}}", open.repeat(depth), close.repeat(depth));
        assert_eq!(scan_object(&text, |_, _| {}), Err(ScanError::TooDeep));
        assert_eq!(event_type(&text), Err(ScanError::TooDeep));
        let event = format!(
            "{{\"type\":\"{AUDIO_DELTA_TYPE}\",\"x\":{}{},\"delta\":\"AAAA\"}}",
            open.repeat(depth),
            close.repeat(depth)
        );
        let mut frames = 0;
        let r = DeltaDecoder::new(3).decode(&event, &mut |_| frames += 1);
        assert_eq!(r, Err(DeltaError::Json(ScanError::TooDeep)));
        assert_eq!(frames, 0);
    }
    // Unbalanced: 100k openers and nothing else.
    let text = format!("{{\"a\":{}", "[".repeat(depth));
    assert_eq!(scan_object(&text, |_, _| {}), Err(ScanError::TooDeep));
}

// ---------------------------------------------------------------------------
// DeltaDecoder
// ---------------------------------------------------------------------------

/// A `response.output_audio.delta` event for `b64`, with member order, whitespace
/// and `\/` escaping of some `/` chosen by `seed`.
fn audio_event(b64: &str, response_id: &str, item_id: &str, seed: u64) -> String {
    let mut rng = Rng(seed);
    let mut delta = String::with_capacity(b64.len() + 16);
    for c in b64.chars() {
        if c == '/' && rng.below(2) == 0 {
            delta.push_str("\\/");
        } else {
            delta.push(c);
        }
    }
    let mut members = [
        ("type", format!("\"{AUDIO_DELTA_TYPE}\"")),
        ("event_id", format!("\"event_{seed:x}\"")),
        ("response_id", format!("\"{response_id}\"")),
        ("item_id", format!("\"{item_id}\"")),
        ("output_index", "0".to_string()),
        ("content_index", "0".to_string()),
        ("delta", format!("\"{delta}\"")),
    ];
    for i in (1..members.len()).rev() {
        members.swap(i, rng.below(i + 1));
    }
    const WS: [&str; 6] = ["", "", " ", "\n", "\t", " \r\n "];
    let ws = |rng: &mut Rng| WS[rng.below(WS.len())];
    let mut text = String::new();
    text.push_str(ws(&mut rng));
    text.push('{');
    for (i, (k, v)) in members.iter().enumerate() {
        if i > 0 {
            text.push_str(ws(&mut rng));
            text.push(',');
        }
        for part in [
            ws(&mut rng),
            "\"",
            k,
            "\"",
            ws(&mut rng),
            ":",
            ws(&mut rng),
            v,
        ] {
            text.push_str(part);
        }
    }
    text.push_str(ws(&mut rng));
    text.push('}');
    text.push_str(ws(&mut rng));
    text
}

fn frame_bytes() -> impl Strategy<Value = usize> {
    prop_oneof![Just(960usize), Just(160), 1usize..=MAX_FRAME_BYTES]
}

/// Delta lengths: mostly up to 5000 bytes, some tiny (odd lengths split samples).
fn delta_lengths(max_events: usize) -> impl Strategy<Value = Vec<usize>> {
    vec(
        prop_oneof![3 => 1usize..=5000, 1 => 1usize..=7],
        1..max_events,
    )
}

/// The model of the assembler: whole frames of `pending ++ bytes`, and what is left.
fn frames_of(pending: &mut Vec<u8>, bytes: &[u8], frame: usize) -> Vec<Vec<u8>> {
    pending.extend_from_slice(bytes);
    let whole = pending.len() / frame * frame;
    let out = pending[..whole].chunks(frame).map(<[u8]>::to_vec).collect();
    pending.drain(..whole);
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(150))]

    /// A PCM byte stream split into deltas of any length comes out as exactly the
    /// stream's whole frames, in order, with the remainder pending.
    #[test]
    fn deltas_reassemble_the_stream(
        frame in frame_bytes(),
        lengths in delta_lengths(16),
        seed in any::<u64>(),
    ) {
        let total: usize = lengths.iter().sum();
        let stream = Rng(seed).bytes(total);
        let mut dec = DeltaDecoder::new(frame);
        let mut frames: Vec<Vec<u8>> = Vec::new();
        let mut at = 0;
        for (i, &len) in lengths.iter().enumerate() {
            let chunk = &stream[at..at + len];
            let (resp, item) = (format!("resp_{i}"), format!("item_{}", i / 3));
            let text = audio_event(&STANDARD.encode(chunk), &resp, &item, seed ^ i as u64);
            let before = frames.len();
            let ev = dec
                .decode(&text, &mut |f| frames.push(f.to_vec()))
                .map_err(|e| TestCaseError::fail(format!("{e} in {text}")))?;
            prop_assert_eq!(ev.bytes, len);
            prop_assert_eq!(ev.response_id, Some(resp.as_str()));
            prop_assert_eq!(ev.item_id, Some(item.as_str()));
            prop_assert_eq!(frames.len() - before, (at + len) / frame - at / frame);
            at += len;
            prop_assert_eq!(dec.frames().pending(), at % frame);
        }
        let whole = total / frame * frame;
        prop_assert!(frames.iter().all(|f| f.len() == frame));
        prop_assert_eq!(frames.concat(), &stream[..whole]);
        // The remainder is the stream's tail, padded when flushed.
        let mut last = Vec::new();
        let flushed = dec.frames().flush_padded(0xA5, &mut |f| last = f.to_vec());
        prop_assert_eq!(flushed, whole < total);
        if flushed {
            prop_assert_eq!(&last[..total - whole], &stream[whole..]);
            prop_assert!(last[total - whole..].iter().all(|&b| b == 0xA5));
            prop_assert_eq!(last.len(), frame);
        }
        prop_assert_eq!(dec.frames().pending(), 0);
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Truncate(prop::sample::Index),
    Replace(prop::sample::Index, char),
    Delete(prop::sample::Index),
    Insert(prop::sample::Index, char),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    use prop::sample::Index;
    let c = prop_oneof![
        select(vec![
            '"', '\\', '{', '}', '[', ':', ',', '=', '!', ' ', '/', 'A', 'é', 'n'
        ]),
        any::<char>(),
    ];
    prop_oneof![
        any::<Index>().prop_map(Mutation::Truncate),
        (any::<Index>(), c.clone()).prop_map(|(i, c)| Mutation::Replace(i, c)),
        any::<Index>().prop_map(Mutation::Delete),
        (any::<Index>(), c).prop_map(|(i, c)| Mutation::Insert(i, c)),
    ]
}

fn mutate(text: &str, m: &Mutation) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    if chars.is_empty() {
        return String::new();
    }
    match m {
        Mutation::Truncate(i) => chars.truncate(i.index(chars.len())),
        Mutation::Replace(i, c) => {
            let i = i.index(chars.len());
            chars[i] = *c;
        }
        Mutation::Delete(i) => {
            chars.remove(i.index(chars.len()));
        }
        Mutation::Insert(i, c) => chars.insert(i.index(chars.len() + 1), *c),
    }
    chars.into_iter().collect()
}

/// The audio bytes a mutated event really carries, found independently: the last
/// `delta` string, `\/` unescaped, decoded by the `base64` crate.
fn carried_bytes(text: &str) -> Option<Vec<u8>> {
    let mut delta = None;
    scan_object(text, |k, v| {
        if let ("delta", Value::Str(s)) = (k.raw, v) {
            delta = Some(s.raw);
        }
    })
    .ok()?;
    STANDARD.decode(delta?.replace("\\/", "/")).ok()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// A truncated or mutated event never panics; an accepted one carries exactly the
    /// bytes in its delta; a rejected one leaves no partial frame; and the events after
    /// it decode into exactly the frames the model predicts.
    #[test]
    fn mutated_events_fail_cleanly_and_realign(
        frame in frame_bytes(),
        lengths in vec(1usize..=3000, 2..8),
        victim in any::<prop::sample::Index>(),
        mutations in vec(mutation(), 1..3),
        seed in any::<u64>(),
    ) {
        let victim = victim.index(lengths.len());
        let stream = Rng(seed).bytes(lengths.iter().sum());
        let mut dec = DeltaDecoder::new(frame);
        let mut pending: Vec<u8> = Vec::new();
        let mut at = 0;
        for (i, &len) in lengths.iter().enumerate() {
            let chunk = &stream[at..at + len];
            at += len;
            let mut text = audio_event(&STANDARD.encode(chunk), "resp_1", "item_1", seed ^ i as u64);
            if i == victim {
                for m in &mutations {
                    text = mutate(&text, m);
                }
            }
            let mut got: Vec<Vec<u8>> = Vec::new();
            let r = dec.decode(&text, &mut |f| got.push(f.to_vec()));
            match (i == victim, r) {
                (false, r) => {
                    let ev = r.map_err(|e| TestCaseError::fail(format!("valid event: {e}")))?;
                    prop_assert_eq!(ev.bytes, len);
                    prop_assert_eq!(got, frames_of(&mut pending, chunk, frame));
                }
                (true, Ok(ev)) => {
                    let Some(bytes) = carried_bytes(&text) else {
                        return Err(TestCaseError::fail(format!(
                            "accepted an event whose delta the base64 crate rejects: {text}"
                        )));
                    };
                    prop_assert_eq!(ev.bytes, bytes.len());
                    prop_assert_eq!(got, frames_of(&mut pending, &bytes, frame));
                }
                (true, Err(_)) => {
                    prop_assert!(got.iter().all(|f| f.len() == frame));
                    if let Some(first) = got.first() {
                        prop_assert_eq!(&first[..pending.len()], &pending[..]);
                    }
                    pending.clear();
                }
            }
            prop_assert_eq!(dec.frames().pending(), pending.len(), "event {}", i);
        }
    }

    /// Any event text (not only audio deltas) decodes or fails without panicking, and a
    /// failure leaves no partial frame behind.
    #[test]
    fn arbitrary_event_text_never_panics(
        prefix in vec(1usize..=7, 0..2),
        text in prop_oneof![
            any::<String>(),
            "\\{[\"a-z_:,.0-9A-Z+/=\\\\ ]{0,160}\\}",
            "[a-zA-Z0-9+/=\\\\]{0,80}".prop_map(|d| {
                format!("{{\"type\":\"{AUDIO_DELTA_TYPE}\",\"delta\":\"{d}\"}}")
            }),
        ],
    ) {
        let mut dec = DeltaDecoder::new(4);
        for len in prefix {
            let ok = audio_event(&STANDARD.encode(vec![7u8; len]), "r", "i", 1);
            dec.decode(&ok, &mut |_| {}).map_err(|e| TestCaseError::fail(e.to_string()))?;
        }
        let mut frames = 0usize;
        if dec.decode(&text, &mut |f| frames += f.len()).is_err() {
            prop_assert_eq!(dec.frames().pending(), 0);
        }
    }
}

#[test]
fn huge_delta_streams_into_frames_without_allocating() {
    const AUDIO: usize = 6 * 1024 * 1024; // 8 MiB of base64
    const FRAME: usize = 960;
    let stream = Rng(0x5EED).bytes(AUDIO);
    let b64 = STANDARD.encode(&stream);
    assert_eq!(b64.len(), 8 * 1024 * 1024);
    let plain = format!(
        "{{\"type\":\"{AUDIO_DELTA_TYPE}\",\"response_id\":\"resp_big\",\"item_id\":\"item_big\",\"delta\":\"{b64}\"}}"
    );
    let escaped = format!(
        "{{\"delta\":\"{}\",\"type\":\"{AUDIO_DELTA_TYPE}\",\"response_id\":\"resp_big\",\"item_id\":\"item_big\"}}",
        b64.replace('/', "\\/")
    );
    assert!(escaped.len() > plain.len(), "the escaped path is exercised");
    // The decoder's state is a fixed-size value: one frame plus bookkeeping.
    assert!(std::mem::size_of::<DeltaDecoder>() <= MAX_FRAME_BYTES + 64);

    for text in [&plain, &escaped] {
        let mut dec = DeltaDecoder::new(FRAME);
        let mut frames = 0usize;
        let mut mismatched = 0usize;
        let before = allocations();
        let ev = dec.decode(text, &mut |f| {
            let want = &stream[frames * FRAME..(frames + 1) * FRAME];
            if f != want {
                mismatched += 1;
            }
            frames += 1;
        });
        let allocated = allocations() - before;
        let ev = ev.expect("huge delta decodes");
        assert_eq!(allocated, 0, "decoding allocated");
        assert_eq!(ev.bytes, AUDIO);
        assert_eq!(ev.response_id, Some("resp_big"));
        assert_eq!(frames, AUDIO / FRAME, "every whole frame emitted");
        assert_eq!(mismatched, 0, "frames equal the stream, in order");
        assert_eq!(dec.frames().pending(), AUDIO % FRAME);
        let mut tail = Vec::new();
        assert!(
            dec.frames()
                .flush_padded(0, &mut |f| tail.extend_from_slice(f))
        );
        assert_eq!(&tail[..AUDIO % FRAME], &stream[AUDIO / FRAME * FRAME..]);
    }
}

// ---------------------------------------------------------------------------
// AppendWriter and pcm16_from_le
// ---------------------------------------------------------------------------

const APPEND_PREFIX: &str = r#"{"type":"input_audio_buffer.append","audio":""#;
const APPEND_SUFFIX: &str = r#""}"#;

/// The base64 audio of an append event, checking the fixed text around it.
fn audio_field(text: &str) -> Result<&str, TestCaseError> {
    let audio = text
        .strip_prefix(APPEND_PREFIX)
        .and_then(|t| t.strip_suffix(APPEND_SUFFIX))
        .ok_or_else(|| TestCaseError::fail(format!("bad framing: {text}")))?;
    prop_assert_eq!(event_type(text), Ok(Some("input_audio_buffer.append")));
    let mut scanned = None;
    scan_object(text, |k, v| {
        if k.raw == "audio" {
            scanned = v.plain_str();
        }
    })
    .map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(scanned, Some(audio));
    Ok(audio)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// PCM16 and G.711 append events frame the crate-decodable base64 of the audio;
    /// frames up to 20 ms of 24 kHz PCM16 reuse the buffer without allocating.
    #[test]
    fn append_writer_events_carry_the_audio(
        samples in vec(any::<i16>(), 0..1200),
        g711 in vec(any::<u8>(), 0..2000),
    ) {
        let mut w = AppendWriter::new();
        let before = allocations();
        let len = w.pcm16(&samples).len();
        if samples.len() <= 480 {
            prop_assert_eq!(allocations() - before, 0, "a 20 ms PCM16 frame reuses the buffer");
        }
        let text = w.pcm16(&samples).to_string();
        prop_assert_eq!(text.len(), len);
        let audio = audio_field(&text)?;
        let bytes = STANDARD.decode(audio).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&bytes, &le_bytes(&samples));
        let mut back = vec![0i16; samples.len()];
        pcm16_from_le(&bytes, &mut back);
        prop_assert_eq!(&back, &samples);

        let mut w = AppendWriter::new();
        let before = allocations();
        let _ = w.g711(&g711).len();
        if g711.len() <= 960 {
            prop_assert_eq!(allocations() - before, 0, "a G.711 frame reuses the buffer");
        }
        let text = w.g711(&g711).to_string();
        let audio = audio_field(&text)?;
        prop_assert_eq!(STANDARD.decode(audio).ok(), Some(g711));
    }

    /// `pcm16_from_le` fills `min(out, bytes / 2)` samples and leaves the rest alone.
    #[test]
    fn pcm16_from_le_fills_the_shorter_length(
        bytes in vec(any::<u8>(), 0..64),
        out_len in 0usize..40,
    ) {
        let mut out = vec![0x1234i16; out_len];
        pcm16_from_le(&bytes, &mut out);
        let n = out_len.min(bytes.len() / 2);
        for (i, s) in out.iter().enumerate() {
            let want = if i < n { i16::from_le_bytes([bytes[2 * i], bytes[2 * i + 1]]) } else { 0x1234 };
            prop_assert_eq!(*s, want, "sample {}", i);
        }
    }
}
