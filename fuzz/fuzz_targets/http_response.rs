#![no_main]
// See openclaw::fuzz::http_response for what the input drives.
libfuzzer_sys::fuzz_target!(|data: &[u8]| openclaw::fuzz::http_response(data));
