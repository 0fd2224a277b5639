//! Call metrics: latency histograms and counters, rendered in the Prometheus
//! text format. Recording is lock-free (atomics); only error codes, a small and
//! slowly growing set, sit behind a mutex.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Bucket upper bounds in seconds (0.1 ms … 10 s).
const BOUNDS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
    10.0,
];

/// A fixed-bucket latency histogram.
#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [AtomicU64; BOUNDS.len()],
    count: AtomicU64,
    sum_ns: AtomicU64,
    max_ns: AtomicU64,
}

impl Histogram {
    /// Records one sample.
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        if let Some(i) = BOUNDS.iter().position(|b| secs <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        let ns = d.as_nanos().min(u128::from(u64::MAX)) as u64;
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_ns.fetch_add(ns, Ordering::Relaxed);
        self.max_ns.fetch_max(ns, Ordering::Relaxed);
    }

    /// Samples recorded.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Largest sample.
    pub fn max(&self) -> Duration {
        Duration::from_nanos(self.max_ns.load(Ordering::Relaxed))
    }

    /// Upper bound of the bucket holding quantile `q` (0–1): the value below which
    /// at least `q` of the samples fall. `None` when empty or beyond the last bucket.
    pub fn quantile_bound(&self, q: f64) -> Option<Duration> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        let want = (q * n as f64).ceil() as u64;
        let mut seen = 0;
        for (i, b) in self.buckets.iter().enumerate() {
            seen += b.load(Ordering::Relaxed);
            if seen >= want {
                return Some(Duration::from_secs_f64(BOUNDS[i]));
            }
        }
        None
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} histogram");
        let mut cumulative = 0;
        for (i, b) in self.buckets.iter().enumerate() {
            cumulative += b.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{}\"}} {cumulative}", BOUNDS[i]);
        }
        let count = self.count();
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let sum = self.sum_ns.load(Ordering::Relaxed) as f64 / 1e9;
        let _ = writeln!(out, "{name}_sum {sum}");
        let _ = writeln!(out, "{name}_count {count}");
    }
}

/// Node-wide call metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Caller frame leaving the jitter buffer → its append sent on the WebSocket.
    pub uplink: Histogram,
    /// Audio delta received → its frames queued for playout (pacing excluded).
    pub downlink: Histogram,
    /// Answer → first agent audio.
    pub greeting: Histogram,
    /// `speech_stopped` → first response audio.
    pub end_of_turn: Histogram,
    /// Barge-in decided → playout stopped.
    pub barge_in_stop: Histogram,
    /// Realtime WebSocket reconnections.
    pub reconnects: AtomicU64,
    /// Server events that failed to parse.
    pub bad_events: AtomicU64,
    /// Uplink frames dropped because the ring overflowed.
    pub uplink_dropped: AtomicU64,
    /// Transcript publishers and CRM writers restarted after a crash.
    pub reader_restarts: AtomicU64,
    errors: Mutex<BTreeMap<String, u64>>,
}

impl Metrics {
    /// Counts a service `error` event by code.
    pub fn count_error(&self, code: &str) {
        if let Ok(mut m) = self.errors.lock() {
            *m.entry(code.to_owned()).or_default() += 1;
        }
    }

    /// How many errors with `code` were seen.
    pub fn errors(&self, code: &str) -> u64 {
        self.errors
            .lock()
            .map(|m| m.get(code).copied().unwrap_or(0))
            .unwrap_or(0)
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (h, name, help) in [
            (
                &self.uplink,
                "tenex_uplink_latency_seconds",
                "Caller frame out of the jitter buffer to its append sent on the Realtime WebSocket.",
            ),
            (
                &self.downlink,
                "tenex_downlink_latency_seconds",
                "Realtime audio delta received to its frames queued for playout, pacing excluded.",
            ),
            (
                &self.greeting,
                "tenex_greeting_latency_seconds",
                "Call answered to the first agent audio.",
            ),
            (
                &self.end_of_turn,
                "tenex_end_of_turn_latency_seconds",
                "Caller speech_stopped to the first audio of the response.",
            ),
            (
                &self.barge_in_stop,
                "tenex_barge_in_stop_seconds",
                "Barge-in decided to agent playout stopped.",
            ),
        ] {
            h.render(&mut out, name, help);
        }
        for (c, name, help) in [
            (
                &self.reconnects,
                "tenex_realtime_reconnects_total",
                "Realtime WebSocket reconnections.",
            ),
            (
                &self.bad_events,
                "tenex_realtime_bad_events_total",
                "Realtime server events that failed to parse.",
            ),
            (
                &self.uplink_dropped,
                "tenex_uplink_frames_dropped_total",
                "Caller frames dropped on ring overflow.",
            ),
            (
                &self.reader_restarts,
                "tenex_call_reader_restarts_total",
                "Transcript publishers and CRM writers restarted after a crash.",
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            let _ = writeln!(out, "{name} {}", c.load(Ordering::Relaxed));
        }
        let _ = writeln!(
            out,
            "# HELP tenex_realtime_errors_total Realtime error events by code.\n# TYPE tenex_realtime_errors_total counter"
        );
        if let Ok(m) = self.errors.lock() {
            for (code, n) in m.iter() {
                let code = code.replace(['"', '\\', '\n'], "_");
                let _ = writeln!(out, "tenex_realtime_errors_total{{code=\"{code}\"}} {n}");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_and_quantiles() {
        let h = Histogram::default();
        for _ in 0..99 {
            h.observe(Duration::from_micros(300));
        }
        h.observe(Duration::from_millis(30));
        assert_eq!(h.count(), 100);
        assert_eq!(
            h.quantile_bound(0.99),
            Some(Duration::from_secs_f64(0.0005))
        );
        assert_eq!(h.quantile_bound(1.0), Some(Duration::from_secs_f64(0.05)));
        assert_eq!(h.max(), Duration::from_millis(30));
    }

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::default();
        m.uplink.observe(Duration::from_micros(80));
        m.count_error("session_expired");
        let text = m.render();
        assert!(text.contains("# TYPE tenex_uplink_latency_seconds histogram"));
        assert!(text.contains("tenex_uplink_latency_seconds_bucket{le=\"0.0001\"} 1"));
        assert!(text.contains("tenex_uplink_latency_seconds_bucket{le=\"+Inf\"} 1"));
        assert!(text.contains("tenex_uplink_latency_seconds_count 1"));
        assert!(text.contains("tenex_realtime_errors_total{code=\"session_expired\"} 1"));
    }
}
