use super::*;

/// The canonical decoder agrees with `serde_json` on everything this crate writes, and
/// hands anything else to `serde_json`.
#[test]
fn canonical_decoding_agrees_with_serde_and_declines_every_other_form() {
    let key = KeyMaterial::generate(Algorithm::Hs256).unwrap().0;
    for (ext, origin) in [
        "cust-1",
        "Kundé 北京",
        "quote\"inside",
        "back\\slash",
        "slash/ok",
    ]
    .into_iter()
    .zip(ORIGINS.into_iter().cycle())
    {
        let mut c = claims();
        c.external_id = ExternalId::new(ext).unwrap();
        c.allowed_origin = origin.map(|o| o.parse().unwrap());
        c.issued_at = -5;
        let token = encode("kid-1", &key, &c).unwrap();
        let mut parts = token.split('.');
        let header = b64(parts.next().unwrap(), "header").unwrap();
        let payload = b64(parts.next().unwrap(), "payload").unwrap();
        let by_serde: Header<'_> = serde_json::from_slice(&header).unwrap();
        let header = std::str::from_utf8(&header).unwrap();
        assert_eq!(Canonical::header(header), Some(by_serde));
        let by_serde: BorrowedClaims<'_> = serde_json::from_slice(&payload).unwrap();
        match Canonical::claims(std::str::from_utf8(&payload).unwrap()) {
            Some(fast) => assert_eq!(fast.unwrap(), by_serde, "{ext}"),
            // Escaped strings are serde's to decode.
            None => assert!(ext.contains(['"', '\\']), "{ext}"),
        }
        assert_eq!(verify_with(&token, &key).unwrap(), c);
    }
    let canonical = r#"{"iss":"i","aud":"a","sub":"s","org":"o","ext":"e","ops":["sources:read"],"iat":1,"exp":2,"jti":"j"}"#;
    assert!(matches!(Canonical::claims(canonical), Some(Ok(_))));
    // The canonical form with an operation that does not exist is refused, not handed on.
    let unknown = canonical.replace("sources:read", "orgs:delete");
    assert!(matches!(Canonical::claims(&unknown), Some(Err(_))));
    assert!(serde_json::from_str::<BorrowedClaims<'_>>(&unknown).is_err());
    for other in [
        r#"{ "iss":"i","aud":"a","sub":"s","org":"o","ext":"e","ops":[],"iat":1,"exp":2,"jti":"j"}"#,
        r#"{"aud":"a","iss":"i","sub":"s","org":"o","ext":"e","ops":[],"iat":1,"exp":2,"jti":"j"}"#,
        r#"{"iss":"i","iss":"i","aud":"a","sub":"s","org":"o","ext":"e","ops":[],"iat":1,"exp":2,"jti":"j"}"#,
        r#"{"iss":"i","aud":"a","sub":"s","org":"o","ext":"e","ops":[],"iat":1,"exp":2,"jti":"j","x":1}"#,
        r#"{"iss":"i","aud":"a","sub":"s","org":"o","ext":"e","ops":[],"iat":01,"exp":2,"jti":"j"}"#,
        r#"{"iss":"i","aud":"a","sub":"s","org":"o","ext":"e","ops":[],"iat":1.5,"exp":2,"jti":"j"}"#,
        r#"{"iss":"i","aud":"a","sub":"s","org":"o","ext":"e","ops":[],"iat":1,"exp":99999999999999999999,"jti":"j"}"#,
        r#"{"iss":"i","aud":"a","sub":"s","org":"o","ext":"e","ops":[,],"iat":1,"exp":2,"jti":"j"}"#,
        r#"{"iss":"i","aud":"a","sub":"s","org":"o","ext":"e","ops":[],"iat":1,"exp":2,"jti":"j"}x"#,
        r#"{"iss":"\u0069","aud":"a","sub":"s","org":"o","ext":"e","ops":[],"iat":1,"exp":2,"jti":"j"}"#,
    ] {
        assert!(Canonical::claims(other).is_none(), "{other}");
    }
    assert_eq!(
        Canonical::header(r#"{"typ":"x","alg":"HS256","kid":"k"}"#),
        None
    );
    assert_eq!(
        Canonical::header(r#"{"alg":"HS256","typ":"x","kid":"k","crit":[]}"#),
        None
    );
}

/// `origin` claims the tests cycle through: none (every token but a widget's), and two.
const ORIGINS: [Option<&str>; 3] = [
    None,
    Some("https://app.example.com"),
    Some("http://localhost:5173"),
];

/// The `origin` claim round-trips through the template and the verifier, is absent (and
/// `None`) without one, and when present must be an origin string: `null`, another type
/// or a value that is not an origin refuses the token, even correctly signed.
#[test]
fn origin_claim_round_trips_and_a_token_without_it_has_none() {
    let (key, _, _) = KeyMaterial::generate(Algorithm::Hs256).unwrap();
    let plain = claims();
    let token = encode("kid-1", &key, &plain).unwrap();
    let payload = b64(token.split('.').nth(1).unwrap(), "payload").unwrap();
    assert!(!String::from_utf8(payload).unwrap().contains("origin"));
    assert_eq!(verify_with(&token, &key).unwrap().allowed_origin, None);

    let mut widget = claims();
    widget.allowed_origin = Some("https://app.example.com".parse().unwrap());
    let fixed = FixedClaims {
        issuer: &widget.issuer,
        audience: &widget.audience,
        workspace_id: widget.workspace_id,
        org_id: widget.org_id,
        external_id: &widget.external_id,
        operations: widget.operations,
        origin: widget.allowed_origin.as_ref(),
    };
    let minted = MintTemplate::new("kid-1", &key, &fixed)
        .unwrap()
        .mint(widget.issued_at, widget.expires_at, &widget.token_id)
        .unwrap();
    let verified = verify_with(&minted, &key).unwrap();
    assert_eq!(
        verified.allowed_origin.as_ref().map(AllowedOrigin::as_str),
        Some("https://app.example.com")
    );
    assert_eq!(verified, widget);

    // Correctly signed, but the claim is not an origin string.
    let reference = String::from_utf8(
        b64(
            encode("kid-1", &key, &widget)
                .unwrap()
                .split('.')
                .nth(1)
                .unwrap(),
            "p",
        )
        .unwrap(),
    )
    .unwrap();
    for value in [
        "null",
        "1",
        r#"["https://app.example.com"]"#,
        r#""https://app.example.com/""#,
        r#""*""#,
        r#""http://evil.example""#,
    ] {
        let payload = reference.replace(
            r#""origin":"https://app.example.com""#,
            &format!(r#""origin":{value}"#),
        );
        let header = URL_SAFE_NO_PAD.encode(format!(
            r#"{{"alg":"HS256","typ":"{TOKEN_TYPE}","kid":"kid-1"}}"#
        ));
        let input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(&payload));
        let signature = URL_SAFE_NO_PAD.encode(key.sign(input.as_bytes()));
        let err = verify_with(&format!("{input}.{signature}"), &key).unwrap_err();
        assert!(
            matches!(
                err,
                Error::InvalidToken {
                    reason: TokenRejection::Malformed,
                    ..
                }
            ),
            "{value}: {err:?}"
        );
    }
}

/// Verifies `token` with `key`, whatever its header names.
fn verify_with(token: &str, key: &KeyMaterial) -> Result<ScopedClaims> {
    verify(token, |_, _| Ok(Some(key))).map(|(_, claims)| claims)
}

/// The constant starts of the canonical headers are what the encoder writes, and the
/// shortcut reads a header exactly as decoding it whole does.
#[test]
fn encoded_header_starts_match_the_encoder() {
    for (alg, start) in ENCODED_HEADER_STARTS {
        let (key, _, _) = KeyMaterial::generate(alg).unwrap();
        let token = encode("kid-1", &key, &claims()).unwrap();
        let header = token.split('.').next().unwrap();
        assert!(header.starts_with(start), "{alg}");
        let json = b64(header, "header").unwrap();
        let json = std::str::from_utf8(&json).unwrap();
        assert_eq!(json.len(), 48 + r#":"kid-1"}"#.len());
        let mut buf = [0u8; 96];
        assert_eq!(
            Canonical::encoded_header(header, &mut buf),
            Canonical::header(json)
        );
    }
    let mut buf = [0u8; 96];
    for other in [
        // The shortcut's start with another ending: an escaped kid, a trailing key.
        URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"bulkhead-scoped+jwt","kid":"a\"b"}"#),
        URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"bulkhead-scoped+jwt","kid":"a","x":1}"#),
        URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"bulkhead-scoped+jwt","kid":1}"#),
        // A kid too long for the buffer.
        URL_SAFE_NO_PAD.encode(format!(
            r#"{{"alg":"HS256","typ":"bulkhead-scoped+jwt","kid":"{}"}}"#,
            "k".repeat(200)
        )),
    ] {
        assert_eq!(Canonical::encoded_header(&other, &mut buf), None, "{other}");
    }
}

/// A template writes byte for byte what `serde_json` writes for the same claims, for
/// both algorithms, for fixed claims that leave zero, one or two bytes over a whole
/// group, and for strings that need escaping; and its tokens verify.
#[test]
fn minted_tokens_are_exactly_what_serde_writes() {
    for alg in [Algorithm::Hs256, Algorithm::EdDsa] {
        let (key, _, _) = KeyMaterial::generate(alg).unwrap();
        for ((issuer, ext), origin) in [
            ("bulkhead", "cust-1"),
            ("bulkhead1", "Kundé 北京"),
            ("bulkhead12", "quote\"and\\back"),
            ("i\tssuer", "slash/ok"),
        ]
        .into_iter()
        .zip(ORIGINS.into_iter().cycle())
        {
            let mut c = claims();
            c.issuer = issuer.to_owned();
            c.external_id = ExternalId::new(ext).unwrap();
            c.allowed_origin = origin.map(|o| o.parse().unwrap());
            let fixed = FixedClaims {
                issuer: &c.issuer,
                audience: &c.audience,
                workspace_id: c.workspace_id,
                org_id: c.org_id,
                external_id: &c.external_id,
                operations: c.operations,
                origin: c.allowed_origin.as_ref(),
            };
            let template = MintTemplate::new("kid-1", &key, &fixed).unwrap();
            for (iat, exp, jti) in [(1_000, 2_200, "jti-1"), (-5, 0, "A_b-9")] {
                c.issued_at = iat;
                c.expires_at = exp;
                c.token_id = jti.to_owned();
                let minted = template.mint(iat, exp, jti).unwrap();
                assert_eq!(minted, encode("kid-1", &key, &c).unwrap(), "{issuer} {ext}");
                assert_eq!(verify_with(&minted, &key).unwrap(), c);
            }
        }
        let template = MintTemplate::new(
            "kid-1",
            &key,
            &FixedClaims {
                issuer: "i",
                audience: "a",
                workspace_id: WorkspaceId::random(),
                org_id: OrgId::random(),
                external_id: &ExternalId::new("e").unwrap(),
                operations: OperationSet::read_only(),
                origin: None,
            },
        )
        .unwrap();
        // A jti that would need escaping, or would not fit, is refused.
        for jti in ["", "a\"b", "a.b", &"j".repeat(300)] {
            assert!(template.mint(1, 2, jti).is_err(), "{jti}");
        }
    }
}

/// The hand-written decoder accepts and refuses exactly what `base64`'s strict
/// `URL_SAFE_NO_PAD` does, and decodes to the same bytes: every string of up to three
/// characters over an alphabet with the edge cases, and random longer ones.
#[test]
fn base64url_decoding_agrees_with_the_base64_crate() {
    let check = |text: &[u8]| {
        let mut out = [0u8; 128];
        let ours = decode_b64url(text, &mut out).map(|len| out[..len].to_vec());
        let theirs = URL_SAFE_NO_PAD.decode(text).ok();
        assert_eq!(ours, theirs, "{:?}", String::from_utf8_lossy(text));
    };
    let alphabet = b"AQgw_-9+/=. \0\xff";
    let mut text = Vec::new();
    for len in 0..=5u32 {
        for n in 0..alphabet.len().pow(len) {
            text.clear();
            let mut n = n;
            for _ in 0..len {
                text.push(alphabet[n % alphabet.len()]);
                n /= alphabet.len();
            }
            check(&text);
        }
    }
    let mut bytes = [0u8; 90];
    for round in 0..500 {
        random_bytes(&mut bytes).unwrap();
        let len = round % bytes.len();
        let encoded = URL_SAFE_NO_PAD.encode(&bytes[..len]);
        check(encoded.as_bytes());
        // One character changed to every other byte.
        if let Some(at) = encoded.len().checked_sub(1 + round % 7) {
            let mut changed = encoded.clone().into_bytes();
            for b in 0..=255u8 {
                changed[at] = b;
                check(&changed);
            }
        }
    }
    // Too small an output is refused, never a panic.
    assert_eq!(decode_b64url(b"AAAA", &mut [0u8; 2]), None);
}

fn claims() -> ScopedClaims {
    ScopedClaims {
        issuer: "bulkhead".into(),
        audience: "bulkhead-workspace".into(),
        workspace_id: WorkspaceId::random(),
        org_id: OrgId::random(),
        external_id: "cust-1".parse().unwrap(),
        operations: OperationSet::scoped_default(),
        allowed_origin: None,
        issued_at: 1_000,
        expires_at: 2_200,
        token_id: "jti-1".into(),
    }
}

#[test]
fn both_algorithms_round_trip() {
    for alg in [Algorithm::Hs256, Algorithm::EdDsa] {
        let (key, _, _) = KeyMaterial::generate(alg).unwrap();
        let claims = claims();
        let token = encode("kid-1", &key, &claims).unwrap();
        let mut asked = None;
        let (_, verified) = verify(&token, |alg, kid| {
            asked = Some((alg, kid.to_owned()));
            Ok(Some(&key))
        })
        .unwrap();
        assert_eq!(asked, Some((alg, "kid-1".to_owned())));
        assert_eq!(verified, claims);
    }
}

/// A token under `header` (any JSON text) with the claims of [`claims`], signed by `key`.
fn signed_with_header(header: &str, key: &KeyMaterial) -> String {
    let reference = encode("kid-1", key, &claims()).unwrap();
    let payload = reference.split('.').nth(1).unwrap();
    let input = format!("{}.{payload}", URL_SAFE_NO_PAD.encode(header));
    let signature = URL_SAFE_NO_PAD.encode(key.sign(input.as_bytes()));
    format!("{input}.{signature}")
}

/// L4: a `kid` no engine makes (empty, too long, a character outside base64url, a NUL
/// that PostgreSQL would refuse as text) is an unknown key, and no lookup happens; a
/// plausible one of the longest length is looked up.
#[test]
fn implausible_kid_is_an_unknown_key_without_a_lookup() {
    let (key, _, _) = KeyMaterial::generate(Algorithm::Hs256).unwrap();
    let longest = "k".repeat(MAX_KID_BYTES);
    let too_long = "k".repeat(MAX_KID_BYTES + 1);
    for kid in [
        "",
        r"\u0000",
        r"a\u0000b",
        r"\u001f",
        too_long.as_str(),
        "kid 1",
        "kid.1",
        "kid/1",
        "kid+1",
        r"k\u00e9",
        r"\ud83d\ude00",
    ] {
        let header = format!(r#"{{"alg":"HS256","typ":"{TOKEN_TYPE}","kid":"{kid}"}}"#);
        let token = signed_with_header(&header, &key);
        let mut asked = false;
        let err = verify(&token, |_, _| {
            asked = true;
            Ok(Some(&key))
        })
        .unwrap_err();
        assert!(
            matches!(
                err,
                Error::InvalidToken {
                    reason: TokenRejection::UnknownKey,
                    ..
                }
            ),
            "{kid:?}: {err:?}"
        );
        assert!(!asked, "{kid:?} was looked up");
    }
    let mut asked = None;
    let token = encode(&longest, &key, &claims()).unwrap();
    verify(&token, |_, kid| {
        asked = Some(kid.to_owned());
        Ok(Some(&key))
    })
    .unwrap();
    assert_eq!(asked, Some(longest));
}

/// I1: `crit` is refused whatever its value, `null` included (RFC 7515 allows only a
/// non-empty array, and this verifier understands no extension).
#[test]
fn crit_is_refused_even_when_null() {
    let (key, _, _) = KeyMaterial::generate(Algorithm::Hs256).unwrap();
    for crit in ["null", "[]", r#"["exp"]"#, "{}", "0"] {
        let header =
            format!(r#"{{"alg":"HS256","typ":"{TOKEN_TYPE}","kid":"kid-1","crit":{crit}}}"#);
        let err = verify_with(&signed_with_header(&header, &key), &key).unwrap_err();
        assert!(
            matches!(
                err,
                Error::InvalidToken {
                    reason: TokenRejection::UnsupportedHeader,
                    ..
                }
            ),
            "{crit}: {err:?}"
        );
    }
}

#[test]
fn another_key_of_the_same_algorithm_does_not_verify() {
    let (key, _, _) = KeyMaterial::generate(Algorithm::Hs256).unwrap();
    let (other, _, _) = KeyMaterial::generate(Algorithm::Hs256).unwrap();
    let token = encode("kid-1", &key, &claims()).unwrap();
    let err = verify_with(&token, &other).unwrap_err();
    assert!(matches!(
        err,
        Error::InvalidToken {
            reason: TokenRejection::Signature,
            ..
        }
    ));
}

#[test]
fn expiry_and_leeway() {
    let c = claims();
    let at = |s: i64| Timestamp::from_unix_millis(s * 1000);
    assert!(check_times(&c, at(2_200), 0).is_ok());
    assert!(matches!(
        check_times(&c, at(2_231), 30_000),
        Err(Error::TokenExpired { .. })
    ));
    assert!(check_times(&c, at(2_229), 30_000).is_ok());
    assert!(
        check_times(&c, at(900), 30_000).is_err(),
        "issued in the future"
    );
}
