#!/usr/bin/env bash
# Packages every crate of the workspace as it would be published (`cargo package`
# verifies that each builds from its package alone), then builds every package's own
# tests, benches and examples from the packaged sources — the crates wired to each other
# by [patch] — so no test reads a file that the package leaves out; and builds and tests
# scripts/outside-crate, a crate that depends on `packwire` alone, against them.
set -euo pipefail
cd "$(dirname "$0")/.."

# `cargo package` verifies each crate against the others through a local registry, and
# cargo keeps what it unpacked from it under CARGO_HOME by name and version: a second run
# on the same machine would verify against the first run's sources. Those copies (in the
# local registries' `-<hash>` folders, never crates.io's) go first.
cargo_home=${CARGO_HOME:-$HOME/.cargo}
rm -rf "$cargo_home"/registry/src/-*/packwire-* "$cargo_home"/registry/cache/-*/packwire-* \
  "$cargo_home"/registry/index/-*

# a fresh target directory too: cargo takes a crate built from an earlier run's local
# registry (same name, version and source) as up to date
verify_target=$(mktemp -d)
trap 'rm -rf "$verify_target"' EXIT
CARGO_TARGET_DIR="$verify_target" cargo package --workspace --locked "$@"

pkg=$verify_target/package
work=$(mktemp -d)
trap 'rm -rf "$work" "$verify_target"' EXIT
members=()
patches=()
for dir in "$pkg"/*-[0-9]*.[0-9]*.[0-9]*/; do
  dir=${dir%/}
  name=$(basename "$dir")
  crate=${name%-*}
  cp -r "$dir" "$work/$name"
  rm -f "$work/$name/Cargo.lock"
  members+=("\"$name\"")
  patches+=("$crate = { path = \"$name\" }")
done
# and a crate outside the workspace that depends on `packwire` alone (with tokio), as a
# new user's would: it must build and pass its test against what is published
cp -r scripts/outside-crate "$work/outside-crate"
members+=("\"outside-crate\"")
{
  echo "[workspace]"
  echo "resolver = \"3\""
  echo "members = [$(IFS=,; echo "${members[*]}")]"
  echo
  echo "[patch.crates-io]"
  printf '%s\n' "${patches[@]}"
} > "$work/Cargo.toml"
# the repository's lockfile pins the same versions for the packaged build
cp Cargo.lock "$work/Cargo.lock"
echo "building the packaged crates' tests in $work"
CARGO_TARGET_DIR=target/package-check cargo test --manifest-path "$work/Cargo.toml" \
  --workspace --all-features --all-targets --no-run
echo "every package builds its own tests"
CARGO_TARGET_DIR=target/package-check cargo test --manifest-path "$work/Cargo.toml" \
  -p outside-crate
echo "a crate that depends on packwire alone builds and passes its test"
