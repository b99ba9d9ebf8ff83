use bytes::{Bytes, BytesMut};
use packwire_codecs::{DelimiterCodec, LineCodec};
use packwire_core::FrameErrorKind;
use packwire_core::testkit::Kit;
use proptest::prelude::*;
use tokio_util::codec::{Decoder, Encoder};

use crate::b;

#[test]
fn lines_end_in_lf_or_crlf() {
    Kit::new(LineCodec::new).decodes(
        b"one\r\ntwo\n\nthree\r\r\n",
        &[b(b"one"), b(b"two"), b(b""), b(b"three\r")],
    );
}

#[test]
fn lines_can_keep_their_delimiter() {
    Kit::new(|| LineCodec::new().keep_delimiter(true))
        .decodes(b"a\r\nb\n", &[b(b"a\r\n"), b(b"b\n")]);
}

#[test]
fn a_final_unterminated_line_is_truncated_unless_asked_for() {
    Kit::new(LineCodec::new).rejects(b"a\nb", &[b(b"a")], "truncated");
    Kit::new(|| LineCodec::new().eof_frame(true))
        .without_eof_check()
        .decodes(b"a\nb", &[b(b"a"), b(b"b")]);
}

#[test]
fn reject_an_overlong_line_by_default() {
    // max 4: "abcd" fits, "abcde" does not, whether or not its newline has arrived
    Kit::new(|| LineCodec::new().max_length(4)).decodes(b"abcd\r\n", &[b(b"abcd")]);
    Kit::new(|| LineCodec::new().max_length(4)).rejects(
        b"ok\nabcde\nzz\n",
        &[b(b"ok")],
        "too_large",
    );
    Kit::new(|| LineCodec::new().max_length(4)).rejects(
        b"ok\nabcdefghijkl",
        &[b(b"ok")],
        "too_large",
    );
}

#[test]
fn overlong_lines_can_be_discarded_and_decoding_goes_on() {
    let mk = || LineCodec::new().max_length(4).discard_overlong(true);
    let input = b"ok\nabcdefghijklmnop\r\nzz\nxxxxxxxxxxxx\n\n";
    // an end inside a discarded line is clean (the line was reported), so no EOF check
    Kit::new(mk)
        .without_eof_check()
        .decodes(input, &[b(b"ok"), b(b"zz"), b(b"")]);
    let mut c = mk();
    let mut buf = BytesMut::from(&input[..]);
    while c.decode(&mut buf).unwrap().is_some() {}
    assert_eq!(c.recovered_count(), 2);
    let ev = c.take_recovered().unwrap();
    assert_eq!(ev.error.kind(), FrameErrorKind::TooLarge);
    assert_eq!(ev.skipped, 18, "the line and its delimiter");
}

#[test]
fn multi_byte_delimiters_decode_in_every_chunking() {
    let mk = || DelimiterCodec::new([&b"\r\n\r\n"[..], b"||", b"\0"]).unwrap();
    Kit::new(mk).decodes(
        b"a||b\r\n\r\nc\0\r\nd||||",
        &[b(b"a"), b(b"b"), b(b"c"), b(b"\r\nd"), b(b"")],
    );
}

#[test]
fn delimiter_frames_round_trip() {
    let mk = || DelimiterCodec::new([&b"\r\n"[..], b";"]).unwrap();
    // items without the delimiter bytes
    let item = proptest::collection::vec(
        prop_oneof![Just(b'a'), Just(b'\r'), Just(b'x'), Just(0u8)],
        0..30,
    )
    .prop_filter("no delimiter", |v| {
        !v.windows(2).any(|w| w == b"\r\n") && !v.ends_with(b"\r")
    })
    .prop_map(Bytes::from);
    Kit::new(mk).round_trip(proptest::collection::vec(item, 0..8));
    let line = proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'\r'), Just(b' ')], 0..30)
        .prop_filter("no trailing cr", |v| !v.ends_with(b"\r"))
        .prop_map(Bytes::from);
    Kit::new(LineCodec::new).round_trip(proptest::collection::vec(line.clone(), 0..8));
    Kit::new(|| LineCodec::new().crlf()).round_trip(proptest::collection::vec(line, 0..8));
}

#[test]
fn the_encoder_refuses_items_containing_or_running_into_the_delimiter() {
    let mut lines = LineCodec::new();
    let mut dst = BytesMut::new();
    assert!(lines.encode("a\nb", &mut dst).is_err());
    assert!(lines.encode("ends in cr\r", &mut dst).is_err());
    assert!(lines.encode(&[b'x'; 9000][..], &mut dst).is_err());
    assert!(dst.is_empty());
    let mut d = DelimiterCodec::new(["ab"]).unwrap();
    assert!(d.encode("xaby", &mut dst).is_err());
    // "xa" + "ab" = "xaab": the first "ab" starts at 2, so "xa" comes back intact
    d.encode("xa", &mut dst).unwrap();
    assert_eq!(d.decode(&mut dst).unwrap().unwrap(), "xa");
    let mut d = DelimiterCodec::new(["aba"]).unwrap();
    assert!(
        d.encode("xab", &mut dst).is_err(),
        "xab + aba = xababa would end at 1"
    );
}

#[test]
fn a_long_item_refused_past_its_first_piece_leaves_the_buffer_as_it_was() {
    // long items are checked and copied piece by piece: a refusal found in a later piece
    // takes back what the earlier pieces wrote
    let mut lines = LineCodec::new().max_length(1 << 20);
    let mut dst = BytesMut::from(&b"kept\n"[..]);
    for at in [0, 1023, 1024, 1025, 3000, 4999] {
        let mut item = vec![b'x'; 5000];
        item[at] = b'\n';
        assert!(lines.encode(&item[..], &mut dst).is_err(), "LF at {at}");
        assert_eq!(&dst[..], b"kept\n", "LF at {at}");
    }
    let mut item = vec![b'x'; 5000];
    item[4999] = b'\r';
    assert!(lines.encode(&item[..], &mut dst).is_err());
    assert_eq!(&dst[..], b"kept\n");
    item[4999] = b'x';
    lines.encode(&item[..], &mut dst).unwrap();
    assert_eq!(dst.len(), 5 + 5000 + 1);
    assert_eq!(&dst[5..5005], &item[..]);
}

#[test]
fn tokio_lines_codec_output_decodes_the_same() {
    use tokio_util::codec::LinesCodec;
    let mut theirs = LinesCodec::new();
    let mut wire = BytesMut::new();
    for l in ["GET /", "", "Host: x"] {
        theirs.encode(l, &mut wire).unwrap();
    }
    Kit::new(LineCodec::new).decodes(&wire, &[b(b"GET /"), Bytes::new(), b(b"Host: x")]);
}
