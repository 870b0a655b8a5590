//! One-way bulk: many 1 MiB messages, and one single large message. Throughput, and the peak
//! RSS (`VmHWM`) of the receiving server and of the sending client.

use super::{progress, size_label, variants};
use crate::contenders::Contender;
use crate::measure::status_kib;
use crate::results::{Metric, Table};
use crate::roles::RoleArgs;
use crate::Config;
use std::time::Duration;

pub fn run(cfg: &Config, contenders: &[Contender]) -> Vec<Table> {
    let many = cfg.bulk_total / cfg.bulk_msg;
    vec![
        one(
            cfg,
            contenders,
            format!(
                "One-way bulk: {} as {} × {} messages",
                size_label(cfg.bulk_total),
                many,
                size_label(cfg.bulk_msg)
            ),
            cfg.bulk_msg,
            many as u64,
        ),
        one(
            cfg,
            contenders,
            format!(
                "One-way bulk: one single {} message",
                size_label(cfg.single)
            ),
            cfg.single,
            1,
        ),
    ]
}

fn one(cfg: &Config, contenders: &[Contender], title: String, size: usize, count: u64) -> Table {
    let mib = |kib: u64| kib as f64 / 1024.0;
    let mut t = Table::new(
        title,
        vec![
            Metric::ratio("MB/s", 0),
            Metric::new("receiver peak RSS MiB", 1),
            Metric::new("sender peak RSS MiB", 1),
        ],
    );
    t.notes.push(format!(
        "Unpinned. Each run: a fresh receiving server (answers only the 1-byte end marker), one \
         client that sends the messages (stopping early after {} s) then the end marker and \
         waits for its echo; {} repetition(s). Peak RSS is `VmHWM` of each process, the \
         sender's including the message it holds.",
        cfg.bulk_limit_secs, cfg.bulk_reps
    ));
    for rep in 0..cfg.bulk_reps {
        for (c, send) in variants(contenders) {
            if c == Contender::Ours && send == crate::contenders::Send::Hook {
                // Inline hooks cannot wait for a queue to drain; the hook-threads mode covers it.
                t.note(c, send, "not applicable: an inline hook cannot wait for its send queue to drain (see ours (hook threads))");
                continue;
            }
            progress(&format!(
                "{} rep {}: {} {send:?}",
                t.title,
                rep + 1,
                c.name()
            ));
            let r = (|| -> Result<(Vec<f64>, Option<String>), String> {
                let server = c.server("sink", size, &[])?;
                let args = RoleArgs {
                    port: server.port,
                    task: "bulk".into(),
                    size,
                    count,
                    seconds: cfg.bulk_limit_secs,
                    send: send.arg().into(),
                    ..RoleArgs::parse(&[]).expect("defaults")
                };
                let r = c.client(
                    &args,
                    &[],
                    Duration::from_secs_f64(cfg.bulk_limit_secs + 120.0),
                )?;
                let hwm = status_kib(server.pid, "VmHWM").ok_or("server gone")?;
                if r.ops == 0 {
                    return Err(format!("no message sent within {} s", cfg.bulk_limit_secs));
                }
                let partial = (r.ops < count).then(|| {
                    format!(
                        "stopped at the {} s limit after {} of {count} messages (rate of those)",
                        cfg.bulk_limit_secs, r.ops
                    )
                });
                let v = vec![r.bytes as f64 / r.secs / 1e6, mib(hwm), mib(r.hwm_kib)];
                Ok((v, partial))
            })();
            match r {
                Ok((v, partial)) => {
                    t.record(c, send, &v);
                    if let Some(p) = partial {
                        t.note(c, send, p);
                    }
                }
                Err(e) => t.note(c, send, e),
            }
        }
    }
    t
}
