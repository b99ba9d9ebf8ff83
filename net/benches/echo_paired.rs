//! The echo over pipes of `echo.rs`, timed in pairs: packwire's `Server` and the tokio
//! forward echo alternately, round after round (the order swapped every round), so both
//! see the same machine; criterion's one-function-after-the-other sampling let this
//! machine's drift move the one-in-flight ratios by 1.5x between runs.
//!
//! `cargo bench -p packwire-net --bench echo_paired` prints, per row, the median round's
//! `forward time / packwire time` (above 1.0: packwire's server is cheaper) and quartiles.

mod common;
use common::{ROWS, forward, run, setup};

const ROUNDS: usize = 31;

fn main() {
    let (rt, server, peer) = setup();
    println!("| conns x in flight | forward time / packwire time, median round (quartiles) |");
    println!("|---|---|");
    for (conns, inflight) in ROWS {
        let adopt = |io| server.adopt(io, peer).expect("server runs");
        let ours = || run(conns, inflight, &adopt);
        let theirs = || run(conns, inflight, &forward);
        let mut ratios: Vec<f64> = rt.block_on(async {
            // warm-up: both sides, a few runs each
            for _ in 0..3 {
                ours().await;
                theirs().await;
            }
            let mut out = Vec::with_capacity(ROUNDS);
            for round in 0..ROUNDS {
                let (o, t) = if round % 2 == 0 {
                    let o = ours().await;
                    (o, theirs().await)
                } else {
                    let t = theirs().await;
                    (ours().await, t)
                };
                out.push(t.as_secs_f64() / o.as_secs_f64());
            }
            out
        });
        ratios.sort_by(f64::total_cmp);
        let q = |f: usize| ratios[f * (ROUNDS - 1) / 4];
        println!(
            "| {conns} x {inflight} | **{:.2}** ({:.2}-{:.2}) |",
            q(2),
            q(1),
            q(3)
        );
    }
}
