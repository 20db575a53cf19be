#!/usr/bin/env python3
"""bench_remote's case on the Pacemaker rig: 3 cluster nodes and R
pacemaker-remoted nodes (rig.sh remotes), R ocf:pacemaker:remote
connections and K ocf:heartbeat:Dummy primitives per remote node, each
preferring its remote node (score 100), all with a 10 s monitor, created in
one cibadmin call. Measures the time until every remote node is
online and every primitive runs where it prefers; then kills rnode1's
pacemaker-remoted (kill -9 of its namespace) and measures the time until
its primitives are started elsewhere. The remote nodes are fenced by a
device whose agent (fence_rig) kills a remote node's daemon, as Systole's
bench_remote fences with fence_systole_local.
Also: failed crm_mon calls, membership changes, and each cluster node's CPU
seconds and resident size.

  bench_remote.py [--remotes R] [--per-remote K] [--timeout-s S]

Brings the rig up itself and takes it down at the end.
"""
import argparse, subprocess, time, xml.etree.ElementTree as ET

from rig_common import cpu_and_rss, crm_mon, memberships, netns_pids, rig

NODES = 3


def configuration(remotes, per_remote):
    targets = " ".join(f"rnode{k}" for k in range(1, remotes + 1))
    resources = [
        '<primitive id="fence-rig" class="stonith" type="fence_rig"><instance_attributes '
        'id="fence-rig-params"><nvpair id="fence-rig-hosts" name="pcmk_host_list" '
        f'value="{targets}"/><nvpair id="fence-rig-check" name="pcmk_host_check" '
        'value="static-list"/></instance_attributes></primitive>']
    constraints = []
    for k in range(1, remotes + 1):
        name = f"rnode{k}"
        resources.append(
            f'<primitive id="{name}" class="ocf" provider="pacemaker" type="remote">'
            f'<instance_attributes id="{name}-params"><nvpair id="{name}-server" name="server" '
            f'value="10.99.1.{k}"/></instance_attributes><operations><op id="{name}-monitor" '
            f'name="monitor" interval="10s" timeout="20s"/></operations></primitive>')
        for j in range(per_remote):
            rid = f"{name}-d{j}"
            resources.append(
                f'<primitive id="{rid}" class="ocf" provider="heartbeat" type="Dummy"><operations>'
                f'<op id="{rid}-monitor" name="monitor" interval="10s" timeout="20s"/></operations>'
                f'</primitive>')
            constraints.append(
                f'<rsc_location id="{rid}-prefers" rsc="{rid}" node="{name}" score="100"/>')
    return ("<resources>" + "".join(resources) + "</resources>",
            "<constraints>" + "".join(constraints) + "</constraints>")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--remotes", type=int, default=10)
    parser.add_argument("--per-remote", type=int, default=2)
    parser.add_argument("--timeout-s", type=float, default=900)
    parser.add_argument("--move-timeout-s", type=float, default=300)
    parser.add_argument("--keep", action="store_true", help="leave the rig up at the end")
    args = parser.parse_args()
    rig("down")
    assert rig("up", str(NODES)).returncode == 0
    start = time.monotonic()
    while time.monotonic() - start < 300:
        state = crm_mon(1)
        if state and len(state.online) == NODES:
            break
        time.sleep(1)
    assert rig("remotes", str(args.remotes)).returncode == 0
    time.sleep(2)
    resources, constraints = configuration(args.remotes, args.per_remote)
    before = {n: (cpu_and_rss(n)[0], memberships(n)) for n in range(1, NODES + 1)}
    start = time.monotonic()
    # One update: the configuration section with both (constraints name
    # resources, so neither section can go first on its own).
    current = rig("exec", "1", "cibadmin", "--query", "-o", "configuration")
    assert current.returncode == 0, current.stderr
    config = ET.fromstring(current.stdout)
    for section, xml in (("resources", resources), ("constraints", constraints)):
        old = config.find(section)
        config[list(config).index(old)] = ET.fromstring(xml)
    done = rig("exec", "1", "cibadmin", "--replace", "-o", "configuration", "--xml-text",
               ET.tostring(config, encoding="unicode"))
    assert done.returncode == 0, done.stderr
    wanted = {f"rnode{k}-d{j}": f"rnode{k}" for k in range(1, args.remotes + 1)
              for j in range(args.per_remote)}
    calls = failed = 0
    took = None
    best = (0, 0)
    while time.monotonic() - start < args.timeout_s:
        calls += 1
        state = crm_mon(1 + calls % NODES)
        if state is None:
            failed += 1
        else:
            online = sum(1 for k in range(1, args.remotes + 1) if f"rnode{k}" in state.online)
            placed = sum(1 for r, n in wanted.items() if state.running.get(r) == n)
            best = max(best, (online, placed))
            if online == args.remotes and placed == len(wanted):
                took = time.monotonic() - start
                break
        time.sleep(0.5)
    print(f"Pacemaker, {NODES} nodes and {args.remotes} remote nodes, "
          f"{len(wanted)} Dummies ({args.per_remote} per remote node)")
    if took is None:
        print(f"not all in place within {args.timeout_s:.0f} s: {best[0]} remote nodes online, "
              f"{best[1]} Dummies in place")
    else:
        print(f"all remote nodes online and all Dummies in place: {took:.1f} s")
        for pid in netns_pids("pcmkr1"):
            subprocess.run(["kill", "-9", str(pid)], capture_output=True)
        killed = time.monotonic()
        moved = None
        mine = [r for r, n in wanted.items() if n == "rnode1"]
        while time.monotonic() - killed < args.move_timeout_s:
            calls += 1
            state = crm_mon(1)
            if state is None:
                failed += 1
            elif all(state.running.get(r) not in (None, "rnode1") for r in mine):
                moved = time.monotonic() - killed
                break
            time.sleep(0.2)
        print("rnode1 killed, its Dummies started elsewhere after "
              + (f"{moved:.2f} s" if moved is not None else f"(not within {args.move_timeout_s:.0f} s)"))
    print(f"crm_mon calls: {failed} failed of {calls}")
    for n in range(1, NODES + 1):
        cpu, rss = cpu_and_rss(n)
        print(f"pnode{n}: membership changes {memberships(n) - before[n][1]}, "
              f"cpu {cpu - before[n][0]:.1f} s (daemons and agents), rss {rss} MB")
    if not args.keep:
        rig("down")


if __name__ == "__main__":
    main()
