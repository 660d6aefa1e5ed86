"""reject_relay.py - an SMTP relay for tests (aiosmtpd) that refuses
some recipients the way a real mailbox provider refuses an unknown user,
and accepts (and discards) everything else.

    python3 reject_relay.py PATTERN

A recipient address matching the regular expression PATTERN (searched,
without case) gets "550 5.1.1 <ADDRESS>: Recipient address rejected:
User unknown in virtual mailbox table" at RCPT TO, so the sending
Postfix returns a DSN for it. Prints "ready PORT" once it listens; runs
until killed. Counts accepted recipients in the file named by the
environment variable REJECT_RELAY_COUNT, when set.
"""
import os
import re
import signal
import socket
import sys

from aiosmtpd.controller import Controller


class Relay:
    def __init__(self, pattern):
        self.pattern = re.compile(pattern, re.IGNORECASE)
        self.count_file = os.environ.get("REJECT_RELAY_COUNT")
        self.accepted = 0

    async def handle_RCPT(self, server, session, envelope, address, options):
        if self.pattern.search(address):
            return ("550 5.1.1 <%s>: Recipient address rejected: User "
                    "unknown in virtual mailbox table" % address)
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server, session, envelope):
        self.accepted += len(envelope.rcpt_tos)
        if self.count_file:
            with open(self.count_file + ".tmp", "w") as f:
                f.write("%d\n" % self.accepted)
            os.rename(self.count_file + ".tmp", self.count_file)
        return "250 2.0.0 Ok: queued"


def main():
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    controller = Controller(Relay(sys.argv[1]), hostname="127.0.0.1",
                            port=port)
    controller.start()
    print("ready %d" % port, flush=True)
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    controller.stop()


if __name__ == "__main__":
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    main()
