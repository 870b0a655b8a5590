//! The flags every command shares, and their parsers.

use clap::ValueEnum;
use std::time::Duration;
use tinyproto_core::Plugin;
use tinyproto_std::{ServerBuilder, TcpConnectionBuilder, Timeouts, DEFAULT_MAX_MESSAGE_SIZE};

/// The default of `--timeout`: 10 s for any single network wait.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// `--timeout SECS`: the longest any single network wait may take.
#[derive(Clone, Debug, clap::Args)]
pub struct TimeoutOpt {
    /// Seconds any single network wait may take: connecting, the handshake, each answer, a
    /// message that stops making progress (fractions allowed).
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = parse_secs)]
    pub timeout: Duration,
}

impl TimeoutOpt {
    /// Every protocol timeout of tinyproto-std set to `--timeout`.
    pub fn timeouts(&self) -> Timeouts {
        let ms = u32::try_from(self.timeout.as_millis()).unwrap_or(u32::MAX);
        Timeouts::new().handshake(ms).status(ms).stall(ms)
    }
}

/// The settings of every connection: `--timeout`, `--max-size`, `--plugin`.
#[derive(Clone, Debug, clap::Args)]
pub struct ConnOpts {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub timeout: TimeoutOpt,
    /// Largest message accepted from the peer, in bytes (suffixes K, M, G: KiB, MiB, GiB); a
    /// larger one is answered 0x00 and skipped.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_MESSAGE_SIZE, value_parser = parse_size)]
    pub max_size: usize,
    /// A plugin on every connection, in the order given (the Python package's test plugins).
    #[arg(long = "plugin", value_name = "NAME")]
    pub plugins: Vec<PluginName>,
}

/// A built-in plugin, by the name the Python peers use (`--plugin xor5a`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PluginName {
    /// XOR every byte with 0x5a, both ways.
    Xor5a,
    /// Append `!` on sending, strip one trailing `!` on receiving.
    Bang,
}

impl PluginName {
    /// A fresh instance.
    pub fn make(self) -> Box<dyn Plugin + Send> {
        use tinyproto_conformance::plugins::{Bang, Xor5a};
        match self {
            PluginName::Xor5a => Box::new(Xor5a),
            PluginName::Bang => Box::new(Bang),
        }
    }
}

/// Applies `--timeout`, `--max-size` and `--plugin` to a server or connection builder (both
/// have these methods, but no common trait).
macro_rules! configure {
    ($builder:expr, $opts:expr) => {{
        let mut builder = $builder
            .timeouts($opts.timeouts())
            .max_message_size($opts.max_size);
        for &plugin in &$opts.plugins {
            builder = builder.plugin(move || plugin.make());
        }
        builder
    }};
}

impl ConnOpts {
    /// Every protocol timeout set to `--timeout`.
    pub fn timeouts(&self) -> Timeouts {
        self.timeout.timeouts()
    }

    /// A server builder with these settings.
    pub fn server(&self) -> ServerBuilder {
        configure!(tinyproto_std::Server::builder(), self)
    }

    /// A connection builder with these settings.
    pub fn client(&self) -> TcpConnectionBuilder {
        configure!(tinyproto_std::TcpConnection::builder(), self)
            .connect_timeout(Some(self.timeout.timeout))
    }
}

/// Parses seconds (`10`, `0.5`) into a positive duration.
pub fn parse_secs(s: &str) -> Result<Duration, String> {
    match s.parse::<f64>() {
        Ok(secs) if secs > 0.0 && secs.is_finite() && secs < 1e9 => {
            Ok(Duration::from_secs_f64(secs))
        }
        _ => Err(format!("`{s}` is not a number of seconds above 0")),
    }
}

/// Parses a byte count: `1000`, `64K`, `1M`, `2G` (binary multiples).
pub fn parse_size(s: &str) -> Result<usize, String> {
    let (digits, unit) = match s.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((at, _)) => s.split_at(at),
        None => (s, ""),
    };
    let shift = match unit {
        "" | "B" => 0,
        "K" | "k" | "KiB" => 10,
        "M" | "m" | "MiB" => 20,
        "G" | "g" | "GiB" => 30,
        _ => return Err(format!("`{s}` is not a size (like 1000, 64K, 1M)")),
    };
    digits
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(1 << shift))
        .ok_or_else(|| format!("`{s}` is not a size (like 1000, 64K, 1M)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_seconds() {
        assert_eq!(parse_size("1000"), Ok(1000));
        assert_eq!(parse_size("64K"), Ok(64 << 10));
        assert_eq!(parse_size("1M"), Ok(1 << 20));
        assert!(parse_size("1T").is_err());
        assert!(parse_size("").is_err());
        assert_eq!(parse_secs("0.5"), Ok(Duration::from_millis(500)));
        assert!(parse_secs("0").is_err());
        assert!(parse_secs("-1").is_err());
    }
}
