//! The `vendor.aws_polly` runner against a real Polly API on loopback (moto's server), and
//! against endpoints that refuse connections or never answer.

use std::io::Read;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use krunner_tests::{artifacts, Message, Options, Outcome, Runner};

use crate::moto::{self, Moto};
use crate::TASK;

const LANG: &str = "vendor.aws_polly";

/// moto's audio: eight zero bytes.
const MOTO_AUDIO: &str = "data:audio/ogg;base64,AAAAAAAAAAA=";

/// A runner whose `environ.txt` points it at `endpoint` with a made-up key (moto accepts any
/// key until signatures are enforced). Every AWS variable is set, so none comes from the
/// environment the tests run in.
fn runner(endpoint: &str, key: (&str, &str)) -> Runner {
    runner_with(endpoint, key, "")
}

/// [`runner`] with more lines for `environ.txt`.
fn runner_with(endpoint: &str, key: (&str, &str), more: &str) -> Runner {
    let environ = format!(
        "AWS_ENDPOINT_URL_POLLY={endpoint}\nAWS_ENDPOINT_URL=\nAWS_DEFAULT_REGION=us-east-1\n\
         AWS_ACCESS_KEY_ID={}\nAWS_SECRET_ACCESS_KEY={}\nAWS_SESSION_TOKEN=\n{more}",
        key.0, key.1
    );
    Runner::start_with(
        LANG,
        Options {
            environ: Some(environ),
            ..Options::default()
        },
    )
}

const KEY: (&str, &str) = ("AKIAIOSFODNN7EXAMPLE", "not-checked-by-moto");

fn speak(r: &Runner, text: &str, voice: &str, text_type: &str) -> Outcome {
    let query = serde_json::json!({"text": text, "voiceId": voice, "textType": text_type});
    r.run("code", query.to_string())
}

/// The one media message of a successful synthesis.
fn audio(out: &Outcome) -> serde_json::Value {
    assert_eq!(out.exit_code(), Some(0), "{}", out.stderr_text());
    let media: Vec<&Message> = out.of("media");
    assert_eq!(media.len(), 1, "{:?}", out.messages);
    assert_eq!(out.stderr_text(), "");
    media[0].json()
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[test]
fn speech_comes_back_as_ogg_media() {
    let Some(endpoint) = moto::shared() else {
        return;
    };
    let r = runner(endpoint, KEY);
    let media = audio(&speak(&r, "Hello, world!", "Joanna", "text"));
    assert_eq!(media["type"], "audio/ogg");
    assert_eq!(media["data"], MOTO_AUDIO);
}

#[test]
fn ssml_is_spoken_too() {
    let Some(endpoint) = moto::shared() else {
        return;
    };
    let r = runner(endpoint, KEY);
    let ssml = r#"<speak>Hello, <break time="300ms"/> world!</speak>"#;
    let media = audio(&speak(&r, ssml, "Seoyeon", "ssml"));
    assert_eq!(media["data"], MOTO_AUDIO);
}

#[test]
fn an_unknown_voice_is_polly_s_error_on_stderr() {
    let Some(endpoint) = moto::shared() else {
        return;
    };
    let r = runner(endpoint, KEY);
    let out = speak(&r, "Hello", "Nobody", "text");
    assert_eq!(out.exit_code(), Some(1));
    assert!(out.of("media").is_empty());
    let err = out.stderr_text();
    assert!(
        err.starts_with(
            "vendor.aws_polly-kernel: error: SynthesizeSpeech failed: InvalidParameterValue: "
        ) && err.contains("(HTTP 400"),
        "{err}"
    );
}

#[test]
fn a_query_that_is_not_the_json_asked_for_is_refused() {
    let r = runner(&format!("http://127.0.0.1:{}", closed_port()), KEY);
    for (query, expected) in [
        ("Hello, world!", "the query is not JSON"),
        (r#"{"text": "Hello"}"#, r#"the query has no "voiceId""#),
        (
            r#"{"text": "Hi", "voiceId": "Joanna", "textType": "html"}"#,
            r#""textType" must be "text" or "ssml""#,
        ),
    ] {
        let out = r.run("code", query);
        assert_eq!(out.exit_code(), Some(2), "{query}");
        let err = out.stderr_text();
        assert!(err.contains(expected), "{query}: {err}");
    }
}

#[test]
fn missing_credentials_are_named() {
    let r = runner(&format!("http://127.0.0.1:{}", closed_port()), ("", ""));
    let out = speak(&r, "Hello", "Joanna", "text");
    assert_eq!(out.exit_code(), Some(1));
    let err = out.stderr_text();
    assert!(
        err.contains("no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"),
        "{err}"
    );
}

#[test]
fn an_unreachable_endpoint_is_reported_promptly() {
    let endpoint = format!("http://127.0.0.1:{}", closed_port());
    let r = runner(&endpoint, KEY);
    let started = Instant::now();
    let out = speak(&r, "Hello", "Joanna", "text");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(out.exit_code(), Some(1));
    let err = out.stderr_text();
    assert!(
        err.contains(&format!("cannot reach Polly at {endpoint}: ")) && err.contains("refused"),
        "{err}"
    );
}

#[test]
fn an_interrupt_cancels_a_request_the_endpoint_never_answers() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let r = runner(&endpoint, KEY);
    r.send("code", r#"{"text": "Hello", "voiceId": "Joanna"}"#);
    // The request is in flight once the endpoint has accepted its connection.
    let (mut held, _) = listener.accept().unwrap();
    let interrupted = Instant::now();
    r.send("interrupt", "");
    let out = r.until_finished(TASK);
    assert!(
        interrupted.elapsed() < Duration::from_secs(10),
        "{:?}",
        interrupted.elapsed()
    );
    assert_eq!(out.exit_code(), Some(130));
    assert!(
        out.stderr_text()
            .contains("interrupted: the request to Polly was cancelled"),
        "{}",
        out.stderr_text()
    );
    // The connection was closed, not left waiting for the timeout.
    held.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut rest = Vec::new();
    let read = held.read_to_end(&mut rest);
    assert!(
        read.is_ok(),
        "the runner kept the connection open: {read:?}"
    );
    // (The interrupt may have come before the request was written.)
    let sent = String::from_utf8_lossy(&rest);
    assert!(
        sent.is_empty() || sent.starts_with("POST /v1/speech HTTP/1.1"),
        "{sent}"
    );
    // The runner goes on.
    assert_eq!(r.run("code", "again").exit_code(), Some(2));
}

/// Completion suggestions for the line `line` with the cursor at its end.
fn complete(r: &Runner, line: &str) -> Vec<String> {
    let request = serde_json::json!({
        "code": line, "line": line, "row": 0, "col": line.chars().count(), "post": ""
    });
    r.send("complete", request.to_string());
    let reply = r.expect(Duration::from_secs(5));
    assert_eq!(reply.kind, "completion");
    serde_json::from_value(reply.json()["suggestions"].clone()).unwrap()
}

#[test]
fn completion_suggests_polly_s_voice_ids() {
    let Some(endpoint) = moto::shared() else {
        return;
    };
    let r = runner(endpoint, KEY);
    let line = r#"{"text": "Hello", "voiceId": "Jo"#;
    // The first request starts fetching the list; one that comes before the list is there
    // answers with nothing.
    let deadline = Instant::now() + Duration::from_secs(30);
    let suggestions = loop {
        let suggestions = complete(&r, line);
        if !suggestions.is_empty() || Instant::now() > deadline {
            break suggestions;
        }
    };
    assert!(
        suggestions.contains(&"Joanna".to_owned()) && suggestions.contains(&"Joey".to_owned()),
        "{suggestions:?}"
    );
    assert!(
        suggestions.iter().all(|s| s.starts_with("Jo")),
        "{suggestions:?}"
    );
    let all = complete(&r, r#"{"voiceId": ""#);
    assert!(
        all.len() > 40 && all.contains(&"Seoyeon".to_owned()),
        "{all:?}"
    );

    let without_key = runner(endpoint, ("", ""));
    assert!(complete(&without_key, line).is_empty());
}

#[test]
fn requests_carry_signatures_the_endpoint_accepts() {
    let Some(moto) = Moto::start() else {
        return;
    };
    let (id, secret) = moto.enforce_signatures();
    let signed = runner(&moto.endpoint, (&id, &secret));
    let media = audio(&speak(&signed, "Hello", "Joanna", "text"));
    assert_eq!(media["data"], MOTO_AUDIO);

    let forged = runner(&moto.endpoint, (&id, "a-wrong-secret"));
    let out = speak(&forged, "Hello", "Joanna", "text");
    assert_eq!(out.exit_code(), Some(1));
    let err = out.stderr_text();
    assert!(
        err.contains("SynthesizeSpeech failed: SignatureDoesNotMatch: ")
            && err.contains("(HTTP 403"),
        "{err}"
    );
}

#[test]
fn https_trusts_the_system_store_or_the_certificates_named() {
    let dir = tempfile::tempdir().unwrap();
    let Some((moto, ca)) = Moto::start_https(dir.path()) else {
        return;
    };
    let named = format!("SSL_CERT_FILE={}\n", ca.display());
    let trusting = runner_with(&moto.endpoint, KEY, &named);
    let media = audio(&speak(&trusting, "Hello", "Joanna", "text"));
    assert_eq!(media["data"], MOTO_AUDIO);

    // The system's store does not know the test CA.
    let system = runner_with(&moto.endpoint, KEY, "SSL_CERT_FILE=\nSSL_CERT_DIR=\n");
    let out = speak(&system, "Hello", "Joanna", "text");
    assert_eq!(out.exit_code(), Some(1));
    let err = out.stderr_text();
    assert!(
        err.contains(&format!("cannot reach Polly at {}: ", moto.endpoint))
            && err.contains("certificate"),
        "{err}"
    );
}

/// `krunner plugins test vendor.aws_polly` with `env` added to a clean environment.
fn plugins_test(env: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut cmd = std::process::Command::new(&artifacts().krunner);
    cmd.arg("plugins")
        .arg("test")
        .args(artifacts().plugin_dir_args(LANG))
        .arg(LANG)
        .env_remove("KRUNNER_PLUGIN_PATH");
    for (name, _) in std::env::vars().filter(|(n, _)| n.starts_with("AWS_")) {
        cmd.env_remove(name);
    }
    let out = cmd.envs(env.iter().copied()).output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code(), text)
}

#[test]
fn the_samples_run_with_an_endpoint_and_are_skipped_without_credentials() {
    let (code, out) = plugins_test(&[]);
    assert_eq!(code, Some(0), "{out}");
    for sample in ["speech", "ssml"] {
        assert!(
            out.contains(&format!(
                "SKIP {LANG}/{sample}: needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY set \
                 in the environment"
            )),
            "{out}"
        );
    }
    assert!(
        out.contains(&format!("{LANG}: 2 passed, 0 failed, 2 skipped")),
        "{out}"
    );

    let Some(endpoint) = moto::shared() else {
        return;
    };
    let (code, out) = plugins_test(&[
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_ACCESS_KEY_ID", KEY.0),
        ("AWS_SECRET_ACCESS_KEY", KEY.1),
    ]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains(&format!("{LANG}: 4 passed, 0 failed, 0 skipped")),
        "{out}"
    );
}

/// How long a synthesis takes against moto on loopback: the `code` round trip through the
/// runner (a signed request on a fresh connection, base64, the `media` message), against
/// boto3's `synthesize_speech` on one kept-alive connection to the same server. Run with
/// `cargo test -p krunner-tests --test e2e -- --ignored --nocapture measure_polly`, with
/// `KRUNNER_TEST_DIST` for the runner from a tarball.
#[test]
#[ignore = "measurement; run explicitly"]
fn measure_polly_request_latency() {
    const ROUNDS: usize = 100;
    let Some(moto) = Moto::start() else {
        return;
    };
    let r = runner(&moto.endpoint, KEY);
    let mut runner_ms: Vec<f64> = (0..=ROUNDS)
        .map(|_| {
            let started = Instant::now();
            audio(&speak(&r, "Hello, world!", "Joanna", "text"));
            started.elapsed().as_secs_f64() * 1000.0
        })
        .skip(1)
        .collect();
    runner_ms.sort_by(f64::total_cmp);
    let script = r#"
import statistics, sys, time
import boto3
polly = boto3.client("polly", endpoint_url=sys.argv[1], region_name="us-east-1",
                     aws_access_key_id=sys.argv[2], aws_secret_access_key=sys.argv[3])
def once():
    started = time.perf_counter()
    polly.synthesize_speech(Text="Hello, world!", VoiceId="Joanna",
                            OutputFormat="ogg_vorbis")["AudioStream"].read()
    return (time.perf_counter() - started) * 1000
once()
print(f"{statistics.median(once() for _ in range(int(sys.argv[4]))):.2f}")
"#;
    let out = std::process::Command::new("python3")
        .args(["-c", script, &moto.endpoint, KEY.0, KEY.1])
        .arg(ROUNDS.to_string())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    println!(
        "SynthesizeSpeech against moto, median of {ROUNDS}: runner `code` round trip {:.2} ms \
         (p90 {:.2} ms); boto3 {} ms",
        runner_ms[ROUNDS / 2],
        runner_ms[ROUNDS * 9 / 10],
        String::from_utf8_lossy(&out.stdout).trim()
    );
}
