"""The connection class both upstream chat programs use: an inbox filled by
transmission_received and an outbox that loop_pass transmits (thread-safe queues)."""
import queue

import tinyproto as tp


class MailboxConnection(tp.TinyProtoConnection):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.inbox = queue.Queue()
        self.outbox = queue.Queue()

    def transmission_received(self, msg):
        self.inbox.put(msg.decode(errors="replace"))

    def loop_pass(self):
        while not self.outbox.empty():
            self.transmit(self.outbox.get().encode())
