//! `tinyproto send HOST:PORT [FILE|-]…`: connect, send each file (or standard input) as a
//! message, and print or save the replies.

use crate::addr::HostPort;
use crate::error::Error;
use crate::exchange;
use crate::opts::ConnOpts;
use crate::output::{Output, OutputOpts, Received};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use tinyproto_core::wire::MSG_MAX_SIZE;
use tinyproto_std::TcpConnection;

/// Flags of `send`.
#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    /// The server.
    #[arg(value_name = "HOST:PORT")]
    pub addr: HostPort,
    /// Files to send, one message each; `-` is standard input (the default).
    #[arg(value_name = "FILE")]
    pub inputs: Vec<PathBuf>,
    /// One message per line of input (without its line end) instead of one per file; lines
    /// from standard input go out as they are typed.
    #[arg(long)]
    pub lines: bool,
    /// Replies to wait for after each message (0: send only).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub expect: u32,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub conn: ConnOpts,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub output: OutputOpts,
}

/// Runs `send`.
///
/// # Errors
/// The first failure: connecting, reading an input, sending, a reply that does not come.
pub fn run(args: Args) -> Result<bool, Error> {
    let output = Output::new(args.output.clone())?;
    let addrs = args.addr.resolve()?;
    let mut conn = args
        .conn
        .client()
        .connect(&addrs[..])
        .map_err(|e| Error::connecting(&args.addr, e))?;
    log::info!("connected to {}", conn.peer_addr());
    let mut session = Session {
        addr: &args.addr,
        conn: &mut conn,
        output,
        expect: args.expect,
        timeout: args.conn.timeout.timeout,
        sent: 0,
        replies: 0,
    };
    let stdin = [PathBuf::from("-")];
    let inputs = if args.inputs.is_empty() {
        &stdin[..]
    } else {
        &args.inputs[..]
    };
    for path in inputs {
        let reader = open(path)?;
        if args.lines {
            let mut reader = BufReader::new(reader);
            while let Some(line) = next_line(&mut reader, path)? {
                session.exchange(line)?;
            }
        } else {
            // One byte more than a message may hold tells a file that is too large.
            let mut whole = Vec::new();
            let limit = u64::from(MSG_MAX_SIZE) + 1;
            read_failed(path, reader.take(limit).read_to_end(&mut whole))?;
            if whole.len() > MSG_MAX_SIZE as usize {
                return Err(Error::File {
                    doing: "send",
                    path: path.clone(),
                    source: std::io::Error::new(
                        std::io::ErrorKind::InvalidInput,
                        format!("longer than a message may be ({MSG_MAX_SIZE} bytes)"),
                    ),
                });
            }
            session.exchange(whole)?;
        }
    }
    log::info!(
        "sent {} messages, received {} replies",
        session.sent,
        session.replies
    );
    Ok(true)
}

/// The connection and what has happened on it.
struct Session<'a> {
    addr: &'a HostPort,
    conn: &'a mut TcpConnection,
    output: Output,
    expect: u32,
    timeout: std::time::Duration,
    sent: u64,
    replies: u64,
}

impl Session<'_> {
    /// Sends `msg`, then waits for and writes its replies.
    fn exchange(&mut self, msg: Vec<u8>) -> Result<(), Error> {
        self.sent += 1;
        let (n, len) = (self.sent, msg.len());
        exchange::send(self.conn, self.addr, msg, || {
            format!("sending message {n} ({len} bytes)")
        })?;
        log::info!("sent message {n} ({len} bytes)");
        for k in 1..=self.expect {
            let reply =
                exchange::receive(self.conn, self.addr, self.timeout, || match self.expect {
                    1 => format!("waiting for the reply to message {n}"),
                    _ => format!("waiting for reply {k} to message {n}"),
                })?;
            self.replies += 1;
            self.output.write(Received {
                conn: None,
                peer: self.conn.peer_addr(),
                index: self.replies,
                bytes: &reply,
            })?;
        }
        Ok(())
    }
}

/// Opens a file, or standard input for `-`.
fn open(path: &Path) -> Result<Box<dyn Read>, Error> {
    if path == Path::new("-") {
        return Ok(Box::new(std::io::stdin()));
    }
    let file = std::fs::File::open(path);
    Ok(Box::new(read_failed(path, file)?))
}

/// The next line without its `\n` or `\r\n`; `None` at the end.
fn next_line(reader: &mut impl BufRead, path: &Path) -> Result<Option<Vec<u8>>, Error> {
    let mut line = Vec::new();
    if read_failed(path, reader.read_until(b'\n', &mut line))? == 0 {
        return Ok(None);
    }
    if line.last() == Some(&b'\n') {
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
    }
    Ok(Some(line))
}

/// Names the input in a read error.
fn read_failed<T>(path: &Path, result: std::io::Result<T>) -> Result<T, Error> {
    result.map_err(|source| Error::File {
        doing: "read",
        path: path.to_owned(),
        source,
    })
}
