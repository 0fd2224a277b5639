//! Trunks and sessions through the API with the SIP engine behind it, against
//! SIPp: a trunk's allowlist and concurrency limit apply to the next call as
//! soon as they are stored; an inbound session's one-time URI binds one call
//! to its lead and objective; an outbound session dials the lead through the
//! workspace's trunk at once.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use common::agent::lead_phone;
use common::host::{Rig, rig, rig_with};
use common::{Sipp, eventually, sdp_offer, sip_exchange, status, uac_args};
use serde_json::{Value, json};
use tenex_media::g711::G711Law;

const WAIT: Duration = Duration::from_secs(5);

/// An INVITE for `user` at the engine from wherever the socket is.
fn invite(rig: &Rig, user: &str, call_id: &str) -> String {
    let sdp = sdp_offer(40000, "0", &["0 PCMU/8000"]);
    common::invite(rig.engine.local_addr(), user, call_id, &sdp)
}

async fn patch(rig: &Rig, path: &str, body: Value) -> Value {
    let (st, _, v) = rig
        .api
        .call("PATCH", path, Some(&rig.api.a), Some(body))
        .await;
    assert_eq!(st, 200, "{path}: {v}");
    v
}

/// An agent, a lead, and the workspace's trunk to a lead's phone on `port`
/// (at most `max_concurrent` calls).
async fn outbound_setup(rig: &Rig, port: u16, max_concurrent: Option<u32>) -> (Value, Value) {
    let agent = rig
        .post(
            "/agents",
            json!({"name": "Ada", "system_prompt": "You are Ada."}),
        )
        .await;
    let lead = rig
        .post(
            "/leads",
            json!({"name": "Dana Reyes", "phone": "+13125550142"}),
        )
        .await;
    rig.post(
        "/trunks",
        json!({"name": "carrier", "outbound": {"host": "127.0.0.1", "port": port},
               "caller_id": "+15550001111", "max_concurrent": max_concurrent}),
    )
    .await;
    (agent, lead)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trunk_allowlists_and_limits_apply_to_the_next_call() {
    let rig = rig_with("trunk-allowlist", true).await;
    let to = rig.engine.local_addr();
    // No trunk yet: loopback may call (an unknown number is routed: 404).
    let open = sip_exchange(
        common::LOCALHOST,
        to,
        &invite(&rig, "nobody", "t-open"),
        WAIT,
    )
    .expect("response");
    assert_eq!(status(&open), Some(404), "{open}");

    // A trunk for 127.0.0.2 only: 127.0.0.1 is refused from now on.
    let trunk = rig
        .post(
            "/trunks",
            json!({"name": "pbx", "inbound_sources": ["127.0.0.2"]}),
        )
        .await;
    let path = format!("/trunks/{}", trunk["id"].as_str().expect("id"));
    let run = Sipp::scenario("uac_expect_403")
        .args(uac_args(to, "echo"))
        .args(["-m", "1", "-timeout", "20s"])
        .run()
        .await;
    assert!(run.all_ok(1), "403 for a source off the allowlist: {run:?}");

    // The allowlist edited: 127.0.0.1 calls through, up to one call at a time.
    patch(
        &rig,
        &path,
        json!({"inbound_sources": ["127.0.0.1/32"], "max_concurrent": 1}),
    )
    .await;
    let held = tokio::spawn(
        Sipp::scenario("uac_pcmu")
            .args(uac_args(to, "echo"))
            .args(["-m", "1", "-timeout", "30s"])
            .pcap("g711u_10s.pcap", G711Law::Ulaw, 10)
            .run(),
    );
    assert!(
        eventually(Duration::from_secs(10), || rig.engine.stats().active_calls
            == 1)
        .await,
        "the first call is up"
    );
    let second = sip_exchange(
        common::LOCALHOST,
        to,
        &invite(&rig, "echo", "t-second"),
        WAIT,
    )
    .expect("response");
    assert_eq!(
        status(&second),
        Some(503),
        "the trunk's one call is in use: {second}"
    );
    assert!(second.contains("Retry-After"), "{second}");
    let run = held.await.expect("sipp");
    assert!(run.all_ok(1), "the call within the limit: {run:?}");
    assert_eq!(
        rig.engine
            .counters()
            .trunk_limited
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );

    // Deleted: no trunks left, loopback only again (127.0.0.2 is loopback).
    let (st, _, _) = rig.api.call("DELETE", &path, Some(&rig.api.a), None).await;
    assert_eq!(st, 204);
    let back = sip_exchange(
        IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)),
        to,
        &invite(&rig, "nobody", "t-back"),
        WAIT,
    )
    .expect("response");
    assert_eq!(status(&back), Some(404), "routed, not refused: {back}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inbound_session_uri_binds_one_call_to_its_lead() {
    let rig = rig("session-inbound").await;
    let agent = rig
        .post(
            "/agents",
            json!({"name": "Ada", "system_prompt": "You are Ada.",
                   "objective_templates": {"qualify_for_demo": "Find out if they need a demo."}}),
        )
        .await;
    let lead = rig
        .post(
            "/leads",
            json!({"name": "Dana Reyes", "phone": "+13125550142", "company": "Acme"}),
        )
        .await;
    let session = rig
        .post(
            "/sessions",
            json!({"direction": "inbound", "lead_id": lead["id"], "agent_id": agent["id"],
                   "objective": "qualify_for_demo"}),
        )
        .await;
    let id = session["id"].as_str().expect("id").to_owned();
    assert!(id.starts_with("sess_"));
    assert_eq!(session["status"], "pending");
    let uri = session["sip_uri"].as_str().expect("sip_uri");
    let engine = rig.engine.local_addr();
    assert_eq!(uri, format!("sip:{id}@{}:{}", engine.ip(), engine.port()));
    let ttl = session["expires_at"].as_i64().expect("expires")
        - session["created_at"].as_i64().expect("created");
    assert_eq!(ttl, 3_600_000, "one hour by default");

    rig.dial(&id).await;
    let calls = rig.ended_calls(1).await;
    let call = &calls[0];
    assert_eq!(call["session_id"], id.as_str());
    assert_eq!(call["lead_id"], lead["id"]);
    assert_eq!(call["objective"], "qualify_for_demo");
    assert_eq!(call["outcome"], "qualified", "{call}");
    assert!(
        call["agent_config"]["lead_context"]
            .as_str()
            .is_some_and(|c| c.contains("Dana Reyes")),
        "{call}"
    );
    // The call's recording, through its signed link (no key).
    let url = call["recording_url"].as_str().expect("recording_url");
    let (st, h, wav) = rig.api.get_bytes(url, &[]).await;
    assert_eq!(st, 200);
    assert_eq!(h["content-type"], "audio/wav");
    assert_eq!(&wav[..4], b"RIFF");
    assert!(
        wav.len() > 44 + 10 * 32_000,
        "over 10 s of stereo 8 kHz: {}",
        wav.len()
    );
    let used = rig.get(&format!("/sessions/{id}")).await;
    assert_eq!(used["status"], "used");
    assert_eq!(used["call_id"], call["id"]);
    // Lead history shows the call.
    let lead_now = rig
        .get(&format!("/leads/{}", lead["id"].as_str().expect("id")))
        .await;
    assert_eq!(
        lead_now["qualification_history"][0]["call_id"], call["id"],
        "{lead_now}"
    );

    // One time only.
    let again = Sipp::scenario("uac_expect_404")
        .args(uac_args(engine, &id))
        .args(["-m", "1", "-timeout", "20s"])
        .run()
        .await;
    assert!(again.all_ok(1), "a used session URI is gone: {again:?}");

    // The workspace's default lifetime applies when a session gives none.
    let (st, _, _) = rig
        .api
        .call(
            "PATCH",
            "/workspace",
            Some(&rig.api.a),
            Some(json!({"session_ttl_s": 600})),
        )
        .await;
    assert_eq!(st, 200);
    let ten = rig
        .post(
            "/sessions",
            json!({"direction": "inbound", "agent_id": agent["id"], "objective": "Say hi."}),
        )
        .await;
    assert_eq!(
        ten["expires_at"].as_i64().expect("expires") - ten["created_at"].as_i64().expect("created"),
        600_000
    );

    // Expiry: a session claimed after its time is refused.
    let short = rig
        .post(
            "/sessions",
            json!({"direction": "inbound", "agent_id": agent["id"], "objective": "Say hi.",
                   "expires_in_s": 60}),
        )
        .await;
    let expires = short["expires_at"].as_i64().expect("expires");
    let short_id = short["id"].as_str().expect("id");
    assert!(
        rig.api
            .store
            .claim_session_at(short_id, expires)
            .await
            .expect("claim")
            .is_none(),
        "expired at expires_at"
    );
    assert!(
        rig.api
            .store
            .claim_session_at(short_id, expires - 1)
            .await
            .expect("claim")
            .is_some()
    );
    assert!(
        rig.api
            .store
            .claim_session_at(short_id, expires - 1)
            .await
            .expect("claim")
            .is_none(),
        "once"
    );

    // Validation, and another workspace's view.
    for (body, param) in [
        (
            json!({"direction": "outbound", "agent_id": agent["id"], "objective": "x"}),
            "lead_id",
        ),
        (
            json!({"direction": "inbound", "agent_id": agent["id"], "objective": "x", "trunk_id": "trunk_x"}),
            "trunk_id",
        ),
        (
            json!({"direction": "inbound", "agent_id": agent["id"], "objective": "x", "expires_in_s": 5}),
            "expires_in_s",
        ),
        (
            json!({"direction": "inbound", "agent_id": "agent_nope", "objective": "x"}),
            "agent_id",
        ),
        (
            json!({"direction": "inbound", "agent_id": agent["id"], "objective": ""}),
            "objective",
        ),
        (
            json!({"direction": "inbound", "agent_id": agent["id"], "objective": "x", "lead_id": "lead_nope"}),
            "lead_id",
        ),
        (
            json!({"direction": "outbound", "agent_id": agent["id"], "objective": "x", "lead_id": lead["id"]}),
            "trunk_id",
        ),
    ] {
        rig.api
            .assert_invalid("POST", "/sessions", &rig.api.a, Some(body), param)
            .await;
    }
    let sideways = rig
        .api
        .call("GET", &format!("/sessions/{id}"), Some(&rig.api.b), None)
        .await;
    common::api::assert_error(&sideways, 404, "not_found", None);
    // Another workspace's agent or lead is as unknown as a made-up one.
    for (body, param) in [
        (
            json!({"direction": "inbound", "agent_id": agent["id"], "objective": "x"}),
            "agent_id",
        ),
        (
            json!({"direction": "outbound", "agent_id": "agent_x", "objective": "x",
                   "lead_id": lead["id"]}),
            "agent_id",
        ),
    ] {
        rig.api
            .assert_invalid("POST", "/sessions", &rig.api.b, Some(body), param)
            .await;
    }
    let (st, _, theirs) = rig
        .api
        .call(
            "POST",
            "/agents",
            Some(&rig.api.b),
            Some(json!({"name": "Bo", "system_prompt": "You are Bo."})),
        )
        .await;
    assert_eq!(st, 201);
    let res = rig
        .api
        .call(
            "POST",
            "/sessions",
            Some(&rig.api.b),
            Some(
                json!({"direction": "inbound", "agent_id": theirs["id"], "objective": "x",
                        "lead_id": lead["id"]}),
            ),
        )
        .await;
    common::api::assert_error(&res, 422, "validation_error", Some("lead_id"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outbound_session_dials_the_lead_through_the_workspace_trunk() {
    let rig = rig("session-outbound").await;
    let (port, phone) = lead_phone().await;
    let (agent, lead) = outbound_setup(&rig, port, Some(1)).await;
    // The workspace's caller id comes before the trunk's.
    let (st, _, _) = rig
        .api
        .call(
            "PATCH",
            "/workspace",
            Some(&rig.api.a),
            Some(json!({"default_caller_id": "+15550002222"})),
        )
        .await;
    assert_eq!(st, 200);
    let body = json!({"direction": "outbound", "lead_id": lead["id"], "agent_id": agent["id"],
                      "objective": "Qualify for a demo."});
    // A lead whose number cannot be dialed (an area code starting with 1) is
    // refused before anything is dialed.
    let typo = rig
        .post("/leads", json!({"name": "Typo", "phone": "+11255550123"}))
        .await;
    let mut to_typo = body.clone();
    to_typo["lead_id"] = typo["id"].clone();
    let refused = rig
        .api
        .call("POST", "/sessions", Some(&rig.api.a), Some(to_typo))
        .await;
    common::api::assert_error_saying(
        &refused,
        422,
        "validation_error",
        Some("lead_id"),
        "+11255550123 is not a North American number",
    );
    // A number on the do-not-call list is not dialed.
    rig.post("/dnc", json!({"phone": lead["phone"], "reason": "asked"}))
        .await;
    let refused = rig
        .api
        .call("POST", "/sessions", Some(&rig.api.a), Some(body.clone()))
        .await;
    common::api::assert_error_saying(&refused, 409, "conflict", None, "do-not-call");
    assert_eq!(
        rig.get("/calls").await["data"],
        json!([]),
        "nothing was dialed"
    );
    let phone_path = format!("/dnc/{}", lead["phone"].as_str().expect("phone"));
    let (st, _, _) = rig
        .api
        .call("DELETE", &phone_path, Some(&rig.api.a), None)
        .await;
    assert_eq!(st, 204);
    let session = rig.post("/sessions", body.clone()).await;
    assert_eq!(session["status"], "placed");
    assert_eq!(session["sip_uri"], Value::Null);
    let call_id = session["call_id"].as_str().expect("call id").to_owned();
    // The call exists from the start.
    let first = rig.get(&format!("/calls/{call_id}")).await;
    assert_eq!(first["direction"], "outbound");
    assert_eq!(first["session_id"], session["id"]);

    // While it runs, the trunk's one line is busy: a second session's call
    // fails at once with the reason.
    let answered = async {
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        for _ in 0..100 {
            tick.tick().await;
            rig.sink.flush().await;
            if rig.get(&format!("/calls/{call_id}")).await["status"] == "in-progress" {
                return true;
            }
        }
        false
    };
    assert!(answered.await, "the lead answered");
    let busy = rig.post("/sessions", body).await;
    let busy_call = busy["call_id"].as_str().expect("call id").to_owned();
    let failed = async {
        let mut tick = tokio::time::interval(Duration::from_millis(50));
        for _ in 0..100 {
            tick.tick().await;
            let c = rig.get(&format!("/calls/{busy_call}")).await;
            if c["status"] == "ended" {
                return c;
            }
        }
        Value::Null
    }
    .await;
    assert_eq!(failed["outcome"], "failed", "{failed}");
    assert_eq!(failed["hangup_cause"], "trunk-limit", "{failed}");

    let run = phone.await.expect("sipp");
    if !run.all_ok(1) {
        // What the call did (its events and tools), to tell a conversation
        // that went wrong from a phone that did.
        rig.sink.flush().await;
        let call = rig.get(&format!("/calls/{call_id}")).await;
        panic!("the lead's phone: {run:?}\nthe call: {call}");
    }
    let mut done = Value::Null;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    for _ in 0..100 {
        tick.tick().await;
        rig.sink.flush().await;
        done = rig.get(&format!("/calls/{call_id}")).await;
        if done["summary"].is_string() {
            break;
        }
    }
    assert_eq!(done["lead_id"], lead["id"]);
    assert_eq!(done["outcome"], "qualified", "{done}");
    assert_eq!(done["sip_outcome"], "completed");
    assert!(
        done["to"]
            .as_str()
            .is_some_and(|t| t.contains("+13125550142")),
        "{done}"
    );
    assert!(
        done["from"]
            .as_str()
            .is_some_and(|t| t.contains("+15550002222")),
        "the workspace's caller id: {done}"
    );

    // Its events: ringing only once the lead's phone sent 180, then answered,
    // ended, and the run's completion, which wrote the verdict to the lead.
    let events = rig
        .api
        .sse(&format!("/calls/{call_id}/stream"), &rig.api.a, None)
        .await
        .until_closed(WAIT)
        .await;
    let states: Vec<&str> = events
        .iter()
        .filter(|e| e.event == "call.state")
        .filter_map(|e| e.data["state"].as_str())
        .collect();
    assert_eq!(states, ["ringing", "answered", "ended"]);
    let completed = events.last().expect("events");
    assert_eq!(completed.event, "agent.run.completed");
    assert_eq!(completed.data["lead_status"], "qualified");
    let lead_now = rig
        .get(&format!("/leads/{}", lead["id"].as_str().expect("lead")))
        .await;
    assert_eq!(lead_now["status"], "qualified", "{lead_now}");
    assert_eq!(lead_now["latest_verdict"]["call_id"], call_id.as_str());
    // The refused call never rang, and is complete too.
    let refused = rig
        .api
        .sse(&format!("/calls/{busy_call}/stream"), &rig.api.a, None)
        .await
        .until_closed(WAIT)
        .await;
    let kinds: Vec<&str> = refused.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(kinds, ["call.state", "call.ended", "agent.run.completed"]);
    assert_eq!(refused[1].data["hangup_cause"], "trunk-limit");
}

/// A live outbound call placed by a session is hung up through the API: 202
/// and the engine sends the BYE (the lead's phone sees it); a second hang-up
/// of the ended call is a 409. The session's and the hang-up's answers are
/// held to the OpenAPI document (the operations that need a SIP engine).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_call_is_hung_up_through_the_api() {
    let rig = rig("api-hangup").await;
    let mut doc = rig.api.openapi().await;
    let port = common::free_port();
    let phone = tokio::spawn(
        Sipp::scenario("uas_answer")
            .args(common::uas_args(port, "30s"))
            .args(["-rtp_echo"])
            .deadline(Duration::from_secs(40))
            .run(),
    );
    assert!(
        eventually(WAIT, || std::net::UdpSocket::bind(("127.0.0.1", port))
            .is_err())
        .await,
        "the lead's phone is up"
    );
    let (agent, lead) = outbound_setup(&rig, port, None).await;
    let key = Some(rig.api.a.as_str());
    let body = json!({"direction": "outbound", "lead_id": lead["id"], "agent_id": agent["id"],
                      "objective": "Qualify for a demo."});
    let (st, _, session) = rig
        .api
        .checked(&mut doc, "POST", "/sessions", key, Some(body))
        .await;
    assert_eq!(st, 201, "{session}");
    let call = session["call_id"].as_str().expect("call id").to_owned();
    let (st, _, _) = rig
        .api
        .checked(
            &mut doc,
            "GET",
            &format!("/sessions/{}", session["id"].as_str().unwrap_or("")),
            key,
            None,
        )
        .await;
    assert_eq!(st, 200);

    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut status = Value::Null;
    for _ in 0..100 {
        tick.tick().await;
        rig.sink.flush().await;
        status = rig.get(&format!("/calls/{call}")).await["status"].clone();
        if status == "in-progress" {
            break;
        }
    }
    assert_eq!(status, "in-progress", "the lead answered");

    let path = format!("/calls/{call}/hangup");
    // Another workspace cannot hang it up: the call is not there for it.
    let res = rig.api.call("POST", &path, Some(&rig.api.b), None).await;
    common::api::assert_error(&res, 404, "not_found", None);
    let (st, _, ending) = rig.api.checked(&mut doc, "POST", &path, key, None).await;
    assert_eq!(st, 202, "{ending}");
    assert_eq!(ending, json!({"id": call, "status": "ending"}));
    let run = phone.await.expect("sipp");
    assert!(run.all_ok(1), "the phone got our BYE: {run:?}");
    let mut ended = Value::Null;
    for _ in 0..100 {
        tick.tick().await;
        rig.sink.flush().await;
        ended = rig.get(&format!("/calls/{call}")).await;
        if ended["status"] == "ended" {
            break;
        }
    }
    assert_eq!(ended["status"], "ended", "{ended}");
    assert_eq!(ended["hung_up_by"], "us", "{ended}");
    assert_eq!(ended["sip_outcome"], "completed", "{ended}");
    let (st, _, again) = rig.api.checked(&mut doc, "POST", &path, key, None).await;
    assert_eq!(st, 409, "{again}");
    doc.finish();
}
