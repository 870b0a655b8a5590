//! What `send` and `listen` do with each message received: print it (as it is, in hex, or as
//! JSON) or save it to a file.

use crate::error::Error;
use serde::Serialize;
use std::fmt::Write as _;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

/// `--hex`, `--json`, `--out DIR`.
#[derive(Clone, Debug, clap::Args)]
pub struct OutputOpts {
    /// Print each message as one line of hex digits (as `xxd -p` writes them, unwrapped).
    #[arg(long, conflicts_with = "json")]
    pub hex: bool,
    /// Print one JSON object per message (index, peer, length, text if UTF-8, hex; the file
    /// with --out).
    #[arg(long)]
    pub json: bool,
    /// Save each message to a file in DIR (created if missing) and print its path instead.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// One message received.
#[derive(Clone, Copy, Debug)]
pub struct Received<'a> {
    /// The connection's number (`listen`), `None` for the one connection of `send`.
    pub conn: Option<u64>,
    /// Who sent it.
    pub peer: SocketAddr,
    /// Its number on its connection, from 1.
    pub index: u64,
    /// The message.
    pub bytes: &'a [u8],
}

impl Received<'_> {
    /// The file name with `--out`: `reply-0001.bin` (`send`), `conn3-0001.bin` (`listen`).
    fn file_name(&self) -> String {
        match self.conn {
            Some(conn) => format!("conn{conn}-{:04}.bin", self.index),
            None => format!("reply-{:04}.bin", self.index),
        }
    }
}

/// The JSON line of one message.
#[derive(Serialize)]
struct JsonLine<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    conn: Option<u64>,
    peer: String,
    index: u64,
    len: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hex: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<String>,
}

/// Prints or saves messages as the flags say.
#[derive(Debug)]
pub struct Output {
    opts: OutputOpts,
}

/// Lower-case hex digits, two per byte.
pub fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

impl Output {
    /// Checks the flags; creates the `--out` folder.
    ///
    /// # Errors
    /// When the folder cannot be created.
    pub fn new(opts: OutputOpts) -> Result<Self, Error> {
        if let Some(dir) = &opts.out {
            std::fs::create_dir_all(dir).map_err(|source| Error::File {
                doing: "create",
                path: dir.clone(),
                source,
            })?;
        }
        Ok(Output { opts })
    }

    /// Prints or saves one message.
    ///
    /// # Errors
    /// When the file or standard output cannot be written.
    pub fn write(&self, msg: Received<'_>) -> Result<(), Error> {
        let file = match &self.opts.out {
            Some(dir) => {
                let path = dir.join(msg.file_name());
                std::fs::write(&path, msg.bytes).map_err(|source| Error::File {
                    doing: "write",
                    path: path.clone(),
                    source,
                })?;
                Some(path)
            }
            None => None,
        };
        let mut line = if self.opts.json {
            let json = JsonLine {
                conn: msg.conn,
                peer: msg.peer.to_string(),
                index: msg.index,
                len: msg.bytes.len(),
                text: file
                    .is_none()
                    .then(|| std::str::from_utf8(msg.bytes).ok())
                    .flatten(),
                hex: file.is_none().then(|| hex(msg.bytes)),
                file: file.as_ref().map(|p| p.display().to_string()),
            };
            serde_json::to_vec(&json).expect("a JSON line serialises")
        } else if let Some(path) = &file {
            path.display().to_string().into_bytes()
        } else if self.opts.hex {
            hex(msg.bytes).into_bytes()
        } else {
            msg.bytes.to_vec()
        };
        if line.last() != Some(&b'\n') {
            line.push(b'\n');
        }
        let mut stdout = std::io::stdout().lock();
        stdout
            .write_all(&line)
            .and_then(|()| stdout.flush())
            .map_err(|source| Error::File {
                doing: "write",
                path: "standard output".into(),
                source,
            })
    }
}
