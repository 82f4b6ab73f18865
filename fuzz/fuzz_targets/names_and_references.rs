#![no_main]
//! Fuzz target: `berth_oci::fuzzing::names_and_references`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| berth_oci::fuzzing::names_and_references(data));
