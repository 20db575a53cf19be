#!/usr/bin/env python3
"""bench_cluster's figures on the Pacemaker rig, for N voting nodes: the
time from `rig.sh up N` until a DC sees all N nodes online, then a
primitive's failover (kill -9 of every process of the node running it, a
node other than the DC, until the primitive is started elsewhere), then
DC re-election (kill -9 of the DC's node until another node reports a new
DC). Fencing is off (the rig has no fence device), so Pacemaker does not
wait for a fence; Corosync's timeouts are its defaults (token 3000 ms plus
650 ms per node beyond two), as a Pacemaker user gets them.

  bench_voters.py --nodes N [--timeout-s S]

Brings the rig up itself and takes it down at the end.
"""
import argparse, subprocess, time

from rig_common import crm_mon, netns_pids, rig


def wait(timeout_s, check):
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        result = check()
        if result:
            return time.monotonic() - start, result
        time.sleep(0.2)
    return None, None


def kill_node(k):
    subprocess.run(["kill", "-9", *map(str, netns_pids(f"pcmk{k}"))], capture_output=True)


def index(name):
    return int(name.removeprefix("pnode"))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, required=True)
    parser.add_argument("--timeout-s", type=float, default=600)
    args = parser.parse_args()
    n = args.nodes
    rig("down")
    start = time.monotonic()
    up = rig("up", str(n))
    assert up.returncode == 0, up.stderr

    def all_online():
        state = crm_mon(1, timeout_s=30)
        return state if state and state.dc and len(state.online) == n else None

    _, state = wait(args.timeout_s, all_online)
    if state is None:
        print(f"{n} nodes: not all online with a DC within {args.timeout_s:.0f} s")
        return
    print(f"{n} nodes: all online with a DC (pnode1's view) {time.monotonic() - start:.1f} s after rig up")
    dc = state.dc
    assert rig("exec", "1", "crm_attribute", "--type", "crm_config", "--name", "stonith-enabled",
               "--update", "false").returncode == 0
    # A primitive kept off the DC, so that killing its node is a failover only.
    dummy = ('<primitive id="d" class="ocf" provider="heartbeat" type="Dummy">'
             '<operations><op id="d-monitor" name="monitor" interval="10s"/></operations></primitive>')
    assert rig("exec", "1", "cibadmin", "--create", "-o", "resources", "--xml-text", dummy).returncode == 0
    avoid = f'<rsc_location id="d-not-dc" rsc="d" node="{dc}" score="-INFINITY"/>'
    assert rig("exec", "1", "cibadmin", "--create", "-o", "constraints", "--xml-text", avoid).returncode == 0
    dc_k = index(dc)
    _, state = wait(args.timeout_s, lambda: (s := crm_mon(dc_k, timeout_s=30)) and "d" in s.running and s)
    victim = state.running["d"]
    kill_node(index(victim))
    took, _ = wait(args.timeout_s,
                   lambda: (s := crm_mon(dc_k, timeout_s=30)) and s.running.get("d") not in (None, victim) and s)
    print(f"failover: d on {victim} killed, started elsewhere after "
          + (f"{took:.2f} s" if took else "(not within the timeout)"))
    witness = next(k for k in range(1, n + 1) if k not in (dc_k, index(victim)))
    kill_node(dc_k)
    took, state = wait(args.timeout_s,
                       lambda: (s := crm_mon(witness, timeout_s=30)) and s.dc not in (None, dc) and s)
    print(f"re-election: DC {dc} killed, {state.dc if state else '-'} is DC after "
          + (f"{took:.2f} s" if took else "(not within the timeout)"))
    rss = 0
    for k in range(1, n + 1):
        for pid in netns_pids(f"pcmk{k}"):
            try:
                for line in open(f"/proc/{pid}/status"):
                    if line.startswith("VmRSS:"):
                        rss += int(line.split()[1])
            except OSError:
                pass
    print(f"resident size of the {n - 2} remaining nodes: {rss // 1024} MB "
          f"({rss // 1024 // max(1, n - 2)} MB per node)")
    rig("down")


if __name__ == "__main__":
    main()
