//! A server's guards against peers it does not know: the defaults, and the limits an
//! operator sets as plain data.

use std::time::Duration;

#[cfg(doc)]
use crate::ServerBuilder;

/// A server's default idle timeout: silent connections go after two minutes.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(120);
/// A server's default write timeout: a peer that takes nothing for 30 s goes.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// A server's default frame timeout (or its idle timeout, when that is shorter).
pub const DEFAULT_FRAME_TIMEOUT: Duration = Duration::from_secs(30);
/// A server's default limit of connections from one IP address.
pub const DEFAULT_MAX_PER_IP: usize = 1024;
/// A server's default memory budget for large partial frames and deep queues.
pub const DEFAULT_MEMORY_BUDGET: usize = 512 * 1024 * 1024;
/// File descriptors kept back from the connection limit (listeners, logs, files the
/// application opens, outbound clients).
pub const FD_RESERVE: usize = 64;

/// The default connection limit: the process's open-files limit, less [`FD_RESERVE`]
/// (each connection holds one descriptor), or 10,000 where the limit cannot be read.
pub fn default_max_connections() -> usize {
    match rlimit::getrlimit(rlimit::Resource::NOFILE) {
        Ok((soft, _)) if soft != rlimit::INFINITY => usize::try_from(soft)
            .unwrap_or(usize::MAX)
            .saturating_sub(FD_RESERVE)
            .max(1),
        _ => 10_000,
    }
}

/// The hostile-peer limits an operator sets (the CLI's `--idle-timeout`, `--max-conns`,
/// `--max-per-ip`, `--max-queued-bytes`, `--memory-budget`), as plain data for
/// [`ServerBuilder::limits`]. `None` keeps the server's default.
///
/// ```no_run
/// use std::time::Duration;
/// use bytes::Bytes;
/// use packwire_codecs::LengthFieldCodec;
/// use packwire_net::{Limits, Server};
///
/// # async fn run() -> std::io::Result<()> {
/// // from an operator's configuration: only what was set changes
/// let limits = Limits {
///     idle_timeout: Some(Duration::from_secs(300)),
///     max_per_ip: Some(16),
///     ..Limits::default()
/// };
/// let server = Server::builder_sync(LengthFieldCodec::new, |_: &_, frame: Bytes| Some(frame))
///     .limits(&limits)
///     .bind("0.0.0.0:7000")
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// [`ServerBuilder::idle_timeout`]; `Duration::ZERO` turns it off.
    pub idle_timeout: Option<Duration>,
    /// [`ServerBuilder::max_connections`].
    pub max_connections: Option<usize>,
    /// [`ServerBuilder::max_connections_per_ip`].
    pub max_per_ip: Option<usize>,
    /// [`ServerBuilder::max_queued_bytes`].
    pub max_queued_bytes: Option<usize>,
    /// [`ServerBuilder::memory_budget`].
    pub memory_budget: Option<usize>,
}
