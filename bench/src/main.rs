//! The tinyproto benchmark harness: our implementation against the raw TCP floor and the
//! Python package, on loopback, in one run. See `bench/README.md`.
//!
//! `tinyproto-bench [--quick] [--out BENCHMARKS.md] [--only ...]` (see `--help`) runs the
//! scenarios and writes the report and its SVG plot; `tinyproto-bench role NAME ...` is one
//! contender's server or client process (started by the harness itself).
// `deny`, not `forbid`: the io_uring floor's module (`roles::uring`, Linux only) allows it for
// the io-uring crate's submission push; nothing else may.
#![deny(unsafe_code)]

mod contenders;
mod loadgen;
mod measure;
mod netns;
mod plot;
mod report;
mod results;
mod roles;
mod scenarios;

use contenders::{Contender, Send};
use scenarios::echo::TARGET_SIZES;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How our clients send in the echo and bulk scenarios.
pub const OURS_SENDS: &[Send] = &[Send::Direct, Send::Hook, Send::Thread];

/// What our contender is, in the report.
pub fn describe(c: Contender) -> String {
    match c {
        Contender::OursPool => "the same with `tinyproto-std`'s default hook threads (hooks run \
            on a pool and may block; `Conn::transmit` waits until the message is written) on \
            both sides"
            .into(),
        Contender::Ours => {
            "`tinyproto-std` with `TCP_NODELAY` on (its default) and `inline_hooks(true)`: its \
            `Server` (one mio I/O thread running the hooks itself) echoing with \
            `Conn::transmit(msg)` from inside `transmission_received` (the received `Vec` is \
            moved back out, no copy, and its memory receives the next message); three clients: \
            the blocking `TcpConnection` (`transmit`, then `receive_into` one reused buffer), a \
            `Client` whose hooks send from `transmission_received` (inline: queued, no wait), \
            and a `Client` driven from the main thread through `ConnectionHandle::send`. The \
            blocking client sends one `Arc<[u8]>` payload built once (the crate sends shared \
            buffers without copying them); the other two send back the echo they received \
            (moved), as the floor reuses its buffers"
                .into()
        }
        Contender::OursThreads => "the same with `threads_per_connection(true)` on both sides: \
            each connection has a thread that blocks in `read` and runs its hooks (the Python \
            package's model), echoing with `Conn::transmit(msg)` (which waits until the message \
            is written); clients: the blocking `TcpConnection`, and a `Client` in the same mode \
            sending from `transmission_received`. Measured in the lockstep echo only: it is meant \
            for a few connections"
            .into(),
        Contender::Tokio => "`tinyproto-tokio` as a tokio user writes it: a `Listener` on tokio's \
            multi-threaded runtime (one worker per CPU) with a task per connection echoing the \
            `Bytes` it received (`conn.send(msg)`: moved back out, its memory receives the next \
            message), and a lockstep client (`send(..).await`, then `recv().await`) on a \
            current-thread runtime that sends back the echo it received (bulk: one shared \
            `Bytes` payload, sent without copies)"
            .into(),
        Contender::Floor => "a minimal Rust server and client written for this benchmark \
            (`tinyproto-bench role floor-*`): blocking std sockets, `TCP_NODELAY` on, one thread \
            per connection, exactly the same bytes on the wire (init `ff`, header, `ff` status, \
            payload) and no library"
            .into(),
        Contender::UringFloor => "the floor's server with every hand-off in one system call \
            (`tinyproto-bench role uring-server`, Linux): the same bytes, `TCP_NODELAY`, a \
            thread per connection with its own io_uring ring; each answer's send and the next \
            receive are submitted together (the send linked before the receive) in one \
            `io_uring_enter` that waits for the receive. Against the floor's client, in the \
            16 B lockstep echo only. A reference, not a mode of the library (see *Lockstep echo*)"
            .into(),
        Contender::Python(v) => format!(
            "the package's own `TinyProtoServer` and `TinyProtoClient` ({}), scripts \
             `bench/python/tp_{{server,client}}.py`; the server echoes from inside \
             `transmission_received`; Nagle left on, as the package does",
            v.as_str()
        ),
    }
}

/// Sizes, counts and limits of one run.
pub struct Config {
    pub quick: bool,
    pub reps: usize,
    pub echo_secs: f64,
    pub echo_sizes: Vec<usize>,
    pub unpinned_sizes: Vec<usize>,
    pub bulk_reps: usize,
    pub bulk_total: usize,
    pub bulk_msg: usize,
    pub bulk_limit_secs: f64,
    pub single: usize,
    pub conns: Vec<usize>,
    pub py_conn_cap: usize,
    pub conn_reps: usize,
    pub establish_limit_secs: f64,
    pub idle_secs: f64,
    /// Longest wait for a server's CPU use to settle before measuring it.
    pub settle_secs: f64,
    pub active_secs: f64,
    /// Windows of `active_secs` the echo rate with every connection active is measured in;
    /// the median is reported.
    pub active_windows: usize,
    pub core_reps: usize,
    pub core_time: Duration,
    pub soak_clients: usize,
    pub soak_messages: usize,
}

const MIB: usize = 1 << 20;

impl Config {
    fn full() -> Config {
        Config {
            quick: false,
            reps: 5,
            echo_secs: 1.0,
            echo_sizes: vec![16, 1024, 64 * 1024, MIB],
            unpinned_sizes: TARGET_SIZES.to_vec(),
            bulk_reps: 3,
            bulk_total: 1 << 30,
            bulk_msg: MIB,
            bulk_limit_secs: 30.0,
            single: 256 * MIB,
            conns: vec![1_000, 10_000],
            py_conn_cap: 1_000,
            conn_reps: 1,
            establish_limit_secs: 60.0,
            idle_secs: 3.0,
            settle_secs: 2.0,
            active_secs: 2.0,
            active_windows: 3,
            core_reps: 35,
            core_time: Duration::from_millis(60),
            soak_clients: 200,
            soak_messages: 300,
        }
    }

    fn quick() -> Config {
        Config {
            quick: true,
            reps: 1,
            echo_secs: 0.2,
            echo_sizes: vec![16, MIB],
            unpinned_sizes: TARGET_SIZES.to_vec(),
            bulk_reps: 1,
            bulk_total: 8 * MIB,
            bulk_msg: MIB,
            bulk_limit_secs: 5.0,
            single: 4 * MIB,
            conns: vec![50],
            py_conn_cap: 50,
            conn_reps: 1,
            establish_limit_secs: 10.0,
            idle_secs: 0.5,
            settle_secs: 0.3,
            active_secs: 0.5,
            active_windows: 1,
            core_reps: 5,
            core_time: Duration::from_millis(10),
            soak_clients: 8,
            soak_messages: 20,
        }
    }
}

fn machine() -> Vec<(String, String)> {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let cpu = read("/proc/cpuinfo")
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")?
                .split_once(':')
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let mem = read("/proc/meminfo")
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    let cmd = |c: &str, args: &[&str]| {
        std::process::Command::new(c)
            .args(args)
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    };
    let mut m = vec![
        ("CPU".into(), format!("{cpu}, {cores} logical CPUs")),
        (
            "memory".into(),
            mem.replace("MemTotal:", "").trim().to_string(),
        ),
        (
            "kernel".into(),
            format!("Linux {}", read("/proc/sys/kernel/osrelease").trim()),
        ),
        ("rustc".into(), cmd("rustc", &["--version"])),
        ("load average at start (1, 5, 15 min)".into(), loadavg()),
        ("source".into(), source_state(&cmd)),
        (
            "fd limit (soft/hard)".into(),
            format!("{:?}", rlimit::Resource::NOFILE.get().unwrap_or((0, 0))),
        ),
    ];
    for py in tinyproto_testkit::PyVersion::ALL {
        let p = tinyproto_testkit::workspace_root()
            .join(format!("target/py/venv-{}/bin/python", py.as_str()));
        if p.exists() {
            let v = cmd(p.to_str().unwrap_or("python"), &["--version"]);
            m.push((format!("Python for tinyproto {}", py.as_str()), v));
        }
    }
    m
}

/// The commit measured, and whether the measured crates had uncommitted changes.
fn source_state(cmd: &dyn Fn(&str, &[&str]) -> String) -> String {
    let root = tinyproto_testkit::workspace_root();
    let root = root.to_str().unwrap_or(".");
    let head = cmd("git", &["-C", root, "rev-parse", "--short", "HEAD"]);
    let dirty = cmd(
        "git",
        &[
            "-C",
            root,
            "status",
            "--porcelain",
            "--",
            "core",
            "transport-std",
        ],
    );
    if head.is_empty() {
        "not a git checkout".into()
    } else if dirty.is_empty() {
        format!("commit {head}")
    } else {
        format!("commit {head} with uncommitted changes in core/ or transport-std/")
    }
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(", ")
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("role") {
        let name = args.get(1).cloned().unwrap_or_default();
        if let Err(e) = roles::run(&name, &args[2..]) {
            eprintln!("{e}");
            std::process::exit(1);
        }
        return;
    }
    let mut out = PathBuf::from("BENCHMARKS.md");
    let mut quick = false;
    let mut strict = false;
    let mut only: Option<Vec<String>> = None;
    let mut pick: Option<Vec<String>> = None;
    let mut conns: Option<Vec<usize>> = None;
    let mut congestion = String::from("cubic");
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => quick = true,
            "--strict" => strict = true,
            "--out" => out = it.next().map(PathBuf::from).unwrap_or(out),
            "--only" => only = it.next().map(|s| s.split(',').map(String::from).collect()),
            "--conns" => {
                conns = it
                    .next()
                    .map(|s| s.split(',').filter_map(|n| n.parse().ok()).collect())
            }
            "--contenders" => pick = it.next().map(|s| s.split(',').map(String::from).collect()),
            "--congestion" => congestion = it.next().cloned().unwrap_or(congestion),
            "-h" | "--help" => {
                println!(
                    "tinyproto-bench [--quick] [--strict] [--out BENCHMARKS.md] \
                     [--only echo,bulk,conc,profile,soak,core] [--contenders ours,ours-pool,ours-threads,tokio,floor,uring,py2,py3] \
                     [--conns 1000,10000] [--congestion cubic|bbr|...|system]"
                );
                return;
            }
            other => {
                eprintln!("unknown argument {other}");
                std::process::exit(2);
            }
        }
    }
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("tinyproto-bench"));
    let network = match netns::enter(&congestion, &exe, &args) {
        netns::Place::Here(setting) => setting,
        netns::Place::Done(code) => std::process::exit(code),
    };
    let wants = |s: &str| only.as_ref().is_none_or(|o| o.iter().any(|x| x == s));
    // 10,000 connections need more descriptors than the usual soft limit of 1,024 (children
    // inherit the raised limit).
    if let Ok((_, hard)) = rlimit::Resource::NOFILE.get() {
        let _ = rlimit::Resource::NOFILE.set(hard, hard);
    }
    let mut cfg = if quick {
        Config::quick()
    } else {
        Config::full()
    };
    if let Some(c) = conns.clone() {
        cfg.conns = c;
    }
    let started = Instant::now();
    let mut machine = machine();
    machine.push(("TCP congestion control".into(), network.description.clone()));
    let (mut contenders, missing) = Contender::available();
    if let Some(p) = &pick {
        contenders.retain(|c| p.iter().any(|x| *x == c.key()));
    }
    let mut command = format!(
        "cargo run --release -p tinyproto-bench -- --out {}{}",
        out.display(),
        if quick { " --quick" } else { "" }
    );
    if let Some(o) = &only {
        command.push_str(&format!(" --only {}", o.join(",")));
    }
    if let Some(c) = &conns {
        let c: Vec<String> = c.iter().map(usize::to_string).collect();
        command.push_str(&format!(" --conns {}", c.join(",")));
    }
    if let Some(p) = &pick {
        command.push_str(&format!(" --contenders {}", p.join(",")));
    }
    if congestion != "cubic" {
        command.push_str(&format!(" --congestion {congestion}"));
    }
    let (echo, points) = if wants("echo") {
        scenarios::echo::run(&cfg, &contenders, &network)
    } else {
        (Vec::new(), Vec::new())
    };
    // The thread-per-connection mode is measured for latency only.
    let many: Vec<Contender> = contenders
        .iter()
        .copied()
        .filter(|c| !c.latency_only())
        .collect();
    let bulk = if wants("bulk") {
        scenarios::bulk::run(&cfg, &many)
    } else {
        Vec::new()
    };
    let conc = if wants("conc") {
        scenarios::concurrency::run(&cfg, &many)
    } else {
        Vec::new()
    };
    let profile = if wants("profile") && scenarios::profile::available() {
        let dir = std::env::temp_dir().join(format!("tinyproto-bench-{}", std::process::id()));
        let p = scenarios::profile::run(quick, &contenders, &dir);
        let _ = std::fs::remove_dir_all(&dir);
        p
    } else {
        Vec::new()
    };
    let cpu = wants("profile").then(|| scenarios::cpu::run(quick, &contenders));
    let soak = wants("soak").then(|| scenarios::soak::run(&cfg));
    let core = if wants("core") {
        scenarios::progress("core in memory");
        scenarios::core_mem::run(cfg.core_reps, cfg.core_time)
    } else {
        Vec::new()
    };
    machine.push(("load average at end".into(), loadavg()));
    let plot_name = format!(
        "{}-throughput.svg",
        out.file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("BENCHMARKS")
    );
    let plot_path = out.with_file_name(&plot_name);
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        let _ = std::fs::create_dir_all(dir);
    }
    let plot = if points.is_empty() {
        None
    } else {
        match plot::throughput_svg(&points, &plot_path) {
            Ok(()) => Some(plot_name),
            Err(e) => {
                eprintln!("plot: {e}");
                None
            }
        }
    };
    let report = report::Report {
        command,
        quick,
        machine,
        contenders,
        missing,
        echo,
        bulk,
        conc,
        core,
        profile,
        cpu,
        soak,
        plot,
        single_size: cfg.single,
        ccs: network.echo_ccs(),
        minutes: started.elapsed().as_secs_f64() / 60.0,
    };
    let md = report.markdown();
    if let Err(e) = std::fs::write(&out, &md) {
        eprintln!("writing {}: {e}", out.display());
        std::process::exit(1);
    }
    eprintln!("[bench] wrote {}", out.display());
    // For CI: our contender and the floor must have run every scenario without a failure.
    let broken = report.broken();
    if strict && !broken.is_empty() {
        for b in &broken {
            eprintln!("[bench] FAILED: {b}");
        }
        std::process::exit(1);
    }
}
