"""aiosmtpd_dump.py - an SMTP server no one on herald wrote (aiosmtpd),
for tests: every message received is written, exactly as it arrived
after the end-of-data dot was removed and dot-stuffing undone, to
DIR/<recipient>.eml. Prints "ready PORT" once it listens.

    python3 aiosmtpd_dump.py DIR
"""
import asyncio
import os
import socket
import sys

from aiosmtpd.controller import Controller


class Dump:
    def __init__(self, directory):
        self.directory = directory

    async def handle_DATA(self, server, session, envelope):
        for rcpt in envelope.rcpt_tos:
            path = os.path.join(self.directory, rcpt + ".eml")
            with open(path + ".tmp", "wb") as f:
                f.write(envelope.original_content)
            os.rename(path + ".tmp", path)
        return "250 2.0.0 Ok: queued as AIO%d" % len(os.listdir(self.directory))


def main():
    directory = sys.argv[1]
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    controller = Controller(Dump(directory), hostname="127.0.0.1", port=port)
    controller.start()
    print("ready %d" % port, flush=True)
    try:
        sys.stdin.read()  # until the test closes our stdin
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
