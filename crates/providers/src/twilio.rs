//! Twilio's request signature (`X-Twilio-Signature`), checked exactly as Twilio's own SDKs
//! (twilio-python, twilio-node) check it, with every case of their test suites as a unit test.
//!
//! The signature is base64(HMAC-SHA1(auth token, URL + each POST parameter's name and value,
//! by name, each name's distinct values in order)). The URL is the one Twilio requested: behind
//! a proxy it is rebuilt from `public_base_url`, not from the `Host` Leadline sees. Because
//! Twilio signs the URL with or without the port depending on how it was configured, both
//! forms are tried: without any port, and with the scheme's default port added. A JSON body is
//! signed through the URL instead: its SHA-256 is the `bodySHA256` query parameter.
//!
//! Sending, status callbacks and inbound messages come with the Twilio integration.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::SignatureError;

/// The header Twilio signs its requests with.
pub const SIGNATURE_HEADER: &str = "x-twilio-signature";

/// The expected signature of a request to `url` with form parameters `params`.
pub fn signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut by_name: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (name, value) in params {
        by_name.entry(name).or_default().insert(value);
    }
    let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(auth_token.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(url.as_bytes());
    for (name, values) in by_name {
        for value in values {
            mac.update(name.as_bytes());
            mac.update(value.as_bytes());
        }
    }
    STANDARD.encode(mac.finalize().into_bytes())
}

/// The URL's two forms Twilio may have signed: without a port, and with the scheme's default
/// port when it had none (a URL with another port is kept as it is, as the SDKs do).
fn url_forms(url: &str) -> Option<[String; 2]> {
    let (scheme, rest) = url.split_once("://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (userinfo, host_port) = match authority.rsplit_once('@') {
        Some((user, hp)) => (format!("{user}@"), hp),
        None => (String::new(), authority),
    };
    // A port is the digits after the last colon outside an IPv6 literal's brackets.
    let (host, port) = match host_port.rsplit_once(':') {
        Some((host, port))
            if !port.is_empty()
                && port.bytes().all(|b| b.is_ascii_digit())
                && !host_port.ends_with(']') =>
        {
            (host, Some(port))
        }
        _ => (host_port, None),
    };
    let without = format!("{scheme}://{userinfo}{host}{tail}");
    let with = match port {
        Some(_) => url.to_owned(),
        None => {
            let default = if scheme.eq_ignore_ascii_case("https") {
                "443"
            } else {
                "80"
            };
            format!("{scheme}://{userinfo}{host}:{default}{tail}")
        }
    };
    Some([without, with])
}

/// The value of query parameter `name` in `url`, decoded.
fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    let query = query.split('#').next().unwrap_or(query);
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Checks a request Twilio says it sent. `url` is the full URL as Twilio requested it;
/// `params` the form-encoded body's pairs (empty for a JSON body); `json_body` the raw body of
/// a JSON request, whose hash must match the URL's `bodySHA256`.
pub fn verify(
    auth_token: &str,
    header: Option<&str>,
    url: &str,
    params: &[(String, String)],
    json_body: Option<&[u8]>,
) -> Result<(), SignatureError> {
    let presented = header.ok_or(SignatureError::Missing)?;
    if presented.is_empty() || presented.len() > 100 {
        return Err(SignatureError::Malformed);
    }
    let forms = url_forms(url).ok_or(SignatureError::Malformed)?;
    let params: &[(String, String)] = match json_body {
        Some(body) => {
            let expected = query_param(url, "bodySHA256").ok_or(SignatureError::Mismatch)?;
            let actual = hex::encode(Sha256::digest(body));
            if !bool::from(
                actual
                    .as_bytes()
                    .ct_eq(expected.to_ascii_lowercase().as_bytes()),
            ) {
                return Err(SignatureError::Mismatch);
            }
            &[]
        }
        None => params,
    };
    let matches = forms.iter().any(|form| {
        let expected = signature(auth_token, form, params);
        bool::from(expected.as_bytes().ct_eq(presented.as_bytes()))
    });
    if matches {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct Vectors {
        auth_token: String,
        cases: Vec<Case>,
    }

    #[derive(Deserialize)]
    struct Case {
        name: String,
        request_url: String,
        #[serde(default)]
        body: Option<String>,
        params: BTreeMap<String, serde_json::Value>,
        signature: String,
        valid: bool,
    }

    fn pairs(params: &BTreeMap<String, serde_json::Value>) -> Vec<(String, String)> {
        let mut pairs = Vec::new();
        for (name, value) in params {
            match value {
                serde_json::Value::Array(values) => {
                    for v in values {
                        pairs.push((name.clone(), v.as_str().unwrap().to_owned()));
                    }
                }
                v => pairs.push((name.clone(), v.as_str().unwrap().to_owned())),
            }
        }
        pairs
    }

    #[test]
    fn every_case_of_the_official_suites_holds() {
        let vectors: Vectors =
            serde_json::from_str(include_str!("../vectors/twilio-signature.json")).unwrap();
        assert!(vectors.cases.len() >= 9);
        for case in &vectors.cases {
            let result = verify(
                &vectors.auth_token,
                Some(&case.signature),
                &case.request_url,
                &pairs(&case.params),
                case.body.as_deref().map(str::as_bytes),
            );
            assert_eq!(result.is_ok(), case.valid, "{}: {result:?}", case.name);
        }
    }

    #[test]
    fn a_json_body_must_match_its_hash() {
        let vectors: Vectors =
            serde_json::from_str(include_str!("../vectors/twilio-signature.json")).unwrap();
        let case = vectors.cases.iter().find(|c| c.body.is_some()).unwrap();
        let changed = case.body.as_ref().unwrap().replace("true", "false");
        assert_eq!(
            verify(
                &vectors.auth_token,
                Some(&case.signature),
                &case.request_url,
                &[],
                Some(changed.as_bytes()),
            ),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn urls_are_tried_with_and_without_their_port() {
        assert_eq!(
            url_forms("https://a.example/x?y=1").unwrap(),
            ["https://a.example/x?y=1", "https://a.example:443/x?y=1"]
        );
        assert_eq!(
            url_forms("http://u:p@a.example:8080/x").unwrap(),
            ["http://u:p@a.example/x", "http://u:p@a.example:8080/x"]
        );
        assert_eq!(
            url_forms("https://[::1]/hook").unwrap(),
            ["https://[::1]/hook", "https://[::1]:443/hook"]
        );
        assert!(url_forms("not a url").is_none());
    }

    #[test]
    fn a_missing_or_absurd_header_is_refused() {
        assert_eq!(
            verify("t", None, "https://a.example/", &[], None),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify("t", Some(""), "https://a.example/", &[], None),
            Err(SignatureError::Malformed)
        );
    }

    proptest! {
        #[test]
        fn verify_never_panics(
            url in ".{0,120}",
            header in ".{0,64}",
            params in proptest::collection::vec((".{0,12}", ".{0,12}"), 0..6),
            body in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..64)),
        ) {
            let _ = verify("token", Some(&header), &url, &params, body.as_deref());
        }

        #[test]
        fn what_is_signed_verifies_and_a_changed_value_does_not(
            path in "[a-z/]{0,20}",
            params in proptest::collection::btree_map("[A-Za-z]{1,8}", "[ -~]{0,12}", 1..6),
        ) {
            let params: Vec<(String, String)> = params.into_iter().collect();
            let url = format!("https://hooks.example/{path}");
            let sig = signature("token", &url, &params);
            prop_assert!(verify("token", Some(&sig), &url, &params, None).is_ok());
            let mut changed = params.clone();
            changed[0].1.push('x');
            prop_assert_eq!(verify("token", Some(&sig), &url, &changed, None), Err(SignatureError::Mismatch));
        }
    }
}
