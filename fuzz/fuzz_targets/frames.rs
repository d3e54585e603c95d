//! The inbound frame decoder: an op message from the agent, frames split at NUL bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| krunner::fuzz::decode_frames(data));
