//! Where Polly is and whom to sign as, from the child environment (which includes
//! `environ.txt`), read afresh for each request: the same variables the AWS SDKs read.
//!
//! - Credentials: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and, for temporary ones,
//!   `AWS_SESSION_TOKEN`. Shared credential files, profiles and instance roles are not read.
//! - Region: `AWS_DEFAULT_REGION`, else `AWS_REGION`, else [`DEFAULT_REGION`] (as the original
//!   runner).
//! - Endpoint: `AWS_ENDPOINT_URL_POLLY`, else `AWS_ENDPOINT_URL`, else Polly's own endpoint in
//!   the region.
//! - CA certificates for HTTPS: `SSL_CERT_FILE` and `SSL_CERT_DIR`, else the system's store.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::http::Trust;

/// The region when the environment names none.
pub const DEFAULT_REGION: &str = "ap-northeast-2";

/// The variables that name an endpoint, the service-specific one first.
pub const ENDPOINT_VARS: [&str; 2] = ["AWS_ENDPOINT_URL_POLLY", "AWS_ENDPOINT_URL"];

/// The variables that hold the credentials, for messages and samples.
pub const CREDENTIAL_VARS: [&str; 2] = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"];

/// Everything a request needs to know about the account and the endpoint.
#[derive(Clone)]
pub struct Settings {
    /// The signing region.
    pub region: String,
    /// The endpoint's base URL, without a trailing `/`.
    pub endpoint: String,
    /// The credentials, if the environment has them.
    pub credentials: Option<Credentials>,
    /// The CA certificates HTTPS trusts.
    pub trust: Trust,
}

/// AWS credentials.
#[derive(Clone)]
pub struct Credentials {
    /// `AWS_ACCESS_KEY_ID`.
    pub access_key_id: String,
    /// `AWS_SECRET_ACCESS_KEY`.
    pub secret_access_key: String,
    /// `AWS_SESSION_TOKEN`, for temporary credentials.
    pub session_token: Option<String>,
}

// Never print the secret.
impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field(
                "access_key_id",
                &self.credentials.as_ref().map(|c| &c.access_key_id),
            )
            .finish()
    }
}

/// Why no request can be made with the environment as it is.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// An endpoint variable is not an http(s) URL.
    #[error("{var}={value:?} is not an http:// or https:// URL")]
    Endpoint {
        /// The variable.
        var: &'static str,
        /// Its value.
        value: String,
    },
    /// The credentials are missing.
    #[error(
        "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and \
         AWS_SESSION_TOKEN for temporary credentials) in the environment or in environ.txt"
    )]
    NoCredentials,
}

impl Settings {
    /// The settings the environment `env` gives.
    pub fn from_env(env: &BTreeMap<String, String>) -> Result<Self, SettingsError> {
        let var = |name: &str| {
            env.get(name)
                .map(|v| v.trim())
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let region = var("AWS_DEFAULT_REGION")
            .or_else(|| var("AWS_REGION"))
            .unwrap_or_else(|| DEFAULT_REGION.to_owned());
        let endpoint = match ENDPOINT_VARS
            .iter()
            .find_map(|name| var(name).map(|v| (*name, v)))
        {
            Some((name, url)) => checked_endpoint(name, &url)?,
            None => default_endpoint(&region),
        };
        let credentials = match (var(CREDENTIAL_VARS[0]), var(CREDENTIAL_VARS[1])) {
            (Some(access_key_id), Some(secret_access_key)) => Some(Credentials {
                access_key_id,
                secret_access_key,
                session_token: var("AWS_SESSION_TOKEN"),
            }),
            _ => None,
        };
        let trust = Trust {
            file: var("SSL_CERT_FILE").map(PathBuf::from),
            dirs: var("SSL_CERT_DIR")
                .map(|d| std::env::split_paths(&d).collect())
                .unwrap_or_default(),
        };
        Ok(Self {
            region,
            endpoint,
            credentials,
            trust,
        })
    }

    /// The credentials, or why there are none.
    pub fn credentials(&self) -> Result<&Credentials, SettingsError> {
        self.credentials
            .as_ref()
            .ok_or(SettingsError::NoCredentials)
    }

    /// The URL of `path` (which starts with `/`) on the endpoint.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.endpoint)
    }

    /// Whether the endpoint is reached over TLS.
    pub fn is_https(&self) -> bool {
        self.endpoint.starts_with("https://")
    }
}

/// Polly's endpoint in `region`.
fn default_endpoint(region: &str) -> String {
    let domain = if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    format!("https://polly.{region}.{domain}")
}

fn checked_endpoint(var: &'static str, url: &str) -> Result<String, SettingsError> {
    let lower = url.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"));
    if rest.is_none_or(|host| host.is_empty() || host.starts_with('/')) {
        return Err(SettingsError::Endpoint {
            var,
            value: url.to_owned(),
        });
    }
    Ok(url.trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_to_polly_in_seoul_without_credentials() {
        let s = Settings::from_env(&env(&[])).expect("settings");
        assert_eq!(s.region, "ap-northeast-2");
        assert_eq!(s.endpoint, "https://polly.ap-northeast-2.amazonaws.com");
        assert!(matches!(s.credentials(), Err(SettingsError::NoCredentials)));
        let cn = Settings::from_env(&env(&[("AWS_REGION", "cn-north-1")])).expect("settings");
        assert_eq!(cn.endpoint, "https://polly.cn-north-1.amazonaws.com.cn");
    }

    #[test]
    fn the_service_endpoint_wins_over_the_general_one() {
        let s = Settings::from_env(&env(&[
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:1"),
            ("AWS_ENDPOINT_URL_POLLY", "http://localhost:4566/"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_SESSION_TOKEN", " "),
        ]))
        .expect("settings");
        assert_eq!(s.endpoint, "http://localhost:4566");
        assert_eq!(s.url("/v1/speech"), "http://localhost:4566/v1/speech");
        assert_eq!(s.region, "us-east-1");
        let creds = s.credentials().expect("credentials");
        assert_eq!(creds.session_token, None);
        assert!(!format!("{s:?}").contains("secret"));
    }

    #[test]
    fn an_endpoint_must_be_an_http_url() {
        for bad in ["localhost:4566", "ftp://x", "http://", "https:///v1"] {
            let err = Settings::from_env(&env(&[("AWS_ENDPOINT_URL", bad)]))
                .expect_err(bad)
                .to_string();
            assert!(err.contains("AWS_ENDPOINT_URL="), "{err}");
        }
    }
}
