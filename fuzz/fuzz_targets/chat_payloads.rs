#![no_main]
// See openclaw::fuzz::chat_payloads for what the input drives.
libfuzzer_sys::fuzz_target!(|data: &[u8]| openclaw::fuzz::chat_payloads(data));
