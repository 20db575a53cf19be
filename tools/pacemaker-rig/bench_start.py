#!/usr/bin/env python3
"""bench_scale's case on the Pacemaker rig (rig.sh up 3 first): N
ocf:heartbeat:Dummy primitives (no monitor) created in one cibadmin call,
then crm_mon polled every 200 ms until all are started or the timeout.
Prints the time, failed crm_mon calls, membership changes seen by Corosync
during the run, and each node's CPU seconds and resident size (all of the
node's processes: corosync, pacemaker's daemons and the agents they waited
for).

  bench_start.py [--resources N] [--timeout-s S]
"""
import argparse, subprocess, time, xml.etree.ElementTree as ET

from rig_common import cpu_and_rss, memberships, rig

NODES = 3

def run(node, *cmd, **kw):
    return rig("exec", str(node), *cmd, **kw)

def started(node):
    out = run(node, "crm_mon", "-1", "--output-as=xml", timeout=60)
    if out.returncode != 0:
        return None
    root = ET.fromstring(out.stdout)
    return sum(1 for r in root.iter("resource")
               if r.get("role") == "Started" and r.get("active") == "true")

def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--resources", type=int, default=1000)
    parser.add_argument("--timeout-s", type=float, default=300)
    args = parser.parse_args()
    run(1, "crm_attribute", "--type", "crm_config", "--name", "stonith-enabled", "--update", "false", check=True)
    primitives = "".join(
        f'<primitive id="d{i}" class="ocf" provider="heartbeat" type="Dummy"/>'
        for i in range(args.resources))
    before = {n: (cpu_and_rss(n)[0], memberships(n)) for n in range(1, NODES + 1)}
    start = time.monotonic()
    created = run(1, "cibadmin", "--create", "-o", "resources", "--xml-text",
                  f"<resources>{primitives}</resources>")
    if created.returncode != 0:
        # cibadmin --create takes one element: send them in one replace of the section.
        created = run(1, "cibadmin", "--replace", "-o", "resources", "--xml-text",
                      f"<resources>{primitives}</resources>")
    assert created.returncode == 0, created.stderr
    calls = failed = 0
    best = 0
    turn = 0
    while time.monotonic() - start < args.timeout_s and best < args.resources:
        node = 1 + turn % NODES
        turn += 1
        calls += 1
        try:
            count = started(node)
        except (subprocess.TimeoutExpired, ET.ParseError):
            count = None
        if count is None:
            failed += 1
        else:
            best = max(best, count)
        time.sleep(0.2)
    took = time.monotonic() - start
    print(f"resources: {args.resources} ocf:heartbeat:Dummy on Pacemaker {NODES} nodes")
    print(f"started: {best}/{args.resources} in {took:.1f} s")
    print(f"crm_mon calls: {failed} failed of {calls}")
    for n in range(1, NODES + 1):
        cpu, rss = cpu_and_rss(n)
        print(f"pnode{n}: membership changes {memberships(n) - before[n][1]}, "
              f"cpu {cpu - before[n][0]:.1f} s (daemons and agents), rss {rss} MB")

if __name__ == "__main__":
    main()
