#!/usr/bin/env python3
# tests/lib/scrape.py URL - scrapes a /metrics endpoint and parses it with
# python3-prometheus-client's own parser (not ours), printing one JSON
# document: {"content_type": ..., "types": {family: type},
# "samples": [[name, {labels}, value], ...]}. Exits 1 with the reason on
# stderr when the page does not parse.
import json
import sys
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

with urllib.request.urlopen(sys.argv[1], timeout=10) as answer:
    content_type = answer.headers.get("Content-Type", "")
    text = answer.read().decode("utf-8")
types, samples = {}, []
try:
    for family in text_string_to_metric_families(text):
        types[family.name] = family.type
        for s in family.samples:
            samples.append([s.name, s.labels, s.value])
except Exception as e:  # the parser's own complaint, with the page
    sys.stderr.write("unparseable page: %r\n%s" % (e, text))
    sys.exit(1)
json.dump({"content_type": content_type, "types": types,
           "samples": samples}, sys.stdout)
