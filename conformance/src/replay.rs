//! Replays: our core plays one side of a transcript against the other side's recorded bytes,
//! delivered in reads of a chosen size, through either driver.

use crate::plugins;
use crate::role::{play, Behaviour, Outcome, Polled, Ready, Role};
use crate::transcript::{Dir, Transcript};
use std::time::Duration;
use tinyproto_core::buffer::VecBuffer;
use tinyproto_core::script::ScriptedPeer;
use tinyproto_core::transport::Transport;
use tinyproto_core::wire::MSG_MAX_SIZE;
use tinyproto_core::{AsyncConnection, BlockingConnection};

/// Which of the core's drivers plays the side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Driver {
    /// [`BlockingConnection`] over the scripted peer.
    Blocking,
    /// [`tinyproto_core::Connection::poll`] over the scripted peer.
    Polled,
    /// [`AsyncConnection`] over the scripted peer (which is always ready, so every future
    /// completes on its first poll).
    Async,
}

impl Driver {
    /// Every driver.
    pub const ALL: [Driver; 3] = [Driver::Blocking, Driver::Polled, Driver::Async];
}

/// The read sizes every transcript is replayed at (`usize::MAX`: all at once).
pub const CHUNK_SIZES: [usize; 4] = [1, 3, 997, usize::MAX];

/// What our side did in a replay.
#[derive(Debug)]
pub struct Replay {
    /// Every byte we wrote.
    pub output: Vec<u8>,
    /// What the script saw.
    pub outcome: Outcome,
}

/// The scripted peer as a core [`Transport`] (always ready; its input ends in end of stream).
struct Scripted<'a>(ScriptedPeer<'a, VecBuffer>);

impl Transport for Scripted<'_> {
    type Error = embedded_io::ErrorKind;
    fn read(&mut self, buf: &mut [u8]) -> Result<Option<usize>, Self::Error> {
        embedded_io::Read::read(&mut self.0, buf).map(Some)
    }
    fn write(&mut self, buf: &[u8]) -> Result<Option<usize>, Self::Error> {
        embedded_io::Write::write(&mut self.0, buf).map(Some)
    }
}

/// Plays `role` of `t` (the Python side's script and plugins) on our core, against the other
/// side's recorded bytes.
pub fn replay(t: &Transcript, role: Role, driver: Driver, chunk: usize) -> Replay {
    let input = t.stream(Dir::written_by(other(role)));
    play_scripted(&input, &t.behaviour(role), driver, chunk)
}

/// Plays `behaviour` on our core against a peer that sends `input` in reads of at most `chunk`
/// bytes, then end of stream. Like a Python receiver, we accept messages up to the protocol
/// maximum.
pub fn play_scripted(input: &[u8], behaviour: &Behaviour, driver: Driver, chunk: usize) -> Replay {
    let chain = plugins::chain(&behaviour.plugins).expect("known plugin names");
    let peer = ScriptedPeer::new(input, chunk, VecBuffer::new(usize::MAX));
    let max = MSG_MAX_SIZE as usize;
    match driver {
        Driver::Blocking => {
            let mut conn = BlockingConnection::with_plugins(peer, VecBuffer::new(max), chain);
            let outcome = play(&mut conn, behaviour);
            let output = conn.into_inner().output().to_vec();
            Replay { output, outcome }
        }
        Driver::Polled => {
            let mut conn = Polled::new(Scripted(peer), MSG_MAX_SIZE, chain)
                .with_patience(Some(Duration::from_secs(5)));
            let outcome = play(&mut conn, behaviour);
            let output = conn.into_io().0.output().to_vec();
            Replay { output, outcome }
        }
        Driver::Async => {
            let conn = AsyncConnection::with_plugins(peer, VecBuffer::new(max), chain);
            let mut conn = Ready(conn);
            let outcome = play(&mut conn, behaviour);
            let output = conn.0.into_inner().output().to_vec();
            Replay { output, outcome }
        }
    }
}

fn other(role: Role) -> Role {
    match role {
        Role::Client => Role::Server,
        Role::Server => Role::Client,
    }
}
