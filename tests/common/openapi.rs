//! Holding the API to its OpenAPI document: every response a test records must
//! be a status the document lists for that operation, and its JSON body must
//! validate against the documented schema with no undeclared field
//! (`openapi_check.py`, run once per test with the SDK venv's Python, which
//! also validates the document itself).

use std::collections::BTreeSet;
use std::io::Write as _;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

/// The document and the responses recorded against it.
pub struct Conformance {
    doc: Value,
    checks: Vec<Value>,
    failures: Vec<String>,
    /// `(operationId, status)` of every recorded response.
    pub seen: BTreeSet<(String, u16)>,
}

impl Conformance {
    pub fn new(doc: Value) -> Conformance {
        Conformance {
            doc,
            checks: Vec::new(),
            failures: Vec::new(),
            seen: BTreeSet::new(),
        }
    }

    pub fn doc(&self) -> &Value {
        &self.doc
    }

    /// Every `(METHOD, path template)` the document lists.
    pub fn operations(&self) -> BTreeSet<(String, String)> {
        let mut out = BTreeSet::new();
        for (path, item) in self.doc["paths"].as_object().expect("paths") {
            for method in item.as_object().expect("path item").keys() {
                out.insert((method.to_uppercase(), path.clone()));
            }
        }
        out
    }

    /// The operation serving `method path` (a concrete path under
    /// `/api/v1/voice`, query string allowed): the template with the most
    /// literal segments that matches.
    pub fn operation(&self, method: &str, path: &str) -> Option<(String, Value)> {
        let path = path.split('?').next().unwrap_or(path);
        let segs: Vec<&str> = path.split('/').collect();
        let mut best: Option<(usize, String, Value)> = None;
        for (template, item) in self.doc["paths"].as_object()? {
            let t: Vec<&str> = template.split('/').collect();
            if t.len() != segs.len() {
                continue;
            }
            let matches = t
                .iter()
                .zip(&segs)
                .all(|(a, b)| a == b || (a.starts_with('{') && !b.is_empty()));
            let literal = t.iter().filter(|s| !s.starts_with('{')).count();
            if matches
                && let Some(op) = item.get(method.to_lowercase())
                && best.as_ref().is_none_or(|(l, _, _)| literal > *l)
            {
                best = Some((literal, template.clone(), op.clone()));
            }
        }
        best.map(|(_, t, op)| (t, op))
    }

    fn resolve<'a>(&'a self, mut v: &'a Value) -> &'a Value {
        while let Some(r) = v.get("$ref").and_then(Value::as_str) {
            let mut at = &self.doc;
            for part in r.trim_start_matches("#/").split('/') {
                at = &at[part];
            }
            v = at;
        }
        v
    }

    /// Records a response to `method path`.
    pub fn record(&mut self, method: &str, path: &str, status: u16, body: &Value) {
        let name = format!("{method} {path} -> {status}");
        let Some((template, op)) = self.operation(method, path) else {
            self.failures
                .push(format!("{name}: no such operation in the document"));
            return;
        };
        let id = op["operationId"].as_str().unwrap_or(&template).to_owned();
        self.seen.insert((id, status));
        let Some(documented) = op["responses"].get(status.to_string()) else {
            self.failures
                .push(format!("{name}: status not documented for {template}"));
            return;
        };
        let response = self.resolve(documented).clone();
        match response["content"].get("application/json") {
            Some(media) => {
                let schema = media.get("schema").cloned().unwrap_or(json!({}));
                self.checks
                    .push(json!({"name": name, "schema": schema, "body": body}));
            }
            None if !body.is_null() => self
                .failures
                .push(format!("{name}: a JSON body where the document has none")),
            None => {}
        }
    }

    /// Validates the document and every recorded body; panics on any failure.
    pub fn finish(self) {
        let python = std::env::var("TENEX_SDK_PYTHON").expect(
            "TENEX_SDK_PYTHON is not set: run the tests with `./run test`, which installs \
             openapi-spec-validator into target/sdk-venv",
        );
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/common/openapi_check.py");
        let mut child = Command::new(python)
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python");
        let job = json!({"document": self.doc, "checks": self.checks});
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(job.to_string().as_bytes())
            .expect("write job");
        let out = child.wait_with_output().expect("checker");
        let report = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            self.failures.is_empty() && out.status.success(),
            "responses disagree with the OpenAPI document:\n{}\n{report}",
            self.failures.join("\n")
        );
        assert!(
            report.contains(&format!("{} bodies checked, 0 failures", self.checks.len())),
            "{report}"
        );
    }
}
