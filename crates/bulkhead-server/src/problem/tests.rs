#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use super::*;
use bulkhead::{ObjectKind, StorageError, TokenRejection, WorkspaceId};

fn answer(err: Error) -> (StatusCode, axum::http::HeaderMap, serde_json::Value) {
    let response = Problem::from(err).into_response();
    let (parts, body) = response.into_parts();
    let bytes = body_bytes(body);
    (
        parts.status,
        parts.headers,
        serde_json::from_slice(&bytes).unwrap(),
    )
}

/// The body of a problem response (a full body, so one poll reads it).
fn body_bytes(body: Body) -> Vec<u8> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime
        .block_on(axum::body::to_bytes(body, usize::MAX))
        .unwrap()
        .to_vec()
}

#[test]
fn every_error_kind_has_its_status() {
    let ws = WorkspaceId::random();
    for (err, status) in [
        (Error::not_found(ObjectKind::Source, ws), 404),
        (Error::invalid_input("limit", "is 0"), 400),
        (Error::conflict("in use"), 409),
        (
            Error::SyncAlreadyRunning {
                connection_id: bulkhead::ConnectionId::random(),
            },
            409,
        ),
        (
            Error::PermissionDenied {
                operation: "sources:delete".into(),
                reason: "not granted".into(),
            },
            403,
        ),
        (Error::InvalidOrgKey { hint: "" }, 401),
        (Error::invalid_token(TokenRejection::Signature, "bad"), 401),
        (
            Error::RateLimited {
                retry_after: Duration::from_millis(1500),
            },
            429,
        ),
        (
            Error::WorkspaceDeleted {
                external_id: "c".into(),
            },
            410,
        ),
        (Error::WorkspaceInactive { workspace_id: ws }, 409),
        (
            Error::IsolationBreach {
                kind: ObjectKind::Source,
            },
            500,
        ),
        (
            Error::Storage(StorageError::new("disk on fire at /var/x")),
            503,
        ),
        (Error::crypto("tag mismatch"), 500),
    ] {
        let (got, headers, body) = answer(err);
        assert_eq!(got.as_u16(), status);
        assert_eq!(body["status"], status);
        assert_eq!(headers[header::CONTENT_TYPE], PROBLEM_JSON);
        assert_eq!(
            headers.contains_key(header::WWW_AUTHENTICATE),
            status == 401
        );
    }
}

#[test]
fn not_found_never_echoes_the_id() {
    let id = WorkspaceId::random();
    let (_, _, body) = answer(Error::not_found(ObjectKind::Source, id));
    assert!(!body.to_string().contains(&id.to_string()));
    assert_eq!(body["detail"], "source not found");
}

#[test]
fn internal_failures_say_nothing_of_their_cause() {
    for err in [
        Error::IsolationBreach {
            kind: ObjectKind::Source,
        },
        Error::crypto("tag mismatch"),
    ] {
        let (_, _, body) = answer(err);
        assert!(body.get("detail").is_none(), "{body}");
    }
    let (_, _, body) = answer(Error::Storage(StorageError::new("disk on fire at /var/x")));
    assert!(!body.to_string().contains("/var/x"), "{body}");
}

#[test]
fn rate_limited_says_when_to_retry_in_whole_seconds() {
    let (_, headers, _) = answer(Error::RateLimited {
        retry_after: Duration::from_millis(1500),
    });
    assert_eq!(headers[header::RETRY_AFTER], "2");
}

#[test]
fn plain_error_responses_become_problems_keeping_their_headers() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    for status in [
        StatusCode::METHOD_NOT_ALLOWED,
        StatusCode::PAYLOAD_TOO_LARGE,
        StatusCode::REQUEST_TIMEOUT,
        StatusCode::BAD_REQUEST,
        StatusCode::BAD_GATEWAY,
    ] {
        let mut plain = (status, "plain text").into_response();
        plain
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET"));
        let fixed = runtime.block_on(problemize(plain));
        assert_eq!(fixed.status(), status);
        assert_eq!(fixed.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
        assert_eq!(fixed.headers()[header::ALLOW], "GET");
        let body = body_bytes(fixed.into_body());
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["status"], status.as_u16());
    }
    let ok = runtime.block_on(problemize("fine".into_response()));
    assert_eq!(ok.status(), StatusCode::OK);
}

#[test]
fn credentials_in_a_detail_or_field_are_redacted() {
    let (_, _, body) = answer(Error::invalid_input(
        "bh_org_abcDEF123-_",
        "unknown key `bh_at_xyz`, nor eyJhbGciOi.eyJzdWIi.sig, nor bh_wkr_w0rk-_; ok",
    ));
    let text = body.to_string();
    assert!(!text.contains("bh_org_abc"), "{text}");
    assert!(!text.contains("bh_at_xyz"), "{text}");
    assert!(!text.contains("eyJ"), "{text}");
    assert!(!text.contains("bh_wkr_w0rk"), "{text}");
    assert_eq!(body["field"], "[redacted]");
    assert!(
        text.contains("nor [redacted], nor [redacted]; ok"),
        "{text}"
    );
}

#[test]
fn invalid_input_names_the_field() {
    let (_, _, body) = answer(Error::invalid_input("limit", "is 0"));
    assert_eq!(body["field"], "limit");
    assert_eq!(body["detail"], "invalid limit: is 0");
}
