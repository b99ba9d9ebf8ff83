//! Replays every committed fuzz corpus and regression input through the fuzz targets'
//! oracles, on the stable toolchain, so CI catches a regression even where fuzzing does not
//! run. The targets are the same source file cargo-fuzz builds (so this test lives in the
//! repository only: the published package leaves it out).
#![cfg(all(feature = "cmpp", feature = "http1"))]

#[path = "../../fuzz/src/targets.rs"]
#[allow(dead_code, unreachable_pub)]
mod targets;

use std::path::Path;

fn replay(dir: &Path) -> usize {
    let mut n = 0;
    for target in targets::TARGETS {
        let Ok(entries) = std::fs::read_dir(dir.join(target)) else {
            continue;
        };
        for e in entries {
            let path = e.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            let r = std::panic::catch_unwind(|| targets::run(target, &data));
            assert!(r.is_ok(), "{target}: {} fails its oracles", path.display());
            n += 1;
        }
    }
    n
}

#[test]
fn every_committed_corpus_input_passes_the_oracles() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let corpus = replay(&root.join("corpus"));
    let regressions = replay(&root.join("regressions"));
    assert!(corpus > 0, "no corpus found under fuzz/corpus");
    println!("replayed {corpus} corpus and {regressions} regression inputs");
}

/// Every target cargo-fuzz knows (each has a seed corpus) is one the replay runs.
#[test]
fn the_replay_covers_every_fuzz_target() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    let mut dirs: Vec<String> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    dirs.sort();
    let mut known: Vec<String> = targets::TARGETS.iter().map(|t| t.to_string()).collect();
    known.sort();
    assert_eq!(dirs, known, "fuzz/corpus and targets::TARGETS disagree");
}

#[test]
fn every_target_runs_on_empty_and_tiny_inputs() {
    for target in targets::TARGETS {
        for data in [&[][..], &[0], &[0xff, 0], &[7, 1, 2, 3]] {
            targets::run(target, data);
        }
    }
}
