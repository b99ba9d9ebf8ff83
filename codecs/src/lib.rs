//! Framings and protocol codecs.
