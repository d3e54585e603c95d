//! `krunner-bench`: measures any Backend.AI kernel runner over its real ZeroMQ protocol, side
//! by side, and prints a Markdown table with ratios against the first runner.
//!
//! Each runner is given as `NAME=COMMAND`. The command is run with `sh -c "exec COMMAND"`;
//! `{in}` and `{out}` in it are replaced by the ports to use (a runner that cannot be told
//! its ports, like the original Python one, simply binds 2000/2001, the defaults here).
//! Runners are measured one after another, never at the same time.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _};
use clap::Parser;
use krunner_agent_client::{Client, ClientOptions, Ports, RunnerProcess};

mod memory;
mod table;

use memory::{rss_kib, tree_rss_kib};
use table::print_table;

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
    let client = connect(args)?;
    client.send("status", b"")?;
    wait_for(&client, &["status"], "", Duration::from_secs(10))?;
    let us = status_us(&client, n)?;
    echo.join().map_err(|_| anyhow!("echo thread panicked"))??;
    Ok(us)
}

/// A client on the benchmark's ports.
fn connect(args: &Args) -> anyhow::Result<Client> {
    let options = ClientOptions::default()
        .linger(Duration::ZERO)
        .receive_hwm(0)
        // Retry the connection every millisecond, so startup measures the runner, not the
        // client's reconnect back-off (100 ms by default).
        .reconnect_interval(Duration::from_millis(1));
    let ports = Ports {
        repl_in: args.port_in,
        repl_out: args.port_out,
    };
    Ok(Client::connect(ports, &options)?)
}

/// Next message of one of `kinds`, counting the payload bytes of `count` messages seen on
/// the way. Times out after `timeout`.
fn wait_for(
    client: &Client,
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
        // Receive without copying payloads: only their sizes are needed on the hot path.
        let Some(message) = client.recv_raw(left)? else {
            continue;
        };
        let kind = message.kind();
        if kind == count {
            counted += message.payload().len();
        }
        if kinds.contains(&kind.as_ref()) {
            return Ok((kind.into_owned(), message.payload().to_vec(), counted));
        }
    }
}

/// Starts a runner with `sh -c "exec COMMAND"`, `{in}` and `{out}` replaced by the ports.
fn spawn(command: &str, args: &Args) -> anyhow::Result<RunnerProcess> {
    let command = command
        .replace("{in}", &args.port_in.to_string())
        .replace("{out}", &args.port_out.to_string());
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(format!("exec {command}"))
        .current_dir(&args.workdir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    RunnerProcess::spawn(&mut cmd).with_context(|| format!("cannot start {command}"))
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
    client.send("exec", cmd)?;
    let (_, payload, bytes) = wait_for(client, &["finished"], "stdout", timeout)?;
    Ok((payload, bytes))
}

fn measure(command: &str, args: &Args) -> anyhow::Result<Results> {
    let mut r = Results {
        startup_ms: startup_ms(command, args)?,
        ..Results::default()
    };
    let client = connect(args)?;
    let mut runner = spawn(command, args)?;
    let pid = runner.pid().unwrap_or(0);
    client.send("status", b"")?;
    wait_for(&client, &["status"], "", Duration::from_secs(60))?;
    // Warm up.
    for _ in 0..10 {
        exec(&client, "true", Duration::from_secs(30))?;
    }
    std::thread::sleep(Duration::from_millis(300));
    r.rss_mib = rss_kib(pid).unwrap_or(0) as f64 / 1024.0;
    r.exec_ms = exec_ms(&client, args.execs)?;
    r.status_us = status_us(&client, args.statuses)?;
    r.stream_mb_s = stream_mb_s(&client, args.stream_mb)?;
    r.seq_ms = seq_ms(&client)?;
    if let Some(code) = &args.code {
        r.code_ms = Some(code_ms(&client, code, args.execs)?);
        std::thread::sleep(Duration::from_millis(300));
        r.tree_rss_mib = Some(tree_rss_kib(pid) as f64 / 1024.0);
    }
    runner.terminate();
    std::thread::sleep(Duration::from_millis(200));
    Ok(r)
}

/// Median time from starting a runner to its answer to `status`.
fn startup_ms(command: &str, args: &Args) -> anyhow::Result<f64> {
    let mut startups = Vec::new();
    for _ in 0..args.startups {
        let client = connect(args)?;
        let begun = Instant::now();
        let mut runner = spawn(command, args)?;
        client.send("status", b"")?;
        wait_for(&client, &["status"], "", Duration::from_secs(60))?;
        startups.push(begun.elapsed().as_secs_f64() * 1e3);
        runner.terminate();
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(median(startups))
}

/// Median `exec true` round trip.
fn exec_ms(client: &Client, execs: usize) -> anyhow::Result<f64> {
    let mut rounds = Vec::new();
    for _ in 0..execs {
        let t = Instant::now();
        let (payload, _) = exec(client, "true", Duration::from_secs(30))?;
        rounds.push(t.elapsed().as_secs_f64() * 1e3);
        if !String::from_utf8_lossy(&payload).contains("\"exitCode\": 0")
            && !String::from_utf8_lossy(&payload).contains("\"exitCode\":0")
        {
            bail!("exec true failed: {}", String::from_utf8_lossy(&payload));
        }
    }
    Ok(median(rounds))
}

/// Mean `status` round trip in microseconds.
fn status_us(client: &Client, statuses: usize) -> anyhow::Result<f64> {
    let t = Instant::now();
    for _ in 0..statuses {
        client.send("status", b"")?;
        wait_for(client, &["status"], "", Duration::from_secs(10))?;
    }
    Ok(t.elapsed().as_secs_f64() * 1e6 / statuses as f64)
}

/// Throughput of `head -c BYTES /dev/zero` through stdout.
fn stream_mb_s(client: &Client, stream_mb: usize) -> anyhow::Result<f64> {
    let bytes = stream_mb * 1_000_000;
    let t = Instant::now();
    let (_, got) = exec(
        client,
        &format!("head -c {bytes} /dev/zero"),
        Duration::from_secs(600),
    )?;
    let secs = t.elapsed().as_secs_f64();
    if got != bytes {
        bail!("streamed {got} bytes instead of {bytes}");
    }
    Ok(bytes as f64 / 1e6 / secs)
}

/// Median of five `seq 1 200000` (many small writes).
fn seq_ms(client: &Client) -> anyhow::Result<f64> {
    let mut seqs = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let (_, got) = exec(client, "seq 1 200000", Duration::from_secs(120))?;
        seqs.push(t.elapsed().as_secs_f64() * 1e3);
        if got != 1_288_895 {
            bail!("seq 1 200000 gave {got} bytes");
        }
    }
    Ok(median(seqs))
}

/// Median `code` round trip of `snippet`, after five warm-up runs.
fn code_ms(client: &Client, snippet: &str, execs: usize) -> anyhow::Result<f64> {
    let run = || -> anyhow::Result<()> {
        client.send("code", snippet)?;
        wait_for(client, &["finished"], "stdout", Duration::from_secs(60))?;
        Ok(())
    };
    for _ in 0..5 {
        run()?;
    }
    let mut rounds = Vec::new();
    for _ in 0..execs {
        let t = Instant::now();
        run()?;
        rounds.push(t.elapsed().as_secs_f64() * 1e3);
    }
    Ok(median(rounds))
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
