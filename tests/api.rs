//! The voice REST API through `app(state).oneshot(...)`: bearer keys and
//! workspace scoping (another workspace's id answers exactly like a missing
//! one), the error shape for every kind of bad input, cursor pagination under
//! concurrent inserts, the per-key rate limit, and `keys create`/`keys revoke`.

mod common;

use axum::body::Body;
use axum::http::Request;
use common::api::{Api, api, api_with, assert_error};
use serde_json::{Value, json};
use tenex_voice::api::{ApiState, RateLimit};
use tenex_voice::http::{HttpState, app};
use tenex_voice::store::Store;

fn lead(name: &str) -> Value {
    json!({"name": name, "phone": "+13125550142", "email": "dana@example.com",
           "company": "Acme", "timezone": "America/Chicago", "custom": {"seats": 12}})
}

#[tokio::test]
async fn every_request_needs_a_live_key() {
    let api = api("api-auth").await;
    assert_error(
        &api.call("GET", "/leads", None, None).await,
        401,
        "authentication_error",
        None,
    );
    assert_error(
        &api.call("GET", "/leads", Some("tnx_wrong"), None).await,
        401,
        "authentication_error",
        None,
    );
    let res = api
        .send(
            Request::get("/api/v1/voice/leads")
                .header("authorization", format!("Basic {}", api.a))
                .body(Body::empty())
                .expect("request"),
        )
        .await;
    assert_error(&res, 401, "authentication_error", None);
    // Unknown routes answer 401 before auth and 404 after, never leaking which exist.
    assert_error(
        &api.call("GET", "/nope", None, None).await,
        401,
        "authentication_error",
        None,
    );
    assert_error(
        &api.call("GET", "/nope", Some(&api.a), None).await,
        404,
        "not_found",
        None,
    );

    assert_eq!(api.call("GET", "/leads", Some(&api.a), None).await.0, 200);
    let ws = api.store.workspace_by_name("acme").await.expect("ws");
    let (key, secret) = api.store.create_key(&ws.id).await.expect("key");
    assert!(secret.starts_with("tnx_") && secret.len() == 36, "{secret}");
    assert_eq!(api.call("GET", "/leads", Some(&secret), None).await.0, 200);
    api.store.revoke_key(&key.id).await.expect("revoke");
    assert_error(
        &api.call("GET", "/leads", Some(&secret), None).await,
        401,
        "authentication_error",
        None,
    );
}

#[tokio::test]
async fn leads_are_created_read_and_scoped_to_the_workspace() {
    let api = api("api-leads").await;
    let (status, _, created) = api
        .call("POST", "/leads", Some(&api.a), Some(lead("Dana Reyes")))
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().expect("id").to_owned();
    assert!(id.starts_with("lead_"));
    assert_eq!(created["status"], "new");
    assert_eq!(created["custom"]["seats"], 12);

    let (status, _, got) = api
        .call("GET", &format!("/leads/{id}"), Some(&api.a), None)
        .await;
    assert_eq!(status, 200);
    let mut want = created.clone();
    want["qualification_history"] = json!([]);
    want["attempts"] = json!([]);
    assert_eq!(got, want);

    // B sees A's lead exactly as it sees a lead that does not exist.
    let other = api
        .call("GET", &format!("/leads/{id}"), Some(&api.b), None)
        .await;
    let missing = api
        .call("GET", "/leads/lead_missing", Some(&api.a), None)
        .await;
    assert_error(&other, 404, "not_found", None);
    assert_eq!(other.2, missing.2);
    let (_, _, list) = api.call("GET", "/leads", Some(&api.b), None).await;
    assert_eq!(list["data"], json!([]));
    assert_eq!(list["next_cursor"], Value::Null);
}

#[tokio::test]
async fn bad_input_gets_the_api_error_shape() {
    let api = api("api-errors").await;
    let mut bad = lead("Dana");
    bad["phone"] = json!("312-555-0142");
    assert_error(
        &api.call("POST", "/leads", Some(&api.a), Some(bad)).await,
        422,
        "validation_error",
        Some("phone"),
    );
    let mut bad = lead("Dana");
    bad["timezone"] = json!("Mars/Olympus");
    assert_error(
        &api.call("POST", "/leads", Some(&api.a), Some(bad)).await,
        422,
        "validation_error",
        Some("timezone"),
    );
    let mut bad = lead("Dana");
    bad["favourite_colour"] = json!("teal");
    assert_error(
        &api.call("POST", "/leads", Some(&api.a), Some(bad)).await,
        422,
        "validation_error",
        Some("favourite_colour"),
    );
    assert_error(
        &api.call(
            "POST",
            "/leads",
            Some(&api.a),
            Some(json!({"name": "Dana"})),
        )
        .await,
        422,
        "validation_error",
        Some("phone"),
    );
    let mut bad = lead("Dana");
    bad["custom"] = json!("not an object");
    assert_error(
        &api.call("POST", "/leads", Some(&api.a), Some(bad)).await,
        422,
        "validation_error",
        Some("custom"),
    );

    assert_error(
        &api.raw(
            "/leads",
            Some("application/json"),
            b"{\"name\": \"Dana\",".to_vec(),
        )
        .await,
        400,
        "invalid_json",
        None,
    );
    assert_error(
        &api.raw(
            "/leads",
            Some("text/plain"),
            lead("x").to_string().into_bytes(),
        )
        .await,
        400,
        "invalid_request",
        None,
    );
    // Over 1 MiB: refused with 413, nothing stored.
    let mut huge = lead("Dana");
    huge["custom"] = json!({"blob": "x".repeat(1 << 20)});
    assert_error(
        &api.raw(
            "/leads",
            Some("application/json"),
            huge.to_string().into_bytes(),
        )
        .await,
        413,
        "payload_too_large",
        None,
    );
    let (_, _, list) = api.call("GET", "/leads", Some(&api.a), None).await;
    assert_eq!(list["data"], json!([]));

    for (q, param) in [
        ("?limit=0", "limit"),
        ("?limit=201", "limit"),
        ("?limit=ten", "query"),
        ("?cursor=garbage!", "cursor"),
    ] {
        api.assert_invalid("GET", &format!("/leads{q}"), &api.a, None, param)
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pagination_is_stable_while_leads_are_inserted() {
    let api = api("api-pages").await;
    let mut original = Vec::new();
    for i in 0..120 {
        let (s, _, l) = api
            .call(
                "POST",
                "/leads",
                Some(&api.a),
                Some(lead(&format!("Lead {i}"))),
            )
            .await;
        assert_eq!(s, 201);
        original.push(l["id"].as_str().expect("id").to_owned());
    }
    // Workspace B's leads never show up in A's pages.
    api.call("POST", "/leads", Some(&api.b), Some(lead("Other")))
        .await;

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let q = match &cursor {
            Some(c) => format!("/leads?limit=50&cursor={c}"),
            None => "/leads?limit=50".into(),
        };
        let (s, _, page) = api.call("GET", &q, Some(&api.a), None).await;
        assert_eq!(s, 200, "{page}");
        pages += 1;
        let data = page["data"].as_array().expect("data");
        assert!(data.len() <= 50);
        seen.extend(data.iter().map(|l| {
            (
                l["created_at"].as_i64().expect("created_at"),
                l["id"].as_str().expect("id").to_owned(),
            )
        }));
        // New leads arrive between pages.
        for j in 0..7 {
            api.call(
                "POST",
                "/leads",
                Some(&api.a),
                Some(lead(&format!("New {pages}.{j}"))),
            )
            .await;
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    // Newest first ((created_at, id) strictly descending, so none twice), and
    // exactly the leads that existed when paging began: none skipped, none of
    // the ones inserted meanwhile.
    assert!(seen.windows(2).all(|w| w[0] > w[1]), "strictly descending");
    let mut ids: Vec<String> = seen.into_iter().map(|(_, id)| id).collect();
    ids.sort();
    original.sort();
    assert_eq!(ids, original);

    // Default page size is 50.
    let (_, _, first) = api.call("GET", "/leads", Some(&api.a), None).await;
    assert_eq!(first["data"].as_array().map(Vec::len), Some(50));
}

#[tokio::test]
async fn knowledge_documents_and_search() {
    let api = api("api-knowledge").await;
    let (s, _, doc) = api
        .call(
            "POST",
            "/knowledge",
            Some(&api.a),
            Some(json!({"title": "Pricing",
            "body": "The Growth plan covers up to 5,000 calls a month for a flat price."})),
        )
        .await;
    assert_eq!(s, 201, "{doc}");
    let id = doc["id"].as_str().expect("id");
    api.call(
        "POST",
        "/knowledge",
        Some(&api.a),
        Some(json!({"title": "Security", "body": "Recordings are encrypted."})),
    )
    .await;
    let (s, _, found) = api
        .call(
            "GET",
            "/knowledge/search?q=price%20for%202000%20calls",
            Some(&api.a),
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(found["data"][0]["document_id"], id);
    assert!(
        found["data"][0]["snippet"]
            .as_str()
            .is_some_and(|t| t.contains("calls"))
    );
    assert_eq!(found["data"].as_array().map(Vec::len), Some(1));

    let (_, _, none) = api
        .call("GET", "/knowledge/search?q=pricing", Some(&api.b), None)
        .await;
    assert_eq!(none["data"], json!([]));
    assert_error(
        &api.call("GET", &format!("/knowledge/{id}"), Some(&api.b), None)
            .await,
        404,
        "not_found",
        None,
    );
    assert_eq!(
        api.call("GET", &format!("/knowledge/{id}"), Some(&api.a), None)
            .await
            .0,
        200
    );
    assert_error(
        &api.call("GET", "/knowledge/search", Some(&api.a), None)
            .await,
        422,
        "validation_error",
        Some("q"),
    );
    assert_error(
        &api.call("GET", "/knowledge/search?q=%3F%21", Some(&api.a), None)
            .await,
        422,
        "validation_error",
        Some("q"),
    );
    assert_error(
        &api.call(
            "POST",
            "/knowledge",
            Some(&api.a),
            Some(json!({"title": "", "body": "x"})),
        )
        .await,
        422,
        "validation_error",
        Some("title"),
    );
}

#[tokio::test]
async fn calendar_connectors_and_bookings() {
    let api = api("api-calendars").await;
    let (s, _, cal) = api
        .call("POST", "/calendar-connectors", Some(&api.a), Some(json!({"name": "Sales demos",
            "timezone": "Europe/Berlin", "slot_minutes": 30,
            "working_hours": {"mon": [["09:00", "12:00"], ["13:00", "17:00"]], "tue": [["09:00", "17:00"]]}})))
        .await;
    assert_eq!(s, 201, "{cal}");
    let id = cal["id"].as_str().expect("id").to_owned();
    assert_eq!(cal["working_hours"]["mon"][1], json!(["13:00", "17:00"]));
    assert_eq!(cal["working_hours"]["wed"], json!([]));

    // A booking made by a call shows up in the connector's bookings.
    let ws = api.store.workspace_by_name("acme").await.expect("ws");
    let c = api.store.calendar(&ws.id, &id).await.expect("cal");
    let req = tenex_voice::store::BookingRequest {
        start: c.parse_time("2030-01-07T13:30").expect("t"),
        duration_min: 30,
        notes: "demo",
        lead_id: None,
        call_id: Some("call_7"),
    };
    api.store
        .book(&ws.id, &id, &req, jiff::Timestamp::UNIX_EPOCH)
        .await
        .expect("book");
    let (s, _, list) = api
        .call(
            "GET",
            &format!("/calendar-connectors/{id}/bookings"),
            Some(&api.a),
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(list["data"][0]["start"], "2030-01-07T13:30:00+01:00");
    assert_eq!(list["data"][0]["call_id"], "call_7");

    for path in [
        format!("/calendar-connectors/{id}"),
        format!("/calendar-connectors/{id}/bookings"),
    ] {
        assert_error(
            &api.call("GET", &path, Some(&api.b), None).await,
            404,
            "not_found",
            None,
        );
    }
    assert_error(
        &api.call(
            "POST",
            "/calendar-connectors",
            Some(&api.a),
            Some(json!({"name": "x", "timezone": "Nowhere/City"})),
        )
        .await,
        422,
        "validation_error",
        Some("timezone"),
    );
    assert_error(
        &api.call(
            "POST",
            "/calendar-connectors",
            Some(&api.a),
            Some(json!({"name": "x", "timezone": "UTC",
            "working_hours": {"mon": [["17:00", "09:00"]]}})),
        )
        .await,
        422,
        "validation_error",
        Some("working_hours"),
    );
}

#[tokio::test]
async fn each_key_is_rate_limited_with_retry_after() {
    let api = api_with(
        "api-rate",
        RateLimit {
            rate: 0.5,
            burst: 3.0,
        },
    )
    .await;
    for _ in 0..3 {
        assert_eq!(api.call("GET", "/leads", Some(&api.a), None).await.0, 200);
    }
    let res = api.call("GET", "/leads", Some(&api.a), None).await;
    assert_error(&res, 429, "rate_limited", None);
    let wait: u64 = res.1["retry-after"]
        .to_str()
        .expect("header")
        .parse()
        .expect("seconds");
    assert!((1..=2).contains(&wait), "{wait}");
    // Another key has its own bucket.
    assert_eq!(api.call("GET", "/leads", Some(&api.b), None).await.0, 200);
}

#[tokio::test]
async fn keys_are_created_and_revoked_from_the_command_line() {
    let dir = common::scratch_dir("api-keys-cli");
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_tenex-voice"))
            .args(args)
            .env("TENEX_DATA_DIR", &dir)
            .env_remove("TENEX_DATABASE_URL")
            .output()
            .expect("run tenex-voice");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, out, err) = run(&["keys", "create", "--workspace", "acme"]);
    assert!(ok, "{err}");
    let secret = out.lines().next().expect("the key").to_owned();
    assert!(secret.starts_with("tnx_"), "{out}");
    let key_id = out
        .split_whitespace()
        .find(|w| w.starts_with("key_"))
        .expect("key id")
        .to_owned();
    // A second key for the same workspace reuses it.
    let (ok, out2, _) = run(&["keys", "create", "--workspace", "acme"]);
    assert!(ok);
    let second = out2.lines().next().expect("key").to_owned();

    let store = Store::open_data_dir(&dir).await.expect("store");
    let api = Api {
        app: app(HttpState {
            metrics: Default::default(),
            engine: None,
            api: Some(ApiState::new(store.clone())),
        }),
        store,
        a: secret.clone(),
        b: second.clone(),
    };
    api.call("POST", "/leads", Some(&secret), Some(lead("Dana")))
        .await;
    let (_, _, list) = api.call("GET", "/leads", Some(&second), None).await;
    assert_eq!(
        list["data"].as_array().map(Vec::len),
        Some(1),
        "same workspace"
    );
    // Only the hash is stored.
    let stored: Vec<String> = sqlx::query_scalar("SELECT hash FROM api_keys")
        .fetch_all(
            &sqlx::SqlitePool::connect(&format!("sqlite://{}", dir.join("tenex.db").display()))
                .await
                .expect("db"),
        )
        .await
        .expect("hashes");
    assert_eq!(stored.len(), 2);
    assert!(
        stored
            .iter()
            .all(|h| h.len() == 64 && !h.contains(&secret[4..]))
    );

    let (ok, out, err) = run(&["keys", "revoke", &key_id]);
    assert!(ok, "{err}");
    assert!(out.contains(&key_id));
    assert_error(
        &api.call("GET", "/leads", Some(&secret), None).await,
        401,
        "authentication_error",
        None,
    );
    assert_eq!(api.call("GET", "/leads", Some(&second), None).await.0, 200);
    let (ok, _, err) = run(&["keys", "revoke", "key_nope"]);
    assert!(!ok);
    assert!(err.contains("no key key_nope"), "{err}");
}
