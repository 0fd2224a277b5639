//! The bridge against the simulator's harder behaviours, over real calls:
//! sessions that expire mid-call, G.711 passthrough, and a peer that mixes
//! garbage into every exchange.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::agent::*;
use tenex_actors::realtime::AgentConfig;
use tenex_actors::sip::{CallOutcome, HungUpBy};
use tenex_voice::realtime_sim::Stats;

fn assert_whole_conversation(rig: &AgentRig, id: tenex_actors::sip::CallId) {
    let stored = rig.store.get(id).expect("stored");
    assert_transcript(&stored);
    let tools: Vec<&str> = stored.tools.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        tools,
        ["search_knowledge", "submit_qualification", "end_call"]
    );
    assert!(stored.verdict.is_some());
    assert_eq!(
        stored.summary.as_deref(),
        Some("Qualified lead, demo agreed.")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_sessions_are_replaced_seeded_with_the_conversation() {
    // Sessions last 5.5 s; the caller speaks at 3, 7.5 and 12.5 s, so two
    // sessions expire between turns.
    let rig = AgentRig::start_with("sessions-expire", AgentConfig::default(), |c| {
        c.session_max = Duration::from_millis(5500);
    })
    .await;
    let run = rig
        .call(caller_audio(16.0, &CALLER_AT))
        .await
        .expect("sipp");
    assert!(run.all_ok(1), "{run:?}");
    let record = rig.finished().await;
    assert_eq!(record.outcome, Some(CallOutcome::Completed));
    assert_eq!(record.hung_up_by, Some(HungUpBy::Us));
    assert_whole_conversation(&rig, record.id);
    assert!(rig.metrics.errors("session_expired") >= 2);
    assert!(Stats::get(&rig.sim.stats().sessions) >= 3);

    // Every new session opened with session.update followed by the whole
    // conversation so far.
    let events = rig.client_events();
    let updates: Vec<usize> = events
        .iter()
        .enumerate()
        .filter(|(_, e)| e["type"] == "session.update")
        .map(|(i, _)| i)
        .collect();
    assert!(updates.len() >= 3);
    let seeded = |at: usize| -> Vec<String> {
        events[at + 1..]
            .iter()
            .take_while(|e| e["type"] == "conversation.item.create")
            .map(|e| {
                e["item"]["content"][0]["text"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned()
            })
            .collect()
    };
    let second = seeded(updates[1]);
    assert_eq!(
        second[..3],
        [AGENT_LINES[0], CALLER_LINES[0], AGENT_LINES[1]]
    );
    let third = seeded(updates[2]);
    assert!(
        third.len() > second.len() && third.contains(&CALLER_LINES[1].to_owned()),
        "the third session knows more: {third:?}"
    );
    rig.check_client_events_against_the_sdk();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g711_passthrough_sends_and_receives_pcmu_unchanged() {
    let agent = AgentConfig {
        passthrough: true,
        ..AgentConfig::default()
    };
    let rig = AgentRig::start("sessions-passthrough", agent).await;
    let run = rig
        .call(caller_audio(16.0, &CALLER_AT))
        .await
        .expect("sipp");
    assert!(run.all_ok(1), "{run:?}");
    let record = rig.finished().await;
    assert_whole_conversation(&rig, record.id);
    let events = rig.client_events();
    let update = &events[0];
    assert_eq!(update["type"], "session.update");
    assert_eq!(
        update["session"]["audio"]["input"]["format"]["type"],
        "audio/pcmu"
    );
    assert_eq!(
        update["session"]["audio"]["output"]["format"]["type"],
        "audio/pcmu"
    );
    // 20 ms of PCMU is 160 bytes: 216 base64 characters per append.
    let append = events
        .iter()
        .find(|e| e["type"] == "input_audio_buffer.append")
        .expect("append");
    assert_eq!(append["audio"].as_str().map(str::len), Some(216));
    let (_, right, _) = read_stereo(&record.recording.expect("recorded"));
    assert!(rms(&right) > 300.0, "the agent was heard");
    rig.check_client_events_against_the_sdk();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_sending_garbage_never_breaks_the_call() {
    let rig = AgentRig::start_with("sessions-garbage", AgentConfig::default(), |c| {
        c.garbage = true;
    })
    .await;
    let run = rig
        .call(caller_audio(16.0, &CALLER_AT))
        .await
        .expect("sipp");
    assert!(run.all_ok(1), "{run:?}");
    let record = rig.finished().await;
    assert_eq!(record.outcome, Some(CallOutcome::Completed));
    assert_whole_conversation(&rig, record.id);
    assert_eq!(
        Stats::get(&rig.sim.stats().sessions),
        1,
        "no reconnection: the session survived every bad message"
    );
    assert_eq!(rig.metrics.reconnects.load(Ordering::Relaxed), 0);
    assert!(
        rig.metrics.bad_events.load(Ordering::Relaxed) > 20,
        "bad events counted: {}",
        rig.metrics.bad_events.load(Ordering::Relaxed)
    );
}
