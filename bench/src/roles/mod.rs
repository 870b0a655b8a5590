//! The programs each contender runs as a separate process (`tinyproto-bench role NAME ...`):
//! an echo/sink server that prints `LISTENING <port>`, and a client that runs one task and
//! prints `RESULT ops=.. bytes=.. secs=.. hwm_kib=..` (ours and the floor also `user_s=..
//! sys_s=..`, their CPU time). The Python contenders' scripts in
//! `bench/python/` speak the same arguments and output.

pub mod floor;
pub mod ours;
pub mod tokio;
// The io-uring crate's submission push is `unsafe`: the kernel reads and writes the buffers of
// an operation until it completes. This module alone keeps that promise (see its docs).
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
pub mod uring;

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Byte every payload is filled with (non-zero so that pages are really touched).
pub const FILL: u8 = 0x5a;
/// Servers in `sink` mode answer only messages shorter than this (the bulk end marker).
pub const SINK_ECHO_BELOW: usize = 16;

/// Arguments shared by every role, as `--key value` pairs.
#[derive(Clone, Debug)]
pub struct RoleArgs {
    pub port: u16,
    /// Server: `echo` (answer every message with itself) or `sink` (answer only short ones).
    pub mode: String,
    /// Server: largest message accepted.
    pub max: usize,
    /// Client: `echo` (lockstep) or `bulk` (one way, then a 1-byte end marker echoed).
    pub task: String,
    pub size: usize,
    /// Client: most messages.
    pub count: u64,
    /// Client: time limit; the client stops starting messages after it.
    pub seconds: f64,
    /// Client: `hook` (send from the connection's own callbacks) or `thread` (from the main
    /// thread). The floor and the blocking contenders have one way only.
    pub send: String,
    /// Ours: `inline` (hooks on the I/O thread), `pool` (hook threads) or `threads` (a thread
    /// per connection).
    pub hooks: String,
    /// Ours: the spin limit in microseconds (`default`: the library's; 0 turns spinning off),
    /// for A/B runs by hand.
    pub spin: String,
}

impl RoleArgs {
    pub fn parse(args: &[String]) -> Result<RoleArgs, String> {
        let mut map = HashMap::new();
        let mut it = args.iter();
        while let Some(k) = it.next() {
            let key = k.strip_prefix("--").ok_or(format!("unexpected {k}"))?;
            let v = it.next().ok_or(format!("{k} needs a value"))?;
            map.insert(key.to_string(), v.clone());
        }
        let get = |k: &str, d: &str| map.get(k).cloned().unwrap_or_else(|| d.to_string());
        let num = |k: &str, d: &str| -> Result<f64, String> {
            get(k, d).parse::<f64>().map_err(|e| format!("--{k}: {e}"))
        };
        Ok(RoleArgs {
            port: num("port", "0")? as u16,
            mode: get("mode", "echo"),
            max: num("max", "1073741824")? as usize,
            task: get("task", "echo"),
            size: num("size", "16")? as usize,
            count: num("count", "1000000000")? as u64,
            seconds: num("seconds", "1")?,
            send: get("send", "thread"),
            hooks: get("hooks", "inline"),
            spin: get("spin", "default"),
        })
    }

    /// The same arguments on a command line.
    pub fn to_args(&self) -> Vec<String> {
        [
            ("port", self.port.to_string()),
            ("mode", self.mode.clone()),
            ("max", self.max.to_string()),
            ("task", self.task.clone()),
            ("size", self.size.to_string()),
            ("count", self.count.to_string()),
            ("seconds", self.seconds.to_string()),
            ("send", self.send.clone()),
            ("hooks", self.hooks.clone()),
            ("spin", self.spin.clone()),
        ]
        .into_iter()
        .flat_map(|(k, v)| [format!("--{k}"), v])
        .collect()
    }

    /// The spin limit asked for, if not the library's default.
    pub fn spin_limit(&self) -> Result<Option<Duration>, String> {
        match self.spin.as_str() {
            "default" => Ok(None),
            us => us
                .parse()
                .map(|us| Some(Duration::from_micros(us)))
                .map_err(|e| format!("--spin {us}: {e}")),
        }
    }

    pub fn deadline(&self) -> Instant {
        Instant::now() + Duration::from_secs_f64(self.seconds)
    }
}

/// What a client reports.
pub fn print_result(ops: u64, bytes: u64, elapsed: Duration) {
    let me = std::process::id();
    let hwm = crate::measure::status_kib(me, "VmHWM").unwrap_or(0);
    let cpu = crate::measure::cpu_times(me).unwrap_or_default();
    println!(
        "RESULT ops={ops} bytes={bytes} secs={:.6} hwm_kib={hwm} user_s={:.3} sys_s={:.3}",
        elapsed.as_secs_f64(),
        cpu.user.as_secs_f64(),
        cpu.system.as_secs_f64()
    );
}

/// Runs role `name`.
pub fn run(name: &str, args: &[String]) -> Result<(), String> {
    let a = RoleArgs::parse(args)?;
    let r = match name {
        "floor-server" => floor::server(&a),
        "floor-client" => floor::client(&a),
        "ours-server" => ours::server(&a),
        "ours-client" => ours::client(&a),
        "tokio-server" => tokio::server(&a),
        "tokio-client" => tokio::client(&a),
        #[cfg(target_os = "linux")]
        "uring-server" => uring::server(&a),
        _ => return Err(format!("unknown role {name}")),
    };
    r.map_err(|e| format!("{name}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_round_trip() {
        let a = RoleArgs::parse(&[
            "--size".into(),
            "1048576".into(),
            "--send".into(),
            "hook".into(),
        ])
        .unwrap();
        assert_eq!((a.size, a.send.as_str(), a.port), (1 << 20, "hook", 0));
        let b = RoleArgs::parse(&a.to_args()).unwrap();
        assert_eq!(b.to_args(), a.to_args());
    }
}
