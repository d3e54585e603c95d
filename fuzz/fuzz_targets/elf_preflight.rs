//! A plugin file's bytes, checked as the loader's preflight checks them before `dlopen`.
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| krunner::fuzz::preflight(bytes));
