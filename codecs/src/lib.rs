//! Zero-copy, sans-IO framings for `tokio_util::codec`.
//!
//! | codec | frames | like |
//! |---|---|---|
//! | [`LengthFieldCodec`] | a length field of 1-8 bytes or a varint, anywhere in a header, with magic, resync and checksum options | Netty `LengthFieldBasedFrameDecoder` + `LengthFieldPrepender`, tokio-util `LengthDelimitedCodec` |
//! | [`LineCodec`] | lines ending in `\n` or `\r\n` | tokio-util `LinesCodec`, Netty `LineBasedFrameDecoder` |
//! | [`DelimiterCodec`] | any set of multi-byte delimiters, the earliest match wins | Netty `DelimiterBasedFrameDecoder` |
//! | [`FixedLengthCodec`] | frames of `n` bytes | Netty `FixedLengthFrameDecoder` |
//! | [`VarintCodec`] | a protobuf varint length prefix | prost's length delimiters, Netty `ProtobufVarint32FrameDecoder` |
//!
//! Every codec implements `Decoder` and `Encoder` and keeps the decode contract of
//! [`packwire_core`]: it gives the same frames however the stream is cut, never rescans what
//! it has examined, never reserves memory for a length the peer merely claims (beyond a
//! bounded reserve ahead), and fails
//! with a typed [`FrameError`] naming the rule broken.
//!
//! Stack a message codec on any of them with [`packwire_core::Protocol`].

#[cfg(feature = "cmpp")]
pub mod cmpp;
pub mod delimiter;
mod fixed;
#[cfg(feature = "http1")]
pub mod http1;
pub mod length;
#[cfg(feature = "smpp")]
pub mod smpp;
#[cfg(any(feature = "cmpp", feature = "smpp"))]
pub mod sms;
mod varint;
pub mod websocket;

#[cfg(feature = "cmpp")]
pub use cmpp::CmppCodec;
pub use delimiter::{DelimiterCodec, LineCodec};
pub use fixed::FixedLengthCodec;
pub use length::LengthFieldCodec;
pub use varint::VarintCodec;

// what the codecs' own API takes and returns, so a user of this crate alone can name it
pub use packwire_core::wire::Endian;
pub use packwire_core::{
    Checksum, ChecksumLayer, EncodeError, FrameError, FrameErrorKind, FrameLayer, MessageCodec,
    Protocol, Recovered,
};
#[cfg(feature = "nom")]
pub use packwire_core::{NomMessage, ZeroCopy};
