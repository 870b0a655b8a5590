"""Pieces shared by the recorder and the Python peer scripts.

Standard library only: this module is imported both by the recorder (system python3) and by the peer
scripts (each venv's python), so it must not import tinyproto.
"""
import json
import os
import random
import sys
import threading
import time

#: The two test plugins, described exactly so that a replay in another language can implement them.
#: They are registered in the order given in a config's "plugins" list; tinyproto applies msg_transmit
#: in registration order and msg_receive in reverse registration order.
PLUGIN_DESCRIPTIONS = {
    "xor5a": {
        "msg_transmit": "XOR every byte with 0x5a (length unchanged)",
        "msg_receive": "XOR every byte with 0x5a (length unchanged)",
    },
    "bang": {
        "msg_transmit": "append one byte b'!' (0x21): length + 1",
        "msg_receive": "if the message ends with b'!' (0x21), remove that one byte; otherwise unchanged",
    },
}


def xor5a(msg):
    """The "xor5a" transform (its own inverse)."""
    return bytearray(b ^ 0x5A for b in msg)


def bang_transmit(msg):
    """The "bang" plugin's msg_transmit: append b'!'."""
    return bytearray(msg) + b"!"


def bang_receive(msg):
    """The "bang" plugin's msg_receive: strip one trailing b'!' if present."""
    msg = bytearray(msg)
    return msg[:-1] if msg.endswith(b"!") else msg


#: name -> (msg_transmit, msg_receive)
PLUGIN_FUNCTIONS = {
    "xor5a": (xor5a, xor5a),
    "bang": (bang_transmit, bang_receive),
}


def message_bytes(spec):
    """Turn a message spec into bytes.

    A spec is {"hex": "68656c6c6f"} or {"random": [seed, length]}; the latter is
    random.Random(seed).randbytes(length), which is stable across CPython 3.9+.
    """
    if "hex" in spec:
        return bytes.fromhex(spec["hex"])
    seed, length = spec["random"]
    return random.Random(seed).randbytes(length)


def text_spec(data):
    """A hex message spec for the given bytes or ASCII text."""
    if isinstance(data, str):
        data = data.encode("ascii")
    return {"hex": bytes(data).hex()}


class Emitter:
    """Writes one JSON object per line on stdout, flushed at once, safe from any thread."""

    def __init__(self, stream=None):
        self._stream = stream or sys.stdout
        self._lock = threading.Lock()
        self._t0 = time.monotonic()

    def emit(self, event, **fields):
        """Write {"event": event, "t": seconds since start, **fields} as one line."""
        record = {"event": event, "t": round(time.monotonic() - self._t0, 4)}
        record.update(fields)
        line = json.dumps(record, sort_keys=True)
        with self._lock:
            self._stream.write(line + "\n")
            self._stream.flush()


def install_error_capture(emitter, role):
    """Report every uncaught thread exception and every log record as events.

    The original threading.excepthook still runs afterwards (it prints the traceback on stderr), so the
    library behaves exactly as it would without us: the thread dies, nothing is closed for it.
    """
    import logging

    original_hook = threading.excepthook

    def hook(args):
        emitter.emit("error", role=role, thread=getattr(args.thread, "name", "?"),
                     repr=repr(args.exc_value))
        original_hook(args)

    threading.excepthook = hook

    class EmitHandler(logging.Handler):
        """Forwards log records (3.0 logs OSErrors it swallows) as "log" events."""

        def emit(self, record):
            emitter.emit("log", role=role, level=record.levelname, message=record.getMessage())

    logging.getLogger().addHandler(EmitHandler())
    logging.getLogger().setLevel(logging.INFO)


def start_control_thread(emitter, commands):
    """Read commands (one word per line) from stdin in a daemon thread.

    `commands` maps a word to a function. "exit" and end of stdin always end the process at once with
    os._exit, so a stuck library thread can never keep the peer alive.
    """

    def run():
        for line in sys.stdin:
            word = line.strip()
            if word == "exit":
                break
            action = commands.get(word)
            if action is not None:
                emitter.emit("command", word=word)
                action()
        emitter.emit("exit")
        os._exit(0)

    threading.Thread(target=run, name="control", daemon=True).start()


def start_deadline_thread(emitter, seconds):
    """Safety net: end the process after `seconds`, whatever the library threads are doing."""

    def run():
        time.sleep(seconds)
        emitter.emit("deadline", seconds=seconds)
        os._exit(3)

    threading.Thread(target=run, name="deadline", daemon=True).start()
