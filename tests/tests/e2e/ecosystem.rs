//! The plugin ecosystem: ABI evolution with frozen older-API fixtures, diagnosis of bad files,
//! declared samples, and the template for third-party authors.

use std::path::{Path, PathBuf};
use std::time::Duration;

use krunner_tests::{artifacts, build_external_plugin, krunner, workspace, Options, Runner};

fn fixture(name: &str) -> PathBuf {
    build_external_plugin(&workspace().join(format!("tests/fixtures/abi/{name}/Cargo.toml")))
}

fn dir_with(files: &[(&str, &Path)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, src) in files {
        std::fs::copy(src, dir.path().join(name)).unwrap();
    }
    dir
}

#[test]
fn plugin_built_against_api_1_0_keeps_working() {
    let so = fixture("legacy");
    let dir = dir_with(&[("libkernel_legacy.so", &so)]);
    let r = Runner::start_with(
        "legacy",
        Options {
            args: vec!["--plugin-dir".into(), dir.path().display().to_string()],
            ..Options::default()
        },
    );
    assert_eq!(r.run("code", "hi").stdout_text(), "legacy says hi\n");
    assert_eq!(r.run("exec", "*").stdout_text(), "legacy exec\n");
    // A method added in 1.1 (event delivery) falls back to its default for this plugin.
    r.send("event", r#"{"type":"custom","data":{}}"#);
    assert_eq!(r.run("code", "still").stdout_text(), "legacy says still\n");
    let dir_arg = dir.path().display().to_string();
    let (code, out, _) = krunner(&["plugins", "check", "--plugin-dir", &dir_arg, "legacy"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("built against 1.0.0"), "{out}");
    assert!(out.contains("predates samples"), "{out}");
}

#[test]
fn plugin_built_against_api_1_2_keeps_working_and_answers_is_complete_by_default() {
    let so = fixture("oldminor");
    let dir = dir_with(&[("libkernel_oldminor.so", &so)]);
    let r = Runner::start_with(
        "oldminor",
        Options {
            args: vec![
                "--console-ops".into(),
                "--plugin-dir".into(),
                dir.path().display().to_string(),
            ],
            ..Options::default()
        },
    );
    assert_eq!(r.run("code", "hi").stdout_text(), "oldminor says hi\n");
    assert_eq!(r.run("exec", "*").stdout_text(), "oldminor exec\n");
    // The method added in 1.3 falls back to its default body for this plugin.
    assert_eq!(
        r.is_complete("def f():"),
        serde_json::json!({"status": "complete", "indent": ""})
    );
    assert_eq!(
        r.run("code", "still").stdout_text(),
        "oldminor says still\n"
    );
    let dir_arg = dir.path().display().to_string();
    let (code, out, _) = krunner(&["plugins", "check", "--plugin-dir", &dir_arg, "oldminor"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("built against 1.2.0"), "{out}");
}

#[test]
fn is_complete_is_a_private_op_of_console_runners() {
    // A runner the agent starts does not know the op: it is skipped like any unknown op.
    let r = Runner::start("c");
    r.send("krunner/is-complete", r#"{"code":"int x;"}"#);
    r.status();
    assert_eq!(r.run("exec", "echo fine").stdout_text(), "fine\n");
    assert!(r.log().contains("unknown op"), "{}", r.log());
    // Started by the console, it answers: the c plugin has no judgement (the SDK's default),
    // and a malformed request still gets its answer.
    let r = Runner::start_with(
        "c",
        Options {
            args: vec!["--console-ops".into()],
            ..Options::default()
        },
    );
    assert_eq!(r.is_complete("int main() {")["status"], "unknown");
    r.send("krunner/is-complete", b"\xff");
    let reply = r.expect(Duration::from_secs(5));
    assert_eq!(reply.kind, "krunner/is-complete-reply");
    assert_eq!(reply.json()["status"], "unknown");
}

#[test]
fn plugin_built_against_a_newer_minor_loads_unless_it_needs_a_newer_host() {
    let dir = dir_with(&[
        ("libkernel_newer.so", &fixture("newer")),
        ("libkernel_needy.so", &fixture("needy")),
    ]);
    let r = Runner::start_with(
        "newer",
        Options {
            args: vec!["--plugin-dir".into(), dir.path().display().to_string()],
            ..Options::default()
        },
    );
    assert_eq!(r.run("code", "hi").stdout_text(), "newer says hi\n");
    let dir_arg = dir.path().display().to_string();
    let (code, out, _) = krunner(&["plugins", "check", "--plugin-dir", &dir_arg, "needy"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("status:       incompatible"), "{out}");
    assert!(out.contains("requires plugin-api ≥ 1.9"), "{out}");
}

#[test]
fn bad_plugin_files_are_diagnosed_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::copy(fixture("future"), p.join("libkernel_future.so")).unwrap();
    std::fs::copy(fixture("changed"), p.join("libkernel_changed.so")).unwrap();
    std::fs::write(p.join("libkernel_text.so"), "just text\n").unwrap();
    let real = std::fs::read(artifacts().plugin("c")).unwrap();
    std::fs::write(p.join("libkernel_trunc.so"), &real[..real.len() / 3]).unwrap();
    std::fs::copy(artifacts().plugin("app"), p.join("libkernel_renamed.so")).unwrap();
    std::fs::write(p.join("x.c"), "int f(void) { return 1; }\n").unwrap();
    let gcc = std::process::Command::new("gcc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(p.join("libkernel_noentry.so"))
        .arg(p.join("x.c"))
        .status()
        .unwrap();
    assert!(gcc.success());

    let dir_arg = p.display().to_string();
    let (code, out, _) = krunner(&["plugins", "list", "--json", "--plugin-dir", &dir_arg]);
    assert_eq!(code, Some(1), "a broken plugin makes `list` fail");
    let rows: serde_json::Value = serde_json::from_str(&out).unwrap();
    let row = |lang: &str| {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| {
                r["file"]
                    .as_str()
                    .unwrap()
                    .ends_with(&format!("libkernel_{lang}.so"))
            })
            .cloned()
            .unwrap_or_else(|| panic!("no row for {lang}: {out}"))
    };
    let expect = [
        (
            "future",
            "incompatible",
            "plugin targets plugin-api 2.0.0; this host supports 1.0",
        ),
        ("changed", "incompatible", "types differ"),
        ("text", "broken", "not an ELF shared object"),
        ("trunc", "broken", "truncated"),
        ("noentry", "broken", "not a krunner plugin"),
        ("renamed", "broken", "reports language 'app'"),
    ];
    for (lang, status, reason) in expect {
        let r = row(lang);
        assert_eq!(r["status"], status, "{lang}: {r}");
        assert!(
            r["reason"].as_str().unwrap().contains(reason),
            "{lang}: {r}"
        );
    }
    // The good plugins are still listed as ok.
    let app_ok = rows
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["language"] == "app" && r["status"] == "ok");
    assert!(app_ok, "{out}");

    let trunc = p.join("libkernel_trunc.so").display().to_string();
    let (code, out, _) = krunner(&["plugins", "check", &trunc]);
    assert_eq!(code, Some(1));
    assert!(
        out.contains("what to do:   the file is incomplete"),
        "{out}"
    );
    let changed = p.join("libkernel_changed.so").display().to_string();
    let (_, brief, _) = krunner(&["plugins", "check", &changed]);
    let (_, verbose, _) = krunner(&["plugins", "check", "--verbose", &changed]);
    assert!(brief.lines().count() < 10, "{brief}");
    assert!(verbose.lines().count() > brief.lines().count() + 50);
}

#[test]
fn serving_a_broken_plugin_still_answers() {
    let dir = tempfile::tempdir().unwrap();
    let real = std::fs::read(artifacts().plugin("c")).unwrap();
    std::fs::write(
        dir.path().join("libkernel_trunc.so"),
        &real[..real.len() / 3],
    )
    .unwrap();
    let r = Runner::start_with(
        "trunc",
        Options {
            args: vec!["--plugin-dir".into(), dir.path().display().to_string()],
            ..Options::default()
        },
    );
    r.status();
    let out = r.run("code", "anything");
    assert_eq!(out.exit_code(), Some(127));
    assert!(
        out.stderr_text().contains("truncated"),
        "{}",
        out.stderr_text()
    );
    // Explicit commands do not need the plugin.
    assert_eq!(r.run("exec", "echo fine").stdout_text(), "fine\n");
}

#[test]
fn a_plugin_that_panics_in_init_does_not_take_the_host_down() {
    let r = Runner::start_with(
        "panicky",
        Options {
            runtime_path: Some("panic-in-init".into()),
            ..Options::default()
        },
    );
    r.status();
    let out = r.run("code", "ok");
    assert_eq!(out.exit_code(), Some(127));
    assert!(
        out.stderr_text().contains("initialisation exploded"),
        "{}",
        out.stderr_text()
    );
    r.send("complete", r#"{"line":"a"}"#);
    assert_eq!(r.expect(Duration::from_secs(5)).kind, "completion");
}

#[test]
fn every_shipped_plugin_passes_its_samples() {
    let mut args = vec!["plugins".to_owned(), "test".to_owned()];
    args.extend(artifacts().plugin_dir_args("c"));
    args.extend(["c", "cpp", "app"].map(String::from));
    let (code, out, err) = krunner(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(code, Some(0), "{out}{err}");
    for lang in ["c", "cpp", "app"] {
        assert!(
            out.contains(&format!("{lang}: 2 passed, 0 failed, 0 skipped")),
            "{out}"
        );
    }
}

#[test]
fn the_template_plugin_builds_and_passes_its_samples() {
    let so = build_external_plugin(&workspace().join("plugins/template/Cargo.toml"));
    let dir = dir_with(&[("libkernel_bash.so", &so)]);
    let dir_arg = dir.path().display().to_string();
    let (code, out, err) = krunner(&["plugins", "test", "--plugin-dir", &dir_arg, "bash"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("bash: 2 passed, 0 failed"), "{out}");
}

#[test]
fn one_file_serves_each_language_it_is_named_for() {
    // The toolkit languages are one file (plugin-api 1.4's `export_plugins!`).
    let file = artifacts().plugin("lua");
    let dir = tempfile::tempdir().unwrap();
    for name in ["lua", "scheme", "ruby"] {
        std::fs::hard_link(&file, dir.path().join(format!("libkernel_{name}.so")))
            .or_else(|_| {
                std::fs::copy(&file, dir.path().join(format!("libkernel_{name}.so"))).map(drop)
            })
            .unwrap();
    }
    for (language, main_file) in [("lua", "main.lua"), ("scheme", "main.scm")] {
        let path = dir.path().join(format!("libkernel_{language}.so"));
        let (code, out, err) = krunner(&["__probe", &path.display().to_string()]);
        assert_eq!(code, Some(0), "{out}{err}");
        let report: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(report["status"], "ok", "{report}");
        // Under each name, that language's description and samples.
        assert_eq!(report["info"]["language"], language, "{report}");
        assert_eq!(
            report["info"]["min_api_minor"], 4,
            "older hosts must refuse it"
        );
        let languages = report["languages"].as_array().unwrap();
        assert_eq!(languages.len(), 13, "{report}");
        let samples = report["samples"].as_array().unwrap();
        assert!(!samples.is_empty(), "{report}");
        assert!(
            samples.iter().any(|s| s["files"].get(main_file).is_some()),
            "{language} samples: {report}"
        );
    }
    // A name it does not serve is refused, saying what it serves.
    let dir_arg = dir.path().display().to_string();
    let (code, out, _) = krunner(&["plugins", "check", "--plugin-dir", &dir_arg, "ruby"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("the file is named for 'ruby' but the plugin serves c, cpp, golang"),
        "{out}"
    );
    assert!(out.contains("for a language it serves"), "{out}");
    let r = Runner::start_with(
        "ruby",
        Options {
            args: vec!["--plugin-dir".into(), dir_arg.clone()],
            ..Options::default()
        },
    );
    r.status();
    let out = r.run("code", "puts 1");
    assert_eq!(out.exit_code(), Some(127));
    assert!(
        out.stderr_text().contains("but the plugin serves"),
        "{}",
        out.stderr_text()
    );
    // `plugins list` shows each name as its own language (and exits 1 for the ruby name).
    let (code, out, err) = krunner(&["plugins", "list", "--json", "--plugin-dir", &dir_arg]);
    assert_eq!(code, Some(1), "{out}{err}");
    let rows: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    for language in ["lua", "scheme"] {
        let file = dir.path().join(format!("libkernel_{language}.so"));
        let row = rows
            .iter()
            .find(|r| r["file"] == file.display().to_string())
            .unwrap_or_else(|| panic!("{language} not listed: {out}"));
        assert_eq!(row["language"], language, "{row}");
        assert_eq!(row["status"], "ok", "{row}");
    }
}
