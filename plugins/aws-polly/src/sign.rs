//! Signature Version 4 for Polly requests, by the AWS SDK for Rust's own signer (`aws-sigv4`):
//! the headers to add to a request so that AWS accepts it.

use std::time::SystemTime;

use aws_sigv4::http_request::{self, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;

use crate::settings::Credentials;

/// The service name in the signature's scope.
const SERVICE: &str = "polly";

/// A request to sign.
pub struct Unsigned<'a> {
    /// `GET` or `POST`.
    pub method: &'a str,
    /// The full URL, already percent-encoded.
    pub url: &'a str,
    /// Headers that are sent and must be signed (`host` is taken from the URL).
    pub headers: &'a [(&'a str, &'a str)],
    /// The body.
    pub body: &'a [u8],
}

/// The signer refused the request (a malformed URL or header).
#[derive(Debug, thiserror::Error)]
#[error("cannot sign the request: {0}")]
pub struct SignError(String);

/// The headers (`authorization`, `x-amz-date`, and `x-amz-security-token` for temporary
/// credentials) that sign `request` for `region` at `time`.
pub fn headers(
    request: &Unsigned<'_>,
    credentials: &Credentials,
    region: &str,
    time: SystemTime,
) -> Result<Vec<(String, String)>, SignError> {
    let identity = aws_credential_types::Credentials::new(
        &credentials.access_key_id,
        &credentials.secret_access_key,
        credentials.session_token.clone(),
        None,
        "environment",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(SERVICE)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| SignError(e.to_string()))?
        .into();
    let signable = SignableRequest::new(
        request.method,
        request.url,
        request.headers.iter().copied(),
        SignableBody::Bytes(request.body),
    )
    .map_err(|e| SignError(e.to_string()))?;
    let (instructions, _signature) = http_request::sign(signable, &params)
        .map_err(|e| SignError(e.to_string()))?
        .into_parts();
    Ok(instructions
        .headers()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn credentials(token: Option<&str>) -> Credentials {
        Credentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            session_token: token.map(str::to_owned),
        }
    }

    fn sign(token: Option<&str>, body: &[u8]) -> Vec<(String, String)> {
        let request = Unsigned {
            method: "POST",
            url: "https://polly.ap-northeast-2.amazonaws.com/v1/speech",
            headers: &[("content-type", "application/json")],
            body,
        };
        // 2015-08-30T12:36:00Z, the date of AWS's SigV4 test suite.
        let time = SystemTime::UNIX_EPOCH + Duration::from_secs(1_440_938_160);
        headers(&request, &credentials(token), "ap-northeast-2", time).expect("signed")
    }

    fn get<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn the_signature_covers_polly_in_the_region_and_the_sent_headers() {
        let signed = sign(None, b"{}");
        assert_eq!(get(&signed, "x-amz-date"), Some("20150830T123600Z"));
        let auth = get(&signed, "authorization").expect("authorization");
        assert!(
            auth.starts_with(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/ap-northeast-2/polly/aws4_request, \
                 SignedHeaders=content-type;host;x-amz-date, Signature="
            ),
            "{auth}"
        );
        assert_eq!(get(&signed, "x-amz-security-token"), None);
        // The body is signed: another body, another signature.
        assert_ne!(
            get(&sign(None, b"{ }"), "authorization"),
            Some(auth),
            "the body is part of the signature"
        );
    }

    #[test]
    fn temporary_credentials_send_their_token() {
        let signed = sign(Some("TOKEN"), b"{}");
        assert_eq!(get(&signed, "x-amz-security-token"), Some("TOKEN"));
        let auth = get(&signed, "authorization").expect("authorization");
        assert!(
            auth.contains("SignedHeaders=content-type;host;x-amz-date;x-amz-security-token"),
            "{auth}"
        );
    }
}
