#!/usr/bin/python3
"""A Weir worker (exec mode: worker) in Python.

Weir keeps this process running and writes one request per line on stdin:
    {"id": 7, "row": {"device": "d1", "temp": 82.5}}
and reads one answer per request on stdout, with the same id:
    {"id": 7, "output": [ ...values... ]}     success; with `emit`, each value becomes an event
    {"id": 7, "error": "why"}                 failure: retried, then dead-lettered
Anything printed to stderr goes to Weir's log. Exit when stdin ends (Weir stopping).
"""
import json
import sys


def enrich(row):
    temp = float(row["temp"])
    level = "critical" if temp >= 90 else "hot" if temp >= 80 else "warm"
    return dict(row, temp_f=round(temp * 9 / 5 + 32, 1), level=level)


for line in sys.stdin:
    request = json.loads(line)
    try:
        reply = {"id": request["id"], "output": [enrich(request["row"])]}
    except (KeyError, TypeError, ValueError) as error:
        reply = {"id": request["id"], "error": f"cannot enrich {request['row']!r}: {error!r}"}
    sys.stdout.write(json.dumps(reply) + "\n")
    sys.stdout.flush()  # answer now: Weir waits for this line
