//! Batch mode: `clean`, `build`, `exec`, heuristics and build gating.

use krunner_tests::{Options, Runner};

const MAIN_C: &str =
    "#include <stdio.h>\nint main(void) { printf(\"hello from main.c\\n\"); return 7; }\n";

#[test]
fn build_command_output_precedes_build_finished() {
    let r = Runner::start("c");
    let out = r.run("build", "echo testing...");
    assert_eq!(out.messages[0].kind, "stdout");
    assert_eq!(out.stdout(), b"testing...\n");
    assert_eq!(out.terminal(), "build-finished");
    assert_eq!(out.exit_code(), Some(0));
    assert_eq!(r.run("build", "exit 99").exit_code(), Some(99));
}

#[test]
fn exec_of_missing_program_is_127() {
    let r = Runner::start("c");
    let out = r.run("exec", "./non-existent-executable");
    assert_eq!(out.terminal(), "finished");
    assert_eq!(out.exit_code(), Some(127));
}

#[test]
fn empty_commands_are_skipped_but_answered() {
    let r = Runner::start("c");
    for (op, terminal) in [
        ("clean", "clean-finished"),
        ("build", "build-finished"),
        ("exec", "finished"),
    ] {
        let out = r.run(op, "");
        assert_eq!(out.messages.len(), 1, "{op}: {:?}", out.messages);
        assert_eq!(out.terminal(), terminal);
        assert_eq!(out.exit_code(), Some(0));
    }
}

#[test]
fn exec_after_failed_build_is_127_without_running() {
    let r = Runner::start("c");
    assert_eq!(r.run("build", "exit 1").exit_code(), Some(1));
    let out = r.run("exec", "echo hello");
    assert_eq!(out.messages.len(), 1, "nothing may run: {:?}", out.messages);
    assert_eq!(out.exit_code(), Some(127));
    // The gate applies once.
    assert_eq!(r.run("exec", "echo hello").stdout(), b"hello\n");
    // A new batch (clean first) clears a stale failure.
    r.run("build", "false");
    r.run("clean", "");
    assert_eq!(r.run("exec", "echo again").stdout(), b"again\n");
}

#[test]
fn c_heuristics_build_and_run_main() {
    let r = Runner::start_with(
        "c",
        Options {
            files: vec![
                ("main.c".into(), MAIN_C.as_bytes().to_vec()),
                (
                    "my lib/util.c".into(),
                    b"int util(void) { return 1; }\n".to_vec(),
                ),
            ],
            ..Options::default()
        },
    );
    let build = r.run("build", "*");
    assert_eq!(build.exit_code(), Some(0), "{}", build.stderr_text());
    assert!(r.work.path().join("main").exists());
    let exec = r.run("exec", "*");
    assert_eq!(exec.stdout_text(), "hello from main.c\n");
    assert_eq!(exec.exit_code(), Some(7));
}

#[test]
fn cpp_heuristics_build_and_run_main() {
    let r = Runner::start_with(
        "cpp",
        Options {
            files: vec![(
                "main.cpp".into(),
                b"#include <iostream>\nint main() { std::cout << \"hi from c++\" << std::endl; }\n"
                    .to_vec(),
            )],
            ..Options::default()
        },
    );
    assert_eq!(r.run("build", "*").exit_code(), Some(0));
    assert_eq!(r.run("exec", "*").stdout_text(), "hi from c++\n");
}

#[test]
fn missing_main_file_is_explained_on_stderr() {
    let r = Runner::start("c");
    let build = r.run("build", "*");
    assert_eq!(build.exit_code(), Some(127));
    assert!(
        build
            .stderr_text()
            .contains("c-kernel: error: cannot find the main source file (main.c)"),
        "{}",
        build.stderr_text()
    );
    r.run("clean", ""); // a new batch: the failed build no longer gates exec
    let exec = r.run("exec", "*");
    assert_eq!(exec.exit_code(), Some(127));
    assert!(
        exec.stderr_text().contains("./main or ./a.out"),
        "{}",
        exec.stderr_text()
    );
}

#[test]
fn build_star_runs_make_when_a_makefile_exists() {
    let r = Runner::start_with(
        "c",
        Options {
            files: vec![(
                "Makefile".into(),
                b"all:\n\t@echo made by make\nclean:\n\t@echo cleaned by make\n".to_vec(),
            )],
            ..Options::default()
        },
    );
    assert_eq!(r.run("build", "*").stdout_text(), "made by make\n");
    let clean = r.run("clean", "*");
    assert_eq!(clean.terminal(), "clean-finished");
    assert_eq!(clean.stdout_text(), "cleaned by make\n");
}

#[test]
fn child_environment_has_environ_txt_and_batch_mode_only_for_exec() {
    let r = Runner::start_with(
        "app",
        Options {
            environ: Some(
                "GREETING=hi=there\nnot a variable\nPATH=/custom/bin:/usr/bin:/bin\n".into(),
            ),
            ..Options::default()
        },
    );
    let exec = r.run(
        "exec",
        "echo \"$GREETING|$_BACKEND_BATCH_MODE|$LANG|$PATH\"",
    );
    let line = exec.stdout_text();
    assert!(
        line.starts_with("hi=there|1|C.UTF-8|/home/work/.local/bin:"),
        "{line}"
    );
    assert!(line.contains("/custom/bin"), "{line}");
    let build = r.run("build", "echo \"[$_BACKEND_BATCH_MODE]\"");
    assert_eq!(build.stdout_text(), "[]\n");
}

#[test]
fn app_runner_has_no_default_commands() {
    let r = Runner::start("app");
    let exec = r.run("exec", "*");
    assert_eq!(exec.exit_code(), Some(0));
    assert!(
        exec.stderr_text().contains("app-kernel: warning:"),
        "{}",
        exec.stderr_text()
    );
}
