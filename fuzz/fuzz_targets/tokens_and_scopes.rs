#![no_main]
//! Fuzz target: `berth_registry::auth::fuzzing::tokens_and_scopes`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| berth_registry::auth::fuzzing::tokens_and_scopes(data));
