//! tenex-actors
