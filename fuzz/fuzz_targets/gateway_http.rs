#![no_main]
// See openclaw::fuzz::gateway_http for what the input drives.
libfuzzer_sys::fuzz_target!(|data: &[u8]| openclaw::fuzz::gateway_http(data));
