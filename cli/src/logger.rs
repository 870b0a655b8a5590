//! `-v`: messages on stderr through the `log` crate, the tool's own and (with `-vvv`) the
//! core's protocol trace.

use log::{Level, LevelFilter, Log, Metadata, Record};

struct Stderr;

static STDERR: Stderr = Stderr;

impl Log for Stderr {
    /// Our crates' messages only (mio and others log too).
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::max_level() && metadata.target().starts_with("tinyproto")
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let level = match record.level() {
            Level::Error => "error",
            Level::Warn => "warning",
            Level::Info => "info",
            Level::Debug => "debug",
            Level::Trace => "trace",
        };
        if record.target().starts_with("tinyproto_cli") {
            eprintln!("tinyproto: {level}: {}", record.args());
        } else {
            eprintln!(
                "tinyproto: {level} [{}]: {}",
                record.target(),
                record.args()
            );
        }
    }

    fn flush(&self) {}
}

/// Sends log messages to stderr: warnings always; with `verbose` 1 (`-v`) what the tool does,
/// 2 (`-vv`) more detail, 3 and more (`-vvv`) the protocol's every step.
pub fn init(verbose: u8) {
    let level = match verbose {
        0 => LevelFilter::Warn,
        1 => LevelFilter::Info,
        2 => LevelFilter::Debug,
        _ => LevelFilter::Trace,
    };
    if log::set_logger(&STDERR).is_ok() {
        log::set_max_level(level);
    }
}
