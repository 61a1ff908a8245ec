#!/usr/bin/env python3
"""Windows at many groups through the real daemon (issue 10).

Starts a mosquitto on a free loopback port and the real `weir run` (QoS 0, `mqtt.ack: receipt`, a
state_dir so windows are checkpointed as in production) with two rules on two topics:

  filter: SELECT device, temp FROM "f/+/tele" WHERE temp > 200 OR seq = <last>
  window: SELECT device, avg(temp), max(temp), count(*) FROM "w/+/tele" GROUP BY device, TUMBLING(600s)

Then, in the same run, per device count: feeds the events with `mosquitto_pub -l` to the filter's
topic and times until the filter matched the last one (weir_rule_matched_total), then the same lines
to the window's topic and times until weir_window_events_total counted them all. Prints events/s of
each and the ratio window / filter.

usage: scripts/bench-windows.py [--weir .build/release/weir] [--events 100000] [--devices 100 10000]
"""

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on {port}")


def metric(admin, name):
    text = urllib.request.urlopen(f"http://127.0.0.1:{admin}/metrics", timeout=5).read().decode()
    for line in text.splitlines():
        key, _, value = line.rpartition(" ")
        if key == name:
            return float(value)
    return 0.0


def timed_feed(admin, port, topic, lines_file, counter, target):
    """Feeds the lines and returns events/s until `counter` reaches `target`."""
    start = time.time()
    pub = subprocess.Popen(["mosquitto_pub", "-p", str(port), "-q", "0", "-t", topic, "-l"], stdin=open(lines_file))
    while metric(admin, counter) < target:
        time.sleep(0.02)
        if time.time() - start > 600:
            raise SystemExit(f"timeout waiting for {counter} >= {target}")
    elapsed = time.time() - start
    pub.wait()
    return elapsed


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--weir", default=".build/release/weir")
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--devices", type=int, nargs="+", default=[100, 10_000])
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="weir-bench-windows-")
    procs = []
    try:
        port, admin = free_port(), free_port()
        with open(f"{work}/mosquitto.conf", "w") as f:
            f.write(f"listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\nmax_queued_bytes 0\n")
        mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        procs.append(subprocess.Popen([mosquitto, "-c", f"{work}/mosquitto.conf"], stderr=open(f"{work}/mosquitto.log", "w")))
        wait_port(port)
        os.makedirs(f"{work}/rules")
        last = args.events - 1
        with open(f"{work}/rules/filter.yaml", "w") as f:
            f.write(f'name: filter\nsql: SELECT device, temp FROM "f/+/tele" WHERE temp > 200 OR seq = {last}\n'
                    "actions:\n  - log: { level: debug }\n")
        with open(f"{work}/rules/window.yaml", "w") as f:
            f.write('name: window\nsql: SELECT device, avg(temp) AS a, max(temp) AS m, count(*) AS n FROM "w/+/tele"'
                    " GROUP BY device, TUMBLING(600s)\nactions:\n  - log: { level: debug }\n")
        with open(f"{work}/weir.yaml", "w") as f:
            f.write(f"gateway_id: bench\nrules_dir: {work}/rules\nstate_dir: {work}/state\nlog_level: notice\n"
                    f"mqtt: {{ host: 127.0.0.1, port: {port}, client_id: weir-bench, qos: 0, ack: receipt }}\n"
                    f"admin: {{ listen: 127.0.0.1:{admin} }}\n")
        procs.append(subprocess.Popen([args.weir, "run", "--config", f"{work}/weir.yaml"], stderr=open(f"{work}/weir.log", "w")))
        wait_port(admin, 30)
        time.sleep(1)  # subscribed
        matched, windowed = 0, 0
        for devices in args.devices:
            lines = f"{work}/lines-{devices}.txt"
            with open(lines, "w") as f:
                for seq in range(args.events):
                    f.write('{"device":"d%05d","seq":%d,"temp":%.1f}\n' % (seq % devices, seq, (seq * 7919 % 1000) / 10))
            matched += 1
            t_filter = timed_feed(admin, port, "f/s1/tele", lines, 'weir_rule_matched_total{rule="filter"}', matched)
            windowed += args.events
            t_window = timed_feed(admin, port, "w/s1/tele", lines, 'weir_window_events_total{rule="window"}', windowed)
            f_rate, w_rate = args.events / t_filter, args.events / t_window
            print(f"devices={devices} events={args.events} filter={f_rate:,.0f}/s window={w_rate:,.0f}/s ratio={w_rate / f_rate:.2f}",
                  flush=True)
        print("weir_events_in_total", metric(admin, "weir_events_in_total"),
              "checkpointed groups", metric(admin, "weir_window_checkpointed_groups_total"))
    finally:
        for p in reversed(procs):
            p.terminate()
            p.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
