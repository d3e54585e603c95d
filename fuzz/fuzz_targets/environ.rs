//! The config directory's `environ.txt` (any bytes: the host reads it lossily).
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| krunner::fuzz::parse_environ(bytes));
