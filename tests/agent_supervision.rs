//! Supervision of a call's tree, each policy shown by failing the child during a
//! real SIPp call bridged to the Realtime simulator:
//! - the Realtime WebSocket drops → a new session, `session.update` and the
//!   conversation so far re-sent as items, the call stays up and finishes;
//! - the 4th Realtime failure within 10 s → a tone, then BYE with outcome `failed`;
//! - the transcript publisher and CRM writer crash → restarted, nothing lost;
//! - the media leg dies → BYE, the call record finished;
//! - the phone vanishes mid-call (its SIP/RTP peer dies) → the media timeout
//!   ends the call, the tree wraps up (summary) and stops.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::agent::*;
use common::eventually;
use tenex_actors::call::{CallMsg, Child};
use tenex_actors::realtime::{AgentConfig, Speaker};
use tenex_actors::sip::{CallOutcome, HungUpBy};
use tenex_voice::realtime_sim::Stats;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_realtime_session_is_replaced_and_the_call_goes_on() {
    let rig = AgentRig::start("sup-reconnect", AgentConfig::default()).await;
    let sipp = rig.call(caller_audio(16.0, &CALLER_AT));
    let call = rig.live_call().await;
    wait_said(&call, Speaker::Agent, AGENT_LINES[1]).await;
    rig.sim.drop_sessions();

    let run = sipp.await.expect("sipp task");
    assert!(
        run.all_ok(1),
        "the call went on to the agent's BYE: {run:?}"
    );
    let record = rig.finished().await;
    assert_eq!(record.outcome, Some(CallOutcome::Completed));
    assert_eq!(record.hung_up_by, Some(HungUpBy::Us));
    assert_eq!(Stats::get(&rig.sim.stats().sessions), 2, "one new session");
    assert_eq!(rig.metrics.reconnects.load(Ordering::Relaxed), 1);

    // The whole conversation, once each, across both sessions.
    let stored = rig.store.get(record.id).expect("stored");
    assert_transcript(&stored);
    assert!(stored.verdict.is_some() && stored.summary.is_some());

    // The new session was configured and seeded with what was said before.
    let events = rig.client_events();
    let second = events
        .iter()
        .enumerate()
        .filter(|(_, e)| e["type"] == "session.update")
        .map(|(i, _)| i)
        .nth(1)
        .expect("a second session.update");
    let seeded: Vec<(String, String)> = events[second + 1..]
        .iter()
        .take_while(|e| e["type"] == "conversation.item.create")
        .map(|e| {
            let item = &e["item"];
            (
                item["role"].as_str().unwrap_or("").to_owned(),
                item["content"][0]["text"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        seeded,
        [
            ("assistant".to_owned(), AGENT_LINES[0].to_owned()),
            ("user".to_owned(), CALLER_LINES[0].to_owned()),
            ("assistant".to_owned(), AGENT_LINES[1].to_owned()),
        ],
        "the conversation so far, in order"
    );
    rig.check_client_events_against_the_sdk();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fourth_realtime_failure_plays_a_tone_and_hangs_up_failed() {
    let rig = AgentRig::start("sup-give-up", AgentConfig::default()).await;
    let sipp = rig.call(caller_audio(16.0, &CALLER_AT));
    let call = rig.live_call().await;
    wait_said(&call, Speaker::Agent, AGENT_LINES[0]).await;
    // The service goes away: the live session drops and reconnections are refused.
    rig.sim.refuse_new_sessions(true);
    rig.sim.drop_sessions();

    let run = sipp.await.expect("sipp task");
    assert!(run.all_ok(1), "the engine hung up with BYE: {run:?}");
    let record = rig.finished().await;
    assert_eq!(record.outcome, Some(CallOutcome::Failed));
    assert_eq!(record.hangup_cause, Some("realtime-unavailable"));
    assert_eq!(record.hung_up_by, Some(HungUpBy::Us));
    assert_eq!(
        rig.metrics.reconnects.load(Ordering::Relaxed),
        3,
        "three reconnection attempts before giving up"
    );
    assert!(Stats::get(&rig.sim.stats().refused) >= 3);
    assert_eq!(Stats::get(&rig.sim.stats().sessions), 1);

    // The caller heard the tone: the agent channel ends with 440 Hz.
    let (_, right, rate) = read_stereo(&record.recording.expect("recorded"));
    let tail = &right[right.len().saturating_sub(rate as usize)..];
    let last = tail
        .iter()
        .rposition(|s| s.abs() > 500)
        .expect("sound at the end");
    // The last 300 ms of sound (the tone is 400 ms).
    let sound = &tail[last.saturating_sub(rate as usize * 3 / 10)..=last];
    assert!(rms(sound) > 2000.0, "loud: {:.0}", rms(sound));
    let share = tone_share(sound, rate, 440.0);
    assert!(share > 0.8, "it is the 440 Hz tone: {share:.2}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashed_transcript_and_crm_writers_restart_and_lose_nothing() {
    let rig = AgentRig::start("sup-readers", AgentConfig::default()).await;
    let sipp = rig.call(caller_audio(16.0, &CALLER_AT));
    let call = rig.live_call().await;
    // Crash both readers at three points of the conversation.
    for line in [AGENT_LINES[0], AGENT_LINES[1], AGENT_LINES[2]] {
        wait_said(&call, Speaker::Agent, line).await;
        call.supervisor
            .send_message(CallMsg::KillChild(Child::Transcript))
            .expect("send");
        call.supervisor
            .send_message(CallMsg::KillChild(Child::Crm))
            .expect("send");
    }
    let run = sipp.await.expect("sipp task");
    assert!(run.all_ok(1), "{run:?}");
    let record = rig.finished().await;
    assert_eq!(record.outcome, Some(CallOutcome::Completed));
    assert_eq!(rig.metrics.reader_restarts.load(Ordering::Relaxed), 6);

    let stored = rig.store.get(record.id).expect("stored");
    assert_transcript(&stored);
    let tools: Vec<&str> = stored.tools.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        tools,
        ["search_knowledge", "submit_qualification", "end_call"]
    );
    assert!(
        stored.verdict.is_some(),
        "the CRM writer stored the verdict"
    );
    assert_eq!(
        stored.summary.as_deref(),
        Some("Qualified lead, demo agreed.")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_media_leg_ends_the_call_with_bye_and_a_finished_record() {
    let rig = AgentRig::start("sup-media", AgentConfig::default()).await;
    let sipp = rig.call(caller_audio(16.0, &CALLER_AT));
    let call = rig.live_call().await;
    wait_said(&call, Speaker::Agent, AGENT_LINES[0]).await;
    call.supervisor
        .send_message(CallMsg::KillChild(Child::Media))
        .expect("send");

    let run = sipp.await.expect("sipp task");
    assert!(run.all_ok(1), "the engine sent BYE: {run:?}");
    let record = rig.finished().await;
    assert_eq!(record.outcome, Some(CallOutcome::Failed));
    assert_eq!(record.hangup_cause, Some("media-failed"));
    assert_eq!(record.hung_up_by, Some(HungUpBy::Us));
    assert!(record.ended_at.is_some());
    // The call's data was still written: the greeting, and a summary asked for
    // after the call ended.
    let stored = rig.store.get(record.id).expect("stored");
    assert_eq!(
        stored.by(Speaker::Agent).next().map(|s| s.text.as_str()),
        Some(AGENT_LINES[0])
    );
    assert!(stored.summary.is_some(), "summary after the call");
    assert!(
        eventually(Duration::from_secs(5), || rig.engine.stats().active_calls
            == 0)
        .await,
        "no call left active"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_sip_leg_still_sends_bye_and_finishes_the_record() {
    let rig = AgentRig::start("sup-sip", AgentConfig::default()).await;
    let sipp = rig.call(caller_audio(16.0, &CALLER_AT));
    let call = rig.live_call().await;
    wait_said(&call, Speaker::Agent, AGENT_LINES[0]).await;
    // The call's SIP task panics, as a bug in our SIP handling would make it.
    call.supervisor
        .send_message(CallMsg::KillChild(Child::Sip))
        .expect("send");

    let run = sipp.await.expect("sipp task");
    assert!(run.all_ok(1), "the phone still got a BYE: {run:?}");
    let record = rig.finished().await;
    assert_eq!(record.outcome, Some(CallOutcome::Failed));
    assert_eq!(record.hangup_cause, Some("sip-failed"));
    assert_eq!(record.hung_up_by, Some(HungUpBy::Us));
    assert!(record.ended_at.is_some());
    let stored = rig.store.get(record.id).expect("stored");
    assert_eq!(
        stored.by(Speaker::Agent).next().map(|s| s.text.as_str()),
        Some(AGENT_LINES[0])
    );
    assert!(stored.summary.is_some(), "summary after the call");
    assert_eq!(rig.engine.stats().active_calls, 0);
    assert_eq!(
        rig.engine.stats().ports_free,
        rig.engine.stats().ports_total,
        "the dead task's RTP ports went back to the pool"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vanished_phone_is_hung_up_on_and_the_tree_wraps_up() {
    let rig = AgentRig::start_full(
        "sup-vanished",
        AgentConfig::default(),
        |_| {},
        |sip| sip.media_timeout = Duration::from_secs(2),
    )
    .await;
    // The phone says only its first line, so however late this machine runs the
    // script cannot reach the agent's own hang-up before the phone vanishes.
    let sipp = rig.call(caller_audio(16.0, &CALLER_AT[..1]));
    let call = rig.live_call().await;
    wait_said(&call, Speaker::Caller, CALLER_LINES[0]).await;
    // The phone dies: SIPp is killed, no BYE, no more RTP.
    sipp.abort();
    let record = rig.finished().await;
    assert_eq!(record.hangup_cause, Some("media-timeout"), "{record:?}");
    assert_eq!(record.hung_up_by, Some(HungUpBy::Us));
    assert!(record.ended_at.is_some());
    let stored = rig.store.get(record.id).expect("stored");
    assert_eq!(
        stored.by(Speaker::Caller).next().map(|s| s.text.as_str()),
        Some(CALLER_LINES[0])
    );
    assert!(stored.summary.is_some(), "summary after the call");
    assert_eq!(rig.engine.stats().active_calls, 0);
}
