"""What the rig's benchmarks share: running rig.sh, a node's view of the
cluster (crm_mon), and reading a node's processes (CPU seconds, resident
size) and Corosync's membership changes."""
import os, re, subprocess, xml.etree.ElementTree as ET
from collections import namedtuple

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


# What one node's crm_mon shows: the DC's name (None without one), the
# names of the online nodes, and {resource: the node it is started on}.
ClusterView = namedtuple("ClusterView", "dc online running")


def crm_mon(node, timeout_s=60):
    """Cluster node NODE's view of the cluster, or None if crm_mon failed."""
    try:
        out = rig("exec", str(node), "crm_mon", "-1", "--output-as=xml", timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return None
    if out.returncode != 0:
        return None
    try:
        root = ET.fromstring(out.stdout)
    except ET.ParseError:
        return None
    dc = root.find("./summary/current_dc")
    dc_name = dc.get("name") if dc is not None and dc.get("present") == "true" else None
    online = {n.get("name") for n in root.iter("node") if n.get("online") == "true"}
    running = {}
    for r in root.iter("resource"):
        placed = r.find("node")
        if r.get("role") == "Started" and r.get("active") == "true" and placed is not None:
            running[r.get("id")] = placed.get("name")
    return ClusterView(dc_name, online, running)
