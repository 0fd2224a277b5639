//! Trunk security: who may send us INVITEs, and how fast any source may talk.
//!
//! - Allowlist: inbound INVITEs only from the configured trunks' source addresses
//!   and CIDRs; with no trunk configured, from loopback only. Others get 403,
//!   counted, and logged once per source per minute.
//! - Rate limit: a token bucket per source address (every request counts). Over
//!   the limit, requests are dropped without a reply (replying would let a flood
//!   use us as an amplifier) and counted.
//!
//! - Trunk limits: calls at once and new calls per second, per trunk.
//!
//! The per-source tables are bounded: past [`MAX_SOURCES`] the least recently seen
//! source is forgotten, so a spoofed flood cannot grow memory.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ipnet::IpNet;

use super::config::Trunk;

/// Most sources remembered by the rate limiter and the log throttle.
pub(crate) const MAX_SOURCES: usize = 4096;
/// A rejected source is logged at most once per this period.
pub(crate) const LOG_PERIOD: Duration = Duration::from_secs(60);

/// Addresses allowed to send INVITEs.
#[derive(Debug, Clone, Default)]
pub struct Allowlist {
    nets: Vec<IpNet>,
}

impl Allowlist {
    /// From the trunks' inbound sources; empty means "loopback only".
    pub fn new(nets: Vec<IpNet>) -> Allowlist {
        Allowlist { nets }
    }

    /// Whether `ip` may send INVITEs.
    pub fn allows(&self, ip: IpAddr) -> bool {
        if self.nets.is_empty() {
            return ip.is_loopback();
        }
        let ip = unmapped(ip);
        self.nets.iter().any(|n| n.contains(&ip))
    }
}

/// Parses `"192.0.2.10"` or `"192.0.2.0/24"` (a bare address is a /32 or /128).
pub fn parse_source(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    if let Ok(net) = s.parse::<IpNet>() {
        return Ok(net);
    }
    s.parse::<IpAddr>()
        .map(IpNet::from)
        .map_err(|_| format!("not an address or CIDR: {s:?}"))
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn full(burst: f64, now: Instant) -> Bucket {
        Bucket {
            tokens: burst,
            at: now,
        }
    }

    /// Refills at `rate` per second up to `burst`, then takes a token if there is one.
    fn take(&mut self, now: Instant, rate: f64, burst: f64) -> bool {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(burst);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The trunks in force, replaced whole when they change: the allowlist built
/// from them, and each trunk's call-rate bucket.
#[derive(Debug)]
pub(crate) struct TrunkSet {
    trunks: Vec<Trunk>,
    allowlist: Allowlist,
    rates: Mutex<HashMap<String, Bucket>>,
}

impl TrunkSet {
    pub(crate) fn new(trunks: Vec<Trunk>) -> TrunkSet {
        let allowlist = Allowlist::new(
            trunks
                .iter()
                .flat_map(|t| t.inbound_sources.iter().copied())
                .collect(),
        );
        TrunkSet {
            trunks,
            allowlist,
            rates: Mutex::default(),
        }
    }

    pub(crate) fn allowlist(&self) -> &Allowlist {
        &self.allowlist
    }

    /// The trunk whose inbound sources include `ip` (the first, if several do).
    pub(crate) fn serving(&self, ip: IpAddr) -> Option<&Trunk> {
        let ip = unmapped(ip);
        self.trunks
            .iter()
            .find(|t| t.inbound_sources.iter().any(|n| n.contains(&ip)))
    }

    /// The trunk named `name`.
    pub(crate) fn named(&self, name: &str) -> Option<&Trunk> {
        self.trunks.iter().find(|t| t.name == name)
    }

    /// Whether `trunk`'s calls-per-second limit lets one more call start now.
    pub(crate) fn take_call(&self, trunk: &Trunk, now: Instant) -> bool {
        let Some(cps) = trunk.calls_per_second else {
            return true;
        };
        let rate = f64::from(cps.max(1));
        let Ok(mut rates) = self.rates.lock() else {
            return true;
        };
        rates
            .entry(trunk.name.clone())
            .or_insert_with(|| Bucket::full(rate, now))
            .take(now, rate, rate)
    }
}

fn unmapped(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Per-source token buckets.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    rate: f64,
    burst: f64,
    buckets: HashMap<IpAddr, Bucket>,
    /// Requests dropped for exceeding the rate.
    pub(crate) dropped: u64,
}

impl RateLimiter {
    /// `per_second` sustained, `burst` at once.
    pub(crate) fn new(per_second: u32, burst: u32) -> RateLimiter {
        RateLimiter {
            rate: f64::from(per_second.max(1)),
            burst: f64::from(burst.max(1)),
            buckets: HashMap::new(),
            dropped: 0,
        }
    }

    /// Whether a request from `ip` at `now` is within the limit.
    pub(crate) fn allow(&mut self, ip: IpAddr, now: Instant) -> bool {
        if !self.buckets.contains_key(&ip) && self.buckets.len() >= MAX_SOURCES {
            evict_oldest(&mut self.buckets, |b| b.at);
        }
        let (rate, burst) = (self.rate, self.burst);
        let allowed = self
            .buckets
            .entry(ip)
            .or_insert(Bucket::full(burst, now))
            .take(now, rate, burst);
        if !allowed {
            self.dropped += 1;
        }
        allowed
    }
}

fn evict_oldest<V>(map: &mut HashMap<IpAddr, V>, at: impl Fn(&V) -> Instant) {
    if let Some(oldest) = map.iter().min_by_key(|(_, v)| at(v)).map(|(k, _)| *k) {
        map.remove(&oldest);
    }
}

/// Decides when a rejected source deserves a log line.
#[derive(Debug, Default)]
pub(crate) struct LogThrottle {
    last: HashMap<IpAddr, Instant>,
}

impl LogThrottle {
    /// True at most once per [`LOG_PERIOD`] per source.
    pub(crate) fn should_log(&mut self, ip: IpAddr, now: Instant) -> bool {
        match self.last.get(&ip) {
            Some(&t) if now.saturating_duration_since(t) < LOG_PERIOD => false,
            _ => {
                if !self.last.contains_key(&ip) && self.last.len() >= MAX_SOURCES {
                    evict_oldest(&mut self.last, |t| *t);
                }
                self.last.insert(ip, now);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn no_trunks_means_loopback_only() {
        let a = Allowlist::default();
        assert!(a.allows(ip("127.0.0.1")));
        assert!(a.allows(ip("127.0.0.2")));
        assert!(a.allows(ip("::1")));
        assert!(!a.allows(ip("192.0.2.1")));
    }

    #[test]
    fn trunk_sources_and_cidrs() {
        let a = Allowlist::new(vec![
            parse_source("54.172.60.0/30").expect("cidr"),
            parse_source("192.0.2.10").expect("addr"),
        ]);
        assert!(a.allows(ip("54.172.60.3")));
        assert!(!a.allows(ip("54.172.60.4")));
        assert!(a.allows(ip("192.0.2.10")));
        assert!(a.allows(ip("::ffff:192.0.2.10")), "v4-mapped v6 matches");
        assert!(
            !a.allows(ip("127.0.0.1")),
            "with trunks configured, loopback is not implied"
        );
        assert!(parse_source("nope").is_err());
    }

    #[test]
    fn trunk_sets_find_the_callers_trunk_and_pace_its_calls() {
        let trunk = |name: &str, src: &str, cps: Option<u32>| Trunk {
            name: name.into(),
            inbound_sources: vec![parse_source(src).expect("source")],
            calls_per_second: cps,
            ..Trunk::default()
        };
        let set = TrunkSet::new(vec![
            trunk("a", "192.0.2.0/24", Some(2)),
            trunk("b", "198.51.100.7", None),
        ]);
        assert!(set.allowlist().allows(ip("198.51.100.7")));
        assert!(!set.allowlist().allows(ip("127.0.0.1")));
        assert_eq!(
            set.serving(ip("192.0.2.9")).map(|t| t.name.as_str()),
            Some("a")
        );
        assert_eq!(
            set.serving(ip("::ffff:198.51.100.7"))
                .map(|t| t.name.as_str()),
            Some("b")
        );
        assert!(set.serving(ip("203.0.113.1")).is_none());
        let t0 = Instant::now();
        let a = set.named("a").expect("a");
        let allowed = (0..5).filter(|_| set.take_call(a, t0)).count();
        assert_eq!(allowed, 2, "2 calls per second");
        assert!(
            set.take_call(a, t0 + Duration::from_millis(500)),
            "refilled by half a second"
        );
        let b = set.named("b").expect("b");
        assert!((0..100).all(|_| set.take_call(b, t0)), "no limit set");
    }

    #[test]
    fn token_bucket_limits_bursts_and_refills() {
        let t0 = Instant::now();
        let mut r = RateLimiter::new(10, 5);
        let src = ip("192.0.2.1");
        let allowed = (0..8).filter(|_| r.allow(src, t0)).count();
        assert_eq!(allowed, 5);
        assert_eq!(r.dropped, 3);
        assert!(
            r.allow(src, t0 + Duration::from_millis(100)),
            "one token back after 100 ms"
        );
        assert!(!r.allow(src, t0 + Duration::from_millis(100)));
        assert!(r.allow(ip("192.0.2.2"), t0), "sources are independent");
    }

    #[test]
    fn tables_stay_bounded() {
        let t0 = Instant::now();
        let mut r = RateLimiter::new(10, 5);
        let mut l = LogThrottle::default();
        for i in 0..(MAX_SOURCES as u32 + 100) {
            let src = IpAddr::V4(std::net::Ipv4Addr::from(0x0A00_0000 + i));
            r.allow(src, t0 + Duration::from_micros(u64::from(i)));
            l.should_log(src, t0 + Duration::from_micros(u64::from(i)));
        }
        assert_eq!(r.buckets.len(), MAX_SOURCES);
        assert_eq!(l.last.len(), MAX_SOURCES);
    }

    #[test]
    fn rejected_sources_log_once_per_minute() {
        let t0 = Instant::now();
        let mut l = LogThrottle::default();
        let src = ip("203.0.113.9");
        assert!(l.should_log(src, t0));
        assert!(!l.should_log(src, t0 + Duration::from_secs(30)));
        assert!(l.should_log(src, t0 + Duration::from_secs(61)));
    }
}
