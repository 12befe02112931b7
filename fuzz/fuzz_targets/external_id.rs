//! External ids: accepted exactly when the rules hold, round-trip through text and JSON;
//! refusals name `external_id`. The property is `bulkhead_testkit::fuzzing::external_id`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| bulkhead_testkit::fuzzing::external_id(data));
