//! Two engines on loopback: one places calls through the other.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use tenex_actors::media::PortRange;
use tenex_actors::sip::{
    CallOutcome, DefaultRouter, DialRequest, DialResult, HungUpBy, OutboundTrunk, SipConfig,
    SipEngine, SipTransport,
};
use tokio::time::{sleep, timeout};

static NEXT_RANGE: AtomicU16 = AtomicU16::new(0);

fn config() -> SipConfig {
    let probe = std::net::UdpSocket::bind("127.0.0.1:0").expect("probe");
    let base = probe.local_addr().expect("addr").port();
    let slot = NEXT_RANGE.fetch_add(1, Ordering::Relaxed);
    let first = 20_000 + (base % 200) * 100 + slot * 40;
    SipConfig {
        listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
        rtp_ports: PortRange {
            first,
            last: first + 38,
        },
        ..SipConfig::default()
    }
}

async fn engine() -> SipEngine {
    SipEngine::start(config(), Arc::new(DefaultRouter { echo: true }))
        .await
        .expect("engine")
}

fn trunk(to: &SipEngine, transport: SipTransport) -> OutboundTrunk {
    OutboundTrunk {
        host: "127.0.0.1".into(),
        port: to.local_addr().port(),
        transport,
        credentials: None,
        caller_id: "+15550001111".into(),
    }
}

async fn until(mut check: impl FnMut() -> bool) {
    timeout(Duration::from_secs(5), async {
        while !check() {
            sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("condition reached in time");
}

#[tokio::test]
async fn an_engine_calls_another_engines_echo_route_and_hangs_up() {
    for transport in [SipTransport::Udp, SipTransport::Tcp] {
        let callee = engine().await;
        let caller = engine().await;
        let req = DialRequest {
            trunk: trunk(&callee, transport),
            to: "echo".into(),
            from: None,
            ring_timeout: None,
            app: None,
            id: None,
            via: None,
        };
        let result = caller.dial(req).await.expect("dial");
        let DialResult::Answered { call } = result else {
            panic!("not answered: {result:?}")
        };
        assert_eq!(callee.stats().active_calls, 1);
        let theirs_id = callee.active_calls()[0];
        until(|| {
            caller
                .live_rtp(call)
                .is_some_and(|(s, r)| s >= 20 && r >= 20)
                && callee
                    .live_rtp(theirs_id)
                    .is_some_and(|(s, r)| s >= 20 && r >= 20)
        })
        .await;
        assert!(caller.hangup(call));
        until(|| callee.stats().active_calls == 0 && caller.stats().active_calls == 0).await;

        let theirs = callee.calls().pop().expect("callee record");
        let ours = caller.calls().pop().expect("caller record");
        for r in [&theirs, &ours] {
            assert_eq!(
                r.outcome,
                Some(CallOutcome::Completed),
                "{transport:?} {r:?}"
            );
            assert_eq!(r.transport, transport);
            assert!(r.answered_at.is_some() && r.ended_at.is_some());
            assert!(r.rtp_sent >= 20, "{transport:?}: sent {}", r.rtp_sent);
            assert!(
                r.rtp_received >= 20,
                "{transport:?}: received {}",
                r.rtp_received
            );
        }
        assert_eq!(theirs.hung_up_by, Some(HungUpBy::Them));
        assert_eq!(ours.hung_up_by, Some(HungUpBy::Us));
        assert_eq!(ours.sip_call_id, theirs.sip_call_id);
        for e in [&callee, &caller] {
            assert_eq!(
                e.stats().ports_free,
                e.stats().ports_total,
                "no leaked ports"
            );
        }
        caller.shutdown().await;
        callee.shutdown().await;
    }
}

#[tokio::test]
async fn an_unknown_number_is_404_rejected() {
    let callee = engine().await;
    let caller = engine().await;
    let req = DialRequest {
        trunk: trunk(&callee, SipTransport::Udp),
        to: "+15559999999".into(),
        from: None,
        ring_timeout: None,
        app: None,
        id: None,
        via: None,
    };
    let result = caller.dial(req).await.expect("dial");
    assert!(
        matches!(
            result,
            DialResult::Failed {
                outcome: CallOutcome::Rejected,
                status: Some(404),
                ..
            }
        ),
        "{result:?}"
    );
    assert_eq!(callee.counters().not_found.load(Ordering::Relaxed), 1);
    assert_eq!(caller.stats().ports_free, caller.stats().ports_total);
}
