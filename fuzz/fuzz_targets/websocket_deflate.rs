#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| packwire_fuzz::targets::run("websocket_deflate", data));
