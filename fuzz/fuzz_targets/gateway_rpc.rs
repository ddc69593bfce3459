#![no_main]
// See openclaw::fuzz::gateway_rpc for what the input drives.
libfuzzer_sys::fuzz_target!(|data: &[u8]| openclaw::fuzz::gateway_rpc(data));
