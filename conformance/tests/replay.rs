//! Replays every committed transcript: our core plays each side the Python package played, fed
//! the other side's recorded bytes in reads of 1, 3, 997 bytes and all at once, through every
//! driver (blocking, polled, async), and must write exactly the recorded bytes and deliver
//! exactly the recorded messages — except where PROTOCOL.md documents a deliberate difference;
//! such a case asserts our documented behaviour instead and names the quirk.

use tinyproto_conformance::replay::{replay, Driver, CHUNK_SIZES};
use tinyproto_conformance::role::{PeerError, Role};
use tinyproto_conformance::transcript::{short_hex, Dir, Transcript};
use tinyproto_core::connection::Failure;
use tinyproto_core::session::{Phase, ProtocolError};
use tinyproto_core::wire::MSG_MAX_SIZE;
use tinyproto_core::Error;

/// How our side's connection must end.
#[derive(Debug)]
enum End {
    /// Our script ended (a client that closes after its last answer).
    Finished,
    /// The peer closed at a message boundary.
    Closed,
    /// A typed error.
    Error(PeerError),
    /// Any error that closes the connection (the exact one depends on the driver's view).
    Fatal,
}

/// What our side must do in a replay.
struct Expect {
    output: Vec<u8>,
    received: Vec<Vec<u8>>,
    failures: Vec<Failure>,
    end: End,
    /// The quirk of PROTOCOL.md that makes us differ from Python, if any.
    difference: Option<&'static str>,
}

fn eof(phase: Phase, missing: u32) -> End {
    End::Error(Error::Protocol(ProtocolError::UnexpectedEof {
        phase,
        missing,
    }))
}

/// Our refusal of the header `f1000000`.
fn too_large() -> Failure {
    Failure::Refused {
        len: 0xf100_0000,
        limit: MSG_MAX_SIZE,
    }
}

/// The expectation for our core in `role` of `t`; `Err` says why the core cannot replay it.
fn expect(t: &Transcript, role: Role) -> Result<Expect, &'static str> {
    let v3 = t.python_version == "3.0";
    let recorded = Expect {
        output: t.stream(Dir::written_by(role)),
        received: t.received(role),
        failures: Vec::new(),
        end: match (role, t.config(role).hold) {
            (Role::Client, false) => End::Finished,
            _ => End::Closed,
        },
        difference: None,
    };
    let ours = |output: &[u8], end: End, difference| Expect {
        output: output.to_vec(),
        received: Vec::new(),
        failures: Vec::new(),
        end,
        difference: Some(difference),
    };
    const Q3: &str = "Q3: EOF mid-message is UnexpectedEof and nothing is delivered (Python \
                      delivers zero-padded garbage and answers it)";
    Ok(match (t.scenario.as_str(), role) {
        ("conlimit" | "conlimit-python-client-b", Role::Server) => {
            return Err(
                "a connection limit is a server's, not the core's: serve-echo's single \
                        fe (Q1) is checked live by the runner's conlimit/2",
            );
        }
        ("conlimit-python-client-b", Role::Client) if v3 => Expect {
            // The 3.0 server died (NameError) and reset B: no init byte ever came.
            end: eof(Phase::Handshake, 1),
            ..recorded
        },
        ("conlimit-python-client-b", Role::Client) => Expect {
            // 254 zero bytes: the first one is the init byte (Q1).
            end: End::Error(Error::Protocol(ProtocolError::InitRefused)),
            ..recorded
        },
        ("oversize-raw-client", Role::Server) if v3 => Expect {
            // The client's next header gets its ff, its payload never comes.
            end: eof(Phase::ReceivingPayload, 5),
            failures: vec![too_large()],
            ..ours(
                b"\xff\x00\xff",
                End::Fatal,
                "Q2: after refusing an oversize header we stay in sync and answer the next \
                 header (3.0's connection thread dies)",
            )
        },
        ("oversize-raw-client", Role::Server) => Expect {
            failures: vec![too_large()],
            ..recorded
        },
        ("max-size-header-raw-client", Role::Server) => {
            ours(b"\xff\xff", eof(Phase::ReceivingPayload, MSG_MAX_SIZE), Q3)
        }
        ("eof-mid-header", Role::Server) => ours(b"\xff", eof(Phase::Header, 2), Q3),
        ("eof-mid-payload", Role::Server) => ours(b"\xff\xff", eof(Phase::ReceivingPayload, 6), Q3),
        ("eof-after-header", Role::Server) => {
            ours(b"\xff\xff", eof(Phase::ReceivingPayload, 10), Q3)
        }
        ("eof-mid-header-to-client", Role::Client) => ours(b"\xff", eof(Phase::Header, 2), Q3),
        ("eof-mid-payload-to-client", Role::Client) => {
            ours(b"\xff\xff", eof(Phase::ReceivingPayload, 6), Q3)
        }
        ("simultaneous", _) => Expect {
            // Same bytes as Python; the peer's first header byte reads as a refusal of ours,
            // and what follows is never taken for a message.
            failures: vec![Failure::Rejected {
                len: if role == Role::Client { 5 } else { 7 },
            }],
            end: End::Fatal,
            difference: Some(
                "Q6: a collision is a typed error and a closed connection; nothing is \
                 delivered (Python's threads die with sockets open)",
            ),
            ..recorded
        },
        _ => recorded,
    })
}

fn check(t: &Transcript, role: Role, want: &Expect) -> Vec<String> {
    let mut problems = Vec::new();
    for driver in Driver::ALL {
        for chunk in CHUNK_SIZES {
            let got = replay(t, role, driver, chunk);
            let at = format!("{} as {role}, {driver:?}, reads of {chunk}", t.name());
            if got.output != want.output {
                problems.push(format!(
                    "{at}: wrote {} instead of {}",
                    short_hex(&got.output),
                    short_hex(&want.output)
                ));
            }
            if got.outcome.received != want.received {
                problems.push(format!(
                    "{at}: delivered {:?} instead of {:?}",
                    got.outcome
                        .received
                        .iter()
                        .map(|m| short_hex(m))
                        .collect::<Vec<_>>(),
                    want.received
                        .iter()
                        .map(|m| short_hex(m))
                        .collect::<Vec<_>>()
                ));
            }
            if got.outcome.failures != want.failures {
                problems.push(format!(
                    "{at}: failures {:?} instead of {:?}",
                    got.outcome.failures, want.failures
                ));
            }
            let end_ok = match (&want.end, &got.outcome.end) {
                (End::Finished, Ok(())) => true,
                (End::Closed, Err(Error::Closed)) => true,
                (End::Error(e), Err(g)) => e == g,
                (End::Fatal, Err(g)) => *g != Error::Closed,
                _ => false,
            };
            if !end_ok {
                problems.push(format!(
                    "{at}: ended {:?} instead of {:?}",
                    got.outcome.end, want.end
                ));
            }
        }
    }
    problems
}

#[test]
fn every_transcript_replays_on_every_driver_at_every_read_size() {
    let transcripts = Transcript::load_dir(&Transcript::committed_dir()).unwrap();
    let mut problems = Vec::new();
    let mut replayed = 0;
    for t in &transcripts {
        for role in Role::BOTH.into_iter().filter(|&r| t.is_python(r)) {
            match expect(t, role) {
                Ok(want) => {
                    problems.extend(check(t, role, &want));
                    replayed += 1;
                    let how = want.difference.unwrap_or("byte-identical to Python");
                    println!("{:<40} {role:<6} {how}", t.name());
                }
                Err(why) => println!("{:<40} {role:<6} not replayed: {why}", t.name()),
            }
        }
    }
    assert!(
        replayed >= 40,
        "only {replayed} replays: are the transcripts committed?"
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn both_python_versions_are_recorded_for_every_scenario() {
    let transcripts = Transcript::load_dir(&Transcript::committed_dir()).unwrap();
    let mut names: Vec<String> = transcripts.iter().map(Transcript::name).collect();
    names.sort();
    for scenario in [
        "handshake",
        "hello",
        "empty",
        "large-70000",
        "many",
        "oversize-raw-client",
        "max-size-header-raw-client",
        "conlimit",
        "eof-mid-header",
        "eof-mid-payload",
        "eof-mid-header-to-client",
        "eof-mid-payload-to-client",
        "plugin",
        "simultaneous",
        "server-sends-first",
        "client-close-at-boundary",
    ] {
        for version in ["2.0.1", "3.0"] {
            let name = format!("{scenario}--py{version}");
            assert!(names.contains(&name), "missing transcript {name}");
        }
    }
}
