//! tenex-voice: the service. Today it carries the hot-path self-check; the
//! engine (SIP, the per-call actor tree, the REST API) builds on it.

pub mod selfcheck;
