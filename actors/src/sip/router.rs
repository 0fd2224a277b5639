//! Which inbound calls go where.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use super::config::SipTransport;

/// What is known about an inbound call when it is routed.
#[derive(Debug, Clone)]
pub struct IncomingCall {
    /// The Request-URI user part (the dialled number or name).
    pub user: Option<String>,
    /// The From URI.
    pub from: String,
    /// The To URI.
    pub to: String,
    /// Where the INVITE came from.
    pub source: SocketAddr,
    /// Over which transport.
    pub transport: SipTransport,
}

/// Where a call goes.
#[derive(Debug, Clone)]
pub enum Route {
    /// Play the caller's audio back to them, answering after `answer_after`.
    Echo {
        /// Ringing time before the 200 OK.
        answer_after: Duration,
    },
    /// Bridge the call's audio to an application (the Realtime agent).
    Agent {
        /// Ringing time before the 200 OK.
        answer_after: Duration,
        /// Who takes the answered call.
        app: std::sync::Arc<dyn super::bridged::CallApp>,
    },
    /// No such number: 404.
    NotFound,
}

/// A route being decided (the host may look the number up in its database).
pub type RouteFuture<'a> = Pin<Box<dyn Future<Output = Route> + Send + 'a>>;

impl Route {
    /// This route, decided already.
    pub fn ready<'a>(self) -> RouteFuture<'a> {
        Box::pin(std::future::ready(self))
    }
}

/// Decides routes. Implemented by the engine's host (numbers and sessions → agents).
/// The INVITE waits for the answer; its retransmissions are absorbed by the
/// transaction meanwhile.
pub trait CallRouter: Send + Sync + 'static {
    /// The route for this call.
    fn route<'a>(&'a self, call: &'a IncomingCall) -> RouteFuture<'a>;
}

/// The built-in routes: `echo` (when enabled) answers at once; anything else is 404.
#[derive(Debug, Clone, Copy)]
pub struct DefaultRouter {
    /// Whether the echo route is on.
    pub echo: bool,
}

impl CallRouter for DefaultRouter {
    fn route<'a>(&'a self, call: &'a IncomingCall) -> RouteFuture<'a> {
        match call.user.as_deref() {
            Some("echo") if self.echo => Route::Echo {
                answer_after: Duration::ZERO,
            },
            _ => Route::NotFound,
        }
        .ready()
    }
}
