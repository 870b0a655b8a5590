"""One recording run: peers, the recording proxy, and the transcript they produce.

A Run owns everything one (scenario, python version) pair starts, with a time bound on every wait, and
turns what was seen into the transcript dictionary (see conformance/RECORDING.md for the format).
"""
import os
import time

from peerproc import PeerProcess
from proxy import RecordingProxy
from rawpeers import RawClient, RawServer

#: Every scenario must be over within this many seconds, stuck threads or not.
SCENARIO_LIMIT = 10.0
#: Peers end themselves after this many seconds (the recorder normally ends them much earlier).
PEER_DEADLINE = 9.5
#: How long the proxy must see nothing before a scenario is considered settled.
QUIET = 1.0


class Run:
    """The peers and proxy of one scenario run for one tinyproto version."""

    def __init__(self, version, python, logdir):
        self.version = version
        self.python = python
        self.logdir = logdir
        self.started = time.monotonic()
        self.server_proc = None
        self.client_procs = []
        self.raw_clients = []
        self.raw_server = None
        self.proxy = None
        self.problems = []

    # ---- starting things ----------------------------------------------------------------------------
    def time_left(self):
        """Seconds left of the scenario's time limit (keeps a margin for tearing down)."""
        return SCENARIO_LIMIT - 1.0 - (time.monotonic() - self.started)

    def bounded(self, seconds):
        """`seconds`, but never more than what is left of the scenario's time."""
        return max(0.0, min(seconds, self.time_left()))

    def _peer(self, script, config, label):
        config = dict(config, version=self.version, deadline=PEER_DEADLINE)
        stderr = os.path.join(self.logdir, "%s.stderr" % label)
        return PeerProcess(self.python, script, config, stderr).start()

    def python_server(self, config):
        """Start the Python server peer; returns the port it listens on."""
        self.server_proc = self._peer("py_server.py", config, "server")
        event = self.server_proc.wait_event("listening", self.bounded(5.0))
        if event is None:
            raise RuntimeError("python server did not start: %s" % self.server_proc.events)
        return event["port"]

    def raw_server_start(self, script):
        """Start a raw server running `script`; returns its port."""
        self.raw_server = RawServer(script).start()
        return self.raw_server.port

    def start_proxy(self, upstream_port):
        """Start the recording proxy in front of the server; returns the port clients connect to."""
        self.proxy = RecordingProxy(upstream_port, hard_limit=self.bounded(SCENARIO_LIMIT)).start()
        return self.proxy.port

    def python_client(self, config):
        """Start a Python client peer connecting through the proxy."""
        proc = self._peer("py_client.py", dict(config, port=self.proxy.port),
                          "client%d" % len(self.client_procs))
        self.client_procs.append(proc)
        return proc

    def raw_client(self, script):
        """Start a raw client running `script` through the proxy."""
        client = RawClient(self.proxy.port, script).start()
        self.raw_clients.append(client)
        return client

    # ---- waiting and ending -------------------------------------------------------------------------
    def wait_client_done(self, proc, timeout):
        """Wait (bounded) until a Python client's connection thread has ended."""
        if proc.wait_event("conn_thread_ended", self.bounded(timeout)) is None:
            self.problems.append("client connection thread still running when the wait ended")

    def settle(self, quiet=QUIET, timeout=3.0):
        """Wait until the proxy saw nothing for `quiet` seconds (or everything closed)."""
        self.proxy.wait_quiet(quiet, self.bounded(timeout))

    def finish(self):
        """Stop recording first, then end every peer (so nothing their exit causes is recorded)."""
        if self.proxy is not None:
            self.proxy.stop()
            self.problems.extend(self.proxy.problems)
        for proc in [self.server_proc] + self.client_procs:
            if proc is not None:
                proc.finish(timeout=1.0)
        for raw in self.raw_clients + ([self.raw_server] if self.raw_server else []):
            raw.join(1.0)
        elapsed = time.monotonic() - self.started
        if elapsed > SCENARIO_LIMIT:
            self.problems.append("scenario took %.1f s (limit %.0f s)" % (elapsed, SCENARIO_LIMIT))
        return elapsed


# ---- turning a run into transcript fields -------------------------------------------------------------
def chunks(proxy):
    """The proxy's events; the "conn" field is kept only when there was more than one connection."""
    events = proxy.snapshot() if proxy else []
    multi = len({e["conn"] for e in events}) > 1
    out = []
    for event in events:
        event = dict(event)
        if not multi:
            event.pop("conn")
        out.append(event)
    return out


def received(proc):
    """Hex of each message a Python peer's transmission_received saw, in order."""
    return [e["hex"] for e in proc.named("received")]


def received_types(run):
    """The set of Python types the Python peers' transmission_received hooks got."""
    procs = ([run.server_proc] if run.server_proc else []) + run.client_procs
    return sorted({e.get("type") for p in procs for e in p.named("received")})


def error_text(proc):
    """The peer's exception reprs (connection threads and main thread), joined by "; ", or None."""
    errors = [e["repr"] for e in proc.named("error")]
    return "; ".join(errors) if errors else None


def lifecycle_notes(proc, role):
    """Short facts about a Python peer's life, for the notes."""
    notes = []
    types = sorted({e.get("type") for e in proc.named("received")})
    if types:
        notes.append("%s: transmission_received got %s" % (role, "/".join(types)))
    for e in proc.named("error"):
        notes.append("%s: exception in thread %s: %s" % (role, e["thread"], e["repr"]))
    for e in proc.named("log"):
        notes.append("%s: library logged %s: %s" % (role, e["level"], e["message"]))
    for e in proc.named("conn_shutdown"):
        notes.append("%s: the server loop saw connection %s's thread end and ran conn_shutdown"
                     % (role, e["conn"]))
    if proc.named("post_loop"):
        notes.append("%s: post_loop ran (the library closed its socket)" % role)
    elif proc.named("error"):
        notes.append("%s: post_loop never ran (the library did not close its socket itself)" % role)
    for name in ("deadline", "killed"):
        if proc.named(name):
            notes.append("%s: peer process had to be ended by %s" % (role, name))
    return notes


def raw_notes(peer, role):
    """What a raw peer did and saw, for the notes."""
    if peer is None:
        return ["%s: raw peer never started" % role]
    notes = ["%s (raw): %s" % (role, "; ".join(peer.observations))]
    if peer.error:
        notes.append("%s (raw): error: %s" % (role, peer.error))
    return notes
