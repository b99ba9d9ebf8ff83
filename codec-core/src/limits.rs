//! Limits shared by the codecs.

/// Upper bounds that protect a decoder from a peer that claims, or sends, too much.
///
/// Every default is finite. Raise a limit by assigning the field or with the `with_*`
/// methods; there is no "unbounded" default because a peer's claim must never decide how
/// much memory a connection takes.
///
/// ```
/// use packwire_core::Limits;
///
/// let limits = Limits::default().with_max_frame(64 * 1024);
/// assert_eq!(limits.max_frame, 64 * 1024);
/// assert_eq!(limits.max_line, 8 * 1024);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// The largest frame a length-prefixed codec accepts, measured as the whole frame on the
    /// wire, header and trailer included. Default 8 MiB (tokio-util's default, applied to
    /// what actually crosses the wire).
    pub max_frame: usize,
    /// The longest line or delimited frame, delimiter excluded. Default 8 KiB.
    pub max_line: usize,
    /// The longest protocol head (an HTTP request line plus header section). Default 64 KiB.
    pub max_head: usize,
    /// The most header fields in one head. Default 100.
    pub max_headers: usize,
    /// How many unread bytes a connection may buffer, whatever its codec does. Default
    /// 16 MiB; the runtime enforces it even against a codec that never yields.
    pub max_buffered: usize,
}

impl Limits {
    /// The default maximum frame length: 8 MiB.
    pub const DEFAULT_MAX_FRAME: usize = 8 * 1024 * 1024;
    /// The default maximum line length: 8 KiB.
    pub const DEFAULT_MAX_LINE: usize = 8 * 1024;

    /// Sets [`Limits::max_frame`].
    pub fn with_max_frame(mut self, n: usize) -> Self {
        self.max_frame = n;
        self
    }

    /// Sets [`Limits::max_line`].
    pub fn with_max_line(mut self, n: usize) -> Self {
        self.max_line = n;
        self
    }

    /// Sets [`Limits::max_head`].
    pub fn with_max_head(mut self, n: usize) -> Self {
        self.max_head = n;
        self
    }

    /// Sets [`Limits::max_headers`].
    pub fn with_max_headers(mut self, n: usize) -> Self {
        self.max_headers = n;
        self
    }

    /// Sets [`Limits::max_buffered`].
    pub fn with_max_buffered(mut self, n: usize) -> Self {
        self.max_buffered = n;
        self
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frame: Self::DEFAULT_MAX_FRAME,
            max_line: Self::DEFAULT_MAX_LINE,
            max_head: 64 * 1024,
            max_headers: 100,
            max_buffered: 16 * 1024 * 1024,
        }
    }
}
