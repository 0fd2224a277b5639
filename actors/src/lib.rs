//! tenex-actors: the per-call supervised actor tree and the network drivers it
//! owns (SIP leg, RTP media leg, Realtime bridge, transcript publisher, CRM
//! writer, call registry). It drives the sans-IO [`tenex_media`] core with real
//! sockets and clocks. The crate is empty until the SIP leg lands; the
//! dependency direction is fixed now: `tenex-voice` → `tenex-actors` → `tenex-media`.

pub use tenex_media;
