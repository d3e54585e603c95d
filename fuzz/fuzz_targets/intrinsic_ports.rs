//! The config directory's `intrinsic-ports.json`.
#![no_main]

libfuzzer_sys::fuzz_target!(|text: &str| krunner::fuzz::intrinsic_ports(text));
