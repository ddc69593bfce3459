#![no_main]
// See openclaw::fuzz::model_stream for what the input drives.
libfuzzer_sys::fuzz_target!(|data: &[u8]| openclaw::fuzz::model_stream(data));
