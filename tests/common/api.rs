//! The voice API driven through `app(state).oneshot(...)`: two workspaces with a
//! key each, requests with or without a key, and the error-shape check.

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use serde_json::Value;
use tenex_actors::sip::EngineHandle;
use tenex_voice::api::{ApiState, RateLimit};
use tenex_voice::http::{HttpState, app};
use tenex_voice::store::Store;
use tower::ServiceExt;

/// A rate limit no test reaches.
pub const UNLIMITED: RateLimit = RateLimit {
    rate: 10_000.0,
    burst: 10_000.0,
};

pub struct Api {
    pub app: Router,
    pub store: Store,
    /// Workspace A's key.
    pub a: String,
    /// Workspace B's key.
    pub b: String,
}

pub async fn api_with(name: &str, limit: RateLimit) -> Api {
    api_on(super::db::sqlite(name).await, limit, None).await
}

/// The API over `store` (two workspaces, a key each), controlling `engine`'s calls.
pub async fn api_on(store: Store, limit: RateLimit, engine: Option<EngineHandle>) -> Api {
    api_state(store, |mut s| {
        s.rate_limit = limit;
        match engine {
            Some(e) => s.with_engine(e),
            None => s,
        }
    })
    .await
}

/// The API over `store` (two workspaces, a key each), its state set up by `f`.
pub async fn api_state(store: Store, f: impl FnOnce(ApiState) -> ApiState) -> Api {
    let wa = store.create_workspace("acme").await.expect("ws");
    let wb = store.create_workspace("globex").await.expect("ws");
    let (_, a) = store.create_key(&wa.id).await.expect("key");
    let (_, b) = store.create_key(&wb.id).await.expect("key");
    let app = app(HttpState {
        metrics: Default::default(),
        engine: None,
        api: Some(f(ApiState::with_rate_limit(store.clone(), UNLIMITED))),
    });
    Api { app, store, a, b }
}

pub async fn api(name: &str) -> Api {
    api_with(name, UNLIMITED).await
}

/// A response: status, headers, JSON body (`null` when empty).
pub type Res = (StatusCode, HeaderMap, Value);

impl Api {
    pub async fn send(&self, req: Request<Body>) -> Res {
        let res = self.app.clone().oneshot(req).await.expect("response");
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = axum::body::to_bytes(res.into_body(), 4 << 20)
            .await
            .expect("body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&bytes)))
        };
        (status, headers, body)
    }

    pub async fn call(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> Res {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("/api/v1/voice{path}"));
        if let Some(k) = key {
            req = req.header("authorization", format!("Bearer {k}"));
        }
        let req = match body {
            Some(b) => req
                .header("content-type", "application/json")
                .body(Body::from(b.to_string())),
            None => req.body(Body::empty()),
        };
        self.send(req.expect("request")).await
    }

    /// [`Api::call`], the response recorded in `conf` (checked against the
    /// OpenAPI document when `conf` finishes).
    pub async fn checked(
        &self,
        conf: &mut super::openapi::Conformance,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> Res {
        let res = self.call(method, path, key, body).await;
        conf.record(method, path, res.0.as_u16(), &res.2);
        res
    }

    /// `method path` with `key` and `body` answers 422 naming `param`.
    pub async fn assert_invalid(
        &self,
        method: &str,
        path: &str,
        key: &str,
        body: Option<Value>,
        param: &str,
    ) {
        let res = self.call(method, path, Some(key), body).await;
        assert_error(&res, 422, "validation_error", Some(param));
    }

    /// The OpenAPI document the API serves (no key needed).
    pub async fn openapi(&self) -> super::openapi::Conformance {
        let (status, headers, doc) = self.call("GET", "/openapi.json", None, None).await;
        assert_eq!(status, 200, "{doc}");
        assert_eq!(headers["content-type"], "application/json");
        super::openapi::Conformance::new(doc)
    }

    pub async fn raw(&self, path: &str, content_type: Option<&str>, body: Vec<u8>) -> Res {
        let mut req = Request::post(format!("/api/v1/voice{path}"))
            .header("authorization", format!("Bearer {}", self.a));
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        self.send(req.body(Body::from(body)).expect("request"))
            .await
    }
}

impl Api {
    /// `GET uri` (a full path, e.g. a signed link) with `headers`, no key; the
    /// body as bytes.
    pub async fn get_bytes(
        &self,
        uri: &str,
        headers: &[(&str, &str)],
    ) -> (StatusCode, HeaderMap, Vec<u8>) {
        let mut req = Request::get(uri);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let res = self
            .app
            .clone()
            .oneshot(req.body(Body::empty()).expect("request"))
            .await
            .expect("response");
        let (parts, body) = res.into_parts();
        let bytes = axum::body::to_bytes(body, 64 << 20).await.expect("body");
        (parts.status, parts.headers, bytes.to_vec())
    }
}

pub fn assert_error(res: &Res, status: u16, kind: &str, param: Option<&str>) {
    assert_eq!(res.0.as_u16(), status, "{:?}", res.2);
    assert_eq!(res.2["error"]["type"], kind, "{:?}", res.2);
    assert!(
        res.2["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
    assert_eq!(res.2["error"]["param"].as_str(), param, "{:?}", res.2);
    assert!(
        res.1["content-type"]
            .to_str()
            .is_ok_and(|c| c.starts_with("application/json"))
    );
}

/// [`assert_error`], and the message says `says`.
pub fn assert_error_saying(res: &Res, status: u16, kind: &str, param: Option<&str>, says: &str) {
    assert_error(res, status, kind, param);
    assert!(
        res.2["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains(says)),
        "the message should say {says:?}: {:?}",
        res.2
    );
}
