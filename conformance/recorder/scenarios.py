"""The recorded scenarios: what each side is configured to do and how a run is driven.

Each Scenario names its peers ("python" = the real package in a subprocess, "raw" = a hand-written socket
script in the recorder), their configs (the exact JSON a Python peer gets, minus port/version/deadline), and
a drive function that starts the peers through a harness.Run and waits (bounded) for the outcome.
"""
import random
import time
from dataclasses import dataclass
from typing import Callable, Optional

from common import PLUGIN_DESCRIPTIONS, text_spec

# ---- message content (deterministic) --------------------------------------------------------------------
HELLO = text_spec("hello")
LARGE = {"random": [70000, 70000]}  # random.Random(70000).randbytes(70000)
MANY_SEED = 5050


def many_specs():
    """50 messages, sizes drawn from random.Random(5050).randint(0, 2000), with the first forced to 0 and
    the second to 2000; message i is random.Random(1000 + i).randbytes(size_i)."""
    rng = random.Random(MANY_SEED)
    sizes = [rng.randint(0, 2000) for _ in range(50)]
    sizes[0], sizes[1] = 0, 2000
    return [{"random": [1000 + i, size]} for i, size in enumerate(sizes)]


def server_config(reply="echo_prefix", plugins=(), pre_loop_send=(), connection_limit=None):
    """A Python server peer config."""
    return {"plugins": list(plugins), "reply": reply, "pre_loop_send": list(pre_loop_send),
            "connection_limit": connection_limit}


def client_config(send=(), expect=None, hold=False, plugins=()):
    """A Python client peer config (lockstep sender, see peers/py_client.py)."""
    send = list(send)
    return {"plugins": list(plugins), "send": send, "expect": len(send) if expect is None else expect,
            "hold": hold, "timeout": 5}


@dataclass
class Scenario:
    """One named scenario."""
    name: str
    description: str
    client: str                 # "python" or "raw"
    server: str                 # "python" or "raw"
    client_config: dict
    server_config: dict
    drive: Callable
    wait: float = 4.0           # bound for the main wait of the drive function
    raw_steps: Optional[str] = None
    first_client: Optional[dict] = None  # conlimit: Python client A, which holds the only slot

    def transcript_config(self, role):
        """The config written into the transcript for `role` ("client" or "server")."""
        kind = self.client if role == "client" else self.server
        if kind == "raw":
            return {"raw": True, "steps": self.raw_steps}
        return python_config(self.client_config if role == "client" else self.server_config)

    def transcript_configs(self):
        """(client_config, server_config) for the transcript; with a first client A, it is added to the
        client config as "first_client"."""
        client = self.transcript_config("client")
        if self.first_client is not None:
            client = dict(client, first_client=python_config(self.first_client))
        return client, self.transcript_config("server")


def python_config(config):
    """A Python peer's config as written in a transcript (plus max_len and the plugins' definitions)."""
    config = dict(config)
    config["max_len"] = None  # Python has no configurable limit: MSG_MAX_SIZE = 0xf0ffffff
    if config.get("plugins"):
        config["plugin_definitions"] = {p: PLUGIN_DESCRIPTIONS[p] for p in config["plugins"]}
    return config


# ---- drive functions --------------------------------------------------------------------------------------
def drive_python_pair(run, sc):
    """Python server and Python client; wait for the client's connection to end, then for quiet."""
    port = run.python_server(sc.server_config)
    run.start_proxy(port)
    client = run.python_client(sc.client_config)
    run.wait_client_done(client, sc.wait)
    run.settle()


def drive_raw_client(script):
    """Python server, raw client running `script`."""

    def drive(run, sc):
        port = run.python_server(sc.server_config)
        run.start_proxy(port)
        raw = run.raw_client(script)
        raw.join(run.bounded(sc.wait))
        run.settle(quiet=0.5)

    return drive


def drive_raw_server(script):
    """Raw server running `script`, Python client."""

    def drive(run, sc):
        port = run.raw_server_start(script)
        run.start_proxy(port)
        client = run.python_client(sc.client_config)
        run.raw_server.join(run.bounded(sc.wait))
        run.wait_client_done(client, 1.0)
        run.settle(quiet=0.5)

    return drive


def drive_conlimit(run, sc):
    """connection_limit=1: Python client A holds the only slot, then client B (raw or Python) connects;
    then A is told to close."""
    port = run.python_server(sc.server_config)
    run.start_proxy(port)
    client_a = run.python_client(sc.first_client)
    if client_a.wait_event("handshake_done", run.bounded(3.0)) is None:
        run.problems.append("client A never finished its handshake")
    run.server_proc.wait_event("conn_ready", run.bounded(1.0))
    time.sleep(0.3)  # let the server's accept loop register A in active_connections
    if sc.client == "raw":
        run.raw_client(raw_conlimit_b).join(run.bounded(3.0))
    else:
        client_b = run.python_client(sc.client_config)
        run.wait_client_done(client_b, 2.0)
        run.settle(quiet=0.5)
    client_a.command("close")
    run.wait_client_done(client_a, 1.5)
    run.settle()


# ---- raw scripts -------------------------------------------------------------------------------------------
def raw_oversize(peer):
    """Handshake; header f1000000; then a valid "hello" message and its echo; FIN; drain."""
    peer.handshake()
    peer.send(bytes.fromhex("f1000000"), "oversize header")
    peer.recv_exact(1, 1.5, "status of the oversize header")
    if peer.send_message(b"hello") == b"\xff":
        peer.receive_message()
    peer.half_close()
    peer.drain(1.5)


def raw_max_size(peer):
    """Handshake; header f0ffffff; read the status; FIN; drain."""
    peer.handshake()
    peer.send(bytes.fromhex("f0ffffff"), "max-size header")
    peer.recv_exact(1, 1.5, "status of the max-size header")
    peer.half_close()
    peer.drain(1.5)


def raw_conlimit_b(peer):
    """Client B: write ff (as a Python client does right after connect), read everything until EOF."""
    peer.send(b"\xff", "init")
    peer.drain(2.0)


def raw_eof_mid_header(peer):
    """Handshake; two header bytes 00 01; FIN; drain."""
    peer.handshake()
    peer.send(bytes.fromhex("0001"), "half a header")
    peer.half_close()
    peer.drain(1.5)


def raw_eof_mid_payload(peer):
    """Handshake; header 0000000a; wait for ff; 4 of the 10 payload bytes; FIN; drain."""
    peer.handshake()
    peer.send(bytes.fromhex("0000000a"), "header (10 bytes)")
    peer.recv_exact(1, 1.5, "status")
    peer.send(b"abcd", "4 of 10 payload bytes")
    peer.half_close()
    peer.drain(1.5)


def raw_eof_after_header(peer):
    """Handshake; header 0000000a; wait for ff; FIN without any payload byte; drain."""
    peer.handshake()
    peer.send(bytes.fromhex("0000000a"), "header (10 bytes)")
    peer.recv_exact(1, 1.5, "status")
    peer.half_close()
    peer.drain(1.5)


def raw_server_handshake(peer):
    """Server side of the handshake: write ff, read one byte."""
    peer.send(b"\xff", "init")
    peer.recv_exact(1, 2.0, "init from client")


def raw_server_eof_mid_header(peer):
    """Handshake; two header bytes 00 01; FIN; drain."""
    raw_server_handshake(peer)
    peer.send(bytes.fromhex("0001"), "half a header")
    peer.half_close()
    peer.drain(1.5)


def raw_server_eof_mid_payload(peer):
    """Handshake; header 0000000a; wait for ff; 4 of the 10 payload bytes; FIN; drain."""
    raw_server_handshake(peer)
    peer.send(bytes.fromhex("0000000a"), "header (10 bytes)")
    peer.recv_exact(1, 1.5, "status")
    peer.send(b"abcd", "4 of 10 payload bytes")
    peer.half_close()
    peer.drain(1.5)


# ---- the scenario table ------------------------------------------------------------------------------------
def all_scenarios():
    """Every scenario, in recording order."""
    echo_prefix = server_config()
    return [
        Scenario("handshake", "connect, init handshake (ff each way), the client closes at once (from pre_loop)",
                 "python", "python", client_config(), echo_prefix, drive_python_pair),
        Scenario("hello", "client sends b'hello'; echo server answers b'Echo back: hello'; client closes",
                 "python", "python", client_config([HELLO]), echo_prefix, drive_python_pair),
        Scenario("empty", "client sends an empty message; the server (plain echo, no prefix) answers with "
                          "the same empty message; client closes",
                 "python", "python", client_config([text_spec("")]), server_config("echo"),
                 drive_python_pair),
        Scenario("large-70000", "client sends 70,000 bytes (random.Random(70000).randbytes(70000)); the server "
                                "is a PLAIN echo (no 'Echo back: ' prefix) and answers them unchanged; "
                                "client closes",
                 "python", "python", client_config([LARGE]), server_config("echo"), drive_python_pair),
        Scenario("many", "client sends 50 messages of sizes 0..2000 (see client_config.send: message i is "
                         "random.Random(seed).randbytes(len)), lockstep, each answered by a PLAIN echo; "
                         "client closes",
                 "python", "python", client_config(many_specs()), server_config("echo"), drive_python_pair,
                 wait=7.0),
        Scenario("oversize-raw-client", "raw client: handshake, header f1000000 (> MSG_MAX_SIZE), reads the "
                                        "status; then a valid b'hello' message and reads the echo (if any); "
                                        "FIN; reads until EOF or 1.5 s",
                 "raw", "python", {}, echo_prefix, drive_raw_client(raw_oversize), wait=7.0,
                 raw_steps=raw_oversize.__doc__),
        Scenario("max-size-header-raw-client", "raw client: handshake, header f0ffffff (= MSG_MAX_SIZE), reads "
                                               "the status; FIN; reads until EOF or 1.5 s",
                 "raw", "python", {}, echo_prefix, drive_raw_client(raw_max_size), wait=6.0,
                 raw_steps=raw_max_size.__doc__),
        Scenario("conlimit", "server with connection_limit=1; Python client A (conn 0, see "
                             "client_config.first_client) connects and handshakes; then raw client B (conn 1, "
                             "the client_* fields) connects, writes ff and reads until EOF/reset or 2 s; then A "
                             "is told to close",
                 "raw", "python", {}, server_config(connection_limit=1), drive_conlimit,
                 raw_steps=raw_conlimit_b.__doc__, first_client=client_config(hold=True)),
        Scenario("conlimit-python-client-b", "as conlimit, but client B (conn 1, the client_* fields) is a "
                                             "Python client of the same version (hold: it never closes on "
                                             "its own)",
                 "python", "python", client_config(hold=True), server_config(connection_limit=1),
                 drive_conlimit, first_client=client_config(hold=True)),
        Scenario("eof-mid-header", "raw client: handshake, writes 00 01 (half a header), FIN; reads until EOF "
                                   "or 1.5 s; the Python server is the echo server",
                 "raw", "python", {}, echo_prefix, drive_raw_client(raw_eof_mid_header),
                 raw_steps=raw_eof_mid_header.__doc__),
        Scenario("eof-mid-payload", "raw client: handshake, header 0000000a, waits for ff, writes b'abcd' "
                                    "(4 of 10), FIN; reads until EOF or 1.5 s; the Python server is the echo "
                                    "server",
                 "raw", "python", {}, echo_prefix, drive_raw_client(raw_eof_mid_payload),
                 raw_steps=raw_eof_mid_payload.__doc__),
        Scenario("eof-after-header", "raw client: handshake, header 0000000a, waits for ff, FIN without any "
                                     "payload byte; reads until EOF or 1.5 s; the Python server is the echo "
                                     "server",
                 "raw", "python", {}, echo_prefix, drive_raw_client(raw_eof_after_header),
                 raw_steps=raw_eof_after_header.__doc__),
        Scenario("eof-mid-header-to-client", "raw server: handshake, writes 00 01, FIN; reads until EOF or "
                                             "1.5 s; the Python client only listens (hold: never closes "
                                             "on its own)",
                 "python", "raw", client_config(hold=True), {}, drive_raw_server(raw_server_eof_mid_header),
                 raw_steps=raw_server_eof_mid_header.__doc__),
        Scenario("eof-mid-payload-to-client", "raw server: handshake, header 0000000a, waits for ff, writes "
                                              "b'abcd' (4 of 10), FIN; reads until EOF or 1.5 s; the Python "
                                              "client only listens (hold)",
                 "python", "raw", client_config(hold=True), {}, drive_raw_server(raw_server_eof_mid_payload),
                 raw_steps=raw_server_eof_mid_payload.__doc__),
        Scenario("plugin", "both sides register plugins xor5a then bang (see plugin_definitions); client sends "
                           "b'hello', echo server answers b'Echo back: hello'; chunks show the transformed "
                           "wire bytes, *_received the untransformed messages",
                 "python", "python", client_config([HELLO], plugins=["xor5a", "bang"]),
                 server_config(plugins=["xor5a", "bang"]), drive_python_pair),
        Scenario("simultaneous", "right after the handshake both sides transmit from pre_loop: the client "
                                 "b'hello', the server b'welcome' (the server still echoes what it receives)",
                 "python", "python", client_config([HELLO]),
                 server_config(pre_loop_send=[text_spec("welcome")]), drive_python_pair, wait=2.0),
        Scenario("server-sends-first", "the server transmits b'welcome' from its connection's pre_loop; the "
                                       "client sends nothing, receives it in transmission_received, then closes",
                 "python", "python", client_config([], expect=1),
                 server_config(pre_loop_send=[text_spec("welcome")]), drive_python_pair),
        Scenario("client-close-at-boundary", "one exchange (b'hello' / b'Echo back: hello'), then the client "
                                             "closes at the message boundary; shows whether the server "
                                             "closes its side (FIN s2c)",
                 "python", "python", client_config([HELLO]), echo_prefix, drive_python_pair),
    ]
