//! The language plugins against their real toolchains: every plugin's own samples (hello
//! world in batch and query mode, exit codes, a missing main file), and the upstream bugs they
//! fix. A test whose toolchain is not installed says so and is skipped; with
//! `KRUNNER_REQUIRE_TOOLCHAINS=1` (as CI sets it) a missing toolchain fails the test instead.
//! Julia has no Debian package, so it is tested only where a `julia` binary is present.

use krunner_tests::{artifacts, krunner, Options, Runner};

/// Whether `program` is on this process's `PATH`; when it is not, prints why the calling
/// test is skipped, or panics when toolchains are required (and `required` is set).
fn have(program: &str, required: bool) -> bool {
    let path = std::env::var("PATH").unwrap_or_default();
    if path
        .split(':')
        .filter(|d| !d.is_empty())
        .any(|d| std::path::Path::new(d).join(program).is_file())
    {
        return true;
    }
    let strict = std::env::var("KRUNNER_REQUIRE_TOOLCHAINS").is_ok_and(|v| v == "1");
    assert!(
        !(strict && required),
        "`{program}` is not installed and KRUNNER_REQUIRE_TOOLCHAINS=1"
    );
    eprintln!("SKIPPED: `{program}` is not installed");
    false
}

/// Runs `krunner plugins test <lang>` and checks every sample ran and passed.
fn samples_pass(lang: &str, program: &str, required: bool) {
    if !have(program, required) {
        return;
    }
    let dir = artifacts().plugin_dir.display().to_string();
    let (code, out, err) = krunner(&["plugins", "test", "--plugin-dir", &dir, lang]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(!out.contains("SKIP"), "{out}");
    assert!(out.contains(&format!("{lang}: ")), "{out}");
    assert!(out.contains(" passed, 0 failed, 0 skipped"), "{out}");
}

#[test]
fn golang_samples() {
    samples_pass("golang", "go", true);
}

#[test]
fn rust_samples() {
    samples_pass("rust", "cargo", true);
}

#[test]
fn java_samples() {
    samples_pass("java", "javac", true);
}

#[test]
fn haskell_samples() {
    samples_pass("haskell", "ghc", true);
}

#[test]
fn julia_samples() {
    samples_pass("julia", "julia", false);
}

#[test]
fn lua_samples() {
    samples_pass("lua", "lua", true);
}

#[test]
fn nodejs_samples() {
    samples_pass("nodejs", "node", true);
}

#[test]
fn octave_samples() {
    samples_pass("octave", "octave-cli", true);
}

#[test]
fn php_samples() {
    samples_pass("php", "php", true);
}

#[test]
fn r_samples() {
    samples_pass("r", "Rscript", true);
}

#[test]
fn scheme_samples() {
    samples_pass("scheme", "guile", true);
}

#[test]
fn every_language_is_listed() {
    let dir = artifacts().plugin_dir.display().to_string();
    // The exit code also reflects whatever else sits next to the krunner executable, so only
    // this directory's rows are checked.
    let (_, out, err) = krunner(&["plugins", "list", "--json", "--plugin-dir", &dir]);
    let rows: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}"));
    let rows = rows.as_array().unwrap();
    for lang in [
        "golang", "rust", "java", "haskell", "julia", "lua", "nodejs", "octave", "php", "r",
        "scheme",
    ] {
        let row = rows
            .iter()
            .find(|r| {
                r["file"].as_str().is_some_and(|f| {
                    f.starts_with(&dir) && f.ends_with(&format!("libkernel_{lang}.so"))
                })
            })
            .unwrap_or_else(|| panic!("{lang} not listed: {out}"));
        assert_eq!(row["language"], lang, "{row}");
        assert_eq!(row["status"], "ok", "{row}");
    }
}

fn files(list: &[(&str, &str)]) -> Vec<(String, Vec<u8>)> {
    list.iter()
        .map(|(name, content)| ((*name).to_owned(), content.as_bytes().to_vec()))
        .collect()
}

#[test]
fn rust_runs_the_binary_cargo_would_run() {
    if !have("cargo", true) {
        return;
    }
    // Two binaries and a decoy executable that sorts first in target/debug: the original
    // runner ran whichever file the directory listing showed first.
    let r = Runner::start_with(
        "rust",
        Options {
            environ: Some("CARGO_TARGET_DIR=target\n".into()),
            files: files(&[
                (
                    "Cargo.toml",
                    "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n",
                ),
                ("src/main.rs", "fn main() { println!(\"right\"); }\n"),
                ("src/bin/aaa.rs", "fn main() { println!(\"wrong\"); }\n"),
            ]),
            ..Options::default()
        },
    );
    let out = r.run("build", "*");
    assert_eq!(out.exit_code(), Some(0), "{}", out.stderr_text());
    let decoy = r.work.path().join("target/debug/000-decoy");
    std::fs::write(&decoy, "#!/bin/sh\necho decoy\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&decoy, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = r.run("exec", "*");
    assert_eq!(out.stdout_text(), "right\n", "{}", out.stderr_text());
    assert_eq!(out.exit_code(), Some(0));

    // With default-run, that one.
    let manifest = "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\ndefault-run = \"aaa\"\n\n[workspace]\n";
    std::fs::write(r.work.path().join("Cargo.toml"), manifest).unwrap();
    assert_eq!(r.run("build", "*").exit_code(), Some(0));
    assert_eq!(r.run("exec", "*").stdout_text(), "wrong\n");
}

#[test]
fn octave_runs_main_m_and_ignores_main_js() {
    if !have("octave-cli", true) {
        return;
    }
    let r = Runner::start_with(
        "octave",
        Options {
            files: files(&[("main.m", "disp(6 * 7)\n")]),
            ..Options::default()
        },
    );
    let out = r.run("exec", "*");
    assert_eq!(out.stdout_text().trim(), "42", "{}", out.stderr_text());
    assert_eq!(out.exit_code(), Some(0));

    let r = Runner::start_with(
        "octave",
        Options {
            files: files(&[("main.js", "console.log(1)\n")]),
            ..Options::default()
        },
    );
    let out = r.run("exec", "*");
    assert_eq!(out.exit_code(), Some(127));
    assert!(
        out.stderr_text().contains("main.m"),
        "{}",
        out.stderr_text()
    );
}

#[test]
fn scheme_reports_real_exit_codes() {
    if !have("guile", true) {
        return;
    }
    let r = Runner::start_with(
        "scheme",
        Options {
            files: files(&[("main.scm", "(display \"bye\")\n(newline)\n(exit 5)\n")]),
            ..Options::default()
        },
    );
    // The original runner answered build and exec with a null exit code, and the null build
    // counted as failed, so exec never ran.
    let out = r.run("build", "*");
    assert_eq!(out.exit_code(), Some(0));
    let out = r.run("exec", "*");
    assert_eq!(out.stdout_text(), "bye\n");
    assert_eq!(out.exit_code(), Some(5));
    let out = r.run("code", "(car '())");
    assert_ne!(out.exit_code(), Some(0));
    assert!(out.exit_code().is_some());
}

#[test]
fn queries_leave_the_users_main_alone() {
    let hello = [
        (
            "rust",
            "rustc",
            "fn main() { println!(\"hello, world\"); }\n",
        ),
        (
            "golang",
            "go",
            "package main\nimport \"fmt\"\nfunc main() { fmt.Println(\"hello, world\") }\n",
        ),
        ("haskell", "ghc", "main = putStrLn \"hello, world\"\n"),
    ];
    for (lang, tool, code) in hello {
        if !have(tool, true) {
            continue;
        }
        let r = Runner::start_with(
            lang,
            Options {
                files: files(&[("main", "the user's own file\n"), ("data.txt", "x")]),
                ..Options::default()
            },
        );
        let out = r.run("code", code);
        assert_eq!(
            out.stdout_text(),
            "hello, world\n",
            "{lang}: {}",
            out.stderr_text()
        );
        assert_eq!(out.exit_code(), Some(0));
        let main = std::fs::read_to_string(r.work.path().join("main")).unwrap();
        assert_eq!(main, "the user's own file\n", "{lang} overwrote ./main");
        let mut names: Vec<String> = std::fs::read_dir(r.work.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["data.txt", "main"], "{lang} left files behind");
    }
}

#[test]
fn snippets_run_in_the_session_directory() {
    if !have("node", true) {
        return;
    }
    let r = Runner::start_with(
        "nodejs",
        Options {
            files: files(&[("data.txt", "from the session\n")]),
            ..Options::default()
        },
    );
    let out = r.run(
        "code",
        "process.stdout.write(require('fs').readFileSync('data.txt', 'utf8'))",
    );
    assert_eq!(
        out.stdout_text(),
        "from the session\n",
        "{}",
        out.stderr_text()
    );
}

#[test]
fn a_missing_toolchain_is_named_with_127() {
    for lang in ["lua", "golang", "rust", "haskell", "scheme"] {
        let r = Runner::start_with(
            lang,
            Options {
                runtime_path: Some("/nonexistent/bin/tool".into()),
                ..Options::default()
            },
        );
        let out = r.run("code", "x");
        assert_eq!(out.exit_code(), Some(127), "{lang}");
        assert!(
            out.stderr_text().contains("/nonexistent/bin/tool"),
            "{lang}: {}",
            out.stderr_text()
        );
    }
}

#[test]
fn runtime_path_picks_the_interpreter() {
    if !have("node", true) {
        return;
    }
    // A wrapper script as the "interpreter" proves the runtime path is the one used.
    let work = tempfile::tempdir().unwrap();
    let wrapper = work.path().join("my-node");
    std::fs::write(&wrapper, "#!/bin/sh\necho wrapped\nexec node \"$@\"\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let r = Runner::start_with(
        "nodejs",
        Options {
            runtime_path: Some(wrapper.display().to_string()),
            files: files(&[("main.js", "console.log('main')\n")]),
            ..Options::default()
        },
    );
    assert_eq!(
        r.run("code", "console.log(1)").stdout_text(),
        "wrapped\n1\n"
    );
    assert_eq!(r.run("exec", "*").stdout_text(), "wrapped\nmain\n");
}

#[test]
fn java_sources_in_directories_with_spaces_build() {
    if !have("javac", true) {
        return;
    }
    let r = Runner::start_with(
        "java",
        Options {
            files: files(&[
                (
                    "my src/Main.java",
                    "public class Main { public static void main(String[] a) { System.out.println(Helper.word()); } }\n",
                ),
                (
                    "my src/it's/Helper.java",
                    "public class Helper { static String word() { return \"quoted\"; } }\n",
                ),
            ]),
            ..Options::default()
        },
    );
    let out = r.run("build", "*");
    assert_eq!(out.exit_code(), Some(0), "{}", out.stderr_text());
    let out = r.run("exec", "*");
    assert_eq!(out.stdout_text(), "quoted\n", "{}", out.stderr_text());
}
