//! One template, expanded in the command style and in the prestart-action style.
#![no_main]

libfuzzer_sys::fuzz_target!(|template: &str| krunner::fuzz::interpolate(template));
