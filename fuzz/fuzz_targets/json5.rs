#![no_main]
// See openclaw::fuzz::json5 for what the input drives.
libfuzzer_sys::fuzz_target!(|data: &[u8]| openclaw::fuzz::json5(data));
