//! Paired ratios: packwire and its peer timed alternately, round after round, on the same
//! input, so both see the same machine. On a shared, noisy machine the speed drifts by
//! tens of percent within seconds, and criterion (which runs one function's samples, then
//! the next's) turns that drift into ratios that change sides between runs; here each
//! round gives one ratio from two runs a few hundred microseconds apart, and the table
//! quotes the median round and the quartiles.
//!
//! The work per run is what `framing.rs` measures (same inputs, harness and settings);
//! `cargo bench -p packwire-codecs --bench paired` prints a Markdown table. A ratio is
//! peer time / packwire time: above 1.0, packwire is faster.

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use packwire_codecs::LineCodec;
use packwire_codecs::http1::ServerCodec;
use tokio_util::codec::{AnyDelimiterCodec, Encoder, LinesCodec};

// each bench uses a part of what the benches share
#[allow(dead_code)]
mod common;
use common::{SIZES, feed, frames_for, http, length_input, length_ours, length_theirs};

const ROUNDS: usize = 101;
/// Each timed run repeats its work until it has taken about this long.
const RUN: Duration = Duration::from_micros(400);

/// What a timed side does: its work, writing (if it writes) into the buffer both sides
/// share, so that where that memory lies cannot favour one of them.
type Side<'a> = &'a mut dyn FnMut(&mut BytesMut) -> usize;

/// Times `f` run `reps` times.
fn time(reps: usize, f: &mut dyn FnMut(&mut BytesMut) -> usize, buf: &mut BytesMut) -> Duration {
    let start = Instant::now();
    for _ in 0..reps {
        black_box(f(buf));
    }
    start.elapsed()
}

/// The median and quartiles of `peer time / packwire time` over the rounds.
fn paired(ours: Side<'_>, peer: Side<'_>) -> [f64; 3] {
    let mut shared = BytesMut::with_capacity(512 * 1024);
    let buf = &mut shared;
    let mut time = |reps, f: &mut dyn FnMut(&mut BytesMut) -> usize| time(reps, f, buf);
    // repetitions that make a run last about RUN, from the slower side
    let once = time(1, ours)
        .max(time(1, peer))
        .max(Duration::from_nanos(1));
    let reps = (RUN.as_nanos() / once.as_nanos()).clamp(1, 1 << 20) as usize;
    for _ in 0..3 {
        time(reps, ours);
        time(reps, peer);
    }
    let mut ratios: Vec<f64> = (0..ROUNDS)
        .map(|round| {
            // alternate which side goes first
            let (o, p) = if round % 2 == 0 {
                let o = time(reps, ours);
                (o, time(reps, peer))
            } else {
                let p = time(reps, peer);
                (time(reps, ours), p)
            };
            p.as_secs_f64() / o.as_secs_f64()
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    [
        ratios[ROUNDS / 4],
        ratios[ROUNDS / 2],
        ratios[3 * ROUNDS / 4],
    ]
}

fn row(name: &str, cells: &[[f64; 3]]) {
    let cells: Vec<String> = cells
        .iter()
        .map(|[q1, m, q3]| format!("**{m:.2}** ({q1:.2}-{q3:.2})"))
        .collect();
    println!("| {name} | {} |", cells.join(" | "));
}

fn length_field() {
    let (ours, theirs) = (length_ours, length_theirs);
    println!("### length_field_decode (vs tokio-util LengthDelimitedCodec)\n");
    println!("| input | ratio, median round (quartiles) |\n|---|---|");
    for mode in ["sticky", "bytes", "random"] {
        for size in SIZES {
            let (wire, cuts, _) = length_input(size, mode);
            let r = paired(&mut |_| feed(ours(), &wire, &cuts), &mut |_| {
                feed(theirs(), &wire, &cuts)
            });
            row(&format!("{mode}/{size}"), &[r]);
        }
    }
    println!("\n### length_field_encode (vs tokio-util LengthDelimitedCodec)\n");
    println!("| payload | ratio, median round (quartiles) |\n|---|---|");
    for size in SIZES {
        let n = frames_for(size, "sticky");
        let payload = Bytes::from(vec![0x5a; size]);
        let (mut a, mut b) = (ours(), theirs());
        let r = paired(
            &mut |dst| {
                dst.clear();
                for _ in 0..n {
                    a.encode(payload.clone(), dst).expect("encodes");
                }
                dst.len()
            },
            &mut |dst| {
                dst.clear();
                for _ in 0..n {
                    b.encode(payload.clone(), dst).expect("encodes");
                }
                dst.len()
            },
        );
        row(&size.to_string(), &[r]);
    }
}

fn lines() {
    println!("\n### lines_encode\n");
    println!(
        "| line | checked vs AnyDelimiter | checked vs Lines | unchecked vs AnyDelimiter | unchecked vs Lines | checked vs unchecked |"
    );
    println!("|---|---|---|---|---|---|");
    for size in SIZES {
        let n = frames_for(size, "sticky");
        let line: String = (0..size).map(|j| (b'a' + (j % 26) as u8) as char).collect();
        let mut ours = LineCodec::new().max_length(1 << 20);
        let mut any =
            AnyDelimiterCodec::new_with_max_length(b"\n".to_vec(), b"\n".to_vec(), 1 << 20);
        let mut lines = LinesCodec::new_with_max_length(1 << 20);
        let mut checked = |dst: &mut BytesMut| {
            dst.clear();
            for _ in 0..n {
                ours.encode(line.as_str(), dst).expect("encodes");
            }
            dst.len()
        };
        let mut ours2 = LineCodec::new().max_length(1 << 20);
        let mut unchecked = |dst: &mut BytesMut| {
            dst.clear();
            for _ in 0..n {
                ours2.encode_unchecked(line.as_bytes(), dst);
            }
            dst.len()
        };
        let mut any_enc = |dst: &mut BytesMut| {
            dst.clear();
            for _ in 0..n {
                any.encode(line.as_str(), dst).expect("encodes");
            }
            dst.len()
        };
        let mut lines_enc = |dst: &mut BytesMut| {
            dst.clear();
            for _ in 0..n {
                lines.encode(line.as_str(), dst).expect("encodes");
            }
            dst.len()
        };
        let c_any = paired(&mut checked, &mut any_enc);
        let c_lines = paired(&mut checked, &mut lines_enc);
        let u_any = paired(&mut unchecked, &mut any_enc);
        let u_lines = paired(&mut unchecked, &mut lines_enc);
        let c_u = paired(&mut checked, &mut unchecked);
        row(&size.to_string(), &[c_any, c_lines, u_any, u_lines, c_u]);
    }
}

/// Request heads: `pipelined` holds as many copies of the request as fit in 16 KiB in one
/// buffer (a request counts at its `End` event; httparse parses each in turn into a
/// 32-field array and frames its body by Content-Length); `chunks-N`: one request arrives
/// N bytes at a time (httparse is gated on `\r\n\r\n`: it parses once, when the head is
/// complete).
fn http() {
    println!("\n### http1_request (vs httparse)\n");
    println!("| request / feeding | ratio, median round (quartiles) |\n|---|---|");
    let browser = http::browser();
    for (name, req) in [("small", http::SMALL), ("browser", &browser[..])] {
        let copies = (16 * 1024 / req.len()).max(1);
        let wire = req.repeat(copies);
        let mut codec = ServerCodec::new();
        let mut check = BytesMut::from(&wire[..]);
        let want = http::ours_pipelined(&mut codec, &mut check);
        assert_eq!(want, http::httparse_pipelined(&wire));
        assert_eq!(want.0, copies);
        let r = paired(
            &mut |buf| {
                buf.clear();
                buf.extend_from_slice(&wire);
                http::ours_pipelined(&mut codec, buf).0
            },
            &mut |buf| {
                buf.clear();
                buf.extend_from_slice(&wire);
                http::httparse_pipelined(buf).0
            },
        );
        row(&format!("{name}/pipelined"), &[r]);
        for chunk in [16, 1] {
            let mut read = BytesMut::with_capacity(1024);
            assert_eq!(
                http::ours_chunked(&mut codec, &mut read, req, chunk),
                http::gated(&mut read, req, chunk)
            );
            let r = paired(
                &mut |buf| http::ours_chunked(&mut codec, buf, req, chunk),
                &mut |buf| http::gated(buf, req, chunk),
            );
            row(&format!("{name}/chunks-{chunk}"), &[r]);
        }
    }
}

fn main() {
    // `cargo bench` passes `--bench`; other arguments pick sections (length, lines, http)
    let picked: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let run = |s: &str| picked.is_empty() || picked.iter().any(|p| p == s);
    if run("length") {
        length_field();
    }
    if run("lines") {
        lines();
    }
    if run("http") {
        http();
    }
}
