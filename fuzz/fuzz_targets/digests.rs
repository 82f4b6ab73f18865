#![no_main]
//! Fuzz target: `berth_oci::fuzzing::digests`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| berth_oci::fuzzing::digests(data));
