//! The campaign queue in the store, on SQLite and Postgres, without a SIP
//! engine: claims within the batch's concurrency, the settling of claims
//! whose node stopped renewing (a call never stored goes back to the queue;
//! a stored one ends `failed`, `node-lost`, and is retried by the policy), a
//! claim that could not be placed, and a batch that completes exactly once.

mod common;

use common::api::{Api, api_state};
use serde_json::{Value, json};
use tenex_actors::sip::CallId;
use tenex_voice::store::{CallBinding, Store, call_key};

async fn apis(name: &str) -> Vec<Api> {
    let mut out = Vec::new();
    for store in common::db::backends(name).await {
        out.push(api_state(store, |s| s).await);
    }
    out
}

async fn post(api: &Api, path: &str, body: Value) -> Value {
    let (st, _, v) = api.call("POST", path, Some(&api.a), Some(body)).await;
    assert!(st.is_success(), "{path}: {st} {v}");
    v
}

/// An agent and an outbound trunk; the agent.
async fn agent_and_trunk(api: &Api) -> Value {
    let agent = post(
        api,
        "/agents",
        json!({"name": "Ada", "system_prompt": "You are Ada."}),
    )
    .await;
    post(
        api,
        "/trunks",
        json!({"name": "carrier", "outbound": {"host": "127.0.0.1"},
               "caller_id": "+15550001111"}),
    )
    .await;
    agent
}

async fn results(api: &Api, batch: &str) -> Vec<Value> {
    let (_, _, v) = api
        .call(
            "GET",
            &format!("/batches/{batch}/results"),
            Some(&api.a),
            None,
        )
        .await;
    v["data"].as_array().cloned().unwrap_or_default()
}

fn binding(ws: &str, lead: &Value, batch: &str) -> CallBinding {
    CallBinding {
        workspace: ws.to_owned(),
        agent_id: None,
        lead_id: lead.as_str().map(str::to_owned),
        batch_id: Some(batch.to_owned()),
        session_id: None,
        number_id: None,
        objective: "qualify_for_demo".into(),
        agent_config: json!({}),
    }
}

async fn completed_events(store: &Store, ws: &str, batch: &str) -> usize {
    store
        .events_after(ws, Some(batch), 0, 100)
        .await
        .expect("events")
        .iter()
        .filter(|e| e.kind == "batch.completed")
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_settle_after_a_node_stops_renewing_and_the_batch_completes_once() {
    for api in apis("batches-store").await {
        let store = api.store.clone();
        let ws = store.workspace_by_name("acme").await.expect("ws").id;
        let agent = agent_and_trunk(&api).await;
        let mut leads = Vec::new();
        for (i, phone) in ["+13125550101", "+13125550102", "+13125550103"]
            .iter()
            .enumerate()
        {
            leads.push(
                post(
                    &api,
                    "/leads",
                    json!({"name": format!("L{i}"), "phone": phone}),
                )
                .await["id"]
                    .clone(),
            );
        }
        let created = post(
            &api,
            "/batches",
            json!({"lead_ids": leads, "objective": "qualify_for_demo", "agent_id": agent["id"],
                   "concurrency": 2, "calls_per_second": 100,
                   "retry": {"max_attempts": 2, "on": ["failed"], "backoff_minutes": 0.0001}}),
        )
        .await;
        let batch = created["call_batch_id"].as_str().expect("id").to_owned();

        // Two claims, each with a lease that has already run out (the node is
        // gone); the third waits for a free slot. Claims are spaced by the
        // batch's 10 ms interval.
        let claim = |call: u64| {
            let store = store.clone();
            async move {
                let mut tick = tokio::time::interval(std::time::Duration::from_millis(5));
                for _ in 0..200 {
                    tick.tick().await;
                    if let Some(c) = store
                        .claim_next("node_a", &call_key(CallId(call)), -1)
                        .await
                        .expect("claim")
                    {
                        return Some(c);
                    }
                }
                None
            }
        };
        let first = claim(1).await.expect("first claim");
        let second = claim(2).await.expect("second claim");
        assert_eq!(
            [&first.lead_id, &second.lead_id],
            [
                leads[0].as_str().expect("id"),
                leads[1].as_str().expect("id")
            ]
        );
        assert_eq!(first.attempt, 1);
        assert!(
            store
                .claim_next("node_a", &call_key(CallId(3)), -1)
                .await
                .expect("claim")
                .is_none(),
            "two calls at once at most"
        );

        // The first claim's call was stored (and rang); the second's never was.
        store
            .queue_call_at(
                CallId(1),
                &binding(&ws, &leads[0], &batch),
                "+13125550101",
                1,
            )
            .await
            .expect("queue");
        // A live node renews only what it still runs: nothing here.
        assert_eq!(
            store
                .renew_leases("node_b", 30_000, &[])
                .await
                .expect("renew"),
            0
        );
        assert_eq!(store.settle_expired().await.expect("settle"), 2);
        assert_eq!(store.settle_expired().await.expect("settle"), 0, "once");
        let r = results(&api, &batch).await;
        assert_eq!(
            (
                &r[0]["state"],
                &r[0]["attempts"],
                &r[0]["outcome"],
                &r[0]["waiting"]
            ),
            (
                &json!("queued"),
                &json!(1),
                &json!("failed"),
                &json!("retry")
            ),
            "a stored call failed and is retried: {r:#?}"
        );
        assert_eq!(
            (&r[1]["state"], &r[1]["attempts"], &r[1]["waiting"]),
            (&json!("queued"), &json!(0), &json!("capacity")),
            "never dialed, so not counted: {r:#?}"
        );
        let (_, _, call) = api
            .call(
                "GET",
                &format!("/calls/{}", call_key(CallId(1))),
                Some(&api.a),
                None,
            )
            .await;
        assert_eq!(
            (&call["status"], &call["outcome"], &call["hangup_cause"]),
            (&json!("ended"), &json!("failed"), &json!("node-lost")),
            "{call:#}"
        );

        // A claim whose call cannot be placed counts as failed, and is
        // retried by the policy: five more claims (the first lead has one
        // attempt left, the others two) and every lead ends failed.
        let mut placed = 0;
        for id in 10..400 {
            let r = results(&api, &batch).await;
            if r.iter().all(|x| x["state"] == "done") {
                break;
            }
            if let Some(c) = claim(id).await {
                store.fail_claim(&c, "dial-failed").await.expect("fail");
                placed += 1;
            }
        }
        assert_eq!(placed, 5);
        let r = results(&api, &batch).await;
        assert!(
            r.iter()
                .all(|x| x["outcome"] == "failed" && x["attempts"] == 2),
            "{r:#?}"
        );
        let (_, _, b) = api
            .call("GET", &format!("/batches/{batch}"), Some(&api.a), None)
            .await;
        assert_eq!(b["status"], "completed", "{b:#}");
        assert_eq!(b["counts"], json!({"failed": 3}));
        assert_eq!(completed_events(&store, &ws, &batch).await, 1);
        let (st, _, _) = api
            .call(
                "POST",
                &format!("/batches/{batch}/cancel"),
                Some(&api.a),
                None,
            )
            .await;
        assert_eq!(st, 409, "a completed batch stays as it is");
        assert_eq!(completed_events(&store, &ws, &batch).await, 1, "once");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canceled_batch_ends_its_queued_leads_and_completes_once() {
    for api in apis("batches-cancel").await {
        let store = api.store.clone();
        let ws = store.workspace_by_name("acme").await.expect("ws").id;
        let agent = agent_and_trunk(&api).await;
        let lead = post(
            &api,
            "/leads",
            json!({"name": "L", "phone": "+13125550101"}),
        )
        .await["id"]
            .clone();
        let created = post(
            &api,
            "/batches",
            json!({"lead_ids": [lead], "objective": "x", "agent_id": agent["id"]}),
        )
        .await;
        let batch = created["call_batch_id"].as_str().expect("id").to_owned();
        // While it runs the lead cannot join another batch.
        let again = post(
            &api,
            "/batches",
            json!({"lead_ids": [lead], "objective": "x", "agent_id": agent["id"]}),
        )
        .await;
        assert_eq!(again["queued"], 0);
        assert_eq!(again["rejected"][0]["reason"], "in_active_batch");
        assert_eq!(again["status"], "completed");
        for (action, status) in [
            ("pause", 200),
            ("cancel", 200),
            ("resume", 409),
            ("pause", 409),
        ] {
            let (st, _, b) = api
                .call(
                    "POST",
                    &format!("/batches/{batch}/{action}"),
                    Some(&api.a),
                    None,
                )
                .await;
            assert_eq!(st, status, "{action}: {b}");
        }
        let r = results(&api, &batch).await;
        assert_eq!(
            (&r[0]["state"], &r[0]["outcome"]),
            (&json!("canceled"), &json!("canceled"))
        );
        assert_eq!(completed_events(&store, &ws, &batch).await, 1);
        // The lead is free again; a second lead with the same number in the
        // same batch is not called twice.
        let twin = post(
            &api,
            "/leads",
            json!({"name": "Twin", "phone": "+13125550101"}),
        )
        .await;
        let third = post(
            &api,
            "/batches",
            json!({"lead_ids": [twin["id"], lead], "objective": "x", "agent_id": agent["id"]}),
        )
        .await;
        assert_eq!(third["queued"], 1);
        assert_eq!(
            third["rejected"],
            json!([{"lead_id": lead, "reason": "duplicate_phone",
                    "message": "an earlier lead in the batch has the same number"}])
        );
        // Numbers that are E.164 but cannot be dialed are reported, not queued.
        let mut unusable = Vec::new();
        for phone in ["+1312555010", "+11255550123", "+999123456789"] {
            unusable.push(
                post(&api, "/leads", json!({"name": "X", "phone": phone})).await["id"].clone(),
            );
        }
        let none = post(
            &api,
            "/batches",
            json!({"lead_ids": unusable, "objective": "x", "agent_id": agent["id"]}),
        )
        .await;
        assert_eq!(none["queued"], 0);
        let rejected = none["rejected"].as_array().cloned().unwrap_or_default();
        assert_eq!(rejected.len(), 3, "{none:#}");
        for (r, (lead, says)) in rejected.iter().zip(unusable.iter().zip([
            "+1312555010 is not a North American number",
            "+11255550123 is not a North American number",
            "+999123456789 has no assigned country calling code",
        ])) {
            assert_eq!(
                (&r["lead_id"], &r["reason"]),
                (lead, &json!("invalid_phone"))
            );
            assert!(
                r["message"].as_str().is_some_and(|m| m.starts_with(says)),
                "{r}"
            );
        }
        // Defaults: 5 at once, 1 a second, 30 s of ringing, 3 attempts on
        // no-answer, busy and failed an hour apart, any time of day.
        let id = third["call_batch_id"].as_str().expect("id");
        let (_, _, b) = api
            .call("GET", &format!("/batches/{id}"), Some(&api.a), None)
            .await;
        assert_eq!(
            (
                &b["concurrency"],
                &b["calls_per_second"],
                &b["ring_timeout_s"],
                &b["window"]
            ),
            (&json!(5), &json!(1.0), &json!(30), &Value::Null),
            "{b:#}"
        );
        assert_eq!(
            b["retry"],
            json!({"max_attempts": 3, "on": ["no-answer", "busy", "failed"], "backoff_minutes": 60.0})
        );
    }
}
