"""One API over the two incompatible APIs of the Python `tinyproto` package (2.0.1 and 3.0).

Used by the example programs beside it, which the Rust test suites run as real Python peers.
"""
import sys
import time

import tinyproto as tp

#: True for tinyproto 3.x (constructor-configured API), False for 2.0.1.
IS_V3 = hasattr(tp, "TinyProtoConnectionDetails")
VERSION = "3.0" if IS_V3 else "2.0.1"


class Xor5a(tp.TinyProtoPlugin):
    """XOR every byte with 0x5a (its own inverse)."""

    def msg_transmit(self, msg):
        return bytearray(b ^ 0x5A for b in msg)

    def msg_receive(self, msg):
        return bytearray(b ^ 0x5A for b in msg)


class Bang(tp.TinyProtoPlugin):
    """Append b'!' on transmit; strip one trailing b'!' on receive."""

    def msg_transmit(self, msg):
        return bytearray(msg) + b"!"

    def msg_receive(self, msg):
        return bytearray(msg[:-1]) if msg.endswith(b"!") else bytearray(msg)


PLUGINS = {"xor5a": Xor5a, "bang": Bang}


def plugins_from_names(names):
    """Plugin instances for names such as ['xor5a', 'bang'], in order."""
    return [PLUGINS[n]() for n in names]


def make_server(server_cls, handler, host, port, limit=None, plugins=()):
    """A server listening on host:port (port 0 = ephemeral; see `listening_port`)."""
    if IS_V3:
        details = tp.TinyProtoConnectionDetails(host, port or 1)
        if port == 0:
            # The package refuses port 0; bind an ephemeral port anyway, read back in pre_loop.
            details.socket_connect_details = (details.socket_connect_details[0], 0)
        return server_cls(
            listen_addresses=[details],
            connection_handler=handler,
            connection_limit=limit,
            connection_plugin_list=list(plugins),
        )
    server = server_cls()
    server.set_conn_handler(handler)
    # add_addr refuses port 0 (and host names), so append the address directly.
    server.listen_addrs.append((host, port))
    server.connection_limit = limit
    for p in plugins:
        server.register_connection_plugin(p)
    return server


def listening_port(server):
    """The port the server listens on (call from pre_loop, after the listeners are up)."""
    return server.listen_socks[0].getsockname()[1]


def make_client(client_cls, handler, plugins=(), timeout=5):
    """A client whose connections use `handler` and `plugins`."""
    if IS_V3:
        return client_cls(connection_handler=handler, connection_plugin_list=list(plugins), timeout=timeout)
    client = client_cls()
    client.set_conn_handler(handler)
    client.set_timeout(timeout)
    for p in plugins:
        client.register_connection_plugin(p)
    return client


def connect(client, host, port, timeout=10.0):
    """Connects, waits until the init handshake is done, and returns the connection object.

    The package returns from connect_to before its connection thread has connected and done
    the handshake; a transmit() in that window interleaves with the init byte (seen with 3.0),
    so wait for the handshake (peername_details is set right after it) or the thread's end.
    """
    if IS_V3:
        conn_id = client.connect_to(tp.TinyProtoConnectionDetails(host, port))
    else:
        conn_id = client.connect_to(host, port)
    conn = client.active_connections[conn_id]
    deadline = time.monotonic() + timeout
    while conn.peername_details is None and conn.is_alive() and time.monotonic() < deadline:
        time.sleep(0.005)
    return conn


def say(*parts):
    """Print a line and flush (test harnesses read stdout line by line)."""
    print(*parts, flush=True)
    sys.stdout.flush()
