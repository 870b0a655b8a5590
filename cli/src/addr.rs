//! `HOST:PORT` arguments: checked when parsed (so that clap reports a malformed one as a usage
//! error), resolved later with an error that names the address.

use crate::error::Error;
use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::str::FromStr;

/// An address as given on the command line: a host name, an IPv4 address or an IPv6 address
/// in brackets, then a port.
///
/// ```
/// use tinyproto_cli::HostPort;
/// let addr: HostPort = "[::1]:9123".parse()?;
/// assert_eq!(addr.to_string(), "[::1]:9123");
/// assert!("nonsense".parse::<HostPort>().is_err());
/// # Ok::<(), tinyproto_cli::addr::AddrError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostPort {
    host: String,
    port: u16,
}

/// Why an argument is not `HOST:PORT`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AddrError {
    /// No `:PORT` at the end.
    NoPort,
    /// Nothing before `:PORT`.
    NoHost,
    /// An IPv6 address without brackets (`::1:9123` is ambiguous).
    Brackets,
    /// The port is not a number from 0 to 65535.
    BadPort(String),
}

impl fmt::Display for AddrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoPort => {
                f.write_str("the port is missing: expected HOST:PORT, like 127.0.0.1:9123")
            }
            Self::NoHost => {
                f.write_str("the host is missing: expected HOST:PORT, like 127.0.0.1:9123")
            }
            Self::Brackets => f.write_str("an IPv6 address goes in brackets, like [::1]:9123"),
            Self::BadPort(port) => write!(f, "`{port}` is not a port (0 to 65535)"),
        }
    }
}

impl std::error::Error for AddrError {}

impl FromStr for HostPort {
    type Err = AddrError;

    fn from_str(s: &str) -> Result<Self, AddrError> {
        let (host, port) = s.rsplit_once(':').ok_or(AddrError::NoPort)?;
        let host = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            Some(v6) => v6,
            None if host.contains(':') => return Err(AddrError::Brackets),
            None => host,
        };
        if host.is_empty() {
            return Err(AddrError::NoHost);
        }
        let port = port
            .parse()
            .map_err(|_| AddrError::BadPort(port.to_owned()))?;
        Ok(HostPort {
            host: host.to_owned(),
            port,
        })
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl HostPort {
    /// Every address the host resolves to, with the port.
    ///
    /// # Errors
    /// [`Error::Resolve`] when the name does not resolve.
    pub fn resolve(&self) -> Result<Vec<SocketAddr>, Error> {
        let resolve_failed = |source| Error::Resolve {
            addr: self.to_string(),
            source,
        };
        let addrs: Vec<SocketAddr> = (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(resolve_failed)?
            .collect();
        if addrs.is_empty() {
            return Err(resolve_failed(io::Error::new(
                io::ErrorKind::NotFound,
                "no address",
            )));
        }
        Ok(addrs)
    }
}

/// Several addresses in one phrase: `127.0.0.1:9123 and [::1]:9123`.
pub fn list(addrs: &[HostPort]) -> String {
    addrs
        .iter()
        .map(HostPort::to_string)
        .collect::<Vec<_>>()
        .join(" and ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_ipv4_and_bracketed_ipv6() {
        for ok in ["127.0.0.1:9123", "localhost:0", "[::1]:65535"] {
            assert_eq!(ok.parse::<HostPort>().unwrap().to_string(), ok);
        }
    }

    #[test]
    fn says_what_is_wrong() {
        let err = |s: &str| s.parse::<HostPort>().unwrap_err();
        assert_eq!(err("nonsense"), AddrError::NoPort);
        assert_eq!(err(":9123"), AddrError::NoHost);
        assert_eq!(err("::1:9123"), AddrError::Brackets);
        assert_eq!(err("host:http"), AddrError::BadPort("http".into()));
        assert_eq!(err("host:65536"), AddrError::BadPort("65536".into()));
    }

    #[test]
    fn resolves_loopback() {
        let addrs = "127.0.0.1:9"
            .parse::<HostPort>()
            .unwrap()
            .resolve()
            .unwrap();
        assert_eq!(addrs, [SocketAddr::from(([127, 0, 0, 1], 9))]);
    }
}
