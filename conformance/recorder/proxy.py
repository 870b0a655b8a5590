"""A recording TCP proxy on loopback.

One thread runs one selectors loop for the listener and every proxied connection, so the recorded events of
all connections and both directions form a single total order (the order in which the proxy read them).

Per proxied connection it records, in order:
  {"conn": i, "dir": "c2s"|"s2c", "hex": "..."}       bytes read from one side and forwarded to the other
  {"conn": i, "dir": ..., "eof": true}                 that side half-closed (FIN): forwarded as shutdown(SHUT_WR)
  {"conn": i, "dir": ..., "reset": true}               that side reset the connection: forwarded as a reset
                                                       (SO_LINGER 0 + close) and the connection is dropped
  {"conn": i, "dir": ..., "send_error": "..."}         forwarding to the other side failed (it was gone)
"c2s" is data the client wrote (towards the server), "s2c" data the server wrote.

The upstream connection is opened when the client's first bytes (or its EOF) arrive, or after
FIRST_DATA_WAIT seconds, and those bytes are forwarded at once. So, as on a direct connection, a client's
init byte is already in the server's receive queue when the server accepts. (Opening upstream at accept time
lets the server accept, write and close before the init byte arrives, which turns a reset into a FIN.)
"""
import selectors
import socket
import struct
import threading
import time

LOOPBACK = "127.0.0.1"
SEND_TIMEOUT = 2.0
RECV_SIZE = 65536
FIRST_DATA_WAIT = 0.1


def _abort(sock):
    """Close `sock` with a reset (SO_LINGER on, 0 s)."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


class _Proxied:
    """One client<->server pair of sockets and which directions are still open."""

    def __init__(self, number, client_sock, server_sock):
        self.number = number
        self.socks = {"c2s": (client_sock, server_sock), "s2c": (server_sock, client_sock)}
        self.open_dirs = {"c2s", "s2c"}
        self.closed = False

    def close(self):
        """Close both sockets (normal close)."""
        for sock in (self.socks["c2s"][0], self.socks["s2c"][0]):
            try:
                sock.close()
            except OSError:
                pass
        self.closed = True


class RecordingProxy:
    """Listens on 127.0.0.1:<ephemeral>, forwards each accepted connection to 127.0.0.1:upstream_port."""

    def __init__(self, upstream_port, hard_limit=10.0):
        self.upstream_port = upstream_port
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind((LOOPBACK, 0))
        self.listener.listen(16)
        self.listener.setblocking(False)
        self.port = self.listener.getsockname()[1]
        self.events = []
        self.problems = []
        self.conns = []
        self._lock = threading.Lock()
        self._last_activity = time.monotonic()
        self._stop = threading.Event()
        self._hard_end = time.monotonic() + hard_limit
        self._sel = selectors.DefaultSelector()
        self._thread = threading.Thread(target=self._run, name="proxy", daemon=True)

    # ---- control (called from the recorder's thread) -------------------------------------------------
    def start(self):
        """Start the proxy thread; returns self."""
        self._sel.register(self.listener, selectors.EVENT_READ, None)
        self._thread.start()
        return self

    def stop(self):
        """Stop forwarding, close every socket (nothing after this is recorded)."""
        self._stop.set()
        self._thread.join(timeout=2.0)
        for conn in self.conns:
            if not conn.closed:
                conn.close()
        self.listener.close()
        self._sel.close()

    def snapshot(self):
        """A copy of the events recorded so far."""
        with self._lock:
            return list(self.events)

    def idle_for(self):
        """Seconds since the proxy last accepted, read or closed anything."""
        return time.monotonic() - self._last_activity

    def all_closed(self):
        """True when at least one connection was proxied and all of them are fully closed."""
        return bool(self.conns) and all(c.closed for c in self.conns)

    def wait_quiet(self, quiet, timeout):
        """Wait until nothing happened for `quiet` seconds, or everything closed, or `timeout` passed."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.idle_for() >= quiet or self.all_closed():
                return True
            time.sleep(0.01)
        return False

    def wait_for(self, predicate, timeout):
        """Wait until predicate(events) is true, at most `timeout` seconds."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if predicate(self.snapshot()):
                return True
            time.sleep(0.01)
        return False

    # ---- the proxy thread ----------------------------------------------------------------------------
    def _record(self, conn, direction, **fields):
        event = {"conn": conn.number, "dir": direction}
        event.update(fields)
        with self._lock:
            self.events.append(event)
        self._last_activity = time.monotonic()

    def _run(self):
        while not self._stop.is_set() and time.monotonic() < self._hard_end:
            for key, _mask in self._sel.select(0.01):
                if key.data is None:
                    self._accept()
                elif key.data[0] == "pending":
                    self._open_upstream(key.fileobj)
                else:
                    self._forward(*key.data)
            self._expire_pending()
        if not self._stop.is_set():
            self.problems.append("proxy hard time limit reached")

    def _accept(self):
        """Accept a client; its upstream connection is opened by _open_upstream."""
        try:
            client_sock, _ = self.listener.accept()
        except BlockingIOError:
            return
        client_sock.settimeout(SEND_TIMEOUT)
        client_sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sel.register(client_sock, selectors.EVENT_READ,
                           ("pending", time.monotonic() + FIRST_DATA_WAIT))
        self._last_activity = time.monotonic()

    def _expire_pending(self):
        """Open upstream for clients that stayed silent for FIRST_DATA_WAIT seconds."""
        now = time.monotonic()
        for key in list(self._sel.get_map().values()):
            if key.data is not None and key.data[0] == "pending" and now >= key.data[1]:
                self._open_upstream(key.fileobj, readable=False)

    def _open_upstream(self, client_sock, readable=True):
        """Connect to the server for this client and forward what the client already sent.

        The client's first bytes are read before connecting and written right after the connect returns,
        to keep the gap between the server's accept queue getting the connection and the bytes arriving
        as small as on a direct connection.
        """
        self._sel.unregister(client_sock)
        first = self._read_first(client_sock) if readable else None
        try:
            server_sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            server_sock.settimeout(None)  # plain blocking connect: least work between connect and send
            server_sock.connect((LOOPBACK, self.upstream_port))
            if first:
                server_sock.sendall(first)
        except OSError as exc:
            self.problems.append("upstream connect failed: %r" % exc)
            _abort(client_sock)
            return
        server_sock.settimeout(SEND_TIMEOUT)
        server_sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = _Proxied(len(self.conns), client_sock, server_sock)
        self.conns.append(conn)
        for sock, direction in ((client_sock, "c2s"), (server_sock, "s2c")):
            self._sel.register(sock, selectors.EVENT_READ, (conn, direction))
        self._last_activity = time.monotonic()
        if first:
            self._record(conn, "c2s", hex=first.hex())
        elif first is not None:  # b"": EOF (or reset) before any byte; let _forward see it again
            self._forward(conn, "c2s")

    @staticmethod
    def _read_first(client_sock):
        """The client's first bytes; b"" on EOF or reset (the next read reports which)."""
        try:
            return client_sock.recv(RECV_SIZE, socket.MSG_PEEK) and client_sock.recv(RECV_SIZE)
        except OSError:
            return b""

    def _forward(self, conn, direction):
        src, dst = conn.socks[direction]
        try:
            data = src.recv(RECV_SIZE)
        except (ConnectionResetError, ConnectionAbortedError):
            self._record(conn, direction, reset=True)
            self._drop(conn, reset=True)
            return
        except (BlockingIOError, socket.timeout):
            return
        if data:
            self._record(conn, direction, hex=data.hex())
            try:
                dst.sendall(data)
            except OSError as exc:
                self._record(conn, direction, send_error=repr(exc))
            return
        self._record(conn, direction, eof=True)
        self._sel.unregister(src)
        conn.open_dirs.discard(direction)
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError as exc:
            self._record(conn, direction, send_error="shutdown: %r" % exc)
        if not conn.open_dirs:
            conn.close()

    def _drop(self, conn, reset):
        """Forget a connection; with reset=True the surviving side is reset too."""
        for sock in (conn.socks["c2s"][0], conn.socks["s2c"][0]):
            try:
                self._sel.unregister(sock)
            except (KeyError, ValueError):
                pass
            if reset:
                _abort(sock)
        conn.closed = True
        if not reset:
            conn.close()
