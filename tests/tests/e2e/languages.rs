//! The language plugins against their real toolchains: every plugin's own samples (hello
//! world in batch and query mode, exit codes, a missing main file), and the upstream bugs they
//! fix. A test whose toolchain is not installed says so and is skipped; with
//! `KRUNNER_REQUIRE_TOOLCHAINS=1` (as CI sets it) a missing toolchain fails the test instead.
//! Julia has no Debian package, so it is tested only where a `julia` binary is present.

use std::io::Write;

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
    // Written to the real stderr, past the test harness's output capture, so the skip shows
    // in a normal `cargo test` run.
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED ({}): `{program}` is not installed",
        std::thread::current().name().unwrap_or("a language test")
    );
    false
}

/// Runs `krunner plugins test <lang>` and checks every sample ran and passed.
fn samples_pass(lang: &str, program: &str, required: bool) {
    if !have(program, required) {
        return;
    }
    let mut args = vec!["plugins".to_owned(), "test".to_owned()];
    args.extend(artifacts().plugin_dir_args(lang));
    args.push(lang.to_owned());
    let (code, out, err) = krunner(&args.iter().map(String::as_str).collect::<Vec<_>>());
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
    let dir = artifacts().shipped_dir().display().to_string();
    // The exit code also reflects whatever else sits next to the krunner executable, so only
    // this directory's rows are checked.
    let mut args = vec!["plugins".to_owned(), "list".to_owned(), "--json".to_owned()];
    args.extend(artifacts().plugin_dir_args("git"));
    let (_, out, err) = krunner(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let rows: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}"));
    let rows = rows.as_array().unwrap();
    for lang in [
        "golang",
        "rust",
        "java",
        "haskell",
        "julia",
        "lua",
        "nodejs",
        "octave",
        "php",
        "r",
        "scheme",
        "git",
        "vendor.aws_polly",
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

/// A runner for `lang` with `list` as the files of its working directory.
fn start_with_files(lang: &str, list: &[(&str, &str)]) -> Runner {
    Runner::start_with(
        lang,
        Options {
            files: files(list),
            ..Options::default()
        },
    )
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
    let r = start_with_files("octave", &[("main.m", "disp(6 * 7)\n")]);
    let out = r.run("exec", "*");
    assert_eq!(out.stdout_text().trim(), "42", "{}", out.stderr_text());
    assert_eq!(out.exit_code(), Some(0));

    let r = start_with_files("octave", &[("main.js", "console.log(1)\n")]);
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
    let r = start_with_files(
        "scheme",
        &[("main.scm", "(display \"bye\")\n(newline)\n(exit 5)\n")],
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
        let r = start_with_files(
            lang,
            &[("main", "the user's own file\n"), ("data.txt", "x")],
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
    let r = start_with_files("nodejs", &[("data.txt", "from the session\n")]);
    let out = r.run(
        "code",
        "console.log(require('fs').readFileSync('data.txt', 'utf8').trim())",
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
    let r = start_with_files("java", &[
                (
                    "my src/Main.java",
                    "public class Main { public static void main(String[] a) { System.out.println(Helper.word()); } }\n",
                ),
                (
                    "my src/it's/Helper.java",
                    "public class Helper { static String word() { return \"quoted\"; } }\n",
                ),
            ]);
    let out = r.run("build", "*");
    assert_eq!(out.exit_code(), Some(0), "{}", out.stderr_text());
    let out = r.run("exec", "*");
    assert_eq!(out.stdout_text(), "quoted\n", "{}", out.stderr_text());
}

/// Starts the `git` runner (shell `/bin/sh`) with its terminal on fresh loopback ports, and a
/// client of them. A port `free_port` found free can be taken by another test before the
/// plugin binds it; the plugin then logs "cannot bind" and this tries other ports, so that the
/// client never talks to somebody else's socket.
fn git_runner_with_terminal() -> (Runner, TerminalClient) {
    for _ in 0..5 {
        let (input, output) = (krunner_tests::free_port(), krunner_tests::free_port());
        let r = Runner::start_with(
            "git",
            Options {
                runtime_path: Some("/bin/sh".into()),
                environ: Some(format!(
                    "KRUNNER_TERM_IN_PORT={input}\nKRUNNER_TERM_OUT_PORT={output}\nKRUNNER_TERM_BIND=127.0.0.1\n"
                )),
                ..Options::default()
            },
        );
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let log = r.log();
            if log.contains("terminal: keystrokes on") {
                return (r, TerminalClient::connect(input, output));
            }
            if log.contains("cannot bind") {
                eprintln!("the terminal's ports were taken meanwhile; trying others:\n{log}");
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the terminal neither started nor failed; log:\n{log}"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
    panic!("the terminal could not bind fresh ports five times");
}

/// A client of the `git` runner's terminal sockets.
struct TerminalClient {
    _ctx: zmq::Context,
    keys: zmq::Socket,
    screen: zmq::Socket,
    seen: String,
}

impl TerminalClient {
    fn connect(input: u16, output: u16) -> Self {
        let ctx = zmq::Context::new();
        let keys = ctx.socket(zmq::PUB).unwrap();
        let screen = ctx.socket(zmq::SUB).unwrap();
        keys.set_linger(0).unwrap();
        screen.set_linger(0).unwrap();
        screen.set_subscribe(b"").unwrap();
        keys.connect(&format!("tcp://127.0.0.1:{input}")).unwrap();
        screen
            .connect(&format!("tcp://127.0.0.1:{output}"))
            .unwrap();
        Self {
            _ctx: ctx,
            keys,
            screen,
            seen: String::new(),
        }
    }

    /// Types `line` (again every few seconds, since PUB/SUB drops messages sent before the
    /// subscription is up) until `expected` appears on the screen.
    fn type_until(&mut self, runner: &Runner, line: &str, expected: &str) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let mut next_send = std::time::Instant::now();
        self.seen.clear();
        while std::time::Instant::now() < deadline {
            if std::time::Instant::now() >= next_send {
                self.keys.send(line.as_bytes(), 0).unwrap();
                next_send = std::time::Instant::now() + std::time::Duration::from_secs(3);
            }
            if self.screen.poll(zmq::POLLIN, 100).unwrap() > 0 {
                let bytes = self.screen.recv_bytes(0).unwrap();
                self.seen.push_str(&String::from_utf8_lossy(&bytes));
                if self.seen.contains(expected) {
                    return;
                }
            }
        }
        panic!(
            "{expected:?} never appeared; the screen showed {:?}; runner log:\n{}",
            self.seen,
            runner.log()
        );
    }
}

#[test]
fn git_terminal_runs_a_shell_over_zeromq() {
    let (r, mut term) = git_runner_with_terminal();
    // The arithmetic proves the shell ran it (the echoed keystrokes show the expression).
    term.type_until(&r, "echo hi-$((6*7))\n", "hi-42");

    let out = r.run("code", "%ping");
    assert_eq!(
        (out.stdout_text().as_str(), out.exit_code()),
        ("pong!", Some(0))
    );

    let out = r.run("code", "%resize 33 99");
    assert_eq!(
        out.stdout_text(),
        "OK; terminal resized to 33 rows and 99 cols"
    );
    assert_eq!(out.exit_code(), Some(0));
    term.type_until(&r, "stty size\n", "33 99");

    let out = r.run("code", "ls -l");
    assert_eq!(out.stderr_text(), "Invalid command.");
    assert_eq!(out.exit_code(), Some(127));
    assert_eq!(r.run("code", "%resize x").exit_code(), Some(2));

    // The shell comes back after it exits, at the size it had.
    term.type_until(&r, "exit\n", "Restarting...");
    term.type_until(&r, "echo again-$((1+1)); stty size\n", "again-2");
    term.type_until(&r, "stty size\n", "33 99");
}

/// Whether process `pid` has exited (gone, or a zombie nobody reaped yet).
fn exited(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |stat| {
        stat.rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z'))
    })
}

#[test]
fn git_terminal_processes_end_with_the_host() {
    let (mut r, mut term) = git_runner_with_terminal();
    // A job that ignores the hangup, and the pids of the shell and the job (the echoed
    // keystrokes show `$$ $!`, the output shows numbers).
    term.type_until(
        &r,
        "(trap '' HUP; exec sleep 1000) & echo \"pids $$ $! end-$((6*7))\"\n",
        "end-42",
    );
    let pids: Vec<i32> = term
        .seen
        .split("pids ")
        .find_map(|part| {
            let words: Vec<&str> = part.split_whitespace().take(2).collect();
            let pids: Vec<i32> = words.iter().filter_map(|w| w.parse().ok()).collect();
            (pids.len() == 2).then_some(pids)
        })
        .unwrap_or_else(|| panic!("no pids on the screen: {:?}", term.seen));
    assert!(!pids.iter().any(|p| exited(*p)), "{pids:?} already ended");

    let (code, _) = r.terminate();
    assert_eq!(code, Some(0), "{}", r.log());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    while !pids.iter().all(|p| exited(*p)) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let left: Vec<i32> = pids.into_iter().filter(|p| !exited(*p)).collect();
    for pid in &left {
        // SAFETY: plain kill(2), so a failed test leaves nothing behind.
        unsafe { libc::kill(*pid, libc::SIGKILL) };
    }
    assert!(
        left.is_empty(),
        "still running after the host ended: {left:?}"
    );
}

#[test]
fn git_show_graph_sends_the_commit_graph() {
    if !have("git", true) {
        return;
    }
    let (r, mut term) = git_runner_with_terminal();
    let repo = r.work.path().join("my repo");
    std::fs::create_dir(&repo).unwrap();
    let git = |args: &[&str]| {
        let status = std::process::Command::new("git")
            .args(["-c", "user.name=Ada", "-c", "user.email=ada@example.com"])
            .args(args)
            .current_dir(&repo)
            .output()
            .unwrap();
        assert!(status.status.success(), "git {args:?}: {status:?}");
    };
    git(&["init", "-q", "-b", "main"]);
    git(&["commit", "-q", "--allow-empty", "-m", "first"]);
    git(&["commit", "-q", "--allow-empty", "-m", "second || bars"]);

    let out = r.run("code", "%show graph 'my repo'");
    assert_eq!(out.exit_code(), Some(0), "{}", out.stderr_text());
    let media = out.of("media");
    assert_eq!(media.len(), 1);
    let media = media[0].json();
    assert_eq!(media["type"], "application/vnd.sorna.gitgraph");
    let commits = media["data"].as_array().unwrap();
    assert_eq!(commits.len(), 2);
    assert_eq!(commits[0]["message"], "first");
    assert_eq!(commits[0]["author"], "Ada");
    assert_eq!(commits[0]["branch"], "main");
    assert_eq!(commits[1]["message"], "second || bars");
    assert_eq!(
        commits[1]["parent_ids"],
        serde_json::json!([commits[0]["oid"]])
    );
    assert_eq!(commits[1]["parent_branches"], serde_json::json!(["main"]));

    // Without a path: the directory the shell is in.
    term.type_until(&r, "cd 'my repo' && echo in-$((2+3))\n", "in-5");
    let out = r.run("code", "%show graph");
    assert_eq!(out.exit_code(), Some(0), "{}", out.stderr_text());
    assert_eq!(
        out.of("media")[0].json()["data"].as_array().map(Vec::len),
        Some(2)
    );

    let out = r.run("code", "%show graph /");
    assert_ne!(out.exit_code(), Some(0));
}

#[test]
fn git_samples() {
    samples_pass("git", "sh", true);
}

#[test]
fn a_missing_main_file_is_named_with_127() {
    let cases = [
        ("golang", "build", &["go.mod", "main.go"][..]),
        ("golang", "exec", &["./main"][..]),
        ("rust", "build", &["Cargo.toml", "main.rs"][..]),
        ("haskell", "build", &["main.hs", "Main.hs"][..]),
        ("java", "build", &["*.java"][..]),
        ("java", "exec", &["main/Main.class", "Main.class"][..]),
        ("r", "exec", &["main.R", "main.r"][..]),
        ("octave", "exec", &["main.m"][..]),
        ("scheme", "exec", &["main.scm"][..]),
    ];
    for (lang, op, names) in cases {
        let r = Runner::start(lang);
        let out = r.run(op, "*");
        assert_eq!(out.exit_code(), Some(127), "{lang} {op}");
        let err = out.stderr_text();
        for name in names {
            assert!(
                err.contains(name),
                "{lang} {op}: {name} not named in {err:?}"
            );
        }
    }
}

#[test]
fn script_languages_run_their_main_file_with_the_expected_argv() {
    // A stand-in interpreter that prints its arguments: checks the command shapes (and julia,
    // which CI cannot install) without the real toolchains.
    let bin = tempfile::tempdir().unwrap();
    let cases = [
        ("julia", "julia", "main.jl", "main.jl"),
        ("lua", "lua", "main.lua", "main.lua"),
        ("nodejs", "node", "main.js", "main.js"),
        ("octave", "octave-cli", "main.m", "--quiet main.m"),
        ("php", "php", "main.php", "main.php"),
        ("r", "Rscript", "main.R", "main.R"),
        ("scheme", "guile", "main.scm", "--no-auto-compile main.scm"),
    ];
    for (lang, tool, main, expected) in cases {
        let fake = bin.path().join(tool);
        std::fs::write(&fake, "#!/bin/sh\necho \"$@\"\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let r = Runner::start_with(
            lang,
            Options {
                runtime_path: Some(fake.display().to_string()),
                files: files(&[(main, "")]),
                // The per-snippet runner, not an installed kernel of the language.
                environ: Some("KRUNNER_JUPYTER=off\n".into()),
                ..Options::default()
            },
        );
        assert_eq!(r.run("build", "*").exit_code(), Some(0), "{lang}");
        let out = r.run("exec", "*");
        assert_eq!(out.stdout_text(), format!("{expected}\n"), "{lang}");
        if lang == "nodejs" {
            // nodejs snippets run in a stateful session (tests/e2e/nodejs_repl.rs).
            continue;
        }
        // Snippets run from a private file, not from the session directory.
        let out = r.run("code", "x");
        let printed = out.stdout_text();
        let file = printed.split_whitespace().last().unwrap_or_default();
        assert!(file.starts_with('/'), "{lang}: {printed}");
        assert!(
            !file.starts_with(&r.work.path().display().to_string()),
            "{lang}: {printed}"
        );
    }
}
