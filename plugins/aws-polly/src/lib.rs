//! The `vendor.aws_polly` runner: text to speech with Amazon Polly.
//!
//! A `code` op carries `{"text": ..., "voiceId": ..., "textType": "text"|"ssml"}`
//! ([`query`]). The runner calls Polly's `SynthesizeSpeech` with `OutputFormat=ogg_vorbis` and
//! emits one `media` message, `{"type": "<Content-Type>", "data":
//! "data:<Content-Type>;base64,<audio>"}`, then exits with 0. Credentials, region and endpoint
//! come from the child environment ([`settings`]).
//!
//! Unlike the original runner, every failure is reported on stderr as
//! `vendor.aws_polly-kernel: error: ...` with a non-zero exit code: 2 for a query that is not
//! such JSON, 1 for everything else (missing credentials, an AWS error with its code and
//! message, no answer from the endpoint). `interrupt` cancels the request in flight
//! ([`inflight`]): the query ends with 130 at once. Completion suggests voice ids from
//! `DescribeVoices`, cached ([`voices`]). There is no batch mode: `build *` and `exec *` end
//! with 127.
//!
//! This plugin runs no processes. It does make outbound HTTPS requests itself, to the Polly
//! endpoint only, through a client of its own ([`http`]): the host has no facility for them,
//! and the agent's protocol is not involved. The requests run on the plugin's own short-lived
//! threads, each bounded by the timeouts in [`http`], so `query`, `interrupt` and `shutdown`
//! never wait on the network longer than those; `shutdown` cancels a request in flight.

mod http;
mod inflight;
mod polly;
mod query;
mod settings;
mod sign;
mod voices;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use krunner_plugin_api::sdk::{HostHandle, Kernel, Result};
use krunner_plugin_api::{
    capability, CompletionRequest, PluginError, PluginInfo, RunnerConfig, Sample,
};

use inflight::{InFlight, Outcome};
use polly::{Audio, Polly};
use settings::{Settings, CREDENTIAL_VARS};
use voices::Voices;

/// The runner's name, as the agent passes it.
pub const LANGUAGE: &str = "vendor.aws_polly";

/// Exit code of a query that is not the expected JSON.
pub const EXIT_BAD_QUERY: i32 = 2;
/// Exit code of a request that failed.
pub const EXIT_FAILED: i32 = 1;
/// Exit code of an interrupted request.
pub const EXIT_INTERRUPTED: i32 = 130;

/// How long a completion waits for the voice list (the host allows one second).
const COMPLETION_WAIT: Duration = Duration::from_millis(700);

/// The plugin.
pub struct PollyKernel {
    host: HostHandle,
    /// `vendor.aws_polly-kernel`, the prefix of the runner's stderr lines.
    name: String,
    in_flight: InFlight,
    voices: Arc<Voices>,
}

impl PollyKernel {
    /// Writes `text` as a line of the task's stderr.
    fn say(&self, text: &str) -> Result<()> {
        self.host.stderr(format!("{}: {text}\n", self.name))
    }

    /// Reports `error` and returns `code`.
    fn fail(&self, code: i32, error: &dyn std::error::Error) -> Result<i32> {
        self.say(&format!("error: {error}"))?;
        Ok(code)
    }

    /// Shows the audio.
    fn show(&self, audio: &Audio) -> Result<i32> {
        let data = base64::engine::general_purpose::STANDARD.encode(&audio.bytes);
        let uri = format!("data:{};base64,{data}", audio.content_type);
        self.host.media(&audio.content_type, uri.into())?;
        Ok(0)
    }
}

impl Kernel for PollyKernel {
    fn info() -> PluginInfo {
        PluginInfo {
            language: LANGUAGE.into(),
            plugin_version: env!("CARGO_PKG_VERSION").into(),
            capabilities: vec![capability::QUERY.into(), capability::COMPLETE.into()],
            description: "Amazon Polly text to speech: a query {\"text\", \"voiceId\", \
                          \"textType\"} gives audio/ogg media"
                .into(),
            ..PluginInfo::default()
        }
    }

    fn samples() -> Vec<Sample> {
        samples()
    }

    fn new(config: RunnerConfig, host: HostHandle) -> Result<Self> {
        Ok(Self {
            host,
            name: format!("{}-kernel", config.language),
            in_flight: InFlight::default(),
            voices: Arc::default(),
        })
    }

    fn build(&self) -> Result<i32> {
        Err(no_batch_mode())
    }

    fn execute(&self) -> Result<i32> {
        Err(no_batch_mode())
    }

    fn query(&self, code: &str) -> Result<i32> {
        let speech = match query::parse(code) {
            Ok(speech) => speech,
            Err(e) => return self.fail(EXIT_BAD_QUERY, &e),
        };
        let settings = match Settings::from_env(&self.host.child_env()) {
            Ok(s) => s,
            Err(e) => return self.fail(EXIT_FAILED, &e),
        };
        if let Err(e) = settings.credentials() {
            return self.fail(EXIT_FAILED, &e);
        }
        let polly = match Polly::new(settings) {
            Ok(p) => p,
            Err(e) => return self.fail(EXIT_FAILED, &e),
        };
        let agent = polly.agent().clone();
        let interrupted = || self.host.interrupted();
        match self
            .in_flight
            .run(&agent, interrupted, move || polly.synthesize(&speech))
        {
            Err(e) => self.fail(EXIT_FAILED, &e),
            Ok(Outcome::Cancelled) => {
                self.say("interrupted: the request to Polly was cancelled")?;
                Ok(EXIT_INTERRUPTED)
            }
            Ok(Outcome::Done(Err(e))) => self.fail(EXIT_FAILED, &e),
            Ok(Outcome::Done(Ok(audio))) => self.show(&audio),
        }
    }

    fn complete(&self, request: &CompletionRequest) -> Result<Vec<String>> {
        let Ok(settings) = Settings::from_env(&self.host.child_env()) else {
            return Ok(Vec::new());
        };
        let Some(credentials) = &settings.credentials else {
            return Ok(Vec::new());
        };
        let key = (
            settings.endpoint.clone(),
            settings.region.clone(),
            credentials.access_key_id.clone(),
        );
        let host = self.host.clone();
        let ids = self.voices.ids(key, COMPLETION_WAIT, move || {
            match Polly::new(settings).and_then(|p| p.voice_ids()) {
                Ok(ids) => Some(ids),
                Err(e) => {
                    host.debug(&format!("no voice ids for completion: {e}"));
                    None
                }
            }
        });
        let (line, col) = if request.line.is_empty() {
            let last = request.code.lines().last().unwrap_or_default();
            (last, usize::MAX)
        } else {
            (
                request.line.as_str(),
                usize::try_from(request.col).unwrap_or(0),
            )
        };
        Ok(voices::matching(&ids, voices::word_at(line, col)))
    }

    fn interrupt(&self) {
        self.in_flight.cancel();
    }

    fn shutdown(&self) {
        self.in_flight.cancel();
    }
}

fn no_batch_mode() -> PluginError {
    PluginError::unsupported(format!(
        "the {LANGUAGE} runner has no batch mode; send a query (code) such as {}",
        query::SHAPE
    ))
}

/// The self-tests: speech needs credentials (and an endpoint, Polly's own by default), the
/// others run anywhere.
fn samples() -> Vec<Sample> {
    let needs: Vec<String> = CREDENTIAL_VARS.iter().map(|v| (*v).to_owned()).collect();
    let speech = |name: &str, query: &str| Sample {
        name: name.into(),
        code: Some(query.into()),
        expect_stdout: Some(String::new()),
        requires_env: needs.clone(),
        ..Sample::default()
    };
    vec![
        speech(
            "speech",
            r#"{"text": "Hello, world!", "voiceId": "Joanna", "textType": "text"}"#,
        ),
        speech(
            "ssml",
            r#"{"text": "<speak>Hello, <break time=\"300ms\"/> world!</speak>", "voiceId": "Joanna", "textType": "ssml"}"#,
        ),
        Sample {
            name: "not-json".into(),
            code: Some("Hello, world!".into()),
            expect_stdout: Some(String::new()),
            expect_exit: EXIT_BAD_QUERY,
            ..Sample::default()
        },
        Sample {
            name: "no-batch-mode".into(),
            exec: Some("*".into()),
            expect_exit: 127,
            ..Sample::default()
        },
    ]
}

krunner_plugin_api::export_plugin!(PollyKernel);
