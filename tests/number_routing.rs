//! Inbound calls routed by the dialled number, end to end: an agent and a
//! number configured through the API, SIPp dialling the number, the simulator
//! as the model, and the call's record read back through the API (status,
//! outcome, verdict, summary, transcript, tool calls and the exact agent
//! configuration it ran with). Editing the agent changes the next call only.
//! Unknown numbers get 404; a caller who is a known lead is recognised.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::agent::CALLER_LINES;
use common::host::rig;
use common::{Sipp, eventually, uac_args};
use serde_json::{Value, json};
use tenex_actors::sip::{CallRouter, IncomingCall, Route, SipTransport};
use tenex_voice::store::CallBinding;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dialled_number_reaches_its_agent_and_the_call_is_stored() {
    let rig = rig("number-routing").await;
    let agent = rig
        .post(
            "/agents",
            json!({"name": "Ada", "system_prompt": "You are Ada, calling for Tenex (v1).",
                   "objective_templates": {"qualify_for_demo": "Find out if they need a demo."},
                   "greeting": "Greet the caller by saying who you are."}),
        )
        .await;
    let agent_id = agent["id"].as_str().expect("agent id").to_owned();
    rig.post(
        "/numbers",
        json!({"number": "+14155550100", "agent_id": agent_id, "objective": "qualify_for_demo"}),
    )
    .await;

    // Trunks often send the number without its +.
    rig.dial("14155550100").await;
    let calls = rig.ended_calls(1).await;
    let first = &calls[0];
    let id = first["id"].as_str().expect("call id").to_owned();
    assert_eq!(first["direction"], "inbound");
    assert_eq!(first["agent_id"], agent_id.as_str());
    assert_eq!(first["outcome"], "qualified", "{first}");
    assert_eq!(first["sip_outcome"], "completed");
    assert_eq!(first["hung_up_by"], "us");
    assert_eq!(first["objective"], "qualify_for_demo");
    assert_eq!(first["verdict"]["score"], 80);
    assert_eq!(first["summary"], "Qualified lead, demo agreed.");
    assert_eq!(first["codec"], "PCMU");
    assert!(first["duration_ms"].as_i64().is_some_and(|d| d > 5_000));
    let config = &first["agent_config"];
    assert_eq!(
        config["system_prompt"],
        "You are Ada, calling for Tenex (v1)."
    );
    assert_eq!(config["objective"], "Find out if they need a demo.");
    assert_eq!(config["voice_profile"]["voice"], "marin");

    let detail = rig.get(&format!("/calls/{id}")).await;
    let tools: Vec<&str> = detail["tool_calls"]
        .as_array()
        .expect("tool calls")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(
        tools,
        ["search_knowledge", "submit_qualification", "end_call"]
    );
    let transcript = rig.get(&format!("/calls/{id}/transcript")).await;
    let said = |who: &str, text: &str| {
        transcript["data"]
            .as_array()
            .is_some_and(|l| l.iter().any(|s| s["speaker"] == who && s["text"] == text))
    };
    assert!(said("caller", CALLER_LINES[0]), "{transcript}");
    assert!(
        transcript["data"]
            .as_array()
            .is_some_and(|l| l.iter().any(|s| s["speaker"] == "agent")),
        "{transcript}"
    );

    // The prompt and voice change: the next call runs with them, the first
    // call's record keeps what it ran with.
    let (st, _, _) = rig
        .api
        .call(
            "PATCH",
            &format!("/agents/{agent_id}"),
            Some(&rig.api.a),
            Some(json!({"system_prompt": "You are Ada, calling for Tenex (v2)."})),
        )
        .await;
    assert_eq!(st, 200);
    let (st, _, _) = rig
        .api
        .call(
            "PUT",
            &format!("/agents/{agent_id}/voice-profile"),
            Some(&rig.api.a),
            Some(json!({"voice": "cedar"})),
        )
        .await;
    assert_eq!(st, 200);
    rig.dial("+14155550100").await;
    let calls = rig.ended_calls(2).await;
    let (second, first) = (&calls[0], &calls[1]);
    assert_eq!(first["id"], id.as_str());
    assert_eq!(
        first["agent_config"]["system_prompt"],
        "You are Ada, calling for Tenex (v1)."
    );
    assert_eq!(
        second["agent_config"]["system_prompt"],
        "You are Ada, calling for Tenex (v2)."
    );
    assert_eq!(second["agent_config"]["voice_profile"]["voice"], "cedar");
    // What the model was told: the second session has the new prompt and voice.
    let sent = std::fs::read_to_string(&rig.record).expect("client events");
    let updates: Vec<Value> = sent
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["type"] == "session.update")
        .collect();
    let last = updates.last().expect("session.update");
    assert!(
        last["session"]["instructions"]
            .as_str()
            .is_some_and(|i| i.contains("(v2)")),
        "{last}"
    );
    assert_eq!(last["session"]["audio"]["output"]["voice"], "cedar");
    assert!(
        updates[0]["session"]["instructions"]
            .as_str()
            .is_some_and(|i| i.contains("(v1)"))
    );

    // Each call's latency and usage, and the workspace's metrics over both.
    let detail = rig.get(&format!("/calls/{id}")).await;
    assert!(
        detail["latency"]["greeting_ms"].as_u64().is_some(),
        "{detail}"
    );
    assert!(
        detail["latency"]["end_of_turn_ms"]["count"]
            .as_u64()
            .is_some_and(|n| n >= 3),
        "{detail}"
    );
    let usage = &detail["usage"];
    assert!(
        usage["input_tokens"].as_u64().is_some_and(|t| t >= 80 * 3),
        "the simulator reports 80 input tokens per response: {usage}"
    );
    assert!(
        usage["audio_in_s"].as_f64().is_some_and(|s| s > 10.0),
        "{usage}"
    );
    assert!(
        usage["audio_out_s"].as_f64().is_some_and(|s| s > 2.0),
        "{usage}"
    );
    let m = rig.get("/metrics").await;
    assert_eq!(
        (
            m["calls"].as_i64(),
            m["connected"].as_i64(),
            m["qualified"].as_i64()
        ),
        (Some(2), Some(2), Some(2)),
        "{m}"
    );
    assert_eq!(m["connect_rate"], 1.0);
    assert_eq!(m["greeting_latency_ms"]["count"], 2, "{m}");
    assert!(m["end_of_turn_latency_ms"]["p95"].as_u64().is_some(), "{m}");
    assert!(
        eventually(Duration::from_secs(5), || rig.engine.stats().active_calls
            == 0)
        .await
    );
}

#[tokio::test]
async fn unknown_numbers_get_404_and_known_callers_are_recognised() {
    let rig = rig("number-routing-lookup").await;
    let agent = rig
        .post(
            "/agents",
            json!({"name": "Ada", "system_prompt": "You are Ada."}),
        )
        .await;
    rig.post(
        "/numbers",
        json!({"number": "+14155550100", "agent_id": agent["id"], "objective": "Say hi."}),
    )
    .await;
    let lead = rig
        .post(
            "/leads",
            json!({"name": "Dana Reyes", "phone": "+13125550142", "company": "Acme"}),
        )
        .await;

    let incoming = |user: &str, from: &str| IncomingCall {
        user: Some(user.into()),
        from: from.into(),
        to: format!("<sip:{user}@127.0.0.1>"),
        source: SocketAddr::from(([127, 0, 0, 1], 5060)),
        transport: SipTransport::Udp,
    };
    let call = incoming(
        "+14155550100",
        "\"Dana\" <sip:+13125550142@198.51.100.7>;tag=1",
    );
    let Route::Agent { app, .. } = rig.router.route(&call).await else {
        panic!("the number routes to its agent");
    };
    let tag = app.tag().expect("the call is tagged");
    let binding = tag.get::<CallBinding>().expect("a binding");
    assert_eq!(binding.lead_id.as_deref(), lead["id"].as_str());
    assert_eq!(binding.agent_id.as_deref(), agent["id"].as_str());
    assert!(
        binding.agent_config["lead_context"]
            .as_str()
            .is_some_and(|c| c.contains("Dana Reyes") && c.contains("Acme"))
    );
    // A stranger gets the agent without a lead.
    let stranger = incoming("+14155550100", "<sip:+19998887777@198.51.100.7>");
    let Route::Agent { app, .. } = rig.router.route(&stranger).await else {
        panic!("routes");
    };
    let tag = app.tag().expect("tag");
    assert_eq!(
        tag.get::<CallBinding>().and_then(|b| b.lead_id.clone()),
        None
    );
    assert!(matches!(
        rig.router
            .route(&incoming("+14155550199", "<sip:x@h>"))
            .await,
        Route::NotFound
    ));

    // Over SIP: an unknown number is a 404 and nothing is stored.
    let run = Sipp::scenario("uac_expect_404")
        .args(uac_args(rig.engine.local_addr(), "+14155550199"))
        .args(["-m", "1"])
        .deadline(Duration::from_secs(20))
        .run()
        .await;
    assert!(run.all_ok(1), "{run:?}");
    rig.sink.flush().await;
    let calls = rig.get("/calls").await;
    assert_eq!(calls["data"], json!([]));
}
