//! The official MCP Python SDK as a client (`mcp_client.py`, run with the
//! venv `./run test` sets up), and the node's HTTP side served on loopback
//! for it.

use std::net::SocketAddr;
use std::sync::Arc;

use serde_json::Value;
use tenex_actors::metrics::Metrics;
use tenex_voice::api::ApiState;
use tenex_voice::http::{HttpState, app};

/// Serves `state`'s API and `/mcp` on a free loopback port.
pub async fn serve(state: ApiState) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let router = app(HttpState {
        metrics: Arc::new(Metrics::default()),
        engine: None,
        api: Some(state),
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    addr
}

/// What the client printed, or its stderr when it failed.
pub async fn client(url: &str, key: &str, steps: &Value) -> Result<Value, String> {
    let python = std::env::var("TENEX_SDK_PYTHON").expect(
        "TENEX_SDK_PYTHON is not set: run the tests with `./run test`, which installs \
         the MCP SDK into a venv",
    );
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/common/mcp_client.py");
    let out = tokio::process::Command::new(python)
        .arg(script)
        .arg(url)
        .arg(key)
        .arg(steps.to_string())
        .output()
        .await
        .expect("run the MCP client");
    if out.status.success() {
        serde_json::from_slice(&out.stdout).map_err(|e| format!("client output: {e}"))
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}
