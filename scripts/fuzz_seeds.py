#!/usr/bin/env python3
"""Writes the committed seed corpora under fuzz/corpus/<target>/: valid streams from the
tests and the CMPP reference vectors, each behind the configuration / chunking bytes the
targets read first (see fuzz/src/targets.rs)."""
import pathlib

root = pathlib.Path(__file__).resolve().parent.parent
fuzz = root / "fuzz" / "corpus"
vectors = root / "codecs" / "tests" / "data" / "cmpp"


def put(target, name, data):
    d = fuzz / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(bytes(data))


def be(n, w):
    return n.to_bytes(w, "big")


frames = [b"hello", b"", b"\x00\xff\r\n", b"x" * 100]
# length: cfg 3 = 4-byte BE payload length, header stripped; cfg 0 = 1-byte; cfg 5 = varint
put("length", "u32", [3, 1] + list(b"".join(be(len(f), 4) + f for f in frames)))
put("length", "u8", [0, 2] + list(b"".join(be(len(f), 1) + f for f in frames)))
put("length", "varint", [5, 3] + list(b"".join(bytes([len(f)]) + f for f in frames)))
put("length", "u16-whole-frame", [0x11, 4] + list(b"".join(be(len(f) + 2, 2) + f for f in frames)))
put("line", "lines", [0x3f, 1] + list(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nabc\n"))
put("line", "discard", [0x80 | 4, 2] + list(b"ok\nway too long a line\nok\n"))
put("delimiter", "crlf", [0x7c, 1] + list(b"a\r\nbb\r\n\r\n"))
put("delimiter", "multi", [0x7d, 5] + list(b"a||b\nc||"))
put("fixed", "four", [3, 1] + list(b"abcdefgh"))
put("varint", "frames", [1] + list(b"\x05hello\x00\xac\x02" + b"z" * 300))
v2 = ["G1", "G2", "G4", "G5", "G10", "G11", "G12", "G13", "G14", "G15"]
v3 = ["G3", "G6", "G7", "G8", "G9", "G12", "G13"]
for target, names in (("cmpp2", v2), ("cmpp3", v3)):
    stream = b""
    for i, n in enumerate(names):
        pdu = bytes.fromhex((vectors / f"{n}.hex").read_text().strip())
        put(target, n, [i] + list(pdu))
        stream += pdu
    put(target, "all", [7] + list(stream))
for t in ("encode_length", "encode_line", "encode_varint"):
    put(t, "seed", [3, 4, 0x61, 0x62, 0x0d, 0x0a, 5, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 2, 1, 9])
