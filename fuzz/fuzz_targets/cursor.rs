//! Page cursors: one spelling per cursor, and the decoder accepts exactly the two encodings;
//! refusals name `cursor`. The property is `bulkhead_testkit::fuzzing::cursor`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| bulkhead_testkit::fuzzing::cursor(data));
