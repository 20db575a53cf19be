"""What the rig's benchmarks share: running rig.sh, and reading a node's
processes (CPU seconds, resident size) and Corosync's membership changes."""
import os, re, subprocess

RIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "rig.sh")


def rig(*args, **kw):
    """Runs `rig.sh ARGS...` and returns the completed process."""
    return subprocess.run(["bash", RIG, *args], capture_output=True, text=True, **kw)


def netns_pids(ns):
    out = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def cpu_and_rss(node):
    """CPU seconds (own and waited-for children) and RSS (MB) of cluster node
    NODE's processes."""
    tick = os.sysconf("SC_CLK_TCK")
    cpu, rss = 0.0, 0
    for pid in netns_pids(f"pcmk{node}"):
        try:
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
            cpu += sum(int(x) for x in fields[11:15]) / tick
            for line in open(f"/proc/{pid}/status"):
                if line.startswith("VmRSS:"):
                    rss += int(line.split()[1])
        except OSError:
            pass
    return cpu, rss // 1024


def memberships(node):
    """How many membership changes Corosync has logged on cluster node NODE."""
    try:
        log = open(f"/tmp/pcmk-rig/node{node}/log/corosync/corosync.log").read()
    except OSError:
        return 0
    return len(re.findall(r"\[QUORUM\] Members\[", log))
