#!/usr/bin/python3
"""dkim_verify.py - checks the DKIM signatures of delivered messages.

usage: dkim_verify.py KEY_TXT DOMAIN FILE...

Verifies each message FILE (a smtp-sink dump) with python3-dkim, the
library behind dkimverify, taking the public key from KEY_TXT (the TXT
record opendkim-genkey wrote) instead of DNS, so the test needs no name
server. Prints one line per file: "FILE ok h=..." or "FILE FAIL why".
Exits 0 when every file carries a signature of DOMAIN that verifies and
whose signed header list (h=) covers List-Unsubscribe and
List-Unsubscribe-Post (RFC 8058 section 4), 1 otherwise.
"""
import re
import sys

import dkim

REQUIRED = {b"list-unsubscribe", b"list-unsubscribe-post"}


def record(path):
    """The TXT record's text: the quoted strings joined."""
    with open(path) as f:
        return "".join(re.findall(r'"([^"]*)"', f.read())).encode()


def signature_tags(message):
    """The tags of the first DKIM-Signature header, as a dict."""
    head = message.split(b"\r\n\r\n", 1)[0]
    match = re.search(rb"^DKIM-Signature:(.*?)\r\n(?![ \t])", head + b"\r\n",
                      re.M | re.S | re.I)
    if not match:
        return None
    text = re.sub(rb"\s+", b"", match.group(1))
    return dict(t.split(b"=", 1) for t in text.split(b";") if b"=" in t)


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    txt = record(sys.argv[1])
    domain = sys.argv[2].encode()
    bad = 0
    for path in sys.argv[3:]:
        with open(path, "rb") as f:
            data = f.read()
        # smtp-sink may store lines with LF only: DKIM works on CRLF.
        message = re.sub(rb"\r?\n", b"\r\n", data)
        tags = signature_tags(message)
        if tags is None:
            print(f"{path} FAIL no DKIM-Signature header")
            bad += 1
            continue
        signed = {h.lower() for h in tags.get(b"h", b"").split(b":")}
        missing = REQUIRED - signed
        ok = dkim.verify(message, dnsfunc=lambda name, timeout=5: txt)
        if not ok or tags.get(b"d") != domain or missing:
            print(f"{path} FAIL verified={ok} d={tags.get(b'd')!r} "
                  f"unsigned={sorted(missing)}")
            bad += 1
        else:
            print(f"{path} ok h={tags[b'h'].decode()}")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
