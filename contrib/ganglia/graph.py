#!/usr/bin/env python3
"""contrib/ganglia/graph.py - draw herald's send-rate dashboard from a gmond.

Reads gmond's XML port every STEP seconds for SECONDS seconds, keeps
herald's node metrics in an RRD (rrdtool, Debian package rrdtool) and
draws two PNGs: the send, defer and fail rates, and the staged backlog
with Postfix's queues. This is what gmetad and ganglia-web do with the
same metrics (contrib/ganglia/view_herald.json), without a web server;
the pictures in doc/ were drawn with it from a real run.

usage: graph.py [--gmond HOST:PORT] [--seconds N] [--step N] PREFIX
       writes PREFIX-rates.png and PREFIX-queues.png
"""
import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

METRICS = [
    ("sent", "herald_sent_rate"),
    ("deferred", "herald_deferred_rate"),
    ("failed", "herald_failed_rate"),
    ("backlog", "herald_backlog"),
    ("pf_active", "herald_postfix_active"),
    ("pf_deferred", "herald_postfix_deferred"),
    ("workers", "herald_workers_active"),
]


def read_gmond(host, port):
    """The herald metrics of the first host that has any, by name."""
    with socket.create_connection((host, port), 5) as s:
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    root = ET.fromstring(data)
    for h in root.iter("HOST"):
        values = {m.get("NAME"): m.get("VAL") for m in h.iter("METRIC")}
        if "herald_sent_rate" in values:
            return values
    return {}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gmond", default="127.0.0.1:8649")
    ap.add_argument("--seconds", type=int, default=300)
    ap.add_argument("--step", type=int, default=2)
    ap.add_argument("--title", default="herald")
    ap.add_argument("prefix")
    a = ap.parse_args()
    host, port = a.gmond.rsplit(":", 1)
    tmp = tempfile.mkdtemp()
    rrd = os.path.join(tmp, "herald.rrd")
    start = int(time.time())
    rows = a.seconds // a.step + 10
    subprocess.run(["rrdtool", "create", rrd, "--start", str(start - 1),
                    "--step", str(a.step)] +
                   ["DS:%s:GAUGE:%d:0:U" % (ds, 5 * a.step) for ds, _ in METRICS] +
                   ["RRA:AVERAGE:0.5:1:%d" % rows], check=True)
    samples = 0
    while time.time() < start + a.seconds:
        time.sleep(a.step - (time.time() - start) % a.step)
        try:
            values = read_gmond(host, int(port))
        except (OSError, ET.ParseError) as e:
            print("graph.py: gmond %s: %s" % (a.gmond, e), file=sys.stderr)
            continue
        if not values:
            continue
        update = "N:" + ":".join(values.get(name, "U") for _, name in METRICS)
        subprocess.run(["rrdtool", "update", rrd, update], check=True)
        samples += 1
    end = int(time.time())
    if samples == 0:
        sys.exit("graph.py: no herald metrics in gmond %s" % a.gmond)
    common = ["--start", str(start), "--end", str(end), "--width", "720",
              "--height", "200", "--lower-limit", "0", "--slope-mode",
              "--font", "DEFAULT:9:"]
    defs = ["DEF:%s=%s:%s:AVERAGE" % (ds, rrd, ds) for ds, _ in METRICS]
    subprocess.run(["rrdtool", "graph", a.prefix + "-rates.png"] + common +
                   ["--title", a.title + ": messages per second",
                    "--vertical-label", "messages/s"] + defs +
                   ["LINE2:sent#2a7fbf:sent",
                    "GPRINT:sent:AVERAGE:avg %.0lf/s",
                    "GPRINT:sent:MAX:max %.0lf/s\\n",
                    "LINE2:deferred#e8a317:deferred",
                    "GPRINT:deferred:MAX:max %.1lf/s\\n",
                    "LINE2:failed#c0392b:failed",
                    "GPRINT:failed:MAX:max %.1lf/s\\n"],
                   check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["rrdtool", "graph", a.prefix + "-queues.png"] + common +
                   ["--title", a.title + ": staged backlog and Postfix's queues",
                    "--vertical-label", "messages"] + defs +
                   ["AREA:backlog#9ecae1:staged backlog",
                    "GPRINT:backlog:MAX:max %.0lf\\n",
                    "LINE2:pf_active#31a354:Postfix active",
                    "GPRINT:pf_active:MAX:max %.0lf\\n",
                    "LINE2:pf_deferred#e8a317:Postfix deferred",
                    "GPRINT:pf_deferred:MAX:max %.0lf\\n"],
                   check=True, stdout=subprocess.DEVNULL)
    print("graph.py: %d samples over %d s -> %s-rates.png, %s-queues.png"
          % (samples, end - start, a.prefix, a.prefix))


if __name__ == "__main__":
    main()
