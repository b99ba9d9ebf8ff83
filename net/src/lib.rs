//! tokio server and client runtimes that take any packwire codec.
//!
//! Not written yet: this crate holds its place in the workspace. The runtime (registry,
//! heartbeat, reconnect, back-pressure, statistics, graceful shutdown) is tracked as its
//! own piece of work; until it lands, use the codecs with `tokio_util::codec::Framed`.
