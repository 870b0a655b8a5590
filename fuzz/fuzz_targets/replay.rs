//! See `tinyproto_fuzz::replay`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tinyproto_fuzz::replay::check(data));
