//! The agent's data-backed tools during a real call (SIPp caller, simulator
//! model, SQLite workspace): `get_lead` reads the call's lead, `search_knowledge`
//! finds the pricing document by BM25, `check_availability` lists the sales
//! calendar's free slots, `book_meeting` books one, and booking the same slot
//! again goes back to the model as a tool error while the call carries on to
//! its verdict and `end_call`.

mod common;

use common::agent::*;
use serde_json::{Value, json};
use tenex_actors::realtime::AgentConfig;
use tenex_actors::sip::HungUpBy;
use tenex_voice::realtime_sim::script::Script;

/// The qualification conversation with a data lookup turn and a booking turn.
fn script() -> Script {
    Script::parse(
        &json!({
            "caller_lines": CALLER_LINES,
            "turns": [
                {"say": AGENT_LINES[0]},
                {"say": AGENT_LINES[1]},
                {"tools": [
                    {"name": "get_lead", "arguments": {}},
                    {"name": "search_knowledge", "arguments": {"query": "What is the price for 2,000 calls a month?"}},
                    {"name": "check_availability", "arguments": {"from": "2030-01-07T09:00", "to": "2030-01-07T12:00"}}]},
                {"say": AGENT_LINES[2]},
                {"tools": [
                    {"name": "book_meeting", "arguments": {"start": "2030-01-07T10:00:00+01:00", "duration_min": 30, "notes": "Growth plan demo"}},
                    {"name": "book_meeting", "arguments": {"start": "2030-01-07T10:15", "duration_min": 30}}]},
                {"say": AGENT_LINES[3], "tools": [
                    {"name": "submit_qualification", "arguments": {"qualified": true, "score": 80,
                        "reasons": ["volume", "decision maker"], "next_steps": "demo on 7 January",
                        "evidence_quotes": ["I decide, send an invite."]}},
                    {"name": "end_call", "arguments": {"reason": "meeting booked"}}]}
            ],
            "summary": "Qualified, demo booked."
        })
        .to_string(),
    )
    .expect("script")
}

fn output(t: &tenex_actors::call::ToolRecord) -> Value {
    serde_json::from_str(&t.output).expect("tool output is JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_tools_read_and_book_against_the_workspace() {
    let rig = AgentRig::start_with("agent-tools", AgentConfig::default(), |sim| {
        sim.script = script();
    })
    .await;
    let run = rig
        .call(caller_audio(16.0, &CALLER_AT))
        .await
        .expect("sipp task");
    assert!(run.all_ok(1), "the agent hung up with BYE: {run:?}");
    let record = rig.finished().await;
    assert_eq!(record.hung_up_by, Some(HungUpBy::Us));
    let stored = rig.store.get(record.id).expect("stored call data");
    assert_transcript(&stored);

    let names: Vec<&str> = stored.tools.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "get_lead",
            "search_knowledge",
            "check_availability",
            "book_meeting",
            "book_meeting",
            "submit_qualification",
            "end_call"
        ]
    );
    let t = &stored.tools;

    let lead = output(&t[0]);
    assert_eq!(lead["name"], "Dana Reyes");
    assert_eq!(lead["company"], "Acme Support");
    assert_eq!(lead["phone"], "+13125550142");

    let found = output(&t[1]);
    assert_eq!(found["results"][0]["title"], "Pricing", "{found}");
    assert!(
        found["results"][0]["snippet"]
            .as_str()
            .is_some_and(|s| s.contains("Growth plan")),
        "{found}"
    );

    let free = output(&t[2]);
    assert_eq!(free["timezone"], "Europe/Berlin");
    let slots: Vec<&str> = free["free_slots"]
        .as_array()
        .expect("slots")
        .iter()
        .filter_map(|s| s["start"].as_str())
        .collect();
    assert_eq!(slots.len(), 6, "{free}");
    assert_eq!(slots[0], "2030-01-07T09:00:00+01:00");

    let booked = output(&t[3]);
    assert!(!t[3].failed);
    assert_eq!(booked["booked"], true);
    assert_eq!(booked["start"], "2030-01-07T10:00:00+01:00");
    assert_eq!(booked["end"], "2030-01-07T10:30:00+01:00");

    // The overlapping second booking is a tool error the model sees; the call goes on.
    assert!(t[4].failed, "{:?}", t[4]);
    let refused = output(&t[4]);
    assert!(
        refused["error"]
            .as_str()
            .is_some_and(|e| e.contains("already booked") && e.contains("check_availability")),
        "{refused}"
    );
    assert!(t[5..].iter().all(|t| !t.failed));
    assert!(stored.verdict.is_some());

    // What the model received: each output on its call id, then one response.create.
    let events = rig.client_events();
    let outputs: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "conversation.item.create")
        .map(|e| &e["item"])
        .filter(|i| i["type"] == "function_call_output")
        .collect();
    assert!(
        outputs.iter().any(|o| o["output"]
            .as_str()
            .is_some_and(|s| s.contains("already booked"))),
        "the refusal went back to the model"
    );

    // One booking in the calendar, made by this call for this lead.
    let bookings = rig
        .workspace
        .db
        .bookings(&rig.workspace.tools.workspace, &rig.workspace.calendar)
        .await
        .expect("bookings");
    assert_eq!(bookings.len(), 1, "{bookings:?}");
    assert_eq!(
        bookings[0].call_id.as_deref(),
        Some(&*record.id.to_string())
    );
    assert_eq!(bookings[0].lead_id.as_deref(), Some(&*rig.workspace.lead));
    assert_eq!(bookings[0].notes, "Growth plan demo");
    rig.check_client_events_against_the_sdk();
}
