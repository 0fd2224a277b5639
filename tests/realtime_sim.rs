//! The Realtime simulator over a real WebSocket, as a client sees it: the
//! handshake, event order, audio in all three formats with server VAD and
//! transcriptions, the errors the real service gives (active response, truncate
//! past the audio, bad JSON, unknown fields), and hundreds of sessions at once.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tenex_actors::tenex_media::g711;
use tenex_actors::tenex_media::realtime::base64;
use tenex_voice::realtime_sim::{SimConfig, Simulator, Stats, script::Script};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Error as WsError, Message, http};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

async fn sim(cfg: SimConfig) -> Simulator {
    Simulator::start(
        "127.0.0.1:0".parse::<SocketAddr>().expect("addr"),
        SimConfig {
            api_key: Some("sk-test".into()),
            ..cfg
        },
    )
    .await
    .expect("simulator")
}

async fn connect_with(url: &str, key: &str) -> Result<Ws, WsError> {
    let mut req = format!("{url}?model=gpt-realtime")
        .into_client_request()
        .expect("request");
    req.headers_mut().insert(
        http::header::AUTHORIZATION,
        http::HeaderValue::from_str(&format!("Bearer {key}")).expect("header"),
    );
    tokio_tungstenite::connect_async(req)
        .await
        .map(|(ws, _)| ws)
}

async fn connect(sim: &Simulator) -> Ws {
    connect_with(&sim.url(), "sk-test").await.expect("connect")
}

async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::text(v.to_string())).await.expect("send");
}

/// The next server event (5 s at most).
async fn next(ws: &mut Ws) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("an event in time")
            .expect("open")
            .expect("frame");
        if let Message::Text(t) = msg {
            return serde_json::from_str(t.as_str()).expect("JSON event");
        }
    }
}

/// Events until one of type `ty` (included).
async fn until(ws: &mut Ws, ty: &str) -> Vec<Value> {
    let mut out = Vec::new();
    loop {
        let e = next(ws).await;
        let done = e["type"] == ty;
        out.push(e);
        if done {
            return out;
        }
    }
}

fn types(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["type"].as_str().unwrap_or(""))
        .collect()
}

fn session(input: &str, output: &str) -> Value {
    json!({"type":"session.update","session":{"type":"realtime",
        "audio":{"input":{"format":{"type":input},
                          "transcription":{"model":"gpt-4o-mini-transcribe"},
                          "turn_detection":{"type":"server_vad","threshold":0.5,
                              "prefix_padding_ms":300,"silence_duration_ms":500,
                              "create_response":false,"interrupt_response":true}},
                 "output":{"format":{"type":output},"voice":"marin"}}}})
}

/// `ms` of 24 kHz (or 8 kHz) speech-like audio, then silence.
fn burst(rate: usize, speech_ms: usize, silence_ms: usize) -> Vec<i16> {
    let n = rate * speech_ms / 1000;
    let mut pcm: Vec<i16> = (0..n)
        .map(|i| {
            let t = i as f32 / rate as f32;
            let ph = 2.0 * std::f32::consts::PI * 150.0 * t;
            ((ph.sin() + 0.5 * (2.0 * ph).sin()) * 6000.0) as i16
        })
        .collect();
    pcm.extend(std::iter::repeat_n(0, rate * silence_ms / 1000));
    pcm
}

fn b64(bytes: &[u8]) -> String {
    let mut out = Vec::new();
    base64::encode_into(bytes, &mut out);
    String::from_utf8(out).expect("ascii")
}

/// Appends `pcm` in 20 ms chunks encoded for `format`.
async fn append(ws: &mut Ws, format: &str, pcm: &[i16]) {
    let frame = if format == "audio/pcm" { 480 } else { 160 };
    for chunk in pcm.chunks(frame) {
        let bytes: Vec<u8> = match format {
            "audio/pcm" => chunk.iter().flat_map(|s| s.to_le_bytes()).collect(),
            "audio/pcmu" => chunk.iter().map(|&s| g711::ulaw_encode(s)).collect(),
            _ => chunk.iter().map(|&s| g711::alaw_encode(s)).collect(),
        };
        send(
            ws,
            json!({"type":"input_audio_buffer.append","audio":b64(&bytes)}),
        )
        .await;
    }
}

#[tokio::test]
async fn the_handshake_needs_the_path_and_the_key() {
    let sim = sim(SimConfig::default()).await;
    let url = sim.url();
    match connect_with(&url, "sk-wrong").await {
        Err(WsError::Http(resp)) => assert_eq!(resp.status(), 401),
        other => panic!("wrong key accepted: {:?}", other.map(|_| ())),
    }
    let wrong_path = url.replace("/v1/realtime", "/v1/other");
    match connect_with(&wrong_path, "sk-test").await {
        Err(WsError::Http(resp)) => assert_eq!(resp.status(), 404),
        other => panic!("wrong path accepted: {:?}", other.map(|_| ())),
    }
    sim.refuse_new_sessions(true);
    match connect_with(&url, "sk-test").await {
        Err(WsError::Http(resp)) => assert_eq!(resp.status(), 503),
        other => panic!("refusing mode accepted: {:?}", other.map(|_| ())),
    }
    assert_eq!(Stats::get(&sim.stats().refused), 3);
    assert_eq!(Stats::get(&sim.stats().sessions), 0);
}

#[tokio::test]
async fn sessions_start_with_created_then_updated_and_refuse_unknown_fields_whole() {
    let sim = sim(SimConfig::default()).await;
    let mut ws = connect(&sim).await;
    let created = next(&mut ws).await;
    assert_eq!(created["type"], "session.created");
    assert_eq!(created["session"]["model"], "gpt-realtime");
    send(&mut ws, session("audio/pcmu", "audio/pcmu")).await;
    let updated = next(&mut ws).await;
    assert_eq!(updated["type"], "session.updated");
    assert_eq!(
        updated["session"]["audio"]["input"]["format"]["type"],
        "audio/pcmu"
    );
    // An undeclared field: an error, and the session is unchanged.
    let mut bad = session("audio/pcma", "audio/pcma");
    bad["session"]["audio"]["input"]["volume"] = json!(11);
    send(&mut ws, bad).await;
    let err = next(&mut ws).await;
    assert_eq!(err["type"], "error");
    assert_eq!(err["error"]["code"], "unknown_parameter");
    // Not JSON at all: an error event, and the connection stays usable.
    ws.send(Message::text("{not json")).await.expect("send");
    let err = next(&mut ws).await;
    assert_eq!(err["error"]["code"], "invalid_json");
    send(&mut ws, json!({"type":"response.create"})).await;
    let events = until(&mut ws, "response.done").await;
    let first_delta = events
        .iter()
        .find(|e| e["type"] == "response.output_audio.delta")
        .expect("audio");
    // Still PCMU: 100 ms chunks are 800 bytes.
    let mut bytes = Vec::new();
    base64::decode(
        first_delta["delta"].as_str().expect("delta").as_bytes(),
        &mut |b: &[u8]| bytes.extend_from_slice(b),
    )
    .expect("base64");
    assert_eq!(bytes.len(), 800);
}

#[tokio::test]
async fn server_vad_and_transcription_in_all_three_formats() {
    let sim = sim(SimConfig {
        script: Script::parse(r#"{"caller_lines":["one","two","three"],"turns":[]}"#)
            .expect("script"),
        ..SimConfig::default()
    })
    .await;
    for (format, rate, line) in [
        ("audio/pcm", 24_000, "one"),
        ("audio/pcmu", 8_000, "one"),
        ("audio/pcma", 8_000, "one"),
    ] {
        let mut ws = connect(&sim).await;
        assert_eq!(next(&mut ws).await["type"], "session.created");
        send(&mut ws, session(format, format)).await;
        assert_eq!(next(&mut ws).await["type"], "session.updated");
        append(&mut ws, format, &burst(rate, 800, 900)).await;
        let events = until(
            &mut ws,
            "conversation.item.input_audio_transcription.completed",
        )
        .await;
        let t = types(&events);
        let pos = |ty: &str| t.iter().position(|x| *x == ty).expect(ty);
        assert!(
            pos("input_audio_buffer.speech_started") < pos("input_audio_buffer.speech_stopped")
                && pos("input_audio_buffer.speech_stopped") < pos("input_audio_buffer.committed")
                && pos("input_audio_buffer.committed") < pos("conversation.item.added"),
            "{format}: {t:?}"
        );
        let started = &events[pos("input_audio_buffer.speech_started")];
        let start_ms = started["audio_start_ms"].as_u64().expect("start");
        assert!(
            start_ms <= 100,
            "{format}: speech from the start: {start_ms}"
        );
        let stopped = &events[pos("input_audio_buffer.speech_stopped")];
        let end_ms = stopped["audio_end_ms"].as_u64().expect("end");
        assert!((700..=1400).contains(&end_ms), "{format}: end {end_ms}");
        let done = events.last().expect("completed");
        assert_eq!(done["transcript"], line, "{format}");
        assert_eq!(done["item_id"], started["item_id"]);
    }
}

#[tokio::test]
async fn a_second_response_during_one_is_refused_and_truncate_is_checked_against_the_audio() {
    let sim = sim(SimConfig {
        speed: 4,
        ..SimConfig::default()
    })
    .await;
    let mut ws = connect(&sim).await;
    next(&mut ws).await;
    send(&mut ws, session("audio/pcm", "audio/pcm")).await;
    next(&mut ws).await;
    send(&mut ws, json!({"type":"response.create"})).await;
    send(
        &mut ws,
        json!({"type":"response.create","event_id":"evt_second"}),
    )
    .await;
    let events = until(&mut ws, "response.done").await;
    let err = events
        .iter()
        .find(|e| e["type"] == "error")
        .expect("the second create is refused");
    assert_eq!(
        err["error"]["code"],
        "conversation_already_has_active_response"
    );
    assert_eq!(err["error"]["event_id"], "evt_second");
    let done = events.last().expect("done");
    assert_eq!(done["response"]["status"], "completed");
    let item = done["response"]["output"][0]["id"]
        .as_str()
        .expect("item")
        .to_owned();
    let audio_ms: usize = events
        .iter()
        .filter(|e| e["type"] == "response.output_audio.delta")
        .map(|e| e["delta"].as_str().map_or(0, |d| d.len() * 3 / 4 / 48))
        .sum();
    assert!(audio_ms > 500, "{audio_ms}");

    // Past the end of the item's audio: an error like the real service's.
    send(
        &mut ws,
        json!({"type":"conversation.item.truncate","item_id":item,"content_index":0,
            "audio_end_ms": audio_ms + 1000}),
    )
    .await;
    let err = next(&mut ws).await;
    assert_eq!(err["type"], "error");
    assert_eq!(err["error"]["param"], "audio_end_ms");
    // Within it: truncated.
    send(
        &mut ws,
        json!({"type":"conversation.item.truncate","item_id":item,"content_index":0,"audio_end_ms":300}),
    )
    .await;
    let ok = next(&mut ws).await;
    assert_eq!(ok["type"], "conversation.item.truncated");
    assert_eq!(ok["audio_end_ms"], 300);
    // And cancelling a streaming response reports it cancelled.
    send(&mut ws, json!({"type":"response.create"})).await;
    until(&mut ws, "response.output_audio.delta").await;
    send(&mut ws, json!({"type":"response.cancel"})).await;
    let events = until(&mut ws, "response.done").await;
    assert_eq!(
        events.last().expect("done")["response"]["status"],
        "cancelled"
    );
    assert_eq!(Stats::get(&sim.stats().truncate_errors), 1);
}

#[tokio::test]
async fn text_only_side_responses_stay_out_of_the_conversation() {
    let sim = sim(SimConfig::default()).await;
    let mut ws = connect(&sim).await;
    next(&mut ws).await;
    send(
        &mut ws,
        json!({"type":"response.create","response":{"conversation":"none",
            "output_modalities":["text"],"instructions":"Summarise."}}),
    )
    .await;
    let events = until(&mut ws, "response.done").await;
    let t = types(&events);
    assert!(t.contains(&"response.output_text.done"), "{t:?}");
    assert!(!t.contains(&"response.output_audio.delta"), "{t:?}");
    assert!(!t.contains(&"conversation.item.added"), "{t:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hundred_sessions_at_once() {
    let sim = sim(SimConfig::default()).await;
    let url = sim.url();
    let started = std::time::Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..300 {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let mut ws = connect_with(&url, "sk-test").await.expect("connect");
            next(&mut ws).await;
            send(&mut ws, session("audio/pcmu", "audio/pcmu")).await;
            next(&mut ws).await;
            append(&mut ws, "audio/pcmu", &burst(8000, 200, 0)).await;
            send(&mut ws, json!({"type":"response.create"})).await;
            let events = until(&mut ws, "response.done").await;
            let audio = events
                .iter()
                .filter(|e| e["type"] == "response.output_audio.delta")
                .count();
            (
                events.last().expect("done")["response"]["status"] == "completed",
                audio,
                ws,
            )
        }));
    }
    let mut open = Vec::new();
    for t in tasks {
        let (completed, audio, ws) = t.await.expect("session task");
        assert!(completed && audio > 0);
        open.push(ws);
    }
    eprintln!("300 concurrent sessions served in {:?}", started.elapsed());
    assert_eq!(Stats::get(&sim.stats().sessions), 300);
    assert_eq!(Stats::get(&sim.stats().responses), 300);
}

#[tokio::test]
async fn instructions_pick_the_conversation_and_recorded_lines_are_played_as_recorded() {
    // One simulator, two conversations: the session whose instructions name
    // "Dana" follows her script; any other follows the default one. Dana's
    // greeting has a recording, which goes out sample for sample.
    let recorded: Vec<i16> = (0..2400).map(|i| ((i % 48) as i16 - 24) * 500).collect();
    let dana =
        Script::parse(r#"{"caller_lines":["Dana speaking."],"turns":[{"say":"Hello Dana."}]}"#)
            .expect("script");
    let sim = sim(SimConfig {
        script: Script::parse(r#"{"caller_lines":["Someone."],"turns":[{"say":"Hello there."}]}"#)
            .expect("script"),
        scripts_by_instructions: vec![("Name: Dana".into(), dana)],
        recorded: [("Hello Dana.".to_owned(), recorded.clone().into())].into(),
        ..SimConfig::default()
    })
    .await;
    for (instructions, greeting, caller, audio) in [
        (
            "Qualify.\nName: Dana Fox",
            "Hello Dana.",
            "Dana speaking.",
            Some(&recorded),
        ),
        ("Qualify.\nName: Sam Lee", "Hello there.", "Someone.", None),
    ] {
        let mut ws = connect(&sim).await;
        assert_eq!(next(&mut ws).await["type"], "session.created");
        let mut update = session("audio/pcm", "audio/pcm");
        update["session"]["instructions"] = json!(instructions);
        send(&mut ws, update).await;
        assert_eq!(next(&mut ws).await["type"], "session.updated");
        send(&mut ws, json!({"type":"response.create"})).await;
        let events = until(&mut ws, "response.done").await;
        let mut pcm = Vec::new();
        for e in &events {
            if e["type"] == "response.output_audio.delta" {
                let mut bytes = Vec::new();
                base64::decode(e["delta"].as_str().expect("delta").as_bytes(), &mut |b| {
                    bytes.extend_from_slice(b)
                })
                .expect("base64");
                pcm.extend(bytes.chunks(2).map(|b| i16::from_le_bytes([b[0], b[1]])));
            }
        }
        let said = events
            .iter()
            .find(|e| e["type"] == "response.output_audio_transcript.done")
            .expect("transcript");
        assert_eq!(said["transcript"], greeting, "{instructions}");
        match audio {
            Some(recorded) => assert_eq!(&pcm, recorded, "{instructions}"),
            None => assert!(pcm.len() > 4800, "{instructions}: synthetic speech"),
        }
        append(&mut ws, "audio/pcm", &burst(24_000, 800, 900)).await;
        let done = until(
            &mut ws,
            "conversation.item.input_audio_transcription.completed",
        )
        .await;
        assert_eq!(done.last().expect("completed")["transcript"], caller);
    }
}
