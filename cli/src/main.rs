//! The `packwire` command line.
fn main() {}
