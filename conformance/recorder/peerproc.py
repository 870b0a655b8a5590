"""Run a Python peer script (peers/py_server.py or peers/py_client.py) under one venv's python.

The peer writes JSON events on stdout (see the scripts' docstrings); a reader thread collects them so the
recorder can wait for a given event with a time bound. Each peer runs in its own process, so each tinyproto
version is imported in isolation.
"""
import json
import os
import subprocess
import threading
import time

PEERS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "peers")


def _clean_env():
    """The recorder's environment without anything that could change which tinyproto gets imported."""
    env = dict(os.environ)
    for name in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE"):
        env.pop(name, None)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    return env


class PeerProcess:
    """One peer subprocess and the events it reported."""

    def __init__(self, python, script, config, stderr_path):
        self.python = python
        self.script = os.path.join(PEERS_DIR, script)
        self.config = config
        self.stderr_path = stderr_path
        self.events = []
        self._cond = threading.Condition()
        self._proc = None
        self._reader = None

    def start(self):
        """Start the process and its stdout reader; returns self."""
        self._stderr = open(self.stderr_path, "wb")
        self._proc = subprocess.Popen(
            [self.python, "-s", self.script, json.dumps(self.config)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
            cwd=PEERS_DIR, env=_clean_env())
        self._reader = threading.Thread(target=self._read, name="reader", daemon=True)
        self._reader.start()
        return self

    def _read(self):
        for raw in self._proc.stdout:
            try:
                event = json.loads(raw)
            except ValueError:
                event = {"event": "garbage", "text": raw.decode("utf-8", "replace")}
            with self._cond:
                self.events.append(event)
                self._cond.notify_all()

    def wait_event(self, name, timeout, **match):
        """The first event called `name` whose fields include `match`, or None after `timeout` seconds."""
        end = time.monotonic() + timeout
        with self._cond:
            while True:
                for event in self.events:
                    if event.get("event") == name and all(event.get(k) == v for k, v in match.items()):
                        return event
                left = end - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)

    def command(self, word):
        """Send one command line on the peer's stdin (ignored if the peer is gone)."""
        try:
            self._proc.stdin.write((word + "\n").encode())
            self._proc.stdin.flush()
        except (BrokenPipeError, ValueError, OSError):
            pass

    def running(self):
        """Whether the process is still alive."""
        return self._proc.poll() is None

    def finish(self, timeout=2.0):
        """Ask the peer to exit, kill it if it does not within `timeout`; returns its exit code."""
        self.command("exit")
        try:
            self._proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(timeout=timeout)
            with self._cond:
                self.events.append({"event": "killed"})
        self._reader.join(timeout=timeout)
        self._stderr.close()
        return self._proc.returncode

    def named(self, name):
        """All events called `name`, in order."""
        with self._cond:
            return [e for e in self.events if e.get("event") == name]
