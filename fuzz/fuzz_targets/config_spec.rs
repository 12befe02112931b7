//! Connector specs and configs: parsing and validation never panic, errors point where they
//! are, secret pointers resolve, merge does what it documents. The property is
//! `bulkhead_testkit::fuzzing::config_spec`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| bulkhead_testkit::fuzzing::config_spec(data));
