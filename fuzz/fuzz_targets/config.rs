#![no_main]
// See openclaw::fuzz::config for what the input drives.
libfuzzer_sys::fuzz_target!(|data: &[u8]| openclaw::fuzz::config(data));
