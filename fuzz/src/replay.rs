//! Target `replay`: the recorded transcripts' byte streams, mutated, played by our core as the
//! Python side's script (an echo server, or a lockstep client), through both drivers.
//!
//! The first byte picks the role, the plugins, the client's messages and the read size; the
//! rest is the peer's stream. Every driver (blocking, polled, async) at that read size and the
//! blocking driver reading everything at once must agree exactly: same messages delivered, same
//! failures, same end, same bytes written. (The seed corpus holds
//! every transcript's streams as recorded, see `fuzz/README.md`.)

use crate::input::Input;
use tinyproto_conformance::replay::{play_scripted, Driver, Replay, CHUNK_SIZES};
use tinyproto_conformance::role::{Behaviour, Role};

/// The selector byte a seed starts with (see [`check`]).
pub fn selector(role: Role, plugins: &[String], sends: usize, chunk: usize) -> u8 {
    let has = |name: &str| plugins.iter().any(|p| p == name);
    u8::from(role == Role::Client)
        | u8::from(has("xor5a")) << 1
        | u8::from(has("bang")) << 2
        | (sends.min(3) as u8) << 3
        | (chunk.min(3) as u8) << 5
}

/// Plays the stream after the selector byte through both drivers and compares.
pub fn check(data: &[u8]) {
    let mut input = Input::new(data);
    let sel = input.byte();
    let stream = input.take(usize::MAX);
    let plugins: Vec<&str> = [(1 << 1, "xor5a"), (1 << 2, "bang")]
        .into_iter()
        .filter(|(bit, _)| sel & bit != 0)
        .map(|(_, name)| name)
        .collect();
    let behaviour = if sel & 1 == 1 {
        let sends = usize::from(sel >> 3 & 3);
        Behaviour::client(vec![b"hello".to_vec(); sends], &plugins)
    } else {
        Behaviour::echo_server(&plugins)
    };
    let chunk = CHUNK_SIZES[usize::from(sel >> 5 & 3)];
    let reference = play_scripted(stream, &behaviour, Driver::Blocking, usize::MAX);
    for driver in Driver::ALL {
        // The blocking driver reading everything at once is the reference itself: a replay is
        // deterministic, so playing it again would only cost time.
        if driver == Driver::Blocking && chunk == usize::MAX {
            continue;
        }
        same(
            &reference,
            &play_scripted(stream, &behaviour, driver, chunk),
            driver,
            chunk,
        );
    }
}

fn same(want: &Replay, got: &Replay, driver: Driver, chunk: usize) {
    let what = || format!("{driver:?} driver reading {chunk} bytes at a time");
    assert_eq!(got.outcome.received, want.outcome.received, "{}", what());
    assert_eq!(got.outcome.failures, want.outcome.failures, "{}", what());
    assert_eq!(got.outcome.end, want.outcome.end, "{}", what());
    assert_eq!(got.output, want.output, "{}", what());
}
