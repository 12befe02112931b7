//! External id parsing: never panics; what it accepts obeys the rules and round-trips
//! exactly (text and JSON), and what it refuses names the field.
#![no_main]

use bulkhead_core::{Error, ExternalId};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match ExternalId::new(text) {
        Ok(id) => {
            assert_eq!(id.as_str(), text);
            assert!(!text.is_empty() && text.len() <= 255);
            assert!(!text.chars().any(char::is_control));
            assert_eq!(text.trim(), text);
            let json = serde_json::to_string(&id).unwrap();
            assert_eq!(serde_json::from_str::<ExternalId>(&json).unwrap(), id);
        }
        Err(Error::InvalidInput { field, .. }) => assert_eq!(field, "external_id"),
        Err(other) => panic!("unexpected error kind: {other}"),
    }
});
