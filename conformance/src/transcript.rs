//! Transcripts recorded between real Python peers (format: `conformance/RECORDING.md`), and what
//! they say about each side: the bytes it wrote, the messages it received, and its script.

use crate::pyrandom::PyRandom;
use crate::role::{Behaviour, Reply, Role};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Direction of a chunk on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub enum Dir {
    /// Client to server.
    #[serde(rename = "c2s")]
    ClientToServer,
    /// Server to client.
    #[serde(rename = "s2c")]
    ServerToClient,
}

impl Dir {
    /// The direction in which `role` writes.
    pub fn written_by(role: Role) -> Dir {
        match role {
            Role::Client => Dir::ClientToServer,
            Role::Server => Dir::ServerToClient,
        }
    }
}

/// One event seen by the recording proxy.
#[derive(Clone, Debug, Deserialize)]
pub struct Chunk {
    /// Direction.
    pub dir: Dir,
    /// Bytes that passed, in hex.
    #[serde(default)]
    pub hex: Option<String>,
    /// The writer closed its side (FIN).
    #[serde(default)]
    pub eof: bool,
    /// The connection was reset.
    #[serde(default)]
    pub reset: bool,
    /// The proxy could not pass an event on (free text).
    #[serde(default)]
    pub send_error: Option<String>,
    /// Connection number, present only when the scenario had several connections.
    #[serde(default)]
    pub conn: Option<u32>,
}

/// A message as a transcript's config gives it.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum MessageSpec {
    /// Literal bytes in hex.
    Hex {
        /// The bytes.
        hex: String,
    },
    /// `random.Random(seed).randbytes(len)`: `[seed, len]`.
    Random {
        /// Seed and length.
        random: [u64; 2],
    },
}

impl MessageSpec {
    /// The bytes the spec stands for.
    pub fn bytes(&self) -> Vec<u8> {
        match self {
            MessageSpec::Hex { hex } => from_hex(hex).expect("message spec holds valid hex"),
            MessageSpec::Random {
                random: [seed, len],
            } => PyRandom::new(*seed).randbytes(*len as usize),
        }
    }
}

/// One side's configuration. A raw side has `raw: true` and only a description of its steps.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct PeerConfig {
    /// A hand-written socket script, not the Python package.
    pub raw: bool,
    /// Plugin names in registration order.
    pub plugins: Vec<String>,
    /// Client: messages sent lockstep.
    pub send: Vec<MessageSpec>,
    /// Client: messages to receive before closing.
    pub expect: Option<usize>,
    /// Client: never close on its own.
    pub hold: bool,
    /// Server: `"echo_prefix"`, `"echo"` or `"none"`.
    pub reply: Option<String>,
    /// Server: messages transmitted right after the handshake.
    pub pre_loop_send: Vec<MessageSpec>,
    /// Server: connection limit.
    pub connection_limit: Option<u32>,
}

/// One recorded run of a scenario with one Python version.
#[derive(Clone, Debug, Deserialize)]
pub struct Transcript {
    /// Scenario name, e.g. `hello`.
    pub scenario: String,
    /// `2.0.1` or `3.0`.
    pub python_version: String,
    /// What happens.
    pub description: String,
    /// `python-<version>` or `raw`.
    pub client: String,
    /// `python-<version>` or `raw`.
    pub server: String,
    /// The client's configuration.
    pub client_config: PeerConfig,
    /// The server's configuration.
    pub server_config: PeerConfig,
    /// Everything that passed, in order.
    pub chunks: Vec<Chunk>,
    /// Messages the client's application received, hex.
    pub client_received: Vec<String>,
    /// Messages the server's application received, hex.
    pub server_received: Vec<String>,
    /// The client's exceptions, if any.
    pub client_error: Option<String>,
    /// The server's exceptions, if any.
    pub server_error: Option<String>,
    /// The recorder's findings.
    #[serde(default)]
    pub notes: String,
}

impl Transcript {
    /// Reads one transcript file.
    pub fn load(path: &Path) -> Result<Transcript, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Every `*.json` transcript in `dir`, sorted by file name.
    pub fn load_dir(dir: &Path) -> Result<Vec<Transcript>, String> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        paths.sort();
        paths.iter().map(|p| Transcript::load(p)).collect()
    }

    /// The folder of the committed transcripts.
    pub fn committed_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("transcripts")
    }

    /// `<scenario>--py<version>`, the file's stem.
    pub fn name(&self) -> String {
        format!("{}--py{}", self.scenario, self.python_version)
    }

    /// Whether `role` was played by the Python package (so our core can replay it).
    pub fn is_python(&self, role: Role) -> bool {
        self.side(role).starts_with("python")
    }

    fn side(&self, role: Role) -> &str {
        match role {
            Role::Client => &self.client,
            Role::Server => &self.server,
        }
    }

    /// The configuration of `role`.
    pub fn config(&self, role: Role) -> &PeerConfig {
        match role {
            Role::Client => &self.client_config,
            Role::Server => &self.server_config,
        }
    }

    /// The connection the transcript is about: with several connections (the connection-limit
    /// scenarios) the last one, whose client is the `client_*` side.
    fn conn(&self) -> Option<u32> {
        self.chunks.iter().filter_map(|c| c.conn).max()
    }

    fn chunks_of(&self, dir: Dir) -> impl Iterator<Item = &Chunk> {
        let conn = self.conn();
        self.chunks
            .iter()
            .filter(move |c| c.dir == dir && c.conn == conn)
    }

    /// All bytes that went in `dir` on the connection of interest.
    pub fn stream(&self, dir: Dir) -> Vec<u8> {
        self.chunks_of(dir)
            .filter_map(|c| c.hex.as_deref())
            .flat_map(|h| from_hex(h).expect("chunk holds valid hex"))
            .collect()
    }

    /// Whether the writer of `dir` closed or reset its side.
    pub fn closed(&self, dir: Dir) -> bool {
        self.chunks_of(dir).any(|c| c.eof || c.reset)
    }

    /// What `role`'s application received, decoded.
    pub fn received(&self, role: Role) -> Vec<Vec<u8>> {
        let list = match role {
            Role::Client => &self.client_received,
            Role::Server => &self.server_received,
        };
        list.iter()
            .map(|h| from_hex(h).expect("received holds valid hex"))
            .collect()
    }

    /// The exception text of `role`, if any.
    pub fn error(&self, role: Role) -> Option<&str> {
        match role {
            Role::Client => self.client_error.as_deref(),
            Role::Server => self.server_error.as_deref(),
        }
    }

    /// The script of the Python peer in `role`, to be played by our core.
    pub fn behaviour(&self, role: Role) -> Behaviour {
        let config = self.config(role);
        let send: Vec<Vec<u8>> = config.send.iter().map(MessageSpec::bytes).collect();
        Behaviour {
            role,
            plugins: config.plugins.clone(),
            expect: config.expect.unwrap_or(send.len()),
            send,
            hold: config.hold,
            reply: match config.reply.as_deref() {
                Some("echo") => Reply::Echo,
                Some("none") => Reply::Nothing,
                _ => Reply::EchoPrefix,
            },
            pre_loop_send: config
                .pre_loop_send
                .iter()
                .map(MessageSpec::bytes)
                .collect(),
        }
    }
}

/// Decodes hex (either case).
pub fn from_hex(s: &str) -> Result<Vec<u8>, String> {
    if !s.len().is_multiple_of(2) {
        return Err(format!("odd-length hex {s:?}"));
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).map_err(|e| format!("{s:?}: {e}")))
        .collect()
}

/// Encodes bytes as lowercase hex.
pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hex of `bytes`, shortened in the middle when long (for reports).
pub fn short_hex(bytes: &[u8]) -> String {
    if bytes.len() <= 24 {
        return to_hex(bytes);
    }
    format!(
        "{}…{} ({} bytes)",
        to_hex(&bytes[..12]),
        to_hex(&bytes[bytes.len() - 4..]),
        bytes.len()
    )
}
