#![no_main]
// See openclaw::fuzz::session_index for what the input drives.
libfuzzer_sys::fuzz_target!(|data: &[u8]| openclaw::fuzz::session_index(data));
