#![no_main]
// See openclaw::fuzz::transcript for what the input drives.
libfuzzer_sys::fuzz_target!(|data: &[u8]| openclaw::fuzz::transcript(data));
