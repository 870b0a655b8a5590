//! The conformance runner: a suite of cases run against any server with the seed README's echo
//! semantics ([`CASES`]), a suite that scripts a server for a client with the seed README's
//! echo-client semantics ([`CLIENT_CASES`]), and the table of results.
//!
//! The default tier holds what every tinyproto server must do (the Python package 2.0.1 and 3.0
//! included); the strict tier adds this project's robustness promises (PROTOCOL.md Q2, Q3 and
//! the timeouts). Every read has a deadline, so a server that does not conform cannot hang the
//! runner.

mod cases;
mod client;
mod raw;

pub use cases::CASES;
pub use client::CLIENT_CASES;
use raw::{Ending, Raw};

use crate::transcript::short_hex;
use serde::Serialize;
use std::fmt::{self, Write as _};
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

/// Which tier a case belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    /// What every implementation must do.
    Default,
    /// Our robustness promises (`--strict`).
    Strict,
}

/// The result of one case.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum Verdict {
    /// The requirement holds.
    Pass,
    /// It does not.
    Fail {
        /// What the requirement wants.
        expected: String,
        /// What the server did.
        actual: String,
    },
    /// The server does something else that the protocol allows (for example a smaller message
    /// limit), or the case needs a setting that was not given.
    Unsupported {
        /// Why.
        reason: String,
    },
}

impl Verdict {
    /// A failure.
    pub fn fail(expected: impl Into<String>, actual: impl Into<String>) -> Verdict {
        Verdict::Fail {
            expected: expected.into(),
            actual: actual.into(),
        }
    }

    /// The table's mark.
    pub fn mark(&self) -> &'static str {
        match self {
            Verdict::Pass => "✓",
            Verdict::Fail { .. } => "✕",
            Verdict::Unsupported { .. } => "unsupported",
        }
    }
}

/// The implementation under test and the runner's limits.
#[derive(Clone, Debug)]
pub struct Target {
    /// Where the server under test listens; in client mode, where the runner listens (port 0:
    /// any).
    pub addr: SocketAddr,
    /// Client mode: the client's command line; `{port}` in an argument is replaced by the
    /// runner's port.
    pub command: Vec<String>,
    /// Longest wait for any single answer.
    pub patience: Duration,
    /// How soon a stalled peer must be dropped (strict tier).
    pub stall_limit: Duration,
    /// The server's connection limit, when it has one (enables the `conlimit` cases).
    pub conlimit: Option<usize>,
}

/// The stall limit [`Target::new`] assumes: 30 s, the default stall timeout of
/// `tinyproto-std` (and so of its `echo-server` example), so that a server with the usual
/// defaults passes the strict tier as it stands.
pub const DEFAULT_STALL_LIMIT: Duration = Duration::from_secs(30);

impl Target {
    /// A target with the default limits: 5 s per answer, stalls dropped within
    /// [`DEFAULT_STALL_LIMIT`].
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            command: Vec::new(),
            patience: Duration::from_secs(5),
            stall_limit: DEFAULT_STALL_LIMIT,
            conlimit: None,
        }
    }
}

/// Why a run stopped before judging every case: nothing more could be judged.
#[derive(Debug)]
pub enum RunError {
    /// The server under test accepted no connection (closed port, nothing listening, or a
    /// server that died during the case before).
    Connect {
        /// The server's address.
        addr: SocketAddr,
        /// The case that could not connect.
        case: &'static str,
        /// How many cases were judged before (0: the server was never reached).
        judged: usize,
        /// What `connect` said.
        source: io::Error,
    },
    /// Client mode: the runner could not listen for the client.
    Listen {
        /// Where it tried to listen.
        addr: SocketAddr,
        /// What `bind` said.
        source: io::Error,
    },
    /// Client mode: the client's command could not be started.
    Spawn {
        /// The program.
        program: String,
        /// What the system said.
        source: io::Error,
    },
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Connect {
                addr,
                case,
                judged,
                source,
            } => write!(
                f,
                "cannot connect to {addr} (case {case}, after {judged} cases): {source}"
            ),
            Self::Listen { addr, source } => write!(f, "cannot listen on {addr}: {source}"),
            Self::Spawn { program, source } => write!(f, "cannot start {program:?}: {source}"),
        }
    }
}

impl std::error::Error for RunError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Connect { source, .. }
            | Self::Listen { source, .. }
            | Self::Spawn { source, .. } => Some(source),
        }
    }
}

/// Why a case's check ended early.
enum Stop {
    /// The case is judged.
    Judged(Verdict),
    /// The server accepted no connection: the run stops ([`RunError::Connect`]).
    Unreachable(io::Error),
    /// The run cannot go on (client mode: no listener, no client).
    Abort(RunError),
}

impl Stop {
    /// A failed case: [`Verdict::fail`].
    fn fail(expected: impl Into<String>, actual: impl Into<String>) -> Stop {
        Stop::Judged(Verdict::fail(expected, actual))
    }
}

impl From<Verdict> for Stop {
    fn from(v: Verdict) -> Self {
        Stop::Judged(v)
    }
}

/// What a case's check gives: `Ok` when the requirement holds, otherwise why not.
type Check = Result<(), Stop>;

/// A case that needs no setting (both suites build their tables with it).
const fn case(
    id: &'static str,
    tier: Tier,
    requirement: &'static str,
    run: fn(&Target) -> Check,
) -> Case {
    Case {
        id,
        tier,
        requirement,
        needs_conlimit: false,
        run,
    }
}

impl Case {
    /// The same case, run only when the target has a connection limit (`--conlimit`).
    const fn with_conlimit(mut self) -> Case {
        self.needs_conlimit = true;
        self
    }
}

/// The strict timeout cases' check: the peer closes `raw` (FIN or reset) within the target's
/// stall limit, plus a second of slack; `verb` says what the peer should have done
/// ("dropped", "given up").
fn closed_within_stall_limit(t: &Target, raw: &mut Raw, verb: &str) -> Check {
    let limit = t.stall_limit + Duration::from_secs(1);
    match raw.wait_close(limit) {
        Ending::Open(b) => Err(Stop::fail(
            format!(
                "{verb} within the stall limit, {:?} (assumed: --stall-limit sets it to the peer's stall timeout)",
                t.stall_limit
            ),
            format!("still open after {limit:?} ({})", short_hex(&b)),
        )),
        _ => Ok(()),
    }
}

/// One case of the suite.
pub struct Case {
    /// Id such as `handshake/1`.
    pub id: &'static str,
    /// Its tier.
    pub tier: Tier,
    /// The requirement it checks, in one line.
    pub requirement: &'static str,
    /// Whether it needs a connection limit (`--conlimit`).
    pub needs_conlimit: bool,
    run: fn(&Target) -> Check,
}

/// One row of the report.
#[derive(Clone, Debug, Serialize)]
pub struct CaseResult {
    /// Case id.
    pub id: &'static str,
    /// Its tier.
    pub tier: Tier,
    /// The requirement.
    pub requirement: &'static str,
    /// What happened.
    #[serde(flatten)]
    pub verdict: Verdict,
}

/// The results of one run.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The server's address, or the client's command line.
    pub tested: String,
    /// Whether the strict tier ran.
    pub strict: bool,
    /// One row per case, in suite order.
    pub results: Vec<CaseResult>,
}

/// Runs the server suite's default tier (and with `strict` the strict tier too) against
/// `target`.
///
/// # Errors
/// [`RunError::Connect`] at the first case that cannot connect: a closed port is one clear
/// error, not every case failed.
pub fn run(target: &Target, strict: bool) -> Result<Report, RunError> {
    run_cases(CASES, target, strict, |_| {})
}

/// Runs the client suite against the client started by `target.command`.
///
/// # Errors
/// [`RunError::Listen`] or [`RunError::Spawn`] when the runner cannot listen or start the
/// client.
pub fn run_client(target: &Target, strict: bool) -> Result<Report, RunError> {
    run_cases(CLIENT_CASES, target, strict, |_| {})
}

/// Runs `cases` ([`CASES`] against a server, as [`run`]; [`CLIENT_CASES`] against a client,
/// as [`run_client`]), calling `starting` before each case (for a progress display).
///
/// # Errors
/// As [`run`] and [`run_client`].
pub fn run_with(
    cases: &[Case],
    target: &Target,
    strict: bool,
    mut starting: impl FnMut(&Case),
) -> Result<Report, RunError> {
    run_cases(cases, target, strict, &mut starting)
}

fn run_cases(
    cases: &[Case],
    target: &Target,
    strict: bool,
    mut starting: impl FnMut(&Case),
) -> Result<Report, RunError> {
    let mut results = Vec::new();
    let chosen = cases
        .iter()
        .filter(|c| c.tier == Tier::Default || strict)
        .filter(|c| !c.needs_conlimit || target.conlimit.is_some());
    for case in chosen {
        starting(case);
        let verdict = match (case.run)(target) {
            Ok(()) => Verdict::Pass,
            Err(Stop::Judged(verdict)) => verdict,
            Err(Stop::Unreachable(source)) => {
                return Err(RunError::Connect {
                    addr: target.addr,
                    case: case.id,
                    judged: results.len(),
                    source,
                })
            }
            Err(Stop::Abort(e)) => return Err(e),
        };
        results.push(CaseResult {
            id: case.id,
            tier: case.tier,
            requirement: case.requirement,
            verdict,
        });
    }
    let tested = if target.command.is_empty() {
        target.addr.to_string()
    } else {
        target.command.join(" ")
    };
    Ok(Report {
        tested,
        strict,
        results,
    })
}

impl Report {
    /// Whether no case failed.
    pub fn passed(&self) -> bool {
        self.count(|v| matches!(v, Verdict::Fail { .. })) == 0
    }

    fn count(&self, f: impl Fn(&Verdict) -> bool) -> usize {
        self.results.iter().filter(|r| f(&r.verdict)).count()
    }

    /// The report as a markdown table with a summary line.
    pub fn table(&self, title: &str) -> String {
        let mut out = format!(
            "{title} ({}, {} tier)\n\n| case | tier | result | requirement | expected | actual |\n| --- | --- | --- | --- | --- | --- |\n",
            self.tested,
            if self.strict { "default + strict" } else { "default" }
        );
        for r in &self.results {
            let (expected, actual) = match &r.verdict {
                Verdict::Pass => (String::new(), String::new()),
                Verdict::Fail { expected, actual } => (expected.clone(), actual.clone()),
                Verdict::Unsupported { reason } => (String::new(), reason.clone()),
            };
            let tier = match r.tier {
                Tier::Default => "default",
                Tier::Strict => "strict",
            };
            let _ = writeln!(
                out,
                "| {} | {tier} | {} | {} | {expected} | {actual} |",
                r.id,
                r.verdict.mark(),
                r.requirement
            );
        }
        let _ = writeln!(
            out,
            "\n{} passed, {} failed, {} unsupported",
            self.count(|v| *v == Verdict::Pass),
            self.count(|v| matches!(v, Verdict::Fail { .. })),
            self.count(|v| matches!(v, Verdict::Unsupported { .. }))
        );
        out
    }

    /// The report as JSON.
    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report serialises")
    }
}
