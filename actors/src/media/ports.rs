//! The RTP port pool: even ports from a configured range, one per call, each
//! with its odd neighbour for RTCP when rtcp-mux is not negotiated. A lease
//! holds both sockets bound; dropping it returns the port to the pool.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex};

use thiserror::Error;

/// An inclusive port range, as in `TENEX_RTP_PORTS=20000-20999`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    /// First port (rounded up to even).
    pub first: u16,
    /// Last port.
    pub last: u16,
}

impl std::str::FromStr for PortRange {
    type Err = String;

    fn from_str(s: &str) -> Result<PortRange, String> {
        let (a, b) = s
            .split_once('-')
            .ok_or_else(|| format!("expected FIRST-LAST, got {s:?}"))?;
        let first: u16 = a.trim().parse().map_err(|_| format!("bad port {a:?}"))?;
        let last: u16 = b.trim().parse().map_err(|_| format!("bad port {b:?}"))?;
        if first == 0 || last <= first {
            return Err(format!("empty or invalid range {s:?}"));
        }
        Ok(PortRange { first, last })
    }
}

/// Why no port could be leased.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum PortError {
    /// Every port is in use (the SIP leg answers 503).
    #[error("RTP port pool exhausted")]
    Exhausted,
}

#[derive(Debug)]
struct Inner {
    free: VecDeque<u16>,
    total: usize,
}

/// A pool of even RTP ports.
#[derive(Debug, Clone)]
pub struct PortPool {
    ip: IpAddr,
    inner: Arc<Mutex<Inner>>,
}

impl PortPool {
    /// A pool over the even ports of `range` (each also reserving its odd neighbour)
    /// bound on `ip`.
    pub fn new(ip: IpAddr, range: PortRange) -> PortPool {
        let first = range.first + range.first % 2;
        let free: VecDeque<u16> = (first..range.last).step_by(2).collect();
        let total = free.len();
        PortPool {
            ip,
            inner: Arc::new(Mutex::new(Inner { free, total })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A poisoned lock only means another thread panicked mid-update of a queue of
        // integers; the data is still consistent.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Ports available now.
    pub fn free(&self) -> usize {
        self.lock().free.len()
    }

    /// Ports in the pool.
    pub fn total(&self) -> usize {
        self.lock().total
    }

    /// Leases a port pair, binding both sockets. Ports some other process holds are
    /// skipped (and stay in the pool for later).
    pub fn acquire(&self) -> Result<PortLease, PortError> {
        let mut tried = 0;
        loop {
            let port = {
                let mut inner = self.lock();
                if tried >= inner.free.len() {
                    return Err(PortError::Exhausted);
                }
                match inner.free.pop_front() {
                    Some(p) => p,
                    None => return Err(PortError::Exhausted),
                }
            };
            tried += 1;
            match bind_pair(self.ip, port) {
                Some((rtp, rtcp)) => {
                    return Ok(PortLease {
                        port,
                        rtp: Some(rtp),
                        rtcp: Some(rtcp),
                        pool: self.clone(),
                    });
                }
                None => self.lock().free.push_back(port),
            }
        }
    }

    fn release(&self, port: u16) {
        self.lock().free.push_back(port);
    }
}

fn bind_pair(ip: IpAddr, port: u16) -> Option<(UdpSocket, UdpSocket)> {
    let rtp = UdpSocket::bind(SocketAddr::new(ip, port)).ok()?;
    let rtcp = UdpSocket::bind(SocketAddr::new(ip, port + 1)).ok()?;
    rtp.set_nonblocking(true).ok()?;
    rtcp.set_nonblocking(true).ok()?;
    Some((rtp, rtcp))
}

/// One leased port pair. Dropping it closes the sockets and returns the port.
#[derive(Debug)]
pub struct PortLease {
    port: u16,
    rtp: Option<UdpSocket>,
    rtcp: Option<UdpSocket>,
    pool: PortPool,
}

impl PortLease {
    /// The RTP port (even); RTCP is on `port + 1` unless multiplexed.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Takes the bound sockets (RTP, RTCP) out of the lease; the port still returns to
    /// the pool when the lease is dropped.
    pub fn take_sockets(&mut self) -> Option<(UdpSocket, UdpSocket)> {
        Some((self.rtp.take()?, self.rtcp.take()?))
    }
}

impl Drop for PortLease {
    fn drop(&mut self) {
        self.pool.release(self.port);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn free_range(n: u16) -> PortRange {
        // Find a stretch of free ports by binding an ephemeral one and going from there.
        let probe = UdpSocket::bind("127.0.0.1:0").expect("probe");
        let base = probe.local_addr().expect("addr").port();
        let first = if base > 60000 { 40000 } else { base + 2 };
        PortRange {
            first,
            last: first + 2 * n,
        }
    }

    #[test]
    fn leases_even_ports_and_returns_them() {
        let pool = PortPool::new(IpAddr::V4(Ipv4Addr::LOCALHOST), free_range(3));
        assert_eq!(pool.total(), 3);
        let a = pool.acquire().expect("a");
        let b = pool.acquire().expect("b");
        assert_eq!(a.port() % 2, 0);
        assert_eq!(b.port() % 2, 0);
        assert_ne!(a.port(), b.port());
        assert_eq!(pool.free(), 1);
        drop(a);
        assert_eq!(pool.free(), 2);
        drop(b);
        assert_eq!(pool.free(), 3);
    }

    #[test]
    fn exhaustion_is_an_error_and_recovers() {
        let pool = PortPool::new(IpAddr::V4(Ipv4Addr::LOCALHOST), free_range(2));
        let leases: Vec<_> = (0..2).map(|_| pool.acquire().expect("lease")).collect();
        assert!(matches!(pool.acquire(), Err(PortError::Exhausted)));
        drop(leases);
        assert!(pool.acquire().is_ok());
    }

    #[test]
    fn ports_held_elsewhere_are_skipped() {
        let range = free_range(2);
        let squatter =
            UdpSocket::bind(("127.0.0.1", range.first + range.first % 2)).expect("squat");
        let pool = PortPool::new(IpAddr::V4(Ipv4Addr::LOCALHOST), range);
        let lease = pool.acquire().expect("the other port");
        assert_ne!(lease.port(), squatter.local_addr().expect("addr").port());
        assert!(matches!(pool.acquire(), Err(PortError::Exhausted)));
        assert_eq!(pool.free(), 1, "the squatted port stays in the pool");
    }

    #[test]
    fn ranges_parse() {
        assert_eq!(
            "20000-20999".parse(),
            Ok(PortRange {
                first: 20000,
                last: 20999
            })
        );
        assert!("20000".parse::<PortRange>().is_err());
        assert!("300-200".parse::<PortRange>().is_err());
    }
}
