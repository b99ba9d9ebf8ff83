//! The frame / message split: a framing cuts frames, a [`MessageCodec`] turns each frame
//! into a typed message, and [`FrameLayer`]s in between transform whole frames.
//!
//! ```text
//!   bytes ──► framing ──► layer 1 ──► layer 2 ──► message codec ──► Message
//!             (length,     (verify     (decrypt,
//!              lines...)    checksum)   decompress)
//!   bytes ◄── framing ◄── layer 1 ◄── layer 2 ◄── message codec ◄── Message
//! ```
//!
//! A private protocol writes only the message half and stacks it on any framing that
//! decodes to `Bytes` with [`Protocol::new`]; see the crate docs for a whole example.

use bytes::{BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use crate::{Checksum, EncodeError, FrameError};

/// The message half of a protocol: one whole frame in, one typed message out, and back.
///
/// The frame handed to [`MessageCodec::load`] is exactly one frame as the framing cut it,
/// so a message codec never deals with half or sticky packets. `load` must fail, not
/// panic, on any bytes.
pub trait MessageCodec {
    /// The typed message.
    type Message;

    /// Parses one frame.
    ///
    /// # Errors
    /// A [`FrameError`] naming the rule the frame breaks; the stream is then failed.
    fn load(&mut self, frame: Bytes) -> Result<Self::Message, FrameError>;

    /// Writes the frame body for `msg` into `dst` (the framing adds its header after).
    ///
    /// # Errors
    /// An [`EncodeError`] if the message cannot be expressed on the wire.
    fn encode(&mut self, msg: Self::Message, dst: &mut BytesMut) -> Result<(), EncodeError>;
}

/// A transformation of whole frames in both directions, stacked between a framing and a
/// message codec: verify and strip a checksum, decrypt, decompress on the way in; the
/// inverse on the way out.
pub trait FrameLayer {
    /// Transforms a frame on its way in.
    ///
    /// # Errors
    /// A [`FrameError`] when the frame fails the layer's check.
    fn decode(&mut self, frame: Bytes) -> Result<Bytes, FrameError>;

    /// Transforms a frame on its way out.
    ///
    /// # Errors
    /// An [`EncodeError`] when the frame cannot be transformed.
    fn encode(&mut self, frame: Bytes) -> Result<Bytes, EncodeError>;
}

/// No layer: frames pass through unchanged.
impl FrameLayer for () {
    fn decode(&mut self, frame: Bytes) -> Result<Bytes, FrameError> {
        Ok(frame)
    }
    fn encode(&mut self, frame: Bytes) -> Result<Bytes, EncodeError> {
        Ok(frame)
    }
}

/// Two layers in order: on the way in the first (outer) runs first, on the way out the
/// second (inner) runs first.
impl<A: FrameLayer, B: FrameLayer> FrameLayer for (A, B) {
    fn decode(&mut self, frame: Bytes) -> Result<Bytes, FrameError> {
        self.1.decode(self.0.decode(frame)?)
    }
    fn encode(&mut self, frame: Bytes) -> Result<Bytes, EncodeError> {
        self.0.encode(self.1.encode(frame)?)
    }
}

/// A framing, a stack of frame layers and a message codec, as one
/// `tokio_util::codec::{Decoder, Encoder}`.
///
/// Built with [`Protocol::new`] and [`Protocol::layer`]; layers added first sit closest to
/// the wire.
#[derive(Debug, Clone)]
pub struct Protocol<F, M, L = ()> {
    framing: F,
    layers: L,
    message: M,
    /// a frame failed a layer or the message codec: the stream yields nothing more
    failed: bool,
}

impl<F, M> Protocol<F, M, ()> {
    /// Stacks `message` on `framing`, with no layer between them.
    pub fn new(framing: F, message: M) -> Self {
        Protocol {
            framing,
            layers: (),
            message,
            failed: false,
        }
    }
}

impl<F, M, L> Protocol<F, M, L> {
    /// Adds a frame layer inside the ones already added (further from the wire).
    pub fn layer<X: FrameLayer>(self, layer: X) -> Protocol<F, M, (L, X)> {
        Protocol {
            framing: self.framing,
            layers: (self.layers, layer),
            message: self.message,
            failed: self.failed,
        }
    }

    /// The framing codec.
    pub fn framing(&self) -> &F {
        &self.framing
    }

    /// The framing codec, mutably (to read its counters or change a limit).
    pub fn framing_mut(&mut self) -> &mut F {
        &mut self.framing
    }

    /// The message codec.
    pub fn message(&self) -> &M {
        &self.message
    }

    /// The message codec, mutably (a protocol may switch versions after a handshake).
    pub fn message_mut(&mut self) -> &mut M {
        &mut self.message
    }
}

impl<F, M: MessageCodec, L: FrameLayer> Protocol<F, M, L> {
    /// Runs a frame through the layers and the message codec. The framing has already
    /// consumed the frame, so after a failure the stream stays failed instead of going on
    /// with the next frame.
    fn load(&mut self, frame: Option<Bytes>) -> Result<Option<M::Message>, FrameError> {
        if self.failed {
            return Err(FrameError::malformed("the stream already failed", 0));
        }
        let Some(frame) = frame else {
            return Ok(None);
        };
        let msg = self
            .layers
            .decode(frame)
            .and_then(|f| self.message.load(f))
            .inspect_err(|_| self.failed = true)?;
        Ok(Some(msg))
    }
}

impl<F, M, L> Decoder for Protocol<F, M, L>
where
    F: Decoder<Item = Bytes, Error = FrameError>,
    L: FrameLayer,
    M: MessageCodec,
{
    type Item = M::Message;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<M::Message>, FrameError> {
        let frame = self.framing.decode(src)?;
        self.load(frame)
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<M::Message>, FrameError> {
        let frame = self.framing.decode_eof(src)?;
        self.load(frame)
    }
}

impl<F, M, L> Encoder<M::Message> for Protocol<F, M, L>
where
    F: Encoder<Bytes, Error = EncodeError>,
    L: FrameLayer,
    M: MessageCodec,
{
    type Error = EncodeError;

    fn encode(&mut self, msg: M::Message, dst: &mut BytesMut) -> Result<(), EncodeError> {
        let mut body = BytesMut::new();
        self.message.encode(msg, &mut body)?;
        let frame = self.layers.encode(body.freeze())?;
        self.framing.encode(frame, dst)
    }
}

/// A frame layer that appends a checksum of the frame (big-endian) on the way out and
/// verifies and strips it on the way in.
///
/// ```
/// use bytes::Bytes;
/// use packwire_core::{Checksum, ChecksumLayer, FrameLayer};
///
/// let mut layer = ChecksumLayer::new(Checksum::Crc32);
/// let sealed = layer.encode(Bytes::from_static(b"123456789")).unwrap();
/// assert_eq!(&sealed[9..], &[0xcb, 0xf4, 0x39, 0x26]);
/// assert_eq!(layer.decode(sealed).unwrap(), "123456789");
/// assert!(layer.decode(Bytes::from_static(b"123456789\0\0\0\0")).is_err());
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ChecksumLayer {
    kind: Checksum,
}

impl ChecksumLayer {
    /// A layer with the given checksum algorithm.
    pub fn new(kind: Checksum) -> Self {
        ChecksumLayer { kind }
    }
}

impl FrameLayer for ChecksumLayer {
    fn decode(&mut self, mut frame: Bytes) -> Result<Bytes, FrameError> {
        let w = self.kind.width();
        if frame.len() < w {
            return Err(FrameError::Short {
                field: "checksum",
                offset: 0,
                need: w,
                have: frame.len(),
            });
        }
        let tail = frame.split_off(frame.len() - w);
        let expected = crate::wire::read_uint(&tail, w, crate::wire::Endian::Big).unwrap_or(0);
        let actual = self.kind.compute(&frame);
        if expected != actual {
            return Err(FrameError::Checksum { expected, actual });
        }
        Ok(frame)
    }

    fn encode(&mut self, frame: Bytes) -> Result<Bytes, EncodeError> {
        let w = self.kind.width();
        let sum = self.kind.compute(&frame);
        let mut out = BytesMut::with_capacity(frame.len() + w);
        out.extend_from_slice(&frame);
        out.put_uint(sum, w);
        Ok(out.freeze())
    }
}
