//! Live runs over loopback TCP: the runner against both Python echo servers (default tier) and
//! against our echo server (default + strict), and the interop matrix. The tables are printed;
//! see them with `cargo test -p tinyproto-conformance --test live -- --nocapture`.

use std::time::Duration;
use tinyproto_conformance::net::{EchoConfig, EchoServer};
use tinyproto_conformance::{matrix, runner};
use tinyproto_testkit::{Peer, PyVersion};

#[test]
fn runner_default_tier_passes_against_both_python_echo_servers() {
    for version in PyVersion::ALL {
        let (_server, port) = Peer::python_echo_server(version, &[]);
        let target = runner::Target::new(([127, 0, 0, 1], port).into());
        let report = runner::run(&target, false);
        let title = format!("Python tinyproto {} echo server", version.as_str());
        println!("{}", report.table(&title));
        assert!(report.passed(), "{title} fails the default tier");
    }
}

#[test]
fn runner_default_and_strict_tiers_pass_against_our_echo_server() {
    let config = EchoConfig {
        limit: Some(8),
        stall: Duration::from_secs(1),
        ..EchoConfig::default()
    };
    let server = EchoServer::spawn("127.0.0.1:0", config).unwrap();
    let target = runner::Target {
        stall_limit: Duration::from_secs(2),
        conlimit: Some(8),
        ..runner::Target::new(server.addr())
    };
    let report = runner::run(&target, true);
    println!(
        "{}",
        report.table("tinyproto-conformance serve-echo (our core)")
    );
    assert!(report.passed());
    assert!(report
        .results
        .iter()
        .all(|r| r.verdict == runner::Verdict::Pass));
}

#[test]
fn interop_matrix() {
    let (table, ok) = matrix::run();
    println!("Interop matrix (each cell: one connection, every reply checked)\n\n{table}");
    assert!(ok, "some interop cells failed");
}
