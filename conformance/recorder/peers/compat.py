"""A tiny compatibility layer over the two tinyproto APIs (2.0.1 and 3.0).

2.0.1: TinyProtoServer() + add_addr(ip, port) + set_conn_handler(cls) + `connection_limit` attribute +
       register_connection_plugin(p); TinyProtoClient() + set_conn_handler + connect_to(host, port);
       TinyProtoConnection is a threading.Thread.
3.0:   everything through constructors (TinyProtoServer(listen_addresses=[TinyProtoConnectionDetails(..)],
       connection_handler=.., connection_limit=.., connection_plugin_list=[..]), TinyProtoClient(..),
       connect_to(TinyProtoConnectionDetails(host, port))); the connection owns a daemon thread.

Only the public API is used, except one thing: both versions refuse port 0, so the server's listen address
is patched to ("127.0.0.1", 0) after validation, and the real ephemeral port is read back from the
listening socket (in the server's pre_loop, which runs right after the listeners are bound).
"""
from importlib import metadata

import tinyproto
from tinyproto import TinyProtoClient, TinyProtoConnection, TinyProtoPlugin, TinyProtoServer

from common import PLUGIN_FUNCTIONS

VERSION = metadata.version("tinyproto")
IS_V3 = hasattr(tinyproto, "TinyProtoConnectionDetails")
LOOPBACK = "127.0.0.1"


def plugin_class(name):
    """A TinyProtoPlugin subclass implementing the named test plugin (see common.PLUGIN_DESCRIPTIONS)."""
    transmit, receive = PLUGIN_FUNCTIONS[name]

    class Plugin(TinyProtoPlugin):
        def msg_transmit(self, msg):
            return transmit(msg)

        def msg_receive(self, msg):
            return receive(msg)

    Plugin.__name__ = "Plugin_" + name
    return Plugin


def plugin_classes(names):
    """Plugin classes for the given names, in order."""
    return [plugin_class(n) for n in names]


def make_server(server_cls, handler_cls, plugin_names, connection_limit):
    """A server of `server_cls` (a TinyProtoServer subclass) listening on 127.0.0.1, ephemeral port."""
    plugins = plugin_classes(plugin_names)
    if IS_V3:
        details = tinyproto.TinyProtoConnectionDetails(LOOPBACK, 1)
        details.socket_connect_details = (LOOPBACK, 0)
        return server_cls(listen_addresses=[details], connection_handler=handler_cls,
                          connection_limit=connection_limit, connection_plugin_list=plugins)
    server = server_cls()
    server.add_addr(LOOPBACK, 1)
    server.listen_addrs[0] = (LOOPBACK, 0)
    server.set_conn_handler(handler_cls)
    server.connection_limit = connection_limit
    for p in plugins:
        server.register_connection_plugin(p)
    return server


def server_port(server):
    """The port the server's (single) listening socket is bound to."""
    return server.listen_socks[0].getsockname()[1]


def make_client(handler_cls, plugin_names, timeout):
    """A TinyProtoClient using `handler_cls` for its connections."""
    plugins = plugin_classes(plugin_names)
    if IS_V3:
        return TinyProtoClient(connection_handler=handler_cls, connection_plugin_list=plugins,
                               timeout=timeout)
    client = TinyProtoClient()
    client.set_conn_handler(handler_cls)
    client.set_timeout(timeout)
    for p in plugins:
        client.register_connection_plugin(p)
    return client


def connect(client, port):
    """client.connect_to(127.0.0.1:port); returns the connection object."""
    if IS_V3:
        cid = client.connect_to(tinyproto.TinyProtoConnectionDetails(LOOPBACK, port))
    else:
        cid = client.connect_to(LOOPBACK, port)
    return client.active_connections[cid]


def connection_thread_alive(conn):
    """Whether the connection's thread still runs (both versions have is_alive())."""
    return conn.is_alive()


__all__ = ["VERSION", "IS_V3", "TinyProtoConnection", "TinyProtoServer", "make_server", "server_port",
           "make_client", "connect", "connection_thread_alive", "plugin_classes"]
