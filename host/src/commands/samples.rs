//! `krunner plugins test <lang>`: runs the samples a plugin declares (hello-world in batch and
//! query mode, say) against a private runner over the real protocol, and reports each one.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use krunner_agent_client::Client;
use krunner_plugin_api::Sample;

use super::plugins::file_of;
use super::run::{start_runner, StartOptions};
use crate::plugin::probe::{self, Status};

/// Outcome of one sample.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    /// It passed.
    Pass,
    /// It failed, with why.
    Fail(String),
    /// It could not run here, with why.
    Skip(String),
}

/// Runs every sample of `language`; prints one line per sample and a summary. Returns whether
/// all ran samples passed and there was at least one.
pub(super) fn run(language: &str, plugin_dirs: &[PathBuf]) -> bool {
    let file = match file_of(language, plugin_dirs) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("krunner: {e}");
            return false;
        }
    };
    let report = probe::in_child(&file);
    if report.status != Status::Ok {
        eprintln!("krunner: {}", report.reason);
        return false;
    }
    let Some(samples) = report.samples.filter(|s| !s.is_empty()) else {
        eprintln!("krunner: the {language} plugin declares no samples");
        return false;
    };
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    for sample in &samples {
        let verdict = run_one(language, plugin_dirs, sample);
        match &verdict {
            Verdict::Pass => {
                passed += 1;
                println!("PASS {language}/{}", sample.name);
            }
            Verdict::Fail(why) => {
                failed += 1;
                println!("FAIL {language}/{}: {why}", sample.name);
            }
            Verdict::Skip(why) => {
                skipped += 1;
                println!("SKIP {language}/{}: {why}", sample.name);
            }
        }
    }
    println!("{language}: {passed} passed, {failed} failed, {skipped} skipped");
    failed == 0 && passed > 0
}

fn run_one(language: &str, plugin_dirs: &[PathBuf], sample: &Sample) -> Verdict {
    if let Some(why) = missing(sample, |name| std::env::var_os(name)) {
        return Verdict::Skip(why);
    }
    match try_run(language, plugin_dirs, sample) {
        Ok(v) => v,
        Err(e) => Verdict::Fail(format!("{e:#}")),
    }
}

/// Why `sample` cannot run here: a program it needs is not installed, or variables it needs
/// are not set (`var` reads the environment).
fn missing(sample: &Sample, var: impl Fn(&str) -> Option<OsString>) -> Option<String> {
    if let Some(program) = &sample.requires {
        let path = var("PATH").unwrap_or_default();
        let path = path.to_string_lossy();
        if krunner_plugin_api::util::which_in(program, &path).is_none() {
            return Some(format!("needs `{program}`, which is not installed"));
        }
    }
    let unset: Vec<&str> = sample
        .requires_env
        .iter()
        .map(String::as_str)
        .filter(|name| var(name).is_none_or(|v| v.is_empty()))
        .collect();
    (!unset.is_empty()).then(|| format!("needs {} set in the environment", unset.join(" and ")))
}

fn try_run(language: &str, plugin_dirs: &[PathBuf], sample: &Sample) -> anyhow::Result<Verdict> {
    let dir = krunner_plugin_api::sdk::TempDir::new("sample")
        .map_err(|e| anyhow::anyhow!(e.message().to_owned()))?;
    for (name, content) in &sample.files {
        let path = dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, content)?;
    }
    let config = own_query_mode()?;
    let runner = start_runner(&StartOptions {
        plugin_dirs: plugin_dirs.to_vec(),
        language: language.to_owned(),
        cwd: Some(dir.path().to_path_buf()),
        config_dir: Some(config.path().to_path_buf()),
        ..StartOptions::default()
    })?;
    let ops = ops_of(sample);
    if ops.is_empty() {
        return Ok(Verdict::Fail("the sample sends no op".into()));
    }
    for (op, payload) in &ops {
        runner.client().send(op, payload)?;
    }
    let ran = match collect(runner.client(), sample, ops.len())? {
        Collected::Ran(ran) => ran,
        Collected::Failed(why) => return Ok(Verdict::Fail(why)),
    };
    Ok(judge(sample, &ran))
}

/// A config directory whose `environ.txt` keeps queries in the plugin's own query mode
/// (`KRUNNER_JUPYTER=off`), unless the caller's environment chooses: samples check the
/// plugin's code, and a Jupyter kernel has its own exit and output conventions (`quit(3)` in
/// IRkernel does not end R).
fn own_query_mode() -> anyhow::Result<krunner_plugin_api::sdk::TempDir> {
    let config = krunner_plugin_api::sdk::TempDir::new("sample-config")
        .map_err(|e| anyhow::anyhow!(e.message().to_owned()))?;
    if std::env::var_os("KRUNNER_JUPYTER").is_none() {
        std::fs::write(config.path().join("environ.txt"), "KRUNNER_JUPYTER=off\n")?;
    }
    Ok(config)
}

/// The ops a sample sends: `code`, or those of `clean`/`build`/`exec` it has.
fn ops_of(sample: &Sample) -> Vec<(&'static str, &String)> {
    match &sample.code {
        Some(code) => vec![("code", code)],
        None => [
            ("clean", &sample.clean),
            ("build", &sample.build),
            ("exec", &sample.exec),
        ]
        .into_iter()
        .filter_map(|(op, cmd)| cmd.as_ref().map(|c| (op, c)))
        .collect(),
    }
}

/// What a sample's last task printed and how it ended.
struct Ran {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    exit: Option<i64>,
}

enum Collected {
    Ran(Ran),
    Failed(String),
}

/// Receives until `tasks` terminal messages arrived, answering input requests with the
/// sample's lines. Fails early when a task before the last does not exit 0.
fn collect(client: &Client, sample: &Sample, mut tasks: usize) -> anyhow::Result<Collected> {
    let mut inputs = sample.input.iter();
    let mut ran = Ran {
        stdout: Vec::new(),
        stderr: Vec::new(),
        exit: None,
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    while tasks > 0 {
        if Instant::now() > deadline {
            return Ok(Collected::Failed("no answer within 120 s".into()));
        }
        let Some(message) = client.recv(Duration::from_millis(100))? else {
            continue;
        };
        match message.kind.as_str() {
            "stdout" if tasks == 1 => ran.stdout.extend_from_slice(&message.payload),
            "stderr" => ran.stderr.extend_from_slice(&message.payload),
            "waiting-input" => {
                let line = inputs.next().cloned().unwrap_or_default();
                client.send("input", line)?;
            }
            _ if message.is_terminal() => {
                tasks -= 1;
                ran.exit = message.try_json()?["exitCode"].as_i64();
                if tasks > 0 && ran.exit != Some(0) {
                    return Ok(Collected::Failed(format!(
                        "{} with exit code {:?}; stderr: {}",
                        message.kind,
                        ran.exit,
                        String::from_utf8_lossy(&ran.stderr).trim()
                    )));
                }
            }
            _ => {}
        }
    }
    Ok(Collected::Ran(ran))
}

/// Compares what ran with what the sample expects.
fn judge(sample: &Sample, ran: &Ran) -> Verdict {
    if ran.exit != Some(i64::from(sample.expect_exit)) {
        return Verdict::Fail(format!(
            "exit code {:?}, expected {}; stderr: {}",
            ran.exit,
            sample.expect_exit,
            String::from_utf8_lossy(&ran.stderr).trim()
        ));
    }
    let stdout = String::from_utf8_lossy(&ran.stdout);
    if let Some(expected) = &sample.expect_stdout {
        if stdout != expected.as_str() {
            return Verdict::Fail(format!("stdout {stdout:?}, expected {expected:?}"));
        }
    }
    Verdict::Pass
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_is_skipped_for_unset_variables_and_missing_programs() {
        let env = |name: &str| match name {
            "SET" => Some(OsString::from("x")),
            "EMPTY" => Some(OsString::new()),
            "PATH" => Some(OsString::from("/nonexistent")),
            _ => None,
        };
        let sample = |requires: Option<&str>, vars: &[&str]| Sample {
            requires: requires.map(str::to_owned),
            requires_env: vars.iter().map(|v| (*v).to_owned()).collect(),
            ..Sample::default()
        };
        assert_eq!(missing(&sample(None, &["SET"]), env), None);
        assert_eq!(
            missing(&sample(None, &["SET", "EMPTY", "UNSET"]), env).as_deref(),
            Some("needs EMPTY and UNSET set in the environment")
        );
        assert_eq!(
            missing(&sample(Some("javac"), &[]), env).as_deref(),
            Some("needs `javac`, which is not installed")
        );
    }
}
