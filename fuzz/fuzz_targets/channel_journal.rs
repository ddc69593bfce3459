#![no_main]
// See openclaw::fuzz::channel_journal for what the input drives.
libfuzzer_sys::fuzz_target!(|data: &[u8]| openclaw::fuzz::channel_journal(data));
