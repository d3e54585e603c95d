//! A service-definition file: parsed, then prepared for a start (templates expanded).
#![no_main]

libfuzzer_sys::fuzz_target!(|text: &str| krunner::fuzz::parse_definition(text));
