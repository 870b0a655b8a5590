"""Hand-written ("raw") peers: plain sockets on loopback that play one side byte by byte.

A raw peer runs in a thread of the recorder. Every read has a time bound. What a raw peer saw is kept in
`observations` (free text for the notes) and the messages it decoded by the protocol's rules in `received`.
"Closing" for a raw peer means shutdown(SHUT_WR) (a FIN) and then reading until EOF or a time bound, so what
the Python side writes after our FIN is still seen (and recorded by the proxy).
"""
import socket
import threading
import time

LOOPBACK = "127.0.0.1"
SC_OK = b"\xff"


class RawPeer:
    """A connected socket with bounded, logged reads and writes."""

    def __init__(self, sock):
        self.sock = sock
        self.observations = []
        self.received = []
        self.error = None

    def note(self, text):
        """Add one observation."""
        self.observations.append(text)

    def send(self, data, what):
        """Write all of `data`."""
        self.sock.sendall(data)
        self.note("sent %s (%s)" % (data.hex() or "nothing", what))

    def recv_exact(self, count, timeout, what):
        """Read `count` bytes; returns fewer on EOF, reset or timeout (and notes which)."""
        data = bytearray()
        end = time.monotonic() + timeout
        outcome = "ok"
        while len(data) < count:
            left = end - time.monotonic()
            if left <= 0:
                outcome = "timeout after %.1f s" % timeout
                break
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(count - len(data))
            except socket.timeout:
                outcome = "timeout after %.1f s" % timeout
                break
            except ConnectionResetError:
                outcome = "connection reset"
                break
            if not chunk:
                outcome = "EOF"
                break
            data.extend(chunk)
        self.note("read %s for %s: %s" % (bytes(data).hex() or "nothing", what, outcome))
        return bytes(data)

    def drain(self, timeout):
        """Read until EOF, reset or `timeout`; returns the bytes (and notes how it ended)."""
        data = bytearray()
        end = time.monotonic() + timeout
        outcome = "timeout after %.1f s (peer neither wrote more nor closed)" % timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                break
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                outcome = "connection reset"
                break
            if not chunk:
                outcome = "EOF"
                break
            data.extend(chunk)
        shown = bytes(data).hex() if len(data) <= 64 else "%d bytes (%s...)" % (len(data), data[:16].hex())
        self.note("drained %s, then %s" % (shown or "nothing", outcome))
        return bytes(data)

    def half_close(self):
        """Send a FIN (shutdown(SHUT_WR)); reading goes on."""
        self.sock.shutdown(socket.SHUT_WR)
        self.note("half-closed (FIN)")

    def close(self):
        """Close the socket."""
        self.sock.close()

    # ---- protocol helpers ---------------------------------------------------------------------------
    def handshake(self, timeout=2.0):
        """Write ff, read one byte; True when it is ff."""
        self.send(SC_OK, "init")
        return self.recv_exact(1, timeout, "init answer") == SC_OK

    def send_message(self, payload, timeout=1.5):
        """Header, status byte, payload if the status is ff. Returns the status byte (b"" if none)."""
        self.send(len(payload).to_bytes(4, "big"), "header")
        status = self.recv_exact(1, timeout, "status")
        if status == SC_OK:
            self.send(payload, "payload")
        return status

    def receive_message(self, timeout=1.5):
        """Header, answer ff, payload; the payload is appended to `received`. None if incomplete."""
        header = self.recv_exact(4, timeout, "header")
        if len(header) < 4:
            return None
        length = int.from_bytes(header, "big")
        self.send(SC_OK, "status")
        payload = self.recv_exact(length, timeout, "payload")
        if len(payload) < length:
            return None
        self.received.append(payload.hex())
        return payload


def connect(port, timeout=2.0):
    """A RawPeer connected to 127.0.0.1:port."""
    return RawPeer(socket.create_connection((LOOPBACK, port), timeout=timeout))


class RawServer:
    """Listens on 127.0.0.1:<ephemeral>; runs `script(peer)` on the first accepted connection in a thread."""

    def __init__(self, script, accept_timeout=4.0):
        self.script = script
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind((LOOPBACK, 0))
        self.listener.listen(1)
        self.listener.settimeout(accept_timeout)
        self.port = self.listener.getsockname()[1]
        self.peer = None
        self.thread = threading.Thread(target=self._run, name="raw-server", daemon=True)

    def start(self):
        """Start accepting; returns self."""
        self.thread.start()
        return self

    def _run(self):
        try:
            sock, _ = self.listener.accept()
        except socket.timeout:
            self.peer = RawPeer(None)
            self.peer.error = "no connection accepted"
            return
        finally:
            self.listener.close()
        self.peer = RawPeer(sock)
        run_script(self.script, self.peer)

    def join(self, timeout):
        """Wait (bounded) for the script to end."""
        self.thread.join(timeout)


def run_script(script, peer):
    """Run a raw script, keeping any exception as the peer's error; the socket is closed at the end."""
    try:
        script(peer)
    except Exception as exc:  # a raw script's own failure is data for the notes, not a crash
        peer.error = repr(exc)
        peer.note("raw script failed: %r" % exc)
    finally:
        try:
            peer.close()
        except OSError:
            pass


class RawClient:
    """Runs `script(peer)` on a connection to 127.0.0.1:port in a thread."""

    def __init__(self, port, script):
        self.port = port
        self.script = script
        self.peer = None
        self.thread = threading.Thread(target=self._run, name="raw-client", daemon=True)

    def start(self):
        """Connect and start the script; returns self."""
        self.thread.start()
        return self

    def _run(self):
        try:
            self.peer = connect(self.port)
        except OSError as exc:
            self.peer = RawPeer(None)
            self.peer.error = "connect failed: %r" % exc
            return
        run_script(self.script, self.peer)

    def join(self, timeout):
        """Wait (bounded) for the script to end."""
        self.thread.join(timeout)
