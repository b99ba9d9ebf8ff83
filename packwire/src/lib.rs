//! # packwire
//!
//! One crate to depend on for the whole toolkit: it re-exports
//!
//! | module | crate | what |
//! |---|---|---|
//! | [`core`] | `packwire-core` | what every codec shares: errors ([`FrameError`]), limits, the frame/message split, and (feature `testkit`) the half-packet / sticky-packet test kit |
//! | `codecs` (feature `codecs`, default) | `packwire-codecs` | zero-copy, sans-IO framings and protocol codecs, each a `tokio_util::codec::{Decoder, Encoder}` |
//! | `net` (feature `net`, default) | `packwire-net` | the tokio server and client runtime: registry, send-to-x, heartbeat, reconnect, calls, limits, statistics, graceful shutdown |
//! | `sms` (feature `sms`, default) | `packwire-sms` | SMS gateway sessions on the runtime: the CMPP SP client and ISMG simulator |
//! | `cluster` (feature `cluster`) | `packwire-cluster` | registry sends and presence across nodes through Redis or NATS; the chat server |
//!
//! and [`bytes`] and [`tokio_util`], whose types the APIs take, so an application needs no
//! second version of them.
//!
//! An echo server for 4-byte length-prefixed frames, with nothing but `packwire` and tokio:
//!
//! ```
//! # #[cfg(feature = "net")]
//! # {
//! use std::time::Duration;
//!
//! use packwire::bytes::Bytes;
//! use packwire::codecs::LengthFieldCodec;
//! use packwire::net::{Conn, Server};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! let server = Server::builder(LengthFieldCodec::new, |conn: Conn<Bytes>, frame: Bytes| async move {
//!     let _ = conn.send(frame).await; // back to the sender
//! })
//! .bind("127.0.0.1:0")
//! .await?;
//!
//! let mut peer = tokio::net::TcpStream::connect(server.local_addr()).await?;
//! peer.write_all(b"\0\0\0\x02hi").await?;
//! let mut echo = [0u8; 6];
//! peer.read_exact(&mut echo).await?;
//! assert_eq!(&echo, b"\0\0\0\x02hi");
//!
//! let stats = server.shutdown(Duration::from_secs(1)).await;
//! assert_eq!(stats.messages_in, 1);
//! # Ok(())
//! # }
//! # }
//! # #[cfg(not(feature = "net"))]
//! # fn main() {}
//! ```

pub use bytes;
pub use packwire_core as core;
pub use packwire_core::{FrameError, FrameErrorKind};
pub use tokio_util;

#[cfg(feature = "codecs")]
pub use packwire_codecs as codecs;

#[cfg(feature = "net")]
pub use packwire_net as net;

#[cfg(feature = "sms")]
pub use packwire_sms as sms;

#[cfg(feature = "cluster")]
pub use packwire_cluster as cluster;

// nom, which `core::NomMessage` parsers are written with (feature `nom`)
#[cfg(feature = "nom")]
#[doc(no_inline)]
pub use nom;

// The README's Rust examples, compiled and run as doctests of this crate: what a user who
// depends on `packwire` alone can write.
#[cfg(all(doctest, feature = "net", feature = "nom", feature = "testkit"))]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
