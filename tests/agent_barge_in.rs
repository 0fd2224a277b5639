//! Barge-in over a real call: SIPp's caller says "uh-huh" over the agent's long
//! greeting (a backchannel: the agent keeps talking), then really interrupts it.
//! The bridge cancels the response still streaming, flushes playout at once,
//! truncates the item at what the caller heard, and the agent answers the
//! interruption.

mod common;

use common::agent::*;
use serde_json::json;
use tenex_actors::call::CallEvent;
use tenex_actors::realtime::{AgentConfig, BridgeEvent, Speaker};
use tenex_voice::realtime_sim::{Stats, script::Script};

const GREETING: &str = "Hello, this is Tenex calling about the demo you asked for last week, \
    I would like to ask you a few short questions about your call volumes, your team, \
    your budget and your timeline, and then find a time that suits you for a longer talk.";

fn barge_script() -> Script {
    Script::parse(
        &json!({
            "caller_lines": ["Uh-huh.", "Sorry, who is this?"],
            "turns": [
                {"say": GREETING},
                {"say": "It is Tenex. Goodbye!", "tools": [
                    {"name": "end_call", "arguments": {"reason": "caller busy"}}]}
            ],
            "summary": "Caller interrupted the greeting."
        })
        .to_string(),
    )
    .expect("script")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caller_barge_in_stops_the_agent_and_backchannels_do_not() {
    // Audio streams only twice as fast as real time, so the greeting's response
    // is still streaming when the caller cuts in.
    let rig = AgentRig::start_with("barge-in", AgentConfig::default(), |c| {
        c.script = barge_script();
        c.speed = 2;
    })
    .await;
    // 200 ms "uh-huh" at 1.0 s; a real interruption at 3.0 s for 1.2 s.
    let pcm = caller_bursts(9.0, &[(1.0, 0.2), (3.0, 1.2)]);
    let sipp = rig.call(pcm);
    let call = rig.live_call().await;
    let run = sipp.await.expect("sipp task");
    assert!(run.all_ok(1), "the agent ended the call: {run:?}");
    let record = rig.finished().await;

    let events: Vec<BridgeEvent> = call
        .log
        .since(0)
        .into_iter()
        .filter_map(|(_, e)| match e {
            CallEvent::Bridge(b) => Some(b),
            _ => None,
        })
        .collect();
    let backchannels = events
        .iter()
        .filter(|e| matches!(e, BridgeEvent::Backchannel))
        .count();
    assert_eq!(backchannels, 1, "the uh-huh did not interrupt: {events:?}");
    let barge: Vec<(String, u32)> = events
        .iter()
        .filter_map(|e| match e {
            BridgeEvent::BargeIn { item_id, played_ms } => Some((item_id.clone(), *played_ms)),
            _ => None,
        })
        .collect();
    assert_eq!(barge.len(), 1, "one barge-in: {events:?}");
    let (item, played_ms) = barge[0].clone();
    // Cut 300 ms into speech that started 3.0 s after the answer; the greeting
    // is about 20 s long.
    assert!(
        (2_500..=4_500).contains(&played_ms),
        "heard {played_ms} ms of the greeting"
    );

    // On the wire: cancel of the streaming response, then a truncate at exactly
    // what was heard, accepted by the service.
    let client = rig.client_events();
    let cancel = client
        .iter()
        .position(|e| e["type"] == "response.cancel")
        .expect("response.cancel sent");
    let truncate = client
        .iter()
        .position(|e| e["type"] == "conversation.item.truncate")
        .expect("truncate sent");
    assert!(cancel < truncate);
    assert_eq!(client[truncate]["item_id"], json!(item));
    assert_eq!(client[truncate]["audio_end_ms"], json!(played_ms));
    let stats = rig.sim.stats();
    assert_eq!(Stats::get(&stats.cancelled), 1);
    assert_eq!(Stats::get(&stats.truncations), 1);
    assert_eq!(Stats::get(&stats.truncate_errors), 0);
    rig.check_client_events_against_the_sdk();

    // What the caller heard: the agent's voice until the barge-in, then silence
    // at once (late deltas of the cancelled response are not played) until the
    // answer to the interruption.
    let (left, right, rate) = read_stereo(&record.recording.clone().expect("recorded"));
    let per_ms = rate as usize / 1000;
    let caller_start = left
        .iter()
        .skip(2 * rate as usize)
        .position(|s| s.abs() > 1000)
        .map(|p| p + 2 * rate as usize)
        .expect("the interruption is on the caller channel");
    let decided = caller_start + 300 * per_ms;
    assert!(
        rms(&right[caller_start - 500 * per_ms..caller_start]) > 1000.0,
        "the agent was talking when the caller cut in"
    );
    assert!(
        rms(&right[decided + 60 * per_ms..caller_start + 1200 * per_ms]) < 30.0,
        "the agent stopped within 60 ms of the barge-in decision"
    );

    // The conversation went on: the caller's question, the agent's answer.
    let stored = rig.store.get(record.id).expect("stored");
    // The barge-in was stored for monitors (once, as logged).
    assert_eq!(stored.barge_ins, [(item.clone(), played_ms)]);
    let caller: Vec<&str> = stored
        .by(Speaker::Caller)
        .map(|s| s.text.as_str())
        .collect();
    assert_eq!(caller, ["Uh-huh.", "Sorry, who is this?"]);
    assert_eq!(
        stored.by(Speaker::Agent).last().map(|s| s.text.as_str()),
        Some("It is Tenex. Goodbye!")
    );
    assert!(
        rig.metrics.barge_in_stop.count() >= 1,
        "barge-in stop time recorded"
    );
    eprintln!(
        "barge-in stop: max {:?} over {} barge-ins",
        rig.metrics.barge_in_stop.max(),
        rig.metrics.barge_in_stop.count()
    );
}
