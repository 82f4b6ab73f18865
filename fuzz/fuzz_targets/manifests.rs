#![no_main]
//! Fuzz target: `berth_oci::fuzzing::manifests`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| berth_oci::fuzzing::manifests(data));
