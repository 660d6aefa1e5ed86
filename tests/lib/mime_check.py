#!/usr/bin/env python3
"""mime_check.py - an independent check of messages herald built.

usage: mime_check.py DIR

DIR holds N.eml (a message) and N.json (what it should say: subject,
to_name, text, html, each as base64 of the raw bytes handed to herald).
Every message must parse under Python's strict email policy (any defect
raises) and decode back to the intended text. Prints one line per
failure and a summary; exits 1 when any message fails.
"""
import base64
import email
import email.header
import email.policy
import json
import os
import re
import sys


def expect_body(raw):
    text = raw.replace(b"\0", "\ufffd".encode()).decode("utf-8", "replace")
    return text.replace("\r\n", "\n").replace("\r", "\n").rstrip("\n")


def expect_header(raw):
    flat = bytes(32 if b < 32 or b == 127 else b for b in raw)
    return " ".join(flat.decode("utf-8", "replace").split())


def check(path, want):
    data = open(path, "rb").read()
    policy = email.policy.strict
    msg = email.message_from_bytes(data, policy=policy)
    problems = []
    for part in msg.walk():
        if part.defects:
            problems.append("defects: %r" % part.defects)
    for header in ("From", "To", "Subject", "Date", "Message-ID",
                   "List-Unsubscribe"):
        if len(msg.get_all(header) or []) != 1:
            problems.append("%s header count %d" %
                            (header, len(msg.get_all(header) or [])))
    for injected in ("Bcc", "Cc", "X-Injected"):
        if msg.get_all(injected):
            problems.append("injected header %s" % injected)
    subject = " ".join(str(msg["subject"]).split())
    if subject != expect_header(base64.b64decode(want["subject"])):
        problems.append("subject %r" % subject)
    if "to_name" in want:
        # The display name through the legacy decoder: the new parser
        # re-spaces long runs of encoded words in phrases.
        legacy = email.message_from_bytes(data, policy=email.policy.compat32)
        raw = re.sub(r"\s*<[^<>]*>\s*$", "", legacy["To"].replace("\r\n", ""))
        decoded = str(email.header.make_header(email.header.decode_header(raw)))
        if decoded.startswith('"') and decoded.endswith('"'):
            decoded = re.sub(r'\\(.)', r'\1', decoded[1:-1])
        name = " ".join(decoded.split())
        if name != expect_header(base64.b64decode(want["to_name"])):
            problems.append("to name %r" % name)
    parts = {}
    for part in msg.walk():
        if part.get_content_maintype() == "text":
            parts[part.get_content_subtype()] = part.get_content()
    for kind, subtype in (("text", "plain"), ("html", "html")):
        if kind not in want:
            continue
        got = parts.get(subtype, "").replace("\r\n", "\n").rstrip("\n")
        if got != expect_body(base64.b64decode(want[kind])):
            problems.append("%s part differs: %r" % (kind, got[:200]))
    return problems


def main():
    directory = sys.argv[1]
    names = sorted(n[:-4] for n in os.listdir(directory) if n.endswith(".eml"))
    failed = 0
    for name in names:
        want = json.load(open(os.path.join(directory, name + ".json")))
        try:
            problems = check(os.path.join(directory, name + ".eml"), want)
        except Exception as e:  # the strict policy raises on defects
            problems = ["does not parse: %s" % e]
        if problems:
            failed += 1
            print("%s (%s): %s" % (name, want.get("label", ""),
                                   "; ".join(problems)))
    print("mime_check: %d messages, %d passed, %d failed" %
          (len(names), len(names) - failed, failed))
    return 1 if failed or not names else 0


if __name__ == "__main__":
    sys.exit(main())
