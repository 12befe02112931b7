//! Page cursors: parsing arbitrary text never panics; a cursor that parses prints back to a
//! cursor that parses to the same position; a refused one is invalid input naming `cursor`.
#![no_main]

use bulkhead_core::{Cursor, Error};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match text.parse::<Cursor>() {
        Ok(cursor) => {
            let again: Cursor = cursor.to_string().parse().unwrap();
            assert_eq!(again, cursor);
        }
        Err(Error::InvalidInput { field, .. }) => assert_eq!(field, "cursor"),
        Err(other) => panic!("unexpected error kind: {other}"),
    }
});
