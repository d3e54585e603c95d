//! `krunner-bench`: measures any Backend.AI kernel runner over its real ZeroMQ protocol, side
//! by side, and prints a Markdown table with ratios against the first runner.
//!
//! Each runner is given as `NAME=COMMAND`. The command is run with `sh -c "exec COMMAND"`;
//! `{in}` and `{out}` in it are replaced by the ports to use (a runner that cannot be told
//! its ports, like the original Python one, simply binds 2000/2001, the defaults here).
//! Runners are measured one after another, never at the same time.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _};
use clap::Parser;

/// Benchmark kernel runners over the Backend.AI protocol.
#[derive(Debug, Parser)]
struct Args {
    /// A runner to measure, as NAME=COMMAND (repeatable; the first is the baseline).
    #[arg(long = "runner", value_name = "NAME=COMMAND", required = true)]
    runners: Vec<String>,
    /// Port for ops (PULL side of the runner).
    #[arg(long, default_value_t = 2000)]
    port_in: u16,
    /// Port for results (PUSH side of the runner).
    #[arg(long, default_value_t = 2001)]
    port_out: u16,
    /// Working directory for the runners.
    #[arg(long, default_value = "/tmp/krunner-bench-work")]
    workdir: String,
    /// Startup measurements per runner.
    #[arg(long, default_value_t = 5)]
    startups: usize,
    /// `exec true` round trips per runner.
    #[arg(long, default_value_t = 200)]
    execs: usize,
    /// `status` round trips per runner.
    #[arg(long, default_value_t = 2000)]
    statuses: usize,
    /// Megabytes streamed through stdout.
    #[arg(long, default_value_t = 200)]
    stream_mb: usize,
    /// Also measure query mode: the round trip of a `code` op with this snippet (e.g.
    /// `print(1)`), and the memory of the runner with its session processes afterwards.
    #[arg(long, value_name = "SNIPPET")]
    code: Option<String>,
    /// Also measure the floor: a request/reply through an in-process ZeroMQ echo thread on
    /// the same ports (what any runner's `status` round trip is bounded by on this machine).
    #[arg(long)]
    zmq_floor: bool,
}

/// Mean round trip through a minimal PULL→PUSH echo thread, in microseconds.
fn zmq_floor(args: &Args) -> anyhow::Result<f64> {
    let ctx = zmq::Context::new();
    let pull = ctx.socket(zmq::PULL)?;
    let push = ctx.socket(zmq::PUSH)?;
    pull.bind(&format!("tcp://127.0.0.1:{}", args.port_in))?;
    push.bind(&format!("tcp://127.0.0.1:{}", args.port_out))?;
    let n = args.statuses;
    let echo = std::thread::spawn(move || -> anyhow::Result<()> {
        for _ in 0..n + 1 {
            let frames = pull.recv_multipart(0)?;
            push.send_multipart(frames, 0)?;
        }
        Ok(())
    });
    let client = Client::connect(args.port_in, args.port_out)?;
    client.send("status", b"")?;
    client.wait_for(&["status"], "", Duration::from_secs(10))?;
    let t = Instant::now();
    for _ in 0..n {
        client.send("status", b"")?;
        client.wait_for(&["status"], "", Duration::from_secs(10))?;
    }
    let us = t.elapsed().as_secs_f64() * 1e6 / n as f64;
    echo.join().map_err(|_| anyhow!("echo thread panicked"))??;
    Ok(us)
}

struct Client {
    _ctx: zmq::Context,
    push: zmq::Socket,
    pull: zmq::Socket,
}

impl Client {
    fn connect(port_in: u16, port_out: u16) -> anyhow::Result<Self> {
        let ctx = zmq::Context::new();
        let push = ctx.socket(zmq::PUSH)?;
        let pull = ctx.socket(zmq::PULL)?;
        push.set_linger(0)?;
        pull.set_linger(0)?;
        pull.set_rcvhwm(0)?;
        // Retry the connection every millisecond, so startup measures the runner, not the
        // client's reconnect back-off (100 ms by default).
        for s in [&push, &pull] {
            s.set_reconnect_ivl(1)?;
            s.set_reconnect_ivl_max(1)?;
        }
        push.connect(&format!("tcp://127.0.0.1:{port_in}"))?;
        pull.connect(&format!("tcp://127.0.0.1:{port_out}"))?;
        Ok(Self {
            _ctx: ctx,
            push,
            pull,
        })
    }

    fn send(&self, op: &str, payload: &[u8]) -> anyhow::Result<()> {
        self.push.send_multipart([op.as_bytes(), payload], 0)?;
        Ok(())
    }

    /// Next message of one of `kinds`, counting the payload bytes of `count` messages seen on
    /// the way. Times out after `timeout`.
    fn wait_for(
        &self,
        kinds: &[&str],
        count: &str,
        timeout: Duration,
    ) -> anyhow::Result<(String, Vec<u8>, usize)> {
        let deadline = Instant::now() + timeout;
        let mut counted = 0;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                bail!("timed out waiting for {kinds:?}");
            }
            let mut items = [self.pull.as_poll_item(zmq::POLLIN)];
            zmq::poll(&mut items, left.as_millis().max(1) as i64)?;
            if !items[0].is_readable() {
                continue;
            }
            // Receive without copying payloads: only their sizes are needed on the hot path.
            let kind_msg = self.pull.recv_msg(0)?;
            let kind = String::from_utf8_lossy(&kind_msg).into_owned();
            if !self.pull.get_rcvmore()? {
                continue;
            }
            let payload_msg = self.pull.recv_msg(0)?;
            while self.pull.get_rcvmore()? {
                self.pull.recv_msg(0)?;
            }
            if kind == count {
                counted += payload_msg.len();
            }
            let payload = if kinds.contains(&kind.as_str()) {
                payload_msg.to_vec()
            } else {
                Vec::new()
            };
            if kinds.contains(&kind.as_str()) {
                return Ok((kind, payload, counted));
            }
        }
    }
}

struct Spawned {
    child: Child,
}

impl Spawned {
    fn start(command: &str, args: &Args) -> anyhow::Result<Self> {
        let command = command
            .replace("{in}", &args.port_in.to_string())
            .replace("{out}", &args.port_out.to_string());
        let child = Command::new("/bin/sh")
            .arg("-c")
            .arg(format!("exec {command}"))
            .current_dir(&args.workdir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot start {command}"))?;
        Ok(Self { child })
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    fn stop(mut self) -> anyhow::Result<()> {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.pid(), libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }
}

fn rss_kib(pid: i32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// RSS of `pid` and all its descendants.
fn tree_rss_kib(pid: i32) -> u64 {
    let mut parents: Vec<(i32, i32)> = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for e in entries.flatten() {
            let Some(p) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
                continue;
            };
            // The command name may contain spaces: fields follow the last ')'.
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|f| f.parse().ok())
                .unwrap_or(0);
            parents.push((p, ppid));
        }
    }
    let mut tree = vec![pid];
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        tree.extend(
            parents
                .iter()
                .filter(|(_, pp)| *pp == parent)
                .map(|(p, _)| *p),
        );
        i += 1;
    }
    tree.iter().filter_map(|p| rss_kib(*p)).sum()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

#[derive(Debug, Default, Clone)]
struct Results {
    startup_ms: f64,
    exec_ms: f64,
    status_us: f64,
    stream_mb_s: f64,
    seq_ms: f64,
    rss_mib: f64,
    code_ms: Option<f64>,
    tree_rss_mib: Option<f64>,
}

fn exec(client: &Client, cmd: &str, timeout: Duration) -> anyhow::Result<(Vec<u8>, usize)> {
    client.send("exec", cmd.as_bytes())?;
    let (_, payload, bytes) = client.wait_for(&["finished"], "stdout", timeout)?;
    Ok((payload, bytes))
}

fn measure(command: &str, args: &Args) -> anyhow::Result<Results> {
    let mut r = Results::default();
    let mut startups = Vec::new();
    for _ in 0..args.startups {
        let client = Client::connect(args.port_in, args.port_out)?;
        let begun = Instant::now();
        let runner = Spawned::start(command, args)?;
        client.send("status", b"")?;
        client.wait_for(&["status"], "", Duration::from_secs(60))?;
        startups.push(begun.elapsed().as_secs_f64() * 1e3);
        runner.stop()?;
        std::thread::sleep(Duration::from_millis(100));
    }
    r.startup_ms = median(startups);

    let client = Client::connect(args.port_in, args.port_out)?;
    let runner = Spawned::start(command, args)?;
    client.send("status", b"")?;
    client.wait_for(&["status"], "", Duration::from_secs(60))?;
    // Warm up.
    for _ in 0..10 {
        exec(&client, "true", Duration::from_secs(30))?;
    }
    std::thread::sleep(Duration::from_millis(300));
    r.rss_mib = rss_kib(runner.pid()).unwrap_or(0) as f64 / 1024.0;

    let mut rounds = Vec::new();
    for _ in 0..args.execs {
        let t = Instant::now();
        let (payload, _) = exec(&client, "true", Duration::from_secs(30))?;
        rounds.push(t.elapsed().as_secs_f64() * 1e3);
        if !String::from_utf8_lossy(&payload).contains("\"exitCode\": 0")
            && !String::from_utf8_lossy(&payload).contains("\"exitCode\":0")
        {
            bail!("exec true failed: {}", String::from_utf8_lossy(&payload));
        }
    }
    r.exec_ms = median(rounds);

    let t = Instant::now();
    for _ in 0..args.statuses {
        client.send("status", b"")?;
        client.wait_for(&["status"], "", Duration::from_secs(10))?;
    }
    r.status_us = t.elapsed().as_secs_f64() * 1e6 / args.statuses as f64;

    let bytes = args.stream_mb * 1_000_000;
    let t = Instant::now();
    let (_, got) = exec(
        &client,
        &format!("head -c {bytes} /dev/zero"),
        Duration::from_secs(600),
    )?;
    let secs = t.elapsed().as_secs_f64();
    if got != bytes {
        bail!("streamed {got} bytes instead of {bytes}");
    }
    r.stream_mb_s = bytes as f64 / 1e6 / secs;

    let mut seqs = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let (_, got) = exec(&client, "seq 1 200000", Duration::from_secs(120))?;
        seqs.push(t.elapsed().as_secs_f64() * 1e3);
        if got != 1_288_895 {
            bail!("seq 1 200000 gave {got} bytes");
        }
    }
    r.seq_ms = median(seqs);
    if let Some(code) = &args.code {
        let run = |client: &Client| -> anyhow::Result<()> {
            client.send("code", code.as_bytes())?;
            client.wait_for(&["finished"], "stdout", Duration::from_secs(60))?;
            Ok(())
        };
        for _ in 0..5 {
            run(&client)?;
        }
        let mut rounds = Vec::new();
        for _ in 0..args.execs {
            let t = Instant::now();
            run(&client)?;
            rounds.push(t.elapsed().as_secs_f64() * 1e3);
        }
        r.code_ms = Some(median(rounds));
        std::thread::sleep(Duration::from_millis(300));
        r.tree_rss_mib = Some(tree_rss_kib(runner.pid()) as f64 / 1024.0);
    }
    runner.stop()?;
    std::thread::sleep(Duration::from_millis(200));
    Ok(r)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    std::fs::create_dir_all(&args.workdir)?;
    let mut all = Vec::new();
    for spec in &args.runners {
        let (name, command) = spec
            .split_once('=')
            .ok_or_else(|| anyhow!("--runner takes NAME=COMMAND, got {spec:?}"))?;
        eprintln!("measuring {name}: {command}");
        let r = measure(command, &args).with_context(|| format!("measuring {name}"))?;
        eprintln!("  {r:?}");
        all.push((name.to_owned(), r));
    }
    print_table(&all, &args);
    if args.zmq_floor {
        let us = zmq_floor(&args)?;
        println!(
            "\nZeroMQ loopback floor (in-process PULL→PUSH echo thread): {us:.1} µs per round trip"
        );
    }
    Ok(())
}

fn print_table(all: &[(String, Results)], args: &Args) {
    let mut header = "| metric |".to_owned();
    let mut rule = "|---|".to_owned();
    for (name, _) in all {
        header.push_str(&format!(" {name} |"));
        rule.push_str("---:|");
    }
    for (name, _) in all.iter().skip(1) {
        header.push_str(&format!(" {} advantage over {name} |", all[0].0));
        rule.push_str("---:|");
    }
    println!("{header}\n{rule}");
    type Metric = fn(&Results) -> f64;
    let rows: [(&str, Metric, &str, bool); 6] = [
        ("startup to first `status`", |r| r.startup_ms, "ms", false),
        (
            "`exec true` round trip (median)",
            |r| r.exec_ms,
            "ms",
            false,
        ),
        ("`status` round trip (mean)", |r| r.status_us, "µs", false),
        ("stdout streaming", |r| r.stream_mb_s, "MB/s", true),
        ("`seq 1 200000` (median)", |r| r.seq_ms, "ms", false),
        (
            "idle RSS of the runner process",
            |r| r.rss_mib,
            "MiB",
            false,
        ),
    ];
    let mut rows = rows.to_vec();
    if all.iter().any(|(_, r)| r.code_ms.is_some()) {
        rows.push((
            "`code` round trip (median)",
            |r| r.code_ms.unwrap_or(f64::NAN),
            "ms",
            false,
        ));
        rows.push((
            "RSS of runner + session processes",
            |r| r.tree_rss_mib.unwrap_or(f64::NAN),
            "MiB",
            false,
        ));
    }
    for (label, get, unit, higher_is_better) in rows {
        let label = if label == "stdout streaming" {
            format!("stdout streaming ({} MB)", args.stream_mb)
        } else {
            label.to_owned()
        };
        let mut line = format!("| {label} |");
        for (_, r) in all {
            line.push_str(&format!(" {:.3} {unit} |", get(r)));
        }
        let base = get(&all[0].1);
        for (_, r) in all.iter().skip(1) {
            let v = get(r);
            let ratio = if higher_is_better { base / v } else { v / base };
            line.push_str(&format!(" {ratio:.1}× |"));
        }
        println!("{line}");
    }
}
