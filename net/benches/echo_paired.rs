//! The echo over pipes of `echo.rs`, timed in rounds: packwire's three `Server`s (answer
//! returned by a plain handler, by an async one, `conn.send`) and the tokio forward echo alternately, round after round (the
//! forward echo first on even rounds, last on odd ones), so all see the same machine; criterion's one-function-after-the-other sampling let this
//! machine's drift move the one-in-flight ratios by 1.5x between runs.
//!
//! `cargo bench -p packwire-net --bench echo_paired` prints, per row and packwire server,
//! the median round's `forward time / packwire time` (above 1.0: packwire's server is
//! cheaper) and quartiles.

mod common;
use std::time::Duration;

use common::{ROWS, forward, run, setup};

const ROUNDS: usize = 31;

fn main() {
    let (rt, servers, peer) = setup();
    println!(
        "| conns x in flight | forward / packwire, plain handler | forward / packwire, async, answer returned | forward / packwire, conn.send |"
    );
    println!("|---|---|---|---|");
    for (conns, inflight) in ROWS {
        let plain = |io| servers.plain.adopt(io, peer).expect("server runs");
        let reply = |io| servers.reply.adopt(io, peer).expect("server runs");
        let send = |io| servers.send.adopt(io, peer).expect("server runs");
        let ours: [&dyn Fn(tokio::io::DuplexStream); 3] = [&plain, &reply, &send];
        let rounds: Vec<[f64; 3]> = rt.block_on(async {
            // warm-up: every server, a few runs each
            for _ in 0..3 {
                for s in ours {
                    run(conns, inflight, s).await;
                }
                run(conns, inflight, &forward).await;
            }
            let mut out = Vec::with_capacity(ROUNDS);
            for round in 0..ROUNDS {
                // the forward echo first on even rounds, last on odd ones
                let mut t = None;
                if round % 2 == 0 {
                    t = Some(run(conns, inflight, &forward).await);
                }
                let mut o = [Duration::ZERO; 3];
                for (i, s) in ours.iter().enumerate() {
                    o[i] = run(conns, inflight, s).await;
                }
                let t = match t {
                    Some(t) => t,
                    None => run(conns, inflight, &forward).await,
                };
                out.push(o.map(|o| t.as_secs_f64() / o.as_secs_f64()));
            }
            out
        });
        let cell = |k: usize| {
            let mut r: Vec<f64> = rounds.iter().map(|x| x[k]).collect();
            r.sort_by(f64::total_cmp);
            let q = |f: usize| r[f * (ROUNDS - 1) / 4];
            format!("**{:.2}** ({:.2}-{:.2})", q(2), q(1), q(3))
        };
        println!(
            "| {conns} x {inflight} | {} | {} | {} |",
            cell(0),
            cell(1),
            cell(2)
        );
    }
}
