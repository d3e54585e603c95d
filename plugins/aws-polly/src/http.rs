//! The HTTP client the requests go through: `ureq` (blocking, small) with rustls on the `ring`
//! provider and the system's CA store (`rustls-native-certs`: `/etc/ssl/certs` and the like),
//! or the certificates `SSL_CERT_FILE`/`SSL_CERT_DIR` name ([`Trust`]), so nothing needs
//! OpenSSL. Proxies come from the runner's environment (`HTTPS_PROXY`, `ALL_PROXY`, `NO_PROXY`).
//!
//! Every request gets an agent of its own, so that cancelling it (`ureq::Agent::shutdown`)
//! closes that request's connection and nothing else. Every wait is bounded: see the
//! constants.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use ureq::tls::{Certificate, RootCerts, TlsConfig, TlsProvider};

/// How long resolving the endpoint's host name may take.
pub const RESOLVE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long connecting (TCP, proxy and TLS) may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a whole request may take, from resolving to the last byte of the answer.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Where HTTPS finds the CA certificates it trusts: `SSL_CERT_FILE` and `SSL_CERT_DIR`
/// (colon-separated) of the child environment, else the system's store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trust {
    /// A PEM file of certificates.
    pub file: Option<PathBuf>,
    /// Directories of certificate files.
    pub dirs: Vec<PathBuf>,
}

/// No CA certificate to trust.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "no CA certificates for HTTPS in {0}; install the ca-certificates package or set \
     SSL_CERT_FILE"
)]
pub struct TlsError(String);

/// An agent for one request: plain HTTP without `trust`, HTTPS trusting it with.
pub fn agent(trust: Option<&Trust>) -> Result<ureq::Agent, TlsError> {
    let mut tls = TlsConfig::builder()
        .provider(TlsProvider::Rustls)
        .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::ring::default_provider()));
    if let Some(trust) = trust {
        tls = tls.root_certs(RootCerts::Specific(roots(trust)?));
    }
    let config = ureq::Agent::config_builder()
        .timeout_resolve(Some(RESOLVE_TIMEOUT))
        .timeout_connect(Some(CONNECT_TIMEOUT))
        .timeout_global(Some(REQUEST_TIMEOUT))
        .http_status_as_error(false)
        .max_redirects(0)
        .user_agent(concat!("krunner-aws-polly/", env!("CARGO_PKG_VERSION")))
        .tls_config(tls.build())
        .build();
    Ok(ureq::Agent::new_with_config(config))
}

/// The certificates `trust` names. The system's store is loaded once it has certificates (an
/// image may get them while the runner lives); named files are read for each request.
fn roots(trust: &Trust) -> Result<Arc<Vec<Certificate<'static>>>, TlsError> {
    static SYSTEM: OnceLock<Arc<Vec<Certificate<'static>>>> = OnceLock::new();
    if *trust != Trust::default() {
        let mut found = rustls_native_certs::load_certs_from_paths(trust.file.as_deref(), None);
        for dir in &trust.dirs {
            let more = rustls_native_certs::load_certs_from_paths(None, Some(dir));
            found.certs.extend(more.certs);
            found.errors.extend(more.errors);
        }
        return certificates(found, "SSL_CERT_FILE/SSL_CERT_DIR").map(Arc::new);
    }
    if let Some(roots) = SYSTEM.get() {
        return Ok(Arc::clone(roots));
    }
    let certs = certificates(
        rustls_native_certs::load_native_certs(),
        "the system's store",
    )?;
    Ok(Arc::clone(SYSTEM.get_or_init(|| Arc::new(certs))))
}

fn certificates(
    found: rustls_native_certs::CertificateResult,
    place: &str,
) -> Result<Vec<Certificate<'static>>, TlsError> {
    let certs: Vec<Certificate<'static>> = found
        .certs
        .iter()
        .map(|der| Certificate::from_der(der.as_ref()).to_owned())
        .collect();
    if certs.is_empty() {
        let why = found
            .errors
            .first()
            .map_or_else(|| "none found".to_owned(), ToString::to_string);
        return Err(TlsError(format!("{place} ({why})")));
    }
    Ok(certs)
}

/// A short reason for a request that got no answer.
pub fn failure(error: &ureq::Error) -> String {
    use ureq::Timeout;
    match error {
        ureq::Error::Timeout(Timeout::Resolve) => format!(
            "the host name did not resolve within {} s",
            RESOLVE_TIMEOUT.as_secs()
        ),
        ureq::Error::Timeout(Timeout::Connect) => {
            format!("no connection within {} s", CONNECT_TIMEOUT.as_secs())
        }
        ureq::Error::Timeout(_) => {
            format!("no complete answer within {} s", REQUEST_TIMEOUT.as_secs())
        }
        ureq::Error::HostNotFound => "the host name does not resolve".to_owned(),
        ureq::Error::Io(e) => e.to_string(),
        other => other.to_string(),
    }
}

/// `value` percent-encoded for a query string (RFC 3986: everything but the unreserved
/// characters), as SigV4's canonical form needs it.
pub fn query_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_keep_only_unreserved_characters() {
        assert_eq!(query_encode("a-Z_0.~"), "a-Z_0.~");
        assert_eq!(query_encode("a b/c+=é"), "a%20b%2Fc%2B%3D%C3%A9");
    }

    #[test]
    fn a_closed_port_is_reported_at_once() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        drop(listener);
        let started = std::time::Instant::now();
        let error = agent(None)
            .expect("agent")
            .get(&format!("http://127.0.0.1:{port}/"))
            .call()
            .expect_err("nothing listens");
        assert!(
            started.elapsed() < CONNECT_TIMEOUT,
            "{:?}",
            started.elapsed()
        );
        let reason = failure(&error);
        assert!(reason.to_lowercase().contains("refused"), "{reason}");
    }
}
