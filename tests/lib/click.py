#!/usr/bin/env python3
"""click.py - a real browser opens a page and clicks its button.

usage: click.py CHROMIUM URL SCREENSHOT.png PROFILE_DIR

Starts headless Chromium, drives it over its DevTools protocol: opens
URL, saves a screenshot of the page, moves the mouse onto the page's
first <button> and clicks it (mouse press and release at its centre, as
a person would; no script of the page's runs, it has none), waits for
the page the form's POST answers, and prints that page's text. Exit
status 0 when all of that happened, 1 with the reason on stderr.

The DevTools connection is a WebSocket; the few lines of client below
(RFC 6455 text frames, no extension) keep the test free of packages
beyond python3 and chromium.
"""
import base64
import json
import os
import socket
import struct
import subprocess
import sys
import time
import urllib.request


class DevTools:
    """A WebSocket to one DevTools target; send() waits for its answer."""

    def __init__(self, ws_url):
        rest = ws_url[len("ws://"):]
        hostport, path = rest.split("/", 1)
        host, port = hostport.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), 10)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((
            f"GET /{path} HTTP/1.1\r\nHost: {hostport}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            if not chunk:
                raise RuntimeError("DevTools closed the handshake")
            head += chunk
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise RuntimeError("DevTools refused the WebSocket: %r" % head)
        self.next_id = 0
        self.events = []

    def _read(self, n):
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise RuntimeError("DevTools closed the connection")
            data += chunk
        return data

    def _receive(self):
        message = b""
        while True:
            first, second = self._read(2)
            length = second & 0x7F
            if length == 126:
                length = struct.unpack(">H", self._read(2))[0]
            elif length == 127:
                length = struct.unpack(">Q", self._read(8))[0]
            payload = self._read(length)
            message += payload
            if first & 0x80:
                return json.loads(message)

    def send(self, method, **params):
        self.next_id += 1
        data = json.dumps({"id": self.next_id, "method": method,
                           "params": params}).encode()
        mask = os.urandom(4)
        header = bytes([0x81])
        if len(data) < 126:
            header += bytes([0x80 | len(data)])
        elif len(data) < 65536:
            header += bytes([0x80 | 126]) + struct.pack(">H", len(data))
        else:
            header += bytes([0x80 | 127]) + struct.pack(">Q", len(data))
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        self.sock.sendall(header + mask + masked)
        while True:
            reply = self._receive()
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError("%s: %s" % (method, reply["error"]))
                return reply.get("result", {})
            self.events.append(reply)

    def wait_event(self, method, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            for i, event in enumerate(self.events):
                if event.get("method") == method:
                    del self.events[i]
                    return event
            self.events.append(self._receive())
        raise RuntimeError("no %s within %d s" % (method, timeout))

    def evaluate(self, expression):
        result = self.send("Runtime.evaluate", expression=expression,
                           returnByValue=True)
        return result["result"].get("value")


def devtools_port(profile, browser):
    """The port Chromium chose, from PROFILE/DevToolsActivePort."""
    path = os.path.join(profile, "DevToolsActivePort")
    deadline = time.time() + 60
    while time.time() < deadline:
        if browser.poll() is not None:
            raise RuntimeError("chromium exited with %d" % browser.returncode)
        try:
            with open(path) as f:
                port = f.readline().strip()
            if port:
                return int(port)
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError("chromium wrote no %s within 60 s" % path)


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    chromium, url, screenshot, profile = sys.argv[1:]
    browser = subprocess.Popen(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu",
         "--no-first-run", "--remote-debugging-port=0",
         "--user-data-dir=" + profile, "--window-size=800,500",
         "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port = devtools_port(profile, browser)
        with urllib.request.urlopen("http://127.0.0.1:%d/json/list" % port,
                                    timeout=10) as f:
            pages = [t for t in json.load(f) if t.get("type") == "page"]
        tab = DevTools(pages[0]["webSocketDebuggerUrl"])
        tab.send("Page.enable")
        tab.send("Page.navigate", url=url)
        tab.wait_event("Page.loadEventFired")
        shot = tab.send("Page.captureScreenshot", format="png")
        with open(screenshot, "wb") as f:
            f.write(base64.b64decode(shot["data"]))
        box = tab.evaluate(
            "(() => { const b = document.querySelector('button');"
            " if (!b) return null; const r = b.getBoundingClientRect();"
            " return [r.x + r.width / 2, r.y + r.height / 2]; })()")
        if box is None:
            raise RuntimeError("the page has no button: %s"
                               % tab.evaluate("document.body.innerText"))
        tab.send("Input.dispatchMouseEvent", type="mouseMoved", x=box[0],
                 y=box[1])
        for kind in ("mousePressed", "mouseReleased"):
            tab.send("Input.dispatchMouseEvent", type=kind, x=box[0],
                     y=box[1], button="left", clickCount=1)
        tab.wait_event("Page.loadEventFired")
        print(tab.evaluate("document.body.innerText"))
    except (RuntimeError, OSError, KeyError, IndexError) as e:
        sys.exit("click.py: %s" % e)
    finally:
        browser.terminate()
        try:
            browser.wait(10)
        except subprocess.TimeoutExpired:
            browser.kill()


if __name__ == "__main__":
    main()
