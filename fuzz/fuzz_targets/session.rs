//! See `tinyproto_fuzz::session`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tinyproto_fuzz::session::check(data));
