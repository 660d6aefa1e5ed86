"""blocking_mx.py - a destination's mail server for the reputation test
(aiosmtpd): it refuses recipients of blocked.example, the way big
receivers word a blocklist refusal, when the client connects from
127.0.0.1 (route A's source address) and the file BLOCK_FLAG exists;
it accepts everything else. Every recipient accepted is appended to
LOG as "PEER_ADDRESS RECIPIENT". It listens on two ports, so that a
Postfix can give blocked.example a next hop of its own (a 421 suspends
deliveries to the whole next hop); prints "ready PORT1 PORT2".

    python3 blocking_mx.py LOG BLOCK_FLAG
"""
import os
import socket
import sys

from aiosmtpd.controller import Controller


class Blocking:
    def __init__(self, log, flag):
        self.log = log
        self.flag = flag

    async def handle_RCPT(self, server, session, envelope, address, options):
        if (address.lower().endswith("@blocked.example")
                and session.peer[0] == "127.0.0.1"
                and os.path.exists(self.flag)):
            return ("421 4.7.0 [127.0.0.1] Service unavailable, "
                    "blocked using rbl.example")
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server, session, envelope):
        with open(self.log, "a") as f:
            for rcpt in envelope.rcpt_tos:
                f.write("%s %s\n" % (session.peer[0], rcpt))
        return "250 2.0.0 Ok"


def free_port():
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


def main():
    handler = Blocking(sys.argv[1], sys.argv[2])
    controllers = [Controller(handler, hostname="127.0.0.1", port=free_port())
                   for _ in range(2)]
    for c in controllers:
        c.start()
    print("ready %s" % " ".join(str(c.port) for c in controllers), flush=True)
    try:
        sys.stdin.read()  # until the test closes our stdin
    finally:
        for c in controllers:
            c.stop()


if __name__ == "__main__":
    main()
