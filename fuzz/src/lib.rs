//! cargo-fuzz targets for every packwire decoder. Each target in `fuzz_targets/` is one
//! line calling [`targets::run`]; the oracles are the test kit's (`packwire-core`, feature
//! `testkit`), so a fuzz finding and a unit test speak the same language.

pub mod targets;
