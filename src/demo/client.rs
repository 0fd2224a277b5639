//! A small client of the public API, as a user's program would be: JSON
//! requests with the bearer key, and Server-Sent Events streams.

use std::net::SocketAddr;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::sync::mpsc;

/// The voice API of one node.
#[derive(Debug, Clone)]
pub(super) struct Api {
    /// HTTP address.
    pub(super) addr: SocketAddr,
    /// `tnx_…` key.
    pub(super) key: String,
}

/// Where the voice API lives under the HTTP root.
pub(super) const PREFIX: &str = "/api/v1/voice";

impl Api {
    async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<hyper::Response<Incoming>, String> {
        let tcp = tokio::net::TcpStream::connect(self.addr)
            .await
            .map_err(|e| format!("connect {}: {e}", self.addr))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .map_err(|e| format!("HTTP: {e}"))?;
        tokio::spawn(conn);
        let req = hyper::Request::builder()
            .method(method)
            .uri(if path.starts_with(PREFIX) {
                path.to_owned()
            } else {
                format!("{PREFIX}{path}")
            })
            .header("host", self.addr.to_string())
            .header("authorization", format!("Bearer {}", self.key))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(
                body.map(Value::to_string).unwrap_or_default(),
            )))
            .map_err(|e| format!("request: {e}"))?;
        sender
            .send_request(req)
            .await
            .map_err(|e| format!("{method} {path}: {e}"))
    }

    /// A request's whole answer: its status and body.
    async fn fetch(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(hyper::StatusCode, Bytes), String> {
        let res = self.send(method, path, body).await?;
        let status = res.status();
        let bytes = res
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("{method} {path}: {e}"))?
            .to_bytes();
        Ok((status, bytes))
    }

    /// A request whose answer must be `2xx` JSON.
    pub(super) async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        let (status, bytes) = self.fetch(method, path, body.as_ref()).await?;
        let json: Value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .map_err(|e| format!("{method} {path}: answer is not JSON: {e}"))?
        };
        if !status.is_success() {
            return Err(format!("{method} {path}: {status}: {json}"));
        }
        Ok(json)
    }

    /// `GET` bytes (a recording); `path` is relative to the API or absolute
    /// from the HTTP root.
    pub(super) async fn bytes(&self, path: &str) -> Result<Vec<u8>, String> {
        let (status, bytes) = self.fetch("GET", path, None).await?;
        if !status.is_success() {
            return Err(format!("GET {path}: {status}"));
        }
        Ok(bytes.to_vec())
    }

    /// `GET` JSON.
    pub(super) async fn get(&self, path: &str) -> Result<Value, String> {
        self.call("GET", path, None).await
    }

    /// `POST` JSON.
    pub(super) async fn post(&self, path: &str, body: Value) -> Result<Value, String> {
        self.call("POST", path, Some(body)).await
    }

    /// Follows an SSE stream; each event goes to `out` as it arrives, until
    /// the stream ends or `out` is dropped.
    pub(super) async fn follow(&self, path: &str, out: mpsc::Sender<Sse>) -> Result<(), String> {
        let res = self.send("GET", path, None).await?;
        if !res.status().is_success() {
            return Err(format!("GET {path}: {}", res.status()));
        }
        let mut body = res.into_body();
        let mut parser = SseParser::default();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| format!("GET {path}: {e}"))?;
            let Some(data) = frame.data_ref() else {
                continue;
            };
            for event in parser.push(data) {
                if out.send(event).await.is_err() {
                    return Ok(());
                }
            }
        }
        Ok(())
    }
}

/// One server-sent event.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Sse {
    /// `event:` (`message` when absent).
    pub(super) event: String,
    /// `data:`, parsed as JSON (`null` when it is not).
    pub(super) data: Value,
}

/// Splits an SSE body into events (`event:` and `data:` fields; `id:`,
/// `retry:` and `:` comments are read past).
#[derive(Debug, Default)]
struct SseParser {
    buf: Vec<u8>,
    event: Option<String>,
    data: String,
}

impl SseParser {
    fn push(&mut self, bytes: &[u8]) -> Vec<Sse> {
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        while let Some(nl) = self.buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.buf.drain(..=nl).collect();
            let line = String::from_utf8_lossy(&line);
            let line = line.trim_end_matches(['\n', '\r']);
            if line.is_empty() {
                if !self.data.is_empty() {
                    out.push(Sse {
                        event: self.event.take().unwrap_or_else(|| "message".into()),
                        data: serde_json::from_str(&self.data).unwrap_or(Value::Null),
                    });
                }
                self.event = None;
                self.data.clear();
                continue;
            }
            let (field, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "event" => self.event = Some(value.to_owned()),
                "data" => {
                    if !self.data.is_empty() {
                        self.data.push('\n');
                    }
                    self.data.push_str(value);
                }
                _ => {}
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_across_reads_and_comments_are_skipped() {
        let mut p = SseParser::default();
        assert!(p.push(b": keep-alive\n\nid: 4\nevent: call.st").is_empty());
        let got = p.push(b"ate\ndata: {\"state\":\"ringing\"}\r\n\r\ndata: 7\n\n");
        assert_eq!(
            got,
            [
                Sse {
                    event: "call.state".into(),
                    data: serde_json::json!({"state": "ringing"})
                },
                Sse {
                    event: "message".into(),
                    data: serde_json::json!(7)
                }
            ]
        );
    }
}
