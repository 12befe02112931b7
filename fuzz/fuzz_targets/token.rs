//! Scoped tokens: the engine accepts only the exact tokens it minted; anything else is an
//! invalid token. The property is `bulkhead_testkit::fuzzing::token`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| bulkhead_testkit::fuzzing::token(data));
