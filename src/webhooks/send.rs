//! One webhook attempt: the URL checked (http or https, a host, no user info),
//! its host resolved and every address checked against loopback, private,
//! link-local and other non-public ranges (unless the operator allows them),
//! then one `POST` over HTTP/1.1 to an address that passed the check (so a DNS
//! answer cannot change between the check and the connection).

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Why a webhook URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UrlError {
    /// Not an absolute `http(s)://host/…` URL.
    #[error("must be an absolute http:// or https:// URL with a host")]
    Malformed,
    /// The host does not resolve.
    #[error("the host does not resolve: {0}")]
    Unresolvable(String),
    /// The host is (or resolves to) a loopback, private, link-local or other
    /// non-public address.
    #[error(
        "{0} is a loopback, private or link-local address (set TENEX_WEBHOOK_ALLOW_PRIVATE=1 \
         to allow it)"
    )]
    Private(IpAddr),
}

/// A parsed webhook URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    tls: bool,
    host: String,
    port: u16,
    path: String,
    authority: String,
}

impl Target {
    /// Parses `url`.
    pub fn parse(url: &str) -> Result<Target, UrlError> {
        let uri: hyper::Uri = url.parse().map_err(|_| UrlError::Malformed)?;
        let tls = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(UrlError::Malformed),
        };
        let authority = uri.authority().ok_or(UrlError::Malformed)?;
        if authority.as_str().contains('@') || url.len() > 2048 {
            return Err(UrlError::Malformed);
        }
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        if host.is_empty() {
            return Err(UrlError::Malformed);
        }
        Ok(Target {
            tls,
            port: authority.port_u16().unwrap_or(if tls { 443 } else { 80 }),
            path: uri
                .path_and_query()
                .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned()),
            authority: authority.as_str().to_owned(),
            host,
        })
    }

    /// The host's addresses, each checked unless `allow_private`.
    pub async fn resolve(&self, allow_private: bool) -> Result<Vec<SocketAddr>, UrlError> {
        let addrs: Vec<SocketAddr> = match self.host.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, self.port)],
            Err(_) => tokio::net::lookup_host((self.host.as_str(), self.port))
                .await
                .map_err(|e| UrlError::Unresolvable(e.to_string()))?
                .collect(),
        };
        if addrs.is_empty() {
            return Err(UrlError::Unresolvable("no addresses".into()));
        }
        if !allow_private && let Some(bad) = addrs.iter().find(|a| is_private(a.ip())) {
            return Err(UrlError::Private(bad.ip()));
        }
        Ok(addrs)
    }

    /// Sends `body` (`method`, JSON) with `headers` to the first address that connects;
    /// the response's status, or why there was none. The whole attempt
    /// (connect, TLS, request, response head) is bounded by `timeout`.
    pub async fn send(
        &self,
        method: &str,
        addrs: &[SocketAddr],
        headers: &[(String, String)],
        body: String,
        timeout: Duration,
    ) -> Result<u16, String> {
        tokio::time::timeout(timeout, self.send_inner(method, addrs, headers, body))
            .await
            .unwrap_or_else(|_| Err(format!("timed out after {} ms", timeout.as_millis())))
    }

    async fn send_inner(
        &self,
        method: &str,
        addrs: &[SocketAddr],
        headers: &[(String, String)],
        body: String,
    ) -> Result<u16, String> {
        let mut last = String::from("no address");
        for addr in addrs {
            match TcpStream::connect(addr).await {
                Ok(tcp) => {
                    let _ = tcp.set_nodelay(true);
                    return if self.tls {
                        let name = rustls::pki_types::ServerName::try_from(self.host.clone())
                            .map_err(|e| format!("TLS name: {e}"))?;
                        let tls = tokio_rustls::TlsConnector::from(tls_config())
                            .connect(name, tcp)
                            .await
                            .map_err(|e| format!("TLS: {e}"))?;
                        self.request(TokioIo::new(tls), method, headers, body).await
                    } else {
                        self.request(TokioIo::new(tcp), method, headers, body).await
                    };
                }
                Err(e) => last = format!("connect {addr}: {e}"),
            }
        }
        Err(last)
    }

    async fn request<IO>(
        &self,
        io: IO,
        method: &str,
        headers: &[(String, String)],
        body: String,
    ) -> Result<u16, String>
    where
        IO: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(|e| format!("HTTP: {e}"))?;
        let driver = tokio::spawn(conn);
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(self.path.as_str())
            .header("host", self.authority.as_str())
            .header("content-type", "application/json")
            .header(
                "user-agent",
                concat!("tenex-voice/", env!("CARGO_PKG_VERSION")),
            );
        for (k, v) in headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let req = req
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| format!("request: {e}"))?;
        let res = sender
            .send_request(req)
            .await
            .map_err(|e| format!("HTTP: {e}"));
        let out = match res {
            Ok(res) => {
                let status = res.status().as_u16();
                // Read (and drop) a short body so the exchange completes.
                let _ = tokio::time::timeout(
                    Duration::from_secs(1),
                    http_body_util::Limited::new(res.into_body(), 64 << 10).collect(),
                )
                .await;
                Ok(status)
            }
            Err(e) => Err(e),
        };
        driver.abort();
        out
    }
}

fn tls_config() -> Arc<rustls::ClientConfig> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let roots =
                rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map(|b| b.with_root_certificates(roots).with_no_client_auth());
            match config {
                Ok(c) => Arc::new(c),
                // ring supports the default versions; this cannot happen.
                Err(e) => panic!("TLS configuration: {e}"),
            }
        })
        .clone()
}

/// Whether `ip` is not a public unicast address: loopback, private
/// (RFC 1918, unique local), link-local, shared (100.64/10), unspecified,
/// broadcast, multicast, documentation, or an IPv4-mapped one of those.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
                || (o[0] == 192 && o[1] == 0 && o[2] == 0)
                || o[0] >= 240
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_private(IpAddr::V4(v4));
            }
            let s = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] == 0x2001 && s[1] == 0x0db8)
        }
    }
}

/// Checks a webhook URL as given by a client: its form, and (unless
/// `allow_private`) that its host resolves only to public addresses.
pub async fn check_url(url: &str, allow_private: bool) -> Result<Target, UrlError> {
    let target = Target::parse(url)?;
    target.resolve(allow_private).await?;
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_http_or_https_with_a_host() {
        let t = Target::parse("https://hooks.example.com/tenex?x=1").expect("ok");
        assert!(t.tls);
        assert_eq!(
            (t.host.as_str(), t.port, t.path.as_str()),
            ("hooks.example.com", 443, "/tenex?x=1")
        );
        let t = Target::parse("http://127.0.0.1:8088").expect("ok");
        assert_eq!((t.port, t.path.as_str()), (8088, "/"));
        let t = Target::parse("http://[::1]:9/x").expect("ok");
        assert_eq!(t.host, "::1");
        for bad in [
            "ftp://x.example/",
            "hooks.example.com/x",
            "http://",
            "https://u:p@x.example/",
            "",
            "javascript:alert(1)",
        ] {
            assert_eq!(Target::parse(bad), Err(UrlError::Malformed), "{bad}");
        }
    }

    #[test]
    fn non_public_addresses_are_private() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.2.1",
            "::1",
            "::",
            "fe80::1",
            "fc00::1",
            "fd12::1",
            "::ffff:10.0.0.1",
            "::ffff:127.0.0.1",
            "2001:db8::1",
        ] {
            assert!(is_private(ip.parse().expect("ip")), "{ip}");
        }
        for ip in [
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(!is_private(ip.parse().expect("ip")), "{ip}");
        }
    }

    #[tokio::test]
    async fn private_hosts_are_refused_unless_allowed() {
        assert_eq!(
            check_url("http://127.0.0.1:9/hook", false).await,
            Err(UrlError::Private("127.0.0.1".parse().expect("ip")))
        );
        assert!(matches!(
            check_url("http://localhost:9/hook", false).await,
            Err(UrlError::Private(_))
        ));
        assert!(check_url("http://127.0.0.1:9/hook", true).await.is_ok());
    }
}
