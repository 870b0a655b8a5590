"""Sanity checks of a transcript against /work/shared/PROTOCOL.md.

check(transcript, facts) returns note lines. A line starting with AGREES states a PROTOCOL.md claim the
recording confirms; one starting with DISAGREES states where the package does something else (the package
wins: PROTOCOL.md should be corrected); FACT lines record something PROTOCOL.md does not mention.
"""
import sys

from common import message_bytes, xor5a

AGREES = "AGREES with PROTOCOL.md:"
DISAGREES = "DISAGREES with PROTOCOL.md:"
FACT = "FACT (not in PROTOCOL.md):"
ECHO = b"Echo back: "


class View:
    """Convenient access to a transcript's chunks."""

    def __init__(self, transcript):
        self.t = transcript
        self.chunks = transcript["chunks"]

    def _of(self, direction, conn):
        return [c for c in self.chunks if c["dir"] == direction and c.get("conn", 0) == conn]

    def stream(self, direction, conn=0):
        """All bytes one side wrote, concatenated."""
        return b"".join(bytes.fromhex(c["hex"]) for c in self._of(direction, conn) if "hex" in c)

    def sizes(self, direction, conn=0):
        """Sizes of the chunks the proxy read in one direction."""
        return [len(c["hex"]) // 2 for c in self._of(direction, conn) if "hex" in c]

    def eof(self, direction, conn=0):
        """Whether that side sent a FIN."""
        return any(c.get("eof") for c in self._of(direction, conn))

    def reset(self, direction, conn=0):
        """Whether that side reset the connection."""
        return any(c.get("reset") for c in self._of(direction, conn))

    def closing(self, direction, conn=0):
        """How that side ended the connection: "FIN", "reset" or "nothing" (socket left open)."""
        return "FIN" if self.eof(direction, conn) else "reset" if self.reset(direction, conn) else "nothing"


def error_has(error, needle):
    """Whether an error text contains `needle`; the repr of an exception whose message quotes a bytearray
    doubles its backslashes, so they are collapsed first."""
    return needle in (error or "").replace("\\\\", "\\")


def header(payload):
    """The 4-byte big-endian length header of a payload."""
    return len(payload).to_bytes(4, "big")


def expect(notes, ok, agree_text, disagree_text=None):
    """Append an AGREES line when ok, else a DISAGREES line."""
    if ok:
        notes.append("%s %s" % (AGREES, agree_text))
    else:
        notes.append("%s %s" % (DISAGREES, disagree_text or "expected: " + agree_text))


def _is_v2(t):
    return t["python_version"] == "2.0.1"


def check_common(t, facts, notes):
    """Checks that apply to every transcript."""
    types = facts.get("received_types", [])
    if types:
        expect(notes, types == ["bytearray"], "the receiver hands a bytearray to transmission_received",
               "transmission_received got %s, not only bytearray" % "/".join(types))


def check_close_at_boundary(t, v, notes, facts=None):
    """PROTOCOL.md section 5: what a Python server does when the client closes at a message boundary."""
    if _is_v2(t):
        expect(notes, v.eof("s2c") and t["server_error"] is None,
               "at a message boundary a 2.0.1 receiver ends its loop, runs post_loop and closes (FIN s2c)",
               "2.0.1 server: close=%s error=%s" % (v.closing("s2c"), t["server_error"]))
    else:
        ok = not v.eof("s2c") and "Received zero bytes" in (t["server_error"] or "")
        expect(notes, ok, "a 3.0 receiver raises TinyProtoError('Received zero bytes from remote end...'), "
                          "skips post_loop and leaves its socket open (no FIN s2c)",
               "3.0 server: close=%s error=%s" % (v.closing("s2c"), t["server_error"]))
        events = [e.get("event") for e in (facts or {}).get("server_events", [])]
        if events:
            expect(notes, "conn_shutdown" in events and "post_loop" not in events,
                   "3.0: conn_shutdown still runs (post_loop does not)")


def check_handshake(t, v, facts, notes):
    expect(notes, v.stream("c2s") == b"\xff" and v.stream("s2c") == b"\xff",
           "the init handshake is one ff byte each way")
    check_close_at_boundary(t, v, notes, facts)


def check_hello(t, v, facts, notes):
    reply = ECHO + b"hello"
    expect(notes, v.stream("c2s") == b"\xff" + bytes.fromhex("00000005") + b"hello" + b"\xff",
           "hello is 00000005 -> ff -> 68656c6c6f")
    ok = v.stream("s2c") == b"\xff\xff" + header(reply) + reply
    expect(notes, ok, "the echo back is a header, ff, then the payload")
    if ok:
        notes.append("%s the echo back of b'hello' is b'Echo back: hello' with header %s (16 bytes); "
                     "PROTOCOL.md's 'Observed on the wire' says 0000000b, which is only the length of the "
                     "prefix b'Echo back: '" % (DISAGREES, header(reply).hex()))
    check_close_at_boundary(t, v, notes, facts)


def check_empty(t, v, facts, notes):
    ok = v.stream("c2s") == bytes.fromhex("ff00000000ff") and v.stream("s2c") == bytes.fromhex("ffff00000000")
    expect(notes, ok and t["server_received"] == [""] and t["client_received"] == [""],
           "an empty message is 00000000 -> ff and nothing more; transmission_received(bytearray(b'')) "
           "runs (both directions)")
    check_close_at_boundary(t, v, notes, facts)


def check_large(t, v, facts, notes):
    data = message_bytes(t["client_config"]["send"][0])
    ok = t["server_received"] == [data.hex()] and t["client_received"] == [data.hex()]
    expect(notes, ok, "70,000 bytes arrive intact, both ways")
    notes.append("%s sizes of the chunks the proxy read (recv size 65,536), init byte, header, payload and "
                 "status included: c2s %s, s2c %s; chunking is arbitrary (PROTOCOL.md saw the payload as "
                 "65,536 + 4,464)" % (FACT, v.sizes("c2s"), v.sizes("s2c")))
    check_close_at_boundary(t, v, notes, facts)


def check_many(t, v, facts, notes):
    sent = [message_bytes(s).hex() for s in t["client_config"]["send"]]
    ok = t["server_received"] == sent and t["client_received"] == sent
    expect(notes, ok, "50 lockstep messages (sizes 0..2000) arrive intact and in order, both ways")
    check_close_at_boundary(t, v, notes, facts)


def check_oversize(t, v, facts, notes):
    s2c = v.stream("s2c")
    expect(notes, s2c[1:2] == b"\x00", "header f1000000 is answered 00 and no payload follows")
    if _is_v2(t):
        expect(notes, t["client_received"] == [(ECHO + b"hello").hex()] and t["server_error"] is None,
               "after answering 00, 2.0.1 goes on normally (the next message is echoed)")
    else:
        ok = len(s2c) == 2 and "bigger then supported max size" in (t["server_error"] or "") \
            and not v.eof("s2c")
        expect(notes, ok, "3.0 raises TinyProtoError in the connection thread, which dies without closing "
                          "its socket, so the next header is never answered")


def check_max_size(t, v, facts, notes):
    expect(notes, v.stream("s2c")[1:2] == b"\xff", "header f0ffffff is answered ff")
    expect(notes, t["server_received"] == ["00000000"],
           "on EOF before the announced payload, b'\\x00\\x00\\x00\\x00' is delivered (Q3)")
    notes.append("%s this scenario is safe to keep: while it waits for the payload the server sits in "
                 "socket.recv(0xf0ffffff), and CPython allocates the recv buffer at the requested size, so "
                 "the process's virtual size grows by ~3.9 GB (measured: VmSize 241 MB -> 4.19 GB) while its "
                 "resident size does not change (17 MB); the FIN right after the status frees it. Under a "
                 "strict overcommit policy or an address-space limit the same recv raises MemoryError. "
                 "(PROTOCOL.md Q2 says the receiver 'allocates it up front': true of the address space, "
                 "not of memory in use)" % FACT)
    check_eof_echo(t, v, notes, 15)


def check_eof_echo(t, v, notes, length):
    """After a truncated message the echo server answers the garbage, its status read hits EOF."""
    ok = v.stream("s2c").endswith((length).to_bytes(4, "big")) and \
        error_has(t["server_error"], r"Transmission rejected: bytearray(b'\x00\x00\x00\x00')") and \
        v.closing("s2c") == "nothing"
    if ok:
        notes.append("%s the echo server answers the garbage: it writes the header %08x, its status read "
                     "hits EOF and returns four zero bytes, so it raises TinyProtoError('Transmission "
                     "rejected: bytearray(b'\\x00\\x00\\x00\\x00')'); the thread dies and the socket is never "
                     "closed (both versions)" % (FACT, length))
    else:
        notes.append("%s after the truncated message: s2c=%s error=%s close=%s" % (
            FACT, v.stream("s2c").hex(), t["server_error"], v.closing("s2c")))


def check_conlimit(t, v, facts, notes):
    b_s2c = v.stream("s2c", conn=1)
    if _is_v2(t):
        expect(notes, b_s2c == bytes(254),
               "a 2.0.1 server at its limit sends bytearray(0xfe) = 254 zero bytes straight after accept",
               "client B got %d bytes: %s" % (len(b_s2c), b_s2c[:16].hex()))
        closing = v.closing("s2c", conn=1)
        if closing == "FIN":
            notes.append("%s the server then closed with a FIN. This is a race: here the server closed "
                         "before B's init ff reached it (the late ff is answered with a reset). When the ff "
                         "is already queued, unread, at close() (the usual case on a direct connection), "
                         "Linux ends the connection with a reset instead of a FIN" % AGREES)
        else:
            notes.append("%s after the 254 zero bytes the server's close() ends the connection with a %s, "
                         "not a FIN: B's init ff is already in the server's receive queue, unread, and Linux "
                         "resets a socket closed with unread data. It is a race: when the server closes "
                         "before B's ff arrives there is a FIN (and the late ff is answered by a reset). B "
                         "still reads the 254 bytes before the reset" % (DISAGREES, closing))
        if t["client"] != "raw":
            expect(notes, error_has(t["client_error"], r"Initialisation error: bytearray(b'\x00')"),
                   "the 2.0.1 client's thread dies with Initialisation error: bytearray(b'\\x00')")
    else:
        expect(notes, "NameError" in (t["server_error"] or "") and not b_s2c,
               "3.0 at its limit raises NameError (SC_CONLIMIT not imported) in start(); the server "
               "process exits and every connected client is dropped")
        notes.append("%s B reads nothing, then %s (the dying process closes B's socket with B's init ff "
                     "unread); client A's socket gets %s and A's thread dies with %s" % (
                         FACT, v.closing("s2c", conn=1), v.closing("s2c", conn=0), facts.get("a_error")))
        if t["client"] != "raw":
            notes.append("%s the 3.0 client B's thread dies with %s during its init read (not a "
                         "TinyProtoError)" % (FACT, t["client_error"]))


def check_eof_mid_header(t, v, facts, notes, role):
    received = t["server_received"] if role == "server" else t["client_received"]
    python_side_wrote = v.stream("s2c" if role == "server" else "c2s")[1:]
    expect(notes, received == ["00000000"] and python_side_wrote[:1] == b"\xff",
           "EOF after header bytes 00 01: the header reads as 65,536, ff is sent to the closed peer and "
           "b'\\x00\\x00\\x00\\x00' is delivered (Q3, %s role)" % role,
           "%s delivered %s and wrote %s" % (role, received, python_side_wrote.hex()))
    if role == "server":
        check_eof_echo(t, v, notes, 15)
    else:
        check_client_ends_after_garbage(t, v, notes)


def check_client_ends_after_garbage(t, v, notes):
    """A Python client that got a truncated message: its loop ends on the EOF flag, it closes cleanly."""
    if v.eof("c2s") and t["client_error"] is None:
        notes.append("%s after delivering the truncated message the client's loop ends (the EOF set its "
                     "shutdown flag), post_loop runs and the socket is closed (FIN c2s), without an "
                     "exception, in both versions" % FACT)
    else:
        notes.append("%s after the truncated message: client close=%s error=%s" % (
            FACT, v.closing("c2s"), t["client_error"]))


def check_eof_after_header(t, v, facts, notes):
    expect(notes, t["server_received"] == ["00000000"],
           "EOF after a header announcing 10 bytes: b'\\x00\\x00\\x00\\x00' is delivered (Q3)")
    check_eof_echo(t, v, notes, 15)


def check_eof_mid_payload(t, v, facts, notes, role):
    received = t["server_received"] if role == "server" else t["client_received"]
    expect(notes, received == ["6162636400000000"],
           "EOF after 4 of 10 payload bytes: b'abcd\\x00\\x00\\x00\\x00' is delivered (Q3, %s role)" % role,
           "%s delivered %s" % (role, received))
    if role == "server":
        check_eof_echo(t, v, notes, 19)
    else:
        check_client_ends_after_garbage(t, v, notes)


def check_plugin(t, v, facts, notes):
    wire_hello = xor5a(b"hello") + b"!"
    reply = ECHO + b"hello"
    wire_reply = xor5a(reply) + b"!"
    ok = v.stream("c2s")[1:] == header(wire_hello) + wire_hello + b"\xff" and \
        v.stream("s2c")[1:] == b"\xff" + header(wire_reply) + wire_reply and \
        t["server_received"] == [b"hello".hex()] and t["client_received"] == [reply.hex()]
    expect(notes, ok, "plugins: msg_transmit in registration order before the header is computed (so the "
                      "header counts the transformed length), msg_receive in reverse registration order")
    check_close_at_boundary(t, v, notes, facts)


def check_simultaneous(t, v, facts, notes):
    rejected = r"Transmission rejected: bytearray(b'\x00')"
    ok = error_has(t["client_error"], rejected) and error_has(t["server_error"], rejected) and \
        v.closing("c2s") == v.closing("s2c") == "nothing"
    expect(notes, ok, "both sides read 00 (the other's header) as the status, both raise 'Transmission "
                      "rejected' and both threads die with their sockets left open (Q6)")


def check_server_sends_first(t, v, facts, notes):
    expect(notes, t["client_received"] == [b"welcome".hex()],
           "a server may transmit first (from pre_loop); the client receives it in transmission_received")
    check_close_at_boundary(t, v, notes, facts)


CHECKS = {
    "handshake": check_handshake,
    "hello": check_hello,
    "empty": check_empty,
    "large-70000": check_large,
    "many": check_many,
    "oversize-raw-client": check_oversize,
    "max-size-header-raw-client": check_max_size,
    "conlimit": check_conlimit,
    "conlimit-python-client-b": check_conlimit,
    "eof-mid-header": lambda t, v, f, n: check_eof_mid_header(t, v, f, n, "server"),
    "eof-after-header": check_eof_after_header,
    "eof-mid-payload": lambda t, v, f, n: check_eof_mid_payload(t, v, f, n, "server"),
    "eof-mid-header-to-client": lambda t, v, f, n: check_eof_mid_header(t, v, f, n, "client"),
    "eof-mid-payload-to-client": lambda t, v, f, n: check_eof_mid_payload(t, v, f, n, "client"),
    "plugin": check_plugin,
    "simultaneous": check_simultaneous,
    "server-sends-first": check_server_sends_first,
    "client-close-at-boundary": lambda t, v, f, n: check_close_at_boundary(t, v, n, f),
}


def check(transcript, facts):
    """Note lines comparing the transcript with PROTOCOL.md."""
    notes = []
    view = View(transcript)
    try:
        CHECKS.get(transcript["scenario"], lambda *a: None)(transcript, view, facts, notes)
        check_common(transcript, facts, notes)
    except Exception as exc:  # a check must never lose a recording
        print("check failed for %s: %r" % (transcript["scenario"], exc), file=sys.stderr)
        notes.append("recorder: check failed: %r" % exc)
    return notes
