//! Call records and verdicts as the SIP engine and the call tree report them,
//! for tests that write calls straight to the store.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tenex_actors::realtime::Verdict;
use tenex_actors::sip::{CallId, CallOutcome, CallRecord, Direction, HungUpBy, SipTransport};

pub fn at(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms as u64)
}

/// A call record as the SIP engine reports it: answered at +2 s unless
/// `outcome` says otherwise, ended at +62 s once `ended`.
pub fn record(id: u64, started: i64, outcome: CallOutcome, ended: bool) -> CallRecord {
    let answered = outcome == CallOutcome::Completed;
    CallRecord {
        id: CallId(id),
        sip_call_id: format!("sip-{id}"),
        direction: Direction::Outbound,
        from: "<sip:+14155550100@203.0.113.1>".into(),
        to: "<sip:+13125550142@198.51.100.7>".into(),
        remote: SocketAddr::from(([198, 51, 100, 7], 5060)),
        transport: SipTransport::Udp,
        codec: None,
        rtp_port: None,
        started_at: at(started),
        answered_at: answered.then(|| at(started + 2_000)),
        confirmations: 0,
        ended_at: ended.then(|| at(started + 62_000)),
        outcome: ended.then_some(outcome),
        final_status: (outcome == CallOutcome::Busy).then_some(486),
        hung_up_by: ended.then_some(HungUpBy::Them),
        hangup_cause: None,
        rtp_sent: 0,
        rtp_received: 0,
        rtp_lost: 0,
        rtp_skipped: 0,
        dtmf: Vec::new(),
        held: false,
        on_hold: false,
        recording: None,
        tag: None,
        trunk: None,
    }
}

pub fn verdict(qualified: bool) -> Verdict {
    Verdict {
        qualified,
        score: if qualified { 85 } else { 20 },
        reasons: vec!["volume".into()],
        budget: Some("$2k/month".into()),
        authority: Some("decides".into()),
        need: None,
        timeline: None,
        next_steps: "demo".into(),
        evidence_quotes: vec!["We make 2,000 calls a month.".into()],
    }
}
