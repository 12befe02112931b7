//! [`AllowedOrigin`]: the one browser origin a widget's scoped token may be used from.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use serde::Serialize;

use crate::error::Error;

/// The field name in errors.
const FIELD: &str = "allowed_origin";
/// The longest origin accepted, in bytes.
const MAX_LEN: usize = 255;

/// A web origin (RFC 6454) as a browser writes it in its `Origin` header: `https://` (or
/// `http://` for a loopback host only) followed by a host and an optional port, nothing else.
///
/// Parsing is strict and names the cause: no path (not even a trailing `/`), query or
/// fragment, no user information, no wildcard, ASCII only (an international domain name in
/// its `xn--` form). The value is kept in the form a browser sends, so that an `Origin`
/// header is compared byte for byte: scheme and host lowercased, an IPv6 address in its
/// short form, the scheme's default port (443, 80) dropped.
///
/// `http` is refused for any host but `localhost` (and `*.localhost`), `127.0.0.0/8` and
/// `[::1]`: an origin served in clear text can be impersonated on the network, which would
/// hand the token to whoever does.
///
/// ```
/// use bulkhead_core::AllowedOrigin;
/// let origin: AllowedOrigin = "https://App.Example.com:443".parse()?;
/// assert_eq!(origin.as_str(), "https://app.example.com");
/// assert!("https://app.example.com/".parse::<AllowedOrigin>().is_err());
/// assert!("http://app.example.com".parse::<AllowedOrigin>().is_err());
/// assert!("http://localhost:5173".parse::<AllowedOrigin>().is_ok());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct AllowedOrigin(String);

impl AllowedOrigin {
    /// Checks `value` as the field `field` and keeps it in a browser's form.
    pub fn parse_field(field: &'static str, value: &str) -> Result<Self, Error> {
        let bad = |why: &str| Error::invalid_input(field, why.to_owned());
        if value.is_empty() {
            return Err(bad("must not be empty"));
        }
        if value.len() > MAX_LEN {
            return Err(bad("is longer than 255 bytes"));
        }
        if !value.is_ascii() {
            return Err(bad(
                "must be ASCII; write an international domain name in its `xn--` form",
            ));
        }
        if value
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
        {
            return Err(bad("must not contain whitespace or control characters"));
        }
        if value.contains('*') {
            return Err(bad("must not contain a wildcard; name one origin"));
        }
        let Some((scheme, authority)) = value.split_once("://") else {
            return Err(bad(
                "must be `https://host` or `https://host:port` (`http://` for localhost only)",
            ));
        };
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "https" && scheme != "http" {
            return Err(bad("must use `https` (or `http` for localhost only)"));
        }
        if authority.ends_with('/') {
            return Err(bad("must not end with `/`; an origin has no path"));
        }
        if authority.contains(['/', '?', '#', '\\']) {
            return Err(bad("must not have a path, query or fragment"));
        }
        if authority.contains('@') {
            return Err(bad("must not contain user information (`user@`)"));
        }
        let (host, port) = split_port(authority).ok_or_else(|| bad("has an invalid port"))?;
        let host = Host::parse(host).ok_or_else(|| bad("has an invalid host"))?;
        if scheme == "http" && !host.is_loopback() {
            return Err(bad(
                "uses `http`, allowed only for localhost, 127.0.0.1 and [::1]; use `https`",
            ));
        }
        let default_port = if scheme == "https" { 443 } else { 80 };
        let mut origin = format!("{scheme}://{host}");
        if let Some(port) = port.filter(|p| *p != default_port) {
            origin.push_str(&format!(":{port}"));
        }
        Ok(Self(origin))
    }

    /// The origin as a browser writes it in `Origin`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The host and the port of `authority` (`host`, `host:port`, `[v6]`, `[v6]:port`); `None`
/// when the port is not a number from 1 to 65535.
fn split_port(authority: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = if authority.starts_with('[') {
        match authority.split_once(']') {
            Some((v6, "")) => return Some((authority.get(..v6.len() + 1)?, None)),
            Some((v6, rest)) => (authority.get(..v6.len() + 1)?, rest.strip_prefix(':')?),
            None => return Some((authority, None)),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, port),
            None => return Some((authority, None)),
        }
    };
    if port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let port: u16 = port.parse().ok()?;
    (port != 0).then_some((host, Some(port)))
}

/// A checked host.
enum Host {
    Name(String),
    V4(Ipv4Addr),
    V6(Ipv6Addr),
}

impl Host {
    fn parse(host: &str) -> Option<Self> {
        if let Some(v6) = host.strip_prefix('[') {
            return v6.strip_suffix(']')?.parse().ok().map(Self::V6);
        }
        if let Ok(v4) = host.parse() {
            return Some(Self::V4(v4));
        }
        let name = host.to_ascii_lowercase();
        if name.is_empty() || name.len() > 253 {
            return None;
        }
        let label_ok = |label: &str| {
            (1..=63).contains(&label.len())
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        };
        if !name.split('.').all(label_ok) {
            return None;
        }
        // A name ending in a number is an IPv4 address in some other notation (`0x7f.1`,
        // `2130706433`) to a browser: refused rather than guessed.
        let last = name.rsplit('.').next()?;
        if last.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(Self::Name(name))
    }

    fn is_loopback(&self) -> bool {
        match self {
            Self::Name(name) => name == "localhost" || name.ends_with(".localhost"),
            Self::V4(ip) => ip.is_loopback(),
            Self::V6(ip) => ip.is_loopback(),
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Name(name) => f.write_str(name),
            Self::V4(ip) => write!(f, "{ip}"),
            Self::V6(ip) => write!(f, "[{ip}]"),
        }
    }
}

impl FromStr for AllowedOrigin {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse_field(FIELD, s)
    }
}

impl fmt::Display for AllowedOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for AllowedOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AllowedOrigin({:?})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_kept_as_a_browser_writes_them() {
        for (given, kept) in [
            ("https://app.example.com", "https://app.example.com"),
            ("HTTPS://App.Example.COM", "https://app.example.com"),
            ("https://app.example.com:443", "https://app.example.com"),
            (
                "https://app.example.com:8443",
                "https://app.example.com:8443",
            ),
            ("http://localhost:5173", "http://localhost:5173"),
            ("http://localhost:80", "http://localhost"),
            ("http://widget.localhost", "http://widget.localhost"),
            ("http://127.0.0.1:3000", "http://127.0.0.1:3000"),
            ("http://[0:0:0:0:0:0:0:1]:8080", "http://[::1]:8080"),
            ("https://[2001:db8::1]", "https://[2001:db8::1]"),
            (
                "https://xn--bcher-kva.example",
                "https://xn--bcher-kva.example",
            ),
        ] {
            let origin: AllowedOrigin = given.parse().unwrap();
            assert_eq!(origin.as_str(), kept, "{given}");
            // Parsing what is kept changes nothing.
            assert_eq!(kept.parse::<AllowedOrigin>().unwrap(), origin);
        }
    }

    #[test]
    fn anything_but_one_origin_is_refused_naming_the_field() {
        for bad in [
            "",
            "null",
            "*",
            "https://*.example.com",
            "https://app.example.com/",
            "https://app.example.com/widget",
            "https://app.example.com?x=1",
            "https://app.example.com#top",
            "https://user:pass@app.example.com",
            "https://user@app.example.com",
            "javascript:alert(1)",
            "javascript://app.example.com",
            "file:///etc/passwd",
            "ftp://app.example.com",
            "app.example.com",
            "//app.example.com",
            "http://app.example.com",
            "http://10.0.0.1",
            "https://",
            "https://:443",
            "https://app.example.com:",
            "https://app.example.com:0",
            "https://app.example.com:65536",
            "https://app.example.com:+80",
            "https://-app.example.com",
            "https://app..example.com",
            "https://app.example.com.",
            "https://0x7f.1",
            "https://2130706433",
            "https://[::1",
            "https://[nope]",
            "https://bücher.example",
            " https://app.example.com",
            "https://app.example.com\n",
            "https://app example.com",
        ] {
            match bad.parse::<AllowedOrigin>() {
                Err(Error::InvalidInput { field, .. }) => assert_eq!(field, FIELD, "{bad:?}"),
                other => panic!("{bad:?} gave {other:?}"),
            }
        }
        let long = format!("https://{}.example.com", "a".repeat(250));
        assert!(long.parse::<AllowedOrigin>().is_err());
    }
}
