//! Trunk security: who may send us INVITEs, and how fast any source may talk.
//!
//! - Allowlist: inbound INVITEs only from the configured trunks' source addresses
//!   and CIDRs; with no trunk configured, from loopback only. Others get 403,
//!   counted, and logged once per source per minute.
//! - Rate limit: a token bucket per source address (every request counts). Over
//!   the limit, requests are dropped without a reply (replying would let a flood
//!   use us as an amplifier) and counted.
//!
//! The per-source tables are bounded: past [`MAX_SOURCES`] the least recently seen
//! source is forgotten, so a spoofed flood cannot grow memory.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use ipnet::IpNet;

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
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
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
        let burst = self.burst;
        let b = self.buckets.entry(ip).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + elapsed * self.rate).min(self.burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            self.dropped += 1;
            false
        }
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
