//! Interactive input: programs in several languages read their stdin pipe, the runner notices
//! them blocking, forwards their prompt, asks with `waiting-input` and writes the next `input`.
//! Also: early input, end of file, interrupts, and the upstream side-channel sockets.

use std::io::Read;
use std::time::{Duration, Instant};

use krunner_tests::{Message, Options, Outcome, Runner};

/// Whether `tool` is on PATH. When it is not, the calling test is skipped with a message
/// naming the test and the tool (or fails, under `KRUNNER_REQUIRE_TOOLCHAINS=1`).
fn have(tool: &str, test: &str) -> bool {
    let found = std::process::Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(std::process::Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !found {
        eprintln!("{test} needs `{tool}`");
    }
    krunner_tests::require(tool, found)
}

fn with_files(files: &[(&str, &str)]) -> Options {
    Options {
        files: files
            .iter()
            .map(|(n, c)| (n.to_string(), c.as_bytes().to_vec()))
            .collect(),
        ..Options::default()
    }
}

/// Collects one task's messages, answering each `waiting-input` with the next of `answers`.
/// Checks that the stdout received before each request ends with the expected prompt.
fn converse(r: &Runner, answers: &[&str], prompts: &[&str], timeout: Duration) -> Outcome {
    let deadline = Instant::now() + timeout;
    let mut messages: Vec<Message> = Vec::new();
    let mut asked = 0;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let m = r
            .recv(left)
            .unwrap_or_else(|| panic!("timed out; got {messages:?}; log:\n{}", r.log()));
        if m.kind == "waiting-input" {
            assert_eq!(m.json(), serde_json::json!({"is_password": false}));
            let so_far = Outcome {
                messages: messages.clone(),
            }
            .stdout_text();
            if let Some(prompt) = prompts.get(asked) {
                assert!(
                    so_far.ends_with(prompt),
                    "prompt {prompt:?} must arrive before request {asked}; stdout so far: {so_far:?}"
                );
            }
            let answer = answers
                .get(asked)
                .unwrap_or_else(|| panic!("unexpected request {asked}; got {messages:?}"));
            r.send("input", answer);
            asked += 1;
        }
        let done = m.is_terminal();
        messages.push(m);
        if done {
            assert_eq!(asked, answers.len(), "requests: {messages:?}");
            return Outcome { messages };
        }
    }
}

const SCANF_TWICE: &str = r#"#include <stdio.h>
int main(void) {
    int a, b;
    printf("first? ");
    fflush(stdout);
    if (scanf("%d", &a) != 1) return 2;
    printf("second? ");
    fflush(stdout);
    if (scanf("%d", &b) != 1) return 3;
    printf("sum=%d\n", a + b);
    return 0;
}
"#;

#[test]
fn c_scanf_twice_in_one_run() {
    let r = Runner::start_with("c", with_files(&[("main.c", SCANF_TWICE)]));
    assert_eq!(r.run("build", "*").exit_code(), Some(0));
    r.send("exec", "*");
    let out = converse(&r, &["2", "40"], &["first? ", "second? "], crate::TASK);
    assert_eq!(out.exit_code(), Some(0), "{:?}", out.messages);
    assert_eq!(out.stdout_text(), "first? second? sum=42\n");
}

#[test]
fn c_query_snippet_reads_input() {
    let r = Runner::start("c");
    r.send("code", SCANF_TWICE);
    let out = converse(&r, &["1", "2"], &["first? ", "second? "], crate::TASK);
    assert_eq!(out.stdout_text(), "first? second? sum=3\n");
    assert_eq!(out.exit_code(), Some(0));
}

#[test]
fn bash_read() {
    if !have("bash", "bash_read") {
        return;
    }
    let r = Runner::start_with(
        "app",
        with_files(&[(
            "main.sh",
            "echo -n 'name? '\nread name\necho -n 'city? '\nread city\necho \"$name from $city\"\n",
        )]),
    );
    r.send("exec", "bash main.sh");
    let out = converse(&r, &["Ada", "London"], &["name? ", "city? "], crate::TASK);
    assert_eq!(out.stdout_text(), "name? city? Ada from London\n");
    assert_eq!(out.exit_code(), Some(0));
}

#[test]
fn batch_python_input() {
    if !have("python3", "batch_python_input") {
        return;
    }
    let r = Runner::start_with(
        "app",
        with_files(&[(
            "main.py",
            "name = input('name? ')\nage = input('age? ')\nprint(f'{name} is {int(age) + 1} next year')\n",
        )]),
    );
    r.send("exec", "python3 main.py");
    let out = converse(&r, &["Grace", "36"], &["name? ", "age? "], crate::TASK);
    assert_eq!(out.stdout_text(), "name? age? Grace is 37 next year\n");
    assert_eq!(out.exit_code(), Some(0));
}

#[test]
fn python_plugin_batch_exec_reads_input() {
    if !have("python3", "python_plugin_batch_exec_reads_input") {
        return;
    }
    let r = Runner::start_with(
        "python",
        with_files(&[("main.py", "x = input('x? ')\nprint(int(x) * 2)\n")]),
    );
    r.send("exec", "*");
    let out = converse(&r, &["21"], &["x? "], crate::TASK);
    assert_eq!(out.stdout_text(), "x? 42\n");
    assert_eq!(out.exit_code(), Some(0));
}

#[test]
fn java_scanner() {
    if !have("java", "java_scanner") {
        return;
    }
    let src = r#"import java.util.Scanner;
public class Main {
    public static void main(String[] args) {
        Scanner in = new Scanner(System.in);
        System.out.print("a? ");
        System.out.flush();
        int a = in.nextInt();
        System.out.print("b? ");
        System.out.flush();
        int b = in.nextInt();
        System.out.println("product=" + (a * b));
    }
}
"#;
    let r = Runner::start_with("app", with_files(&[("Main.java", src)]));
    r.send("exec", "java Main.java");
    let out = converse(&r, &["6", "7"], &["a? ", "b? "], Duration::from_secs(120));
    assert_eq!(
        out.stdout_text(),
        "a? b? product=42\n",
        "{:?}",
        out.messages
    );
    assert_eq!(out.exit_code(), Some(0));
}

#[test]
fn node_readline() {
    if !have("node", "node_readline") {
        return;
    }
    let src = r#"const readline = require('readline');
const rl = readline.createInterface({ input: process.stdin, output: process.stdout });
rl.question('colour? ', (colour) => {
  rl.question('fruit? ', (fruit) => {
    console.log(`a ${colour} ${fruit}`);
    rl.close();
  });
});
"#;
    let r = Runner::start_with("app", with_files(&[("main.js", src)]));
    r.send("exec", "node main.js");
    // With stdin on a pipe, node keeps reading it after `rl.close()` until end of file, so it
    // is (correctly) seen waiting once more; the end-of-file mark lets it exit.
    let out = converse(
        &r,
        &["red", "apple", "\u{4}"],
        &["colour? ", "fruit? ", "a red apple\n"],
        crate::TASK,
    );
    assert!(
        out.stdout_text().ends_with("a red apple\n"),
        "{:?}",
        out.stdout_text()
    );
    assert_eq!(out.exit_code(), Some(0));
}

#[test]
fn go_fmt_scan() {
    if !have("go", "go_fmt_scan") {
        return;
    }
    let src = r#"package main

import "fmt"

func main() {
	var word string
	var n int
	fmt.Print("word? ")
	fmt.Scan(&word)
	fmt.Print("times? ")
	fmt.Scan(&n)
	for i := 0; i < n; i++ {
		fmt.Print(word)
	}
	fmt.Println()
}
"#;
    let r = Runner::start_with("app", with_files(&[("main.go", src)]));
    // A private build cache: the test must not depend on a writable $HOME.
    let cache = r.work.path().join(".gocache");
    r.send(
        "exec",
        format!(
            "GOCACHE={} GOFLAGS=-mod=mod go run main.go",
            cache.display()
        ),
    );
    let out = converse(
        &r,
        &["ab", "3"],
        &["word? ", "times? "],
        Duration::from_secs(120),
    );
    assert_eq!(
        out.stdout_text(),
        "word? times? ababab\n",
        "{:?}",
        out.stderr_text()
    );
    assert_eq!(out.exit_code(), Some(0));
}

#[test]
fn input_sent_before_the_request_is_used_without_asking() {
    let r = Runner::start("app");
    r.send("input", "early");
    r.send("input", "bird");
    let out = r.run("exec", "read a; read b; echo \"$a $b\"");
    assert_eq!(out.stdout_text(), "early bird\n");
    assert!(out.of("waiting-input").is_empty(), "{:?}", out.messages);
    assert_eq!(out.exit_code(), Some(0));
}

#[test]
fn reading_to_end_of_file() {
    let r = Runner::start("app");
    r.send("exec", "cat; echo \"[eof after cat]\"");
    // The end-of-file mark (U+0004) closes stdin; text before it is sent without a newline.
    let out = converse(&r, &["one", "two", "three\u{4}"], &[], crate::TASK);
    assert_eq!(out.stdout_text(), "one\ntwo\nthree[eof after cat]\n");
    assert_eq!(out.exit_code(), Some(0));

    // A bare mark is an immediate end of file; later reads of the same task see EOF too.
    r.send("exec", "wc -l; cat; echo done");
    let out = converse(&r, &["x", "\u{4}"], &[], crate::TASK);
    assert_eq!(out.stdout_text().trim_start(), "1\ndone\n");
}

#[test]
fn programs_that_do_not_read_are_never_asked() {
    let r = Runner::start("app");
    for cmd in [
        "sleep 0.3; echo done",
        "exec 0<&-; sleep 0.3; echo done",
        "x=$(sleep 0.3; echo done); echo $x",
        "sleep 0.3 </dev/null; echo done",
    ] {
        let out = r.run("exec", cmd);
        assert_eq!(out.stdout_text(), "done\n", "{cmd}");
        assert!(
            out.of("waiting-input").is_empty(),
            "{cmd}: {:?}",
            out.messages
        );
    }
}

#[test]
fn interrupt_while_waiting_for_input() {
    let r = Runner::start("app");
    r.send("exec", "echo -n 'value? '; read x; echo never");
    let m = loop {
        let m = r.expect(crate::TASK);
        if m.kind != "stdout" {
            break m;
        }
    };
    assert_eq!(m.kind, "waiting-input");
    let started = Instant::now();
    r.send("interrupt", "");
    let out = r.until_finished(Duration::from_secs(10));
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(out.exit_code(), Some(130));
    assert!(!out.stdout_text().contains("never"));
    // An input sent after the interrupt is for the next reader, which is not asked again.
    r.send("input", "later");
    let out = r.run("exec", "read y; echo got $y");
    assert_eq!(out.stdout_text(), "got later\n");
    assert!(out.of("waiting-input").is_empty());
    // And the next program that blocks is asked again.
    r.send("exec", "read z; echo got $z");
    let out = converse(&r, &["again"], &[], crate::TASK);
    assert_eq!(out.stdout_text(), "got again\n");
}

#[test]
fn run_client_sends_end_of_file_when_its_stdin_ends() {
    use std::io::Write;
    let art = krunner_tests::artifacts();
    let mut child = std::process::Command::new(&art.krunner)
        .arg("run")
        .args(art.plugin_dir_args("app"))
        .args(["app", "--exec", "cat; echo end"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"a\nb\n").unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "a\nb\nend\n");
    assert_eq!(out.status.code(), Some(0));
}

/// Runs a task that waits until the test creates `go` in the working directory, so that
/// side-channel requests (answered only while a task runs) have one.
fn hold_a_task(r: &Runner) {
    r.send(
        "exec",
        "echo holding; while [ ! -e go ]; do sleep 0.05; done",
    );
    let m = r.expect(Duration::from_secs(20));
    assert_eq!(m.text(), "holding\n");
}

fn release_the_task(r: &Runner) {
    std::fs::write(r.work.path().join("go"), b"").unwrap();
    let out = r.until_finished(crate::TASK);
    assert_eq!(out.exit_code(), Some(0));
}

#[test]
fn unix_socket_side_channel() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bai-user-input.sock");
    // A stale file at the path is replaced.
    std::fs::write(&path, b"stale").unwrap();
    let r = Runner::start_with(
        "app",
        Options {
            args: vec!["--input-socket".into(), path.display().to_string()],
            ..Options::default()
        },
    );
    hold_a_task(&r);
    let mut conn = std::os::unix::net::UnixStream::connect(&path).unwrap();
    let m = r.expect(Duration::from_secs(5));
    assert_eq!(m.kind, "waiting-input");
    assert_eq!(m.json(), serde_json::json!({"is_password": false}));
    r.send("input", "héllo");
    let mut got = String::new();
    conn.read_to_string(&mut got).unwrap();
    assert_eq!(got, "héllo");

    // Early input satisfies the next connection without a request.
    r.send("input", "queued");
    // Ops are dispatched in order: once `complete` is answered, the input is queued.
    r.send("complete", "{}");
    assert_eq!(r.expect(Duration::from_secs(5)).kind, "completion");
    let mut conn = std::os::unix::net::UnixStream::connect(&path).unwrap();
    let mut got = String::new();
    conn.read_to_string(&mut got).unwrap();
    assert_eq!(got, "queued");
    assert!(r.recv(Duration::from_millis(200)).is_none());

    // A connection still waiting when the task ends is closed without an answer.
    let mut waiting = std::os::unix::net::UnixStream::connect(&path).unwrap();
    assert_eq!(r.expect(Duration::from_secs(5)).kind, "waiting-input");
    release_the_task(&r);
    let mut got = String::new();
    waiting.read_to_string(&mut got).unwrap();
    assert_eq!(got, "");

    // A program using the socket (as the upstream hooks do) gets its answer.
    if have("python3", "unix_socket_side_channel (python client)") {
        let client = format!(
            "python3 -c \"import socket; s = socket.socket(socket.AF_UNIX); s.connect('{}'); print('got', s.recv(1024).decode())\"",
            path.display()
        );
        r.send("exec", client);
        let out = converse(&r, &["via socket"], &[], crate::TASK);
        assert_eq!(out.stdout_text(), "got via socket\n");
    }

    // The socket file goes away with the runner.
    let mut r = r;
    assert_eq!(r.terminate().0, Some(0));
    assert!(!path.exists(), "the socket file was left behind");
}

#[test]
fn tcp_side_channel_behind_a_flag() {
    let port = krunner_tests::free_port();
    let r = Runner::start_with(
        "app",
        Options {
            args: vec!["--input-tcp-port".into(), port.to_string()],
            ..Options::default()
        },
    );
    hold_a_task(&r);
    let mut conn = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let m = r.expect(Duration::from_secs(5));
    assert_eq!(m.kind, "waiting-input");
    r.send("input", "over tcp");
    let mut got = String::new();
    conn.read_to_string(&mut got).unwrap();
    assert_eq!(got, "over tcp");
    release_the_task(&r);
}

/// Measures the delay between a program blocking on stdin and `waiting-input` reaching the
/// client, and the runner's CPU use while tasks run. Run with
/// `cargo test -p krunner-tests --release --test e2e -- --ignored --nocapture measure_`.
#[test]
#[ignore = "measurement; run explicitly"]
fn measure_input_request_latency() {
    if !have("python3", "measure_input_request_latency") {
        return;
    }
    // Answered at once, so each read follows the previous input within microseconds.
    measure_latency("reads right after the previous answer", 0);
    // Busy for 100-200 ms between reads: the looks have backed off to their interval.
    measure_latency("reads after 100-200 ms of work", 100);
}

fn measure_latency(name: &str, pause_ms: u32) {
    let rounds = 50;
    let script = format!(
        "import sys, time\nfor i in range({rounds}):\n    if {pause_ms}:\n        end = time.time() + ({pause_ms} + i * 37 % 100) / 1000\n        while time.time() < end: pass\n    sys.stdout.write('T%d\\n' % time.time_ns()); sys.stdout.flush()\n    sys.stdin.readline()\n"
    );
    let r = Runner::start_with("app", with_files(&[("lat.py", &script)]));
    r.send("exec", "python3 lat.py");
    let mut stamp: Option<u128> = None;
    let mut delays = Vec::new();
    loop {
        let m = r.expect(crate::TASK);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        match m.kind.as_str() {
            "stdout" => {
                for line in m.text().lines() {
                    if let Some(t) = line.strip_prefix('T') {
                        stamp = t.parse().ok();
                    }
                }
            }
            "waiting-input" => {
                let t = stamp.take().expect("a stamp before each request");
                delays.push((now - t) as f64 / 1e6);
                r.send("input", "x");
            }
            _ => break,
        }
    }
    delays.sort_by(|a, b| a.total_cmp(b));
    let mean = delays.iter().sum::<f64>() / delays.len() as f64;
    println!(
        "{name}: waiting-input delay over {} requests: min {:.1} ms, median {:.1} ms, mean {:.1} ms, p95 {:.1} ms, max {:.1} ms",
        delays.len(),
        delays[0],
        delays[delays.len() / 2],
        mean,
        delays[delays.len() * 95 / 100],
        delays[delays.len() - 1]
    );
}

/// A program that starts 4000 threads that wait on a lock, then sleeps for 20 s.
const THOUSANDS_OF_THREADS: &str = "import threading, time\nnever = threading.Event()\nfor _ in range(4000):\n    threading.Thread(target=never.wait, daemon=True).start()\nprint('started', flush=True)\ntime.sleep(20)\n";

#[test]
#[ignore = "measurement; run explicitly"]
fn measure_detection_cpu() {
    {
        let r = Runner::start("app");
        std::thread::sleep(Duration::from_secs(2));
        let before = krunner_tests::cpu_seconds(r.pid());
        std::thread::sleep(Duration::from_secs(10));
        let used = krunner_tests::cpu_seconds(r.pid()) - before;
        println!(
            "idle (no task): runner CPU {:.2}% of one core over 10 s",
            used * 10.0
        );
    }
    /// A name, a command and the files it needs.
    type Case<'a> = (&'a str, String, Vec<(&'a str, &'a str)>);
    let mut cases: Vec<Case> = vec![
        ("sh: sleep 20", "sleep 20".into(), vec![]),
        (
            "sh: 8 background sleeps",
            "for i in 1 2 3 4 5 6 7 8; do sleep 20 & done; wait".into(),
            vec![],
        ),
    ];
    if have("python3", "measure_detection_cpu (4000 threads)") {
        cases.push((
            "python: 4000 idle threads",
            "python3 threads.py".into(),
            vec![("threads.py", THOUSANDS_OF_THREADS)],
        ));
    }
    let java_src = "public class Main { public static void main(String[] a) throws Exception { Thread.sleep(20000); } }\n";
    if have("java", "measure_detection_cpu (java)") {
        cases.push((
            "java: Thread.sleep(20 s)",
            "java Main.java".into(),
            vec![("Main.java", java_src)],
        ));
    }
    for (name, cmd, files) in cases {
        let r = Runner::start_with("app", with_files(&files));
        r.send("exec", &cmd);
        // Let the program start (the JVM compiles the source first).
        std::thread::sleep(Duration::from_secs(5));
        let before = krunner_tests::cpu_seconds(r.pid());
        let t0 = Instant::now();
        std::thread::sleep(Duration::from_secs(10));
        let used = krunner_tests::cpu_seconds(r.pid()) - before;
        let share = used / t0.elapsed().as_secs_f64() * 100.0;
        println!("{name}: runner CPU {:.2}% of one core over 10 s", share);
        r.send("interrupt", "");
        r.until_finished(crate::TASK);
    }
}
