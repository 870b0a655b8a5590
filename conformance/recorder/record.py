#!/usr/bin/env python3
"""Record conformance transcripts between real Python tinyproto peers.

Usage:
    python3 record.py --venv201 PATH --venv30 PATH --out conformance/transcripts [--only NAME ...]

For every scenario (scenarios.py) and both package versions, the peers talk through a recording proxy on
127.0.0.1 (proxy.py); the result is written to OUT/<scenario>--py<version>.json. The format is described in
conformance/RECORDING.md. Every wait is bounded; a scenario never takes more than harness.SCENARIO_LIMIT s.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "peers"))  # common.py is shared with the peer scripts
sys.path.insert(0, HERE)

import checks  # noqa: E402
import harness  # noqa: E402
from scenarios import all_scenarios  # noqa: E402


def parse_args(argv):
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv201", required=True, help="venv with tinyproto==2.0.1")
    parser.add_argument("--venv30", required=True, help="venv with tinyproto==3.0")
    parser.add_argument("--out", required=True, help="directory for the transcripts")
    parser.add_argument("--only", nargs="*", default=None, help="record only these scenarios")
    parser.add_argument("--keep-logs", action="store_true", help="keep the peers' stderr files")
    return parser.parse_args(argv)


def python_of(venv, version):
    """The venv's python executable, after checking that it imports tinyproto at `version`."""
    path = os.path.join(venv, "bin", "python")
    if not os.access(path, os.X_OK):
        raise SystemExit("no python in %s (run setup_venvs.sh first)" % venv)
    probe = subprocess.run([path, "-s", "-c", "from importlib import metadata; "
                            "print(metadata.version('tinyproto'))"],
                           capture_output=True, text=True, timeout=30, cwd=HERE)
    found = probe.stdout.strip()
    if found != version:
        raise SystemExit("%s has tinyproto %r, expected %s" % (venv, found or probe.stderr.strip(), version))
    return path


def peer_label(kind, version):
    """"python-2.0.1" or "raw"."""
    return "raw" if kind == "raw" else "python-%s" % version


def side_results(run, role, kind):
    """(received, error, notes) for one side of a finished run; the client side is the last client
    started (client B in the conlimit scenarios)."""
    if kind == "raw":
        peer = run.raw_server.peer if role == "server" and run.raw_server else \
            (run.raw_clients[-1].peer if role == "client" and run.raw_clients else None)
        return (peer.received if peer else []), None, harness.raw_notes(peer, role)
    proc = run.server_proc if role == "server" else (run.client_procs[-1] if run.client_procs else None)
    if proc is None:
        return [], None, ["%s: the Python peer was never started" % role]
    return harness.received(proc), harness.error_text(proc), harness.lifecycle_notes(proc, role)


def facts_of(sc, run):
    """What the checks need beyond the transcript itself."""
    first_client = run.client_procs[0] if sc.first_client is not None and run.client_procs else None
    return {
        "received_types": harness.received_types(run),
        "server_events": run.server_proc.events if run.server_proc else [],
        "a_error": harness.error_text(first_client) if first_client else None,
    }


def record_one(sc, version, python, logdir):
    """Run one scenario for one version; returns (transcript dictionary, seconds it took)."""
    run = harness.Run(version, python, logdir)
    try:
        sc.drive(run, sc)
    except Exception as exc:  # keep what was recorded, say what went wrong
        run.problems.append("driver failed: %r" % exc)
    finally:
        elapsed = run.finish()
    client_received, client_error, client_notes = side_results(run, "client", sc.client)
    server_received, server_error, server_notes = side_results(run, "server", sc.server)
    if sc.first_client is not None and run.client_procs:
        client_notes = harness.lifecycle_notes(run.client_procs[0], "client A") + \
            [n.replace("client", "client B", 1) for n in client_notes]
    client_config, server_config = sc.transcript_configs()
    transcript = {
        "scenario": sc.name,
        "python_version": version,
        "description": sc.description,
        "client": peer_label(sc.client, version),
        "server": peer_label(sc.server, version),
        "client_config": client_config,
        "server_config": server_config,
        "chunks": harness.chunks(run.proxy),
        "client_received": client_received,
        "server_received": server_received,
        "client_error": client_error,
        "server_error": server_error,
    }
    notes = checks.check(transcript, facts_of(sc, run)) + client_notes + server_notes + \
        ["recorder: " + p for p in run.problems]
    transcript["notes"] = "\n".join(notes)
    return transcript, elapsed


def _is_flat(value):
    """True for scalars, lists of scalars and dicts of those: such values are written on one line."""
    if isinstance(value, dict):
        return all(_is_flat(v) and not isinstance(v, dict) for v in value.values())
    if isinstance(value, list):
        return all(not isinstance(v, (dict, list)) for v in value)
    return True


def _render(value, indent):
    """JSON text: flat values on one line, containers of non-flat values one member per line."""
    if _is_flat(value) or not value:
        return json.dumps(value, sort_keys=isinstance(value, dict))
    pad, inner = "  " * indent, "  " * (indent + 1)
    if isinstance(value, list):
        items = [inner + _render(v, indent + 1) for v in value]
        return "[\n" + ",\n".join(items) + "\n" + pad + "]"
    keys = sorted(value) if indent else list(value)  # keep the transcript's own field order at the top
    items = ["%s%s: %s" % (inner, json.dumps(k), _render(value[k], indent + 1)) for k in keys]
    return "{\n" + ",\n".join(items) + "\n" + pad + "}"


def dump(transcript):
    """The transcript as JSON text with one chunk (and one message spec) per line, for readable diffs."""
    return _render(transcript, 0) + "\n"


def main(argv=None):
    """Record every selected scenario for both versions."""
    args = parse_args(argv)
    versions = [("2.0.1", python_of(args.venv201, "2.0.1")), ("3.0", python_of(args.venv30, "3.0"))]
    os.makedirs(args.out, exist_ok=True)
    logdir = tempfile.mkdtemp(prefix="tinyproto-recorder-")
    disagreements, failures = [], []
    for sc in all_scenarios():
        if args.only and sc.name not in args.only:
            continue
        for version, python in versions:
            run_logs = os.path.join(logdir, "%s--py%s" % (sc.name, version))
            os.makedirs(run_logs, exist_ok=True)
            transcript, elapsed = record_one(sc, version, python, run_logs)
            path = os.path.join(args.out, "%s--py%s.json" % (sc.name, version))
            with open(path, "w") as f:
                f.write(dump(transcript))
            lines = transcript["notes"].splitlines()
            bad = [n for n in lines if n.startswith(checks.DISAGREES)]
            disagreements += ["%s--py%s: %s" % (sc.name, version, n) for n in bad]
            failures += ["%s--py%s: %s" % (sc.name, version, n) for n in lines if n.startswith("recorder:")]
            print("%-28s %-6s %4.1f s %3d chunks  client_err=%s server_err=%s%s" % (
                sc.name, version, elapsed, len(transcript["chunks"]), bool(transcript["client_error"]),
                bool(transcript["server_error"]), "  (%d disagreements)" % len(bad) if bad else ""))
    if args.keep_logs:
        print("peer stderr logs kept in", logdir)
    else:
        shutil.rmtree(logdir, ignore_errors=True)
    if disagreements:
        print("\nDisagreements with PROTOCOL.md:")
        for line in disagreements:
            print("  " + line)
    if failures:
        print("\nRecording problems (these transcripts are not trustworthy):")
        for line in failures:
            print("  " + line)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
