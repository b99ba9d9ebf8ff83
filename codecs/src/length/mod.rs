//! Length-field framing: Netty's `LengthFieldBasedFrameDecoder` + `LengthFieldPrepender`
//! and tokio-util's `LengthDelimitedCodec` in one symmetric codec, plus magic bytes with
//! resynchronisation, a trailing checksum and a skip mode for oversized frames.
//!
//! # The frame
//!
//! ```text
//!  frame start                                                     frame end
//!  |<------------------------ frame length (on the wire) ------------------->|
//!  +---------+------------+--------------+---------------------+-------------+
//!  |  magic  |   prefix   | length field |       payload       |  checksum   |
//!  | (opt.)  |  (opt.)    |  1-8 bytes   |                     |   (opt.)    |
//!  +---------+------------+--------------+---------------------+-------------+
//!  |<----- offset ------->|
//!  |<---------- header (offset + field width) -->|
//! ```
//!
//! `max` and `min` are compared to the **frame length on the wire**: magic, prefix, length
//! field, payload and checksum all count. (tokio-util compares its maximum to the raw field
//! value before adjustment; Netty compares the adjusted frame length, header included, as
//! packwire does.) A frame whose header claims more than `max` fails as soon as the header
//! is read. A header that passes reserves room for the rest of its frame up to
//! [`Builder::reserve_ahead`] (64 KiB by default), so frames up to that size land without
//! regrowing the buffer; beyond it the buffer grows only with the bytes that actually
//! arrive, so a claim never reserves more than that.
//!
//! # What the length field counts
//!
//! Named meanings spare you the adjustment arithmetic:
//!
//! - [`Builder::payload_length`] — the field counts the bytes after itself, checksum
//!   excluded (tokio-util's default; most private protocols):
//!
//!   ```text
//!   INPUT (14 bytes)              DECODED with strip_header()
//!   +--------+----------------+   +----------------+
//!   | 0x000C | "HELLO, WORLD" |   | "HELLO, WORLD" |
//!   +--------+----------------+   +----------------+
//!   ```
//! - [`Builder::frame_length`] — the field counts the whole frame (CMPP, SMPP, SGIP):
//!
//!   ```text
//!   INPUT (16 bytes)                          DECODED with strip(0)
//!   +------------+------------+-------+       +------------+------------+-------+
//!   | 0x00000010 | 0x00000008 | "abc" ... |   | 0x00000010 | 0x00000008 | "abc" ... |
//!   +------------+------------+-------+       +------------+------------+-------+
//!   ```
//! - [`Builder::length_adjustment`] — Netty's `lengthAdjustment`: the frame length is
//!   `field + adjustment + offset + field width`.
//!
//! # Decoded items and the encoder
//!
//! A decoded item is the frame without its first `strip` bytes and without its checksum
//! (verified first). The encoder takes the **payload** — the bytes after the length field
//! — and writes magic, prefix, length field (with the same meaning), payload and checksum,
//! so a codec built with [`Builder::strip_header`] round-trips its own items.
//!
//! # Examples
//!
//! ```
//! use bytes::{Bytes, BytesMut};
//! use packwire_codecs::LengthFieldCodec;
//! use tokio_util::codec::{Decoder, Encoder};
//!
//! let mut codec = LengthFieldCodec::builder()
//!     .width(2)
//!     .payload_length()
//!     .strip_header()
//!     .max_frame(1024)
//!     .build()?;
//!
//! let mut wire = BytesMut::new();
//! codec.encode(Bytes::from_static(b"hello"), &mut wire)?;
//! assert_eq!(&wire[..], b"\x00\x05hello");
//!
//! assert_eq!(codec.decode(&mut wire)?.unwrap(), "hello");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod builder;
mod codec;

pub use builder::{Builder, DEFAULT_RESERVE_AHEAD, Meaning, Oversize, Strip, Width};
pub use codec::LengthFieldCodec;
pub use packwire_core::Recovered;
