//! Query mode (`code`).

use krunner_tests::{Options, Runner};

#[test]
fn c_snippet_compiles_privately_and_keeps_users_main() {
    let r = Runner::start_with(
        "c",
        Options {
            files: vec![("main".into(), b"user's own file".to_vec())],
            ..Options::default()
        },
    );
    let out = r.run(
        "code",
        "#include <stdio.h>\nint main(void){ puts(\"snippet\"); return 4; }\n",
    );
    assert_eq!(out.stdout_text(), "snippet\n");
    assert_eq!(out.exit_code(), Some(4));
    assert_eq!(
        std::fs::read(r.work.path().join("main")).unwrap(),
        b"user's own file"
    );
    let names: Vec<_> = std::fs::read_dir(r.work.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(names.len(), 1, "query mode left files behind: {names:?}");
}

#[test]
fn c_snippet_compile_error_reaches_stderr() {
    let r = Runner::start("c");
    let out = r.run("code", "int main(void) { return oops; }");
    assert_ne!(out.exit_code(), Some(0));
    assert!(out.stderr_text().contains("oops"), "{}", out.stderr_text());
}

#[test]
fn cpp_snippet_runs() {
    let r = Runner::start("cpp");
    let out = r.run(
        "code",
        "#include <iostream>\nint main(){ std::cout << 6*7 << '\\n'; }",
    );
    assert_eq!(out.stdout_text(), "42\n");
    assert_eq!(out.exit_code(), Some(0));
}

#[test]
fn runner_without_query_mode_answers_127_on_stderr() {
    let r = Runner::start("app");
    let out = r.run("code", "print(1)");
    assert_eq!(out.exit_code(), Some(127));
    assert!(
        out.stderr_text().contains("query mode is not supported"),
        "{}",
        out.stderr_text()
    );
}
