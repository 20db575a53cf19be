"""Random Pacemaker CIBs for differential testing of the scheduler.

`generate(seed)` returns the XML text of a whole CIB (configuration and
status) drawn from a seeded random generator: the same seed gives the same
CIB, byte for byte. The configurations cover what the scheduler reads:
primitives, groups, clones (anonymous, unique, promotable, cloned groups),
bundles, guest and remote nodes, fence devices, every constraint kind
(location with scores, rules, roles and resource-discovery; colocation and
order, with sets, roles and require-all; tickets), utilization and placement
strategies, stickiness, migration thresholds, failure timeouts, live
migration, standby, maintenance, quorum policies. The status section is a
plausible history: probes, starts, promotes, recurring monitors (with the
digests the executor would record), failures with every common rc and
op-status, pending operations, migrations, fail counts, promotion scores,
lost, offline and joining nodes.

Python 3 standard library only.
"""

import hashlib
import random
import xml.etree.ElementTree as ET

FEATURE_SET = "3.20.5"
# 2024-06-01T12:00:00Z; each CIB's "now" is shortly after.
BASE_EPOCH = 1717243200
INFINITY = 1000000
DEFAULT_TIMEOUT_MS = 20000


def weighted(rng, table):
    """A key of `table` (key -> weight) chosen by weight."""
    total = sum(table.values())
    x = rng.uniform(0, total)
    for key, weight in table.items():
        x -= weight
        if x <= 0:
            return key
    return list(table)[-1]


def score_text(v):
    if v >= INFINITY:
        return "INFINITY"
    if v <= -INFINITY:
        return "-INFINITY"
    return str(v)


def interval_ms(text):
    """'10s', '1min', '0' -> milliseconds."""
    text = text.strip()
    for suffix, factor in (("ms", 1), ("min", 60000), ("s", 1000), ("m", 60000), ("h", 3600000)):
        if text.endswith(suffix):
            return int(text[: -len(suffix)]) * factor
    return int(text) * 1000


def params_digest(params):
    """Pacemaker's op-digest of a parameter set (sorted attributes)."""
    text = " <parameters"
    for k in sorted(params):
        v = params[k].replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
        text += f' {k}="{v}"'
    text += "/>\n"
    return hashlib.md5(text.encode()).hexdigest()


class Ids:
    def __init__(self):
        self.used = set()

    def make(self, base):
        base = base.replace(":", "-").replace("#", "-")
        cand, n = base, 1
        while cand in self.used:
            n += 1
            cand = f"{base}-{n}"
        self.used.add(cand)
        return cand


def nvset(parent, tag, ids, owner, pairs, rule=None):
    """<tag id=...><nvpair .../>...</tag> under parent."""
    if not pairs:
        return None
    s = ET.SubElement(parent, tag, id=ids.make(f"{owner}-{tag}"))
    if rule is not None:
        s.append(rule)
    for k, v in pairs:
        ET.SubElement(s, "nvpair", id=ids.make(f"{owner}-{tag}-{k}"), name=k, value=str(v))
    return s


class Prim:
    """A configured primitive (possibly inside a group, clone or bundle)."""

    def __init__(self, rid, cls, provider, kind):
        self.id = rid
        self.cls, self.provider, self.kind = cls, provider, kind
        self.params = {}
        self.meta = {}
        self.ops = []  # dicts: name, interval, timeout?, role?, on_fail?
        self.utilization = {}
        self.promotable = False
        self.unique = False
        self.remote_node = None  # guest node name hosted by this primitive
        self.is_remote_conn = False

    def agent_attrs(self):
        a = {"class": self.cls, "type": self.kind}
        if self.provider:
            a["provider"] = self.provider
        return a

    def op_timeout_ms(self, name, interval, op_defaults_timeout):
        for o in self.ops:
            if o["name"] == name and interval_ms(o["interval"]) == interval:
                if "timeout" in o:
                    return interval_ms(o["timeout"])
        if op_defaults_timeout:
            return interval_ms(op_defaults_timeout)
        return DEFAULT_TIMEOUT_MS

    def digest(self, name, interval, op_defaults_timeout):
        p = dict(self.params)
        if interval > 0:
            p["CRM_meta_timeout"] = str(self.op_timeout_ms(name, interval, op_defaults_timeout))
        return params_digest(p)

    def monitors(self):
        return [o for o in self.ops if o["name"] == "monitor" and interval_ms(o["interval"]) > 0]


class Top:
    """A top-level resource: kind in primitive, group, clone, bundle."""

    def __init__(self, kind, rid):
        self.kind = kind
        self.id = rid
        self.meta = {}
        self.members = []  # primitives (group members, or the one cloned)
        self.group_id = None  # for cloned groups and groups
        self.clone_max = None
        self.node_max = 1
        self.promotable = False
        self.unique = False
        self.bundle = None  # dict for bundles


class Generator:
    def __init__(self, seed):
        self.seed = seed
        self.r = random.Random(seed)
        self.ids = Ids()
        self.now = BASE_EPOCH + self.r.randrange(0, 86400)
        self.call_id = 10
        self.transition = 1
        self.last_call = None
        self.last_when = None
        self.last_fail_when = {}

    # ---------------------------------------------------------------- config
    def chance(self, p):
        return self.r.random() < p

    def build(self):
        r = self.r
        self.n_nodes = weighted(r, {2: 3, 3: 4, 4: 2, 5: 1})
        self.nodes = [f"node{i + 1}" for i in range(self.n_nodes)]
        self.node_ids = {n: str(i + 1) for i, n in enumerate(self.nodes)}
        self.fencing = self.chance(0.6)
        self.have_quorum = self.chance(0.9)
        self.props = {}
        if self.fencing:
            self.props["stonith-enabled"] = "true"
        else:
            self.props["stonith-enabled"] = "false"
        if self.chance(0.25):
            self.props["no-quorum-policy"] = r.choice(["stop", "freeze", "ignore", "demote"])
        self.symmetric = not self.chance(0.1)
        if not self.symmetric:
            self.props["symmetric-cluster"] = "false"
        if self.chance(0.03):
            self.props["maintenance-mode"] = "true"
        self.utilization = self.chance(0.15)
        if self.utilization:
            self.props["placement-strategy"] = r.choice(["utilization", "balanced", "minimal"])
        if self.chance(0.03):
            self.props["stop-orphan-resources"] = "false"
        if self.chance(0.1):
            self.props["start-failure-is-fatal"] = "false"
        if self.fencing and self.chance(0.05):
            self.props["startup-fencing"] = "false"
        if self.fencing and self.chance(0.05):
            self.props["stonith-action"] = "off"
        if self.chance(0.05):
            self.props["shutdown-lock"] = "true"
        self.rsc_defaults = {}
        if self.chance(0.3):
            self.rsc_defaults["resource-stickiness"] = r.choice(["1", "100", "INFINITY", "0"])
        if self.chance(0.1):
            self.rsc_defaults["migration-threshold"] = r.choice(["1", "3"])
        self.op_defaults_timeout = r.choice(["30s", "60s"]) if self.chance(0.1) else None

        self.tops = []
        self.extra_nodes = []  # (name, kind: remote|guest, connection id)
        if self.fencing and self.chance(0.85):
            p = Prim(self.ids.make("fencing"), "stonith", None, "fence_xvm")
            p.params["pcmk_host_list"] = " ".join(self.nodes)
            p.ops.append({"name": "monitor", "interval": "60s"})
            if self.chance(0.05):
                p.params["provides"] = "unfencing"
            t = Top("primitive", p.id)
            t.members = [p]
            self.tops.append(t)
        count = weighted(r, {1: 1, 2: 2, 3: 3, 4: 3, 5: 2, 6: 1, 7: 1})
        for _ in range(count):
            kind = weighted(r, {
                "primitive": 35, "group": 15, "clone": 12, "unique": 4,
                "promotable": 10, "cloned-group": 4, "bundle": 5, "guest": 4, "remote": 5,
            })
            getattr(self, "make_" + kind.replace("-", "_"))()
        # Bundle guest nodes are the bundle's own: constraints never name them.
        self.all_nodes = self.nodes + [n for n, kind, _ in self.extra_nodes if kind != "bundle"]
        self.make_node_config()
        self.make_constraints()

    def new_prim(self, base, agent=("ocf", "heartbeat", "Dummy")):
        r = self.r
        p = Prim(self.ids.make(base), *agent)
        if agent[2] == "IPaddr2":
            p.params["ip"] = f"192.168.{r.randrange(1, 250)}.{r.randrange(1, 250)}"
            if self.chance(0.5):
                p.params["cidr_netmask"] = "24"
        elif self.chance(0.3):
            p.params["state"] = f"/run/{p.id}.state"
        if agent[2] == "Stateful":
            p.ops.append({"name": "monitor", "interval": "10s", "role": "Promoted"})
            p.ops.append({"name": "monitor", "interval": "11s", "role": "Unpromoted"})
        elif self.chance(0.8):
            op = {"name": "monitor", "interval": r.choice(["10s", "10s", "30s", "60s"])}
            if self.chance(0.3):
                op["timeout"] = r.choice(["20s", "30s"])
            p.ops.append(op)
        if self.chance(0.12) and p.ops:
            choices = ["ignore", "block", "stop", "restart", "standby"]
            if self.fencing:
                choices.append("fence")
            if agent[2] == "Stateful":
                choices.append("demote")
            p.ops[0]["on_fail"] = r.choice(choices)
        if self.chance(0.05):
            p.ops.append({"name": "stop", "interval": "0", "timeout": "60s",
                          "on_fail": r.choice(["block", "fence" if self.fencing else "block", "ignore"])})
        if self.chance(0.05):
            p.ops.append({"name": "start", "interval": "0", "timeout": "60s",
                          "on_fail": r.choice(["restart", "block", "stop"])})
        m = p.meta
        if self.chance(0.12):
            m["resource-stickiness"] = r.choice(["0", "50", "100", "INFINITY"])
        if self.chance(0.1):
            m["migration-threshold"] = r.choice(["1", "2", "3"])
        if self.chance(0.07):
            m["failure-timeout"] = r.choice(["60s", "10min", "1h"])
        if self.chance(0.1) and agent[2] == "Dummy":
            m["allow-migrate"] = "true"
        if self.chance(0.05):
            m["priority"] = str(r.randrange(1, 10))
        if self.chance(0.03):
            m["multiple-active"] = r.choice(["block", "stop_only", "stop_unexpected", "stop_start"])
        if self.chance(0.03):
            m["requires"] = r.choice(["nothing", "quorum", "fencing"])
        if self.utilization and self.chance(0.8):
            p.utilization["cpu"] = str(r.randrange(1, 4))
            if self.chance(0.5):
                p.utilization["mem"] = str(r.choice([512, 1024, 2048]))
        return p

    def prim_meta_flags(self, m, promotable=False):
        r = self.r
        if self.chance(0.06):
            if promotable:
                m["target-role"] = r.choice(["Stopped", "Unpromoted", "Promoted", "Started"])
            else:
                m["target-role"] = r.choice(["Stopped", "Stopped", "Started"])
        if self.chance(0.03):
            m["is-managed"] = "false"
        if self.chance(0.015):
            m["maintenance"] = "true"

    def make_primitive(self):
        agent = ("ocf", "heartbeat", self.r.choice(["Dummy", "Dummy", "IPaddr2"]))
        p = self.new_prim(self.r.choice(["web", "db", "app", "ip", "fs", "svc"]), agent)
        self.prim_meta_flags(p.meta)
        t = Top("primitive", p.id)
        t.members = [p]
        self.tops.append(t)

    def new_group(self, cloned=False):
        r = self.r
        gid = self.ids.make("grp")
        t = Top("group", gid)
        t.group_id = gid
        for _ in range(weighted(r, {2: 3, 3: 2, 4: 1})):
            agent = ("ocf", "heartbeat", r.choice(["Dummy", "Dummy", "IPaddr2"]))
            p = self.new_prim(f"{gid}-m", agent)
            if self.chance(0.05):
                self.prim_meta_flags(p.meta)
            t.members.append(p)
        if not cloned:
            self.prim_meta_flags(t.meta)
            if self.chance(0.1):
                t.meta["resource-stickiness"] = r.choice(["0", "100", "INFINITY"])
        return t

    def make_group(self):
        self.tops.append(self.new_group())

    def make_clone_common(self, t, promotable=False):
        r = self.r
        m = t.meta
        if self.chance(0.2):
            m["interleave"] = "true"
        if self.chance(0.1):
            m["ordered"] = "true"
        if self.chance(0.12):
            m["notify"] = "true"
        if self.chance(0.15):
            t.clone_max = r.randrange(1, self.n_nodes + 2)
            m["clone-max"] = str(t.clone_max)
        if self.chance(0.05):
            m["clone-min"] = str(r.randrange(1, 3))
        if promotable:
            t.promotable = True
            m["promotable"] = "true"
            if self.chance(0.2):
                m["promoted-max"] = str(r.randrange(1, 3))
            if self.chance(0.05):
                m["promoted-node-max"] = "2"
        self.prim_meta_flags(m, promotable)

    def make_clone(self):
        p = self.new_prim(self.r.choice(["ping", "dlm", "lvm", "fsd"]))
        t = Top("clone", self.ids.make(f"{p.id}-clone"))
        t.members = [p]
        self.make_clone_common(t)
        self.tops.append(t)

    def make_unique(self):
        r = self.r
        p = self.new_prim(r.choice(["ipu", "cip"]))
        t = Top("clone", self.ids.make(f"{p.id}-clone"))
        t.members = [p]
        t.unique = True
        t.meta["globally-unique"] = "true"
        t.clone_max = r.randrange(2, 5)
        t.meta["clone-max"] = str(t.clone_max)
        t.node_max = r.choice([1, 2, 2, 3])
        t.meta["clone-node-max"] = str(t.node_max)
        self.make_clone_common(t)
        t.clone_max = int(t.meta["clone-max"])
        self.tops.append(t)

    def make_promotable(self):
        p = self.new_prim(self.r.choice(["stateful", "drbd", "pgsql"]),
                          ("ocf", "pacemaker", "Stateful"))
        t = Top("clone", self.ids.make(f"{p.id}-clone"))
        t.members = [p]
        p.promotable = True
        self.make_clone_common(t, promotable=True)
        self.tops.append(t)

    def make_cloned_group(self):
        g = self.new_group(cloned=True)
        t = Top("clone", self.ids.make(f"{g.id}-clone"))
        t.group_id = g.id
        t.members = g.members
        self.make_clone_common(t)
        self.tops.append(t)

    def make_bundle(self):
        r = self.r
        name = r.choice(["httpd", "redis", "base"])
        k = 1
        while any(u.startswith(name) for u in self.ids.used):
            k += 1
            name = f"{name.rstrip('0123456789')}{k}"
        bid = self.ids.make(f"{name}-bundle")
        t = Top("bundle", bid)
        replicas = r.randrange(1, 4)
        inner = None
        b = {"replicas": replicas, "engine": r.choice(["docker", "podman"]),
             "per_host": 1, "ip": None, "promotable": False}
        if self.chance(0.2):
            b["per_host"] = 2
        if self.chance(0.8):
            promotable = self.chance(0.3)
            agent = ("ocf", "pacemaker", "Stateful") if promotable else ("ocf", "heartbeat", "Dummy")
            inner = self.new_prim(f"{bid}-rsc", agent)
            inner.meta = {}
            inner.utilization = {}
            inner.promotable = promotable
            b["promotable"] = promotable
            if promotable:
                t.meta["promotable"] = "true"
                t.promotable = True
        if self.chance(0.5) or inner is not None and self.chance(0.5):
            b["ip"] = f"192.168.{r.randrange(100, 120)}.{r.randrange(10, 100)}"
        b["inner"] = inner
        t.bundle = b
        t.members = [inner] if inner else []
        self.ids.used.add(bid)
        for i in range(replicas):
            self.ids.used.add(f"{bid}-{b['engine']}-{i}")
            if inner:
                self.ids.used.add(f"{bid}-{i}")
                self.extra_nodes.append((f"{bid}-{i}", "bundle", f"{bid}-{i}"))
        if self.chance(0.05):
            t.meta["target-role"] = "Stopped"
        self.tops.append(t)

    def make_guest(self):
        r = self.r
        vm = self.new_prim("vm", ("ocf", "heartbeat", "VirtualDomain"))
        vm.params = {"config": f"/etc/libvirt/{vm.id}.xml"}
        guest = self.ids.make("guest")
        vm.meta = {"remote-node": guest}
        vm.remote_node = guest
        if self.chance(0.1):
            vm.meta["allow-migrate"] = "true"
        if self.chance(0.05):
            vm.meta["target-role"] = "Stopped"
        t = Top("primitive", vm.id)
        t.members = [vm]
        self.tops.append(t)
        self.extra_nodes.append((guest, "guest", guest))
        # Something meant to run inside the guest.
        p = self.new_prim("inguest")
        t2 = Top("primitive", p.id)
        t2.members = [p]
        t2.prefers_guest = guest
        self.tops.append(t2)

    def make_remote(self):
        r = self.r
        rid = self.ids.make("remote")
        p = Prim(rid, "ocf", "pacemaker", "remote")
        p.params["server"] = f"10.0.{r.randrange(0, 9)}.{r.randrange(1, 250)}"
        if self.chance(0.1):
            p.params["reconnect_interval"] = "60s"
        p.ops.append({"name": "monitor", "interval": "30s"})
        p.is_remote_conn = True
        if self.chance(0.05):
            p.meta["target-role"] = "Stopped"
        t = Top("primitive", rid)
        t.members = [p]
        self.tops.append(t)
        self.extra_nodes.append((rid, "remote", rid))

    def make_node_config(self):
        r = self.r
        self.node_attrs = {}
        self.node_util = {}
        self.node_standby = {}
        self.node_maint = {}
        for n in self.nodes:
            attrs = {}
            if self.chance(0.5):
                attrs["site"] = r.choice(["a", "b"])
            if self.chance(0.3):
                attrs["rack"] = str(r.randrange(1, 3))
            self.node_attrs[n] = attrs
            if self.utilization:
                self.node_util[n] = {"cpu": str(r.randrange(2, 8)), "mem": str(r.choice([2048, 4096, 8192]))}
            self.node_standby[n] = self.chance(0.07)
            self.node_maint[n] = self.chance(0.03)
        for n, kind, _ in self.extra_nodes:
            self.node_standby[n] = self.chance(0.03)
            self.node_maint[n] = False

    # ----------------------------------------------------------- constraints
    def prim_tops(self):
        return [t for t in self.tops if not (t.members and t.members[0].cls == "stonith")]

    def make_constraints(self):
        r = self.r
        self.constraints = []
        self.tickets = {}
        cands = self.prim_tops()
        for t in cands:
            guest = getattr(t, "prefers_guest", None)
            if guest:
                self.constraints.append(("location", {"rsc": t.id, "node": guest, "score": r.choice(["100", "INFINITY", "50"])}))
        if not self.symmetric:
            # Opt-in: most resources are allowed somewhere.
            for t in cands:
                if self.chance(0.85):
                    for n in r.sample(self.all_nodes, r.randrange(1, len(self.all_nodes) + 1)):
                        self.constraints.append(("location", {"rsc": t.id, "node": n, "score": r.choice(["0", "10", "100", "INFINITY"])}))
        if not cands:
            return
        count = weighted(r, {0: 2, 1: 3, 2: 3, 3: 2, 4: 1, 5: 1, 6: 1})
        for _ in range(count):
            kind = weighted(r, {"loc": 30, "rule": 10, "coloc": 25, "order": 20,
                                "coloc-set": 5, "order-set": 5, "ticket": 4, "pattern": 1})
            getattr(self, "con_" + kind.replace("-", "_"))(cands)

    def random_score(self, mandatory_p=0.4, neg_p=0.25):
        r = self.r
        if self.chance(mandatory_p):
            return "-INFINITY" if self.chance(neg_p) else "INFINITY"
        v = r.choice([5, 10, 50, 100, 200, 1000])
        return str(-v if self.chance(neg_p) else v)

    def con_loc(self, cands):
        r = self.r
        t = r.choice(cands)
        a = {"rsc": t.id, "node": r.choice(self.all_nodes), "score": self.random_score()}
        if t.promotable and self.chance(0.5):
            a["role"] = r.choice(["Promoted", "Unpromoted"])
        if self.chance(0.08):
            a["resource-discovery"] = r.choice(["never", "exclusive", "always"])
        self.constraints.append(("location", a))

    def con_pattern(self, cands):
        t = self.r.choice(cands)
        self.constraints.append(("location", {"rsc-pattern": "^" + t.id[:3], "node": self.r.choice(self.nodes),
                                              "score": self.random_score()}))

    def con_rule(self, cands):
        r = self.r
        t = r.choice(cands)
        rule = {"score": self.random_score(0.3), "exprs": [], "op": r.choice(["and", "or"])}
        for _ in range(r.randrange(1, 3)):
            form = weighted(r, {"attr": 5, "uname": 2, "defined": 2, "date": 1, "kind": 1})
            if form == "attr":
                rule["exprs"].append(("expression", {"attribute": r.choice(["site", "rack"]),
                                                     "operation": r.choice(["eq", "ne"]),
                                                     "value": r.choice(["a", "b", "1", "2"])}))
            elif form == "uname":
                rule["exprs"].append(("expression", {"attribute": "#uname", "operation": r.choice(["eq", "ne"]),
                                                     "value": r.choice(self.all_nodes)}))
            elif form == "defined":
                rule["exprs"].append(("expression", {"attribute": r.choice(["site", "rack", "pingd"]),
                                                     "operation": r.choice(["defined", "not_defined"])}))
            elif form == "kind":
                rule["exprs"].append(("expression", {"attribute": "#kind", "operation": "eq",
                                                     "value": r.choice(["cluster", "remote", "container"])}))
            else:
                start = self.now + r.choice([-7200, 3600, -86400])
                rule["exprs"].append(("date_expression", {"operation": "in_range",
                                                          "start": iso(start), "end": iso(start + r.choice([3600, 86400 * 2]))}))
        a = {"rsc": t.id, "rule": rule}
        if t.promotable and self.chance(0.3):
            rule["role"] = "Promoted"
        self.constraints.append(("location", a))

    def pair(self, cands):
        r = self.r
        if len(cands) < 2:
            return None
        a, b = r.sample(cands, 2)
        return a, b

    def con_coloc(self, cands):
        r = self.r
        p = self.pair(cands)
        if not p:
            return
        a, b = p
        attrs = {"rsc": a.id, "with-rsc": b.id, "score": self.random_score(0.6, 0.25)}
        if a.promotable and self.chance(0.5):
            attrs["rsc-role"] = r.choice(["Promoted", "Unpromoted"])
        if b.promotable and self.chance(0.6):
            attrs["with-rsc-role"] = r.choice(["Promoted", "Promoted", "Unpromoted"])
        if self.chance(0.05):
            attrs["node-attribute"] = "site"
        if self.chance(0.05):
            attrs["influence"] = "false"
        self.constraints.append(("colocation", attrs))

    def con_order(self, cands):
        r = self.r
        p = self.pair(cands)
        if not p:
            return
        a, b = p
        attrs = {"first": a.id, "then": b.id}
        k = weighted(r, {None: 6, "Mandatory": 2, "Optional": 2, "Serialize": 1})
        if k:
            attrs["kind"] = k
        elif self.chance(0.2):
            attrs["score"] = r.choice(["0", "INFINITY"])
        if a.promotable and self.chance(0.5):
            attrs["first-action"] = r.choice(["promote", "demote", "start"])
        if b.promotable and self.chance(0.3):
            attrs["then-action"] = r.choice(["promote", "start"])
        if self.chance(0.05):
            attrs["first-action"] = "stop"
            attrs["then-action"] = "stop"
        if self.chance(0.15):
            attrs["symmetrical"] = "false"
        self.constraints.append(("order", attrs))

    def rsc_sets(self, cands, n_sets, role_ok=True):
        """Disjoint resource sets (a resource in two sets of one constraint
        is a configuration error)."""
        r = self.r
        sizes = [r.randrange(1, 4) for _ in range(n_sets)]
        pool = r.sample(cands, min(sum(sizes), len(cands)))
        sets = []
        for size in sizes:
            members, pool = pool[:size], pool[size:]
            if not members:
                break
            s = {"resources": [m.id for m in members]}
            if self.chance(0.3):
                s["sequential"] = r.choice(["true", "false"])
            if role_ok and all(m.promotable for m in members) and self.chance(0.5):
                s["role"] = r.choice(["Promoted", "Unpromoted"])
            sets.append(s)
        return sets

    def con_coloc_set(self, cands):
        r = self.r
        if len(cands) < 2:
            return
        sets = self.rsc_sets(cands, r.randrange(1, 3))
        self.constraints.append(("colocation-set", {"score": self.random_score(0.7, 0.1), "sets": sets}))

    def con_order_set(self, cands):
        r = self.r
        if len(cands) < 2:
            return
        sets = self.rsc_sets(cands, r.randrange(1, 3), role_ok=False)
        for s in sets:
            if self.chance(0.25):
                s["require-all"] = "false"
            if self.chance(0.15):
                s["action"] = r.choice(["start", "stop", "promote"])
        attrs = {"sets": sets}
        if self.chance(0.3):
            attrs["kind"] = r.choice(["Optional", "Mandatory", "Serialize"])
        if self.chance(0.1):
            attrs["symmetrical"] = "false"
        self.constraints.append(("order-set", attrs))

    def con_ticket(self, cands):
        r = self.r
        t = r.choice(cands)
        ticket = r.choice(["ticketA", "ticketB"])
        attrs = {"ticket": ticket, "rsc": t.id}
        if t.promotable and self.chance(0.5):
            attrs["rsc-role"] = "Promoted"
        if self.chance(0.6):
            choices = ["stop", "demote", "freeze"]
            if self.fencing:
                choices.append("fence")
            attrs["loss-policy"] = r.choice(choices)
        self.constraints.append(("ticket", attrs))
        if ticket not in self.tickets:
            self.tickets[ticket] = {"granted": r.choice(["true", "false"]),
                                    "standby": "true" if self.chance(0.15) else "false"}

    # ----------------------------------------------------------------- state
    def make_node_states(self):
        r = self.r
        self.state = {}
        for n in self.nodes:
            self.state[n] = weighted(r, {"online": 82, "offline": 6, "lost": 7, "unseen": 1.5,
                                         "pending": 1.5, "lost-crmd": 2})
        if not any(s == "online" for s in self.state.values()) and self.chance(0.9):
            self.state[r.choice(self.nodes)] = "online"
        self.shutdown = {n: self.state[n] == "online" and self.chance(0.03) for n in self.nodes}
        self.dc = next((self.node_ids[n] for n in self.nodes if self.state[n] == "online"), None)

    def hosts(self):
        """Cluster nodes whose lrm history is kept (up, or lost uncleanly)."""
        return [n for n in self.nodes if self.state[n] in ("online", "lost", "lost-crmd", "pending")
                or (self.state[n] == "offline" and self.chance(0.1))]

    def instances(self):
        """[(top, instance_no or None, [prims])] for placement."""
        out = []
        for t in self.tops:
            if t.kind == "bundle":
                continue
            if t.kind == "clone":
                n_all = len(self.all_nodes) if t.clone_max is None else t.clone_max
                for i in range(n_all):
                    out.append((t, i, t.members))
            elif t.kind == "group":
                out.append((t, None, t.members))
            else:
                out.append((t, None, t.members))
        return out

    def place_all(self):
        """Decide where each thing runs now (the 'before' picture)."""
        r = self.r
        up = [n for n in self.nodes if self.state[n] in ("online", "lost", "lost-crmd")]
        self.placement = {}  # (lrm_id, node) -> role ('Started', 'Promoted', 'Unpromoted')
        self.running = {}  # lrm_id -> list of nodes
        # Connections first (containers of guests, remote connections, bundles).
        self.extra_up = {}
        for t in self.tops:
            if t.kind == "bundle":
                self.place_bundle(t, up)
        bundle_nodes = set(self.extra_up)
        for t in self.tops:
            p = t.members[0] if t.members else None
            if p is not None and (p.is_remote_conn or p.remote_node):
                node = r.choice(up) if up and self.chance(0.85) else None
                if node:
                    self.put(p.id, node, "Started")
                    if p.remote_node:
                        self.put(p.remote_node, node, "Started", conn_only=True)
                    self.extra_up[p.remote_node or p.id] = node
        hostable = up + [n for n in self.extra_up if n not in bundle_nodes]
        for t, inst, prims in self.instances():
            p0 = prims[0]
            if p0.is_remote_conn or p0.remote_node:
                continue
            if not hostable or not self.chance(0.72):
                continue
            if t.kind == "clone" and not t.unique:
                taken = {n for pr in prims for n in self.running.get(pr.id, [])}
                free = [n for n in hostable if n not in taken]
                if not free:
                    continue
                node = r.choice(free)
            else:
                node = r.choice(up if p0.cls == "stonith" and up else hostable)
            role = "Started"
            if t.promotable:
                role = "Promoted" if self.chance(0.4) else "Unpromoted"
            partial = t.kind in ("group",) or t.group_id
            for k, pr in enumerate(prims):
                if partial and k > 0 and self.chance(0.06):
                    break
                self.put(self.lrm_id(t, inst, pr), node, role)
        # Rarely, a primitive is found active twice.
        if self.chance(0.03):
            singles = [t for t in self.tops if t.kind == "primitive" and t.members[0].cls != "stonith"
                       and not t.members[0].is_remote_conn and not t.members[0].remote_node]
            if singles and len(up) > 1:
                t = r.choice(singles)
                for n in r.sample(up, 2):
                    self.put(t.members[0].id, n, "Started")

    def put(self, lrm_id, node, role, conn_only=False):
        self.placement[(lrm_id, node)] = role
        self.running.setdefault(lrm_id, [])
        if node not in self.running[lrm_id]:
            self.running[lrm_id].append(node)

    def lrm_id(self, t, inst, p):
        if t.kind == "clone" and t.unique:
            return f"{p.id}:{inst}"
        return p.id

    def place_bundle(self, t, up):
        r = self.r
        b = t.bundle
        per = {}
        b["placed"] = {}
        for i in range(b["replicas"]):
            if not up or not self.chance(0.75):
                continue
            opts = [n for n in up if per.get(n, 0) < b["per_host"]]
            if not opts:
                continue
            node = r.choice(opts)
            per[node] = per.get(node, 0) + 1
            b["placed"][i] = node
            if b["inner"] is not None:
                self.extra_up[f"{t.id}-{i}"] = node

    # --------------------------------------------------------------- history
    def op(self, lrm, p, rid, node, task, interval, rc=0, status=0, expected=None, suffix=None,
           extra=None, digest=True, when=None):
        repeat = suffix == "last_failure_0" and self.last_call is not None
        if repeat:
            # The failure record repeats the failed operation.
            call, when = self.last_call, self.last_when
        else:
            self.call_id += 1
            call = self.call_id
            if when is None:
                # Operations happen in call-id order, over the last two hours.
                when = min(self.now - 7200 + call * 10, self.now - 1)
        self.last_call, self.last_when = call, when
        if status == -1:
            call = -1
        if expected is None:
            expected = 7 if (task == "monitor" and interval == 0) else 0
            if task == "monitor" and interval > 0 and rc == 8:
                expected = 8
        if repeat:
            key = self.last_key
        else:
            key = f"{self.r.randrange(1, 60)}:{self.transition}:{expected}:6f1c2e7a-{self.seed % 10000:04d}"
            self.transition += self.r.randrange(0, 2)
        self.last_key = key
        op_key = f"{rid}_{task}_{interval}"
        if suffix is None:
            suffix = "last_0" if interval == 0 else f"{task}_{interval}"
        a = {
            "id": f"{rid}_{suffix}",
            "operation_key": op_key,
            "operation": task,
            "crm-debug-origin": "controld_update_resource_history",
            "crm_feature_set": FEATURE_SET,
            "transition-key": key,
            "transition-magic": f"{status}:{rc};{key}",
            "exit-reason": "",
            "on_node": node,
            "call-id": str(call),
            "rc-code": str(rc),
            "op-status": str(status),
            "interval": str(interval),
            "last-rc-change": str(when),
            "exec-time": str(self.r.randrange(0, 200)),
            "queue-time": "0",
        }
        # One entry per id, as in a real history: a later last_0 (a promote
        # after the start) replaces the earlier one.
        for child in list(lrm):
            if child.get("id") == a["id"]:
                lrm.remove(child)
        if digest and p is not None:
            dtask = "start" if (task in ("monitor", "promote", "demote", "migrate_from", "migrate_to") and interval == 0) else task
            a["op-digest"] = p.digest(dtask, interval, self.op_defaults_timeout)
        if extra:
            a.update(extra)
        ET.SubElement(lrm, "lrm_rsc_op", a)
        return a

    def history(self, lrm_resources, p, rid, node, role, promo_monitors=True):
        """Ops for primitive `p` (lrm id `rid`) on `node`; role None = not running here."""
        fails = self.history_ops(lrm_resources, p, rid, node, role)
        for opname, _ in fails:
            self.last_fail_when[(rid, node, opname)] = self.last_when
        return fails

    def history_ops(self, lrm_resources, p, rid, node, role):
        r = self.r
        attrs = {"id": rid}
        attrs.update(p.agent_attrs())
        lrm = ET.SubElement(lrm_resources, "lrm_resource", attrs)
        fails = []
        mons = p.monitors()
        if role is None:
            story = weighted(r, {"probed": 80, "stopped": 9, "start-failed": 4, "none": 4,
                                 "not-installed": 1, "hard": 1, "stop-failed": 0.5})
            if story == "none":
                lrm_resources.remove(lrm)
                return fails
            if story == "probed":
                self.op(lrm, p, rid, node, "monitor", 0, rc=7)
            elif story == "stopped":
                self.op(lrm, p, rid, node, "stop", 0)
            elif story == "start-failed":
                rc, st = weighted(r, {(1, 0): 5, (1, 2): 2, (1, 4): 1, (7, 0): 1})
                a = self.op(lrm, p, rid, node, "start", 0, rc=rc, status=st)
                self.op(lrm, p, rid, node, "start", 0, rc=rc, status=st, suffix="last_failure_0")
                fails.append(("start_0", "INFINITY" if self.props.get("start-failure-is-fatal") != "false" else "1"))
            elif story == "not-installed":
                self.op(lrm, p, rid, node, "monitor", 0, rc=5, status=r.choice([0, 7]))
                self.op(lrm, p, rid, node, "monitor", 0, rc=5, status=0, suffix="last_failure_0")
            elif story == "hard":
                rc = r.choice([2, 5, 6])
                self.op(lrm, p, rid, node, "start", 0, rc=rc)
                self.op(lrm, p, rid, node, "start", 0, rc=rc, suffix="last_failure_0")
                fails.append(("start_0", "INFINITY"))
            elif story == "stop-failed":
                st = r.choice([0, 2])
                self.op(lrm, p, rid, node, "stop", 0, rc=1, status=st)
                self.op(lrm, p, rid, node, "stop", 0, rc=1, status=st, suffix="last_failure_0")
                fails.append(("stop_0", "INFINITY"))
            return fails
        # Running here.
        story = weighted(r, {"ok": 80, "monitor-failed": 6, "probe-found": 4, "pending-start": 1.5,
                             "pending-stop": 1, "stop-failed": 1.5, "promote-failed": 1 if p.promotable else 0,
                             "demote-failed": 0.5 if p.promotable else 0, "degraded": 1, "timeout": 1})
        if story == "probe-found":
            self.op(lrm, p, rid, node, "monitor", 0, rc=8 if role == "Promoted" else 0)
        elif story == "pending-start":
            self.op(lrm, p, rid, node, "start", 0, rc=193, status=-1)
            return fails
        else:
            self.op(lrm, p, rid, node, "start", 0)
        if role == "Promoted" and story != "probe-found":
            if story == "promote-failed":
                self.op(lrm, p, rid, node, "promote", 0, rc=1)
                self.op(lrm, p, rid, node, "promote", 0, rc=1, suffix="last_failure_0")
                fails.append(("promote_0", "1"))
                return fails
            self.op(lrm, p, rid, node, "promote", 0)
        if story == "demote-failed" and role == "Promoted":
            self.op(lrm, p, rid, node, "demote", 0, rc=1)
            self.op(lrm, p, rid, node, "demote", 0, rc=1, suffix="last_failure_0")
            fails.append(("demote_0", "1"))
            return fails
        for o in mons:
            orole = o.get("role")
            if orole and orole != role and not (orole == "Unpromoted" and role == "Started"):
                continue
            iv = interval_ms(o["interval"])
            rc = 8 if role == "Promoted" else 0
            if story == "degraded":
                rc = 191 if role == "Promoted" else 190
            self.op(lrm, p, rid, node, "monitor", iv, rc=rc)
            if story in ("monitor-failed", "timeout"):
                if story == "timeout":
                    frc, st = 1, 2
                else:
                    frc, st = weighted(r, {(7, 0): 5, (1, 0): 3, (7, 4): 1, (9, 0): 1 if role == "Promoted" else 0})
                # The recurring entry records the failure; so does last_failure.
                lrm.remove(lrm[-1])
                self.op(lrm, p, rid, node, "monitor", iv, rc=frc, status=st,
                        expected=8 if role == "Promoted" else 0)
                self.op(lrm, p, rid, node, "monitor", iv, rc=frc, status=st, suffix="last_failure_0",
                        expected=8 if role == "Promoted" else 0)
                fails.append((f"monitor_{iv}", "1"))
                story = "done"
        if story == "pending-stop":
            # The stop is in flight: last_0 is the pending stop.
            for child in list(lrm):
                if child.get("id") == f"{rid}_last_0":
                    lrm.remove(child)
            self.op(lrm, p, rid, node, "stop", 0, rc=193, status=-1)
        elif story == "stop-failed":
            for child in list(lrm):
                if child.get("id") == f"{rid}_last_0":
                    lrm.remove(child)
            st = r.choice([0, 2])
            self.op(lrm, p, rid, node, "stop", 0, rc=1, status=st)
            self.op(lrm, p, rid, node, "stop", 0, rc=1, status=st, suffix="last_failure_0")
            fails.append(("stop_0", "INFINITY"))
        return fails

    def migration_history(self, lrm_by_node, p):
        """A live migration of p: completed, partial or failed."""
        r = self.r
        nodes = [n for n in self.running.get(p.id, [])]
        ups = [n for n in lrm_by_node if self.state.get(n) == "online" or n in self.extra_up]
        if len(nodes) != 1 or len(ups) < 2:
            return False
        src = nodes[0]
        dst = r.choice([n for n in ups if n != src])
        form = weighted(r, {"complete": 3, "partial": 3, "to-failed": 2, "from-failed": 1})
        extra = {"migrate_source": src, "migrate_target": dst}
        for n in (src, dst):
            lrms = lrm_by_node[n]
            for old in list(lrms):
                if old.get("id") == p.id:
                    lrms.remove(old)
        a = {"id": p.id}
        a.update(p.agent_attrs())
        ls = ET.SubElement(lrm_by_node[src], "lrm_resource", a)
        ld = ET.SubElement(lrm_by_node[dst], "lrm_resource", dict(a))
        # Probed on the target long before it was asked to migrate there.
        self.op(ld, p, p.id, dst, "monitor", 0, rc=7)
        if form == "to-failed":
            self.op(ls, p, p.id, src, "migrate_to", 0, rc=1, extra=extra)
            self.op(ls, p, p.id, src, "migrate_to", 0, rc=1, extra=extra, suffix="last_failure_0")
            return True
        self.op(ls, p, p.id, src, "migrate_to", 0, extra=extra)
        if form == "complete":
            ld.remove(ld[-1])
            self.op(ld, p, p.id, dst, "migrate_from", 0, extra=extra)
            for o in p.monitors():
                self.op(ld, p, p.id, dst, "monitor", interval_ms(o["interval"]))
        elif form == "from-failed":
            ld.remove(ld[-1])
            self.op(ld, p, p.id, dst, "migrate_from", 0, rc=1, extra=extra)
            self.op(ld, p, p.id, dst, "migrate_from", 0, rc=1, extra=extra, suffix="last_failure_0")
        return True

    # ---------------------------------------------------------------- output
    def primitive_xml(self, parent, p, meta=None):
        e = ET.SubElement(parent, "primitive", {"id": p.id, **p.agent_attrs()})
        nvset(e, "instance_attributes", self.ids, p.id, list(p.params.items()))
        nvset(e, "meta_attributes", self.ids, p.id, list((meta if meta is not None else p.meta).items()))
        nvset(e, "utilization", self.ids, p.id, list(p.utilization.items()))
        if p.ops:
            ops = ET.SubElement(e, "operations")
            for o in p.ops:
                a = {"id": self.ids.make(f"{p.id}-{o['name']}-{o['interval']}"), "name": o["name"],
                     "interval": o["interval"]}
                for k in ("timeout", "role"):
                    if k in o:
                        a[k] = o[k]
                if "on_fail" in o:
                    a["on-fail"] = o["on_fail"]
                ET.SubElement(ops, "op", a)
        return e

    def resources_xml(self, parent):
        for t in self.tops:
            if t.kind == "primitive":
                self.primitive_xml(parent, t.members[0])
            elif t.kind == "group":
                g = ET.SubElement(parent, "group", id=t.id)
                nvset(g, "meta_attributes", self.ids, t.id, list(t.meta.items()))
                for p in t.members:
                    self.primitive_xml(g, p)
            elif t.kind == "clone":
                c = ET.SubElement(parent, "clone", id=t.id)
                nvset(c, "meta_attributes", self.ids, t.id, list(t.meta.items()))
                if t.group_id:
                    g = ET.SubElement(c, "group", id=t.group_id)
                    for p in t.members:
                        self.primitive_xml(g, p)
                else:
                    self.primitive_xml(c, t.members[0])
            elif t.kind == "bundle":
                b = t.bundle
                e = ET.SubElement(parent, "bundle", id=t.id)
                nvset(e, "meta_attributes", self.ids, t.id, list(t.meta.items()))
                ca = {"image": f"localhost/{t.id}", "replicas": str(b["replicas"])}
                if b["per_host"] > 1:
                    ca["replicas-per-host"] = str(b["per_host"])
                ET.SubElement(e, b["engine"], ca)
                na = {}
                if b["ip"]:
                    na["ip-range-start"] = b["ip"]
                if b["inner"] is not None:
                    na["control-port"] = "3121"
                if na:
                    ET.SubElement(e, "network", na)
                if b["inner"] is not None:
                    self.primitive_xml(e, b["inner"])

    def constraints_xml(self, parent):
        for kind, a in self.constraints:
            cid = self.ids.make(kind)
            if kind == "location":
                attrs = {"id": cid}
                for k in ("rsc", "rsc-pattern", "node", "score", "role", "resource-discovery"):
                    if k in a:
                        attrs[k] = a[k]
                e = ET.SubElement(parent, "rsc_location", attrs)
                if "rule" in a:
                    rl = a["rule"]
                    ra = {"id": self.ids.make(f"{cid}-rule"), "score": rl["score"]}
                    if len(rl["exprs"]) > 1:
                        ra["boolean-op"] = rl["op"]
                    if "role" in rl:
                        ra["role"] = rl["role"]
                    rule = ET.SubElement(e, "rule", ra)
                    for tag, ea in rl["exprs"]:
                        ET.SubElement(rule, tag, {"id": self.ids.make(f"{cid}-expr"), **ea})
            elif kind == "colocation":
                ET.SubElement(parent, "rsc_colocation", {"id": cid, **a})
            elif kind == "order":
                ET.SubElement(parent, "rsc_order", {"id": cid, **a})
            elif kind == "ticket":
                ET.SubElement(parent, "rsc_ticket", {"id": cid, **a})
            elif kind in ("colocation-set", "order-set"):
                tag = "rsc_colocation" if kind == "colocation-set" else "rsc_order"
                attrs = {"id": cid}
                for k in ("score", "kind", "symmetrical"):
                    if k in a:
                        attrs[k] = a[k]
                e = ET.SubElement(parent, tag, attrs)
                for s in a["sets"]:
                    sa = {"id": self.ids.make(f"{cid}-set")}
                    for k in ("sequential", "role", "require-all", "action"):
                        if k in s:
                            sa[k] = s[k]
                    se = ET.SubElement(e, "resource_set", sa)
                    for rid in s["resources"]:
                        ET.SubElement(se, "resource_ref", id=rid)

    def node_state_xml(self, status, n):
        st = self.state[n]
        if st == "unseen":
            return None
        nid = self.node_ids[n]
        a = {"id": nid, "uname": n}
        if st == "online":
            a.update({"in_ccm": "true", "crmd": "online", "join": "member", "expected": "member"})
        elif st == "offline":
            a.update({"in_ccm": "false", "crmd": "offline", "join": "down", "expected": "down"})
        elif st == "lost":
            a.update({"in_ccm": "false", "crmd": "offline", "join": "member", "expected": "member"})
        elif st == "lost-crmd":
            a.update({"in_ccm": "true", "crmd": "offline", "join": "member", "expected": "member"})
        elif st == "pending":
            a.update({"in_ccm": "true", "crmd": "online", "join": "pending", "expected": "member"})
        a["crm-debug-origin"] = "controld_update_resource_history"
        return ET.SubElement(status, "node_state", a)

    def transient(self, ns, owner, pairs):
        if not pairs:
            return
        ta = ET.SubElement(ns, "transient_attributes", id=owner)
        ia = ET.SubElement(ta, "instance_attributes", id=f"status-{owner}")
        for k, v in pairs:
            ET.SubElement(ia, "nvpair", id=self.ids.make(f"status-{owner}-{k}"), name=k, value=str(v))

    def status_xml(self, status):
        r = self.r
        lrm_by_node = {}
        state_el = {}
        hosts = self.hosts()
        for n in self.nodes:
            ns = self.node_state_xml(status, n)
            if ns is None:
                continue
            state_el[n] = ns
            if n in hosts:
                lrm = ET.SubElement(ns, "lrm", id=self.node_ids[n])
                lrm_by_node[n] = ET.SubElement(lrm, "lrm_resources")
        for name, kind, conn in self.extra_nodes:
            if kind == "bundle":
                up = conn in self.extra_up
            else:
                up = name in self.extra_up
            if not up and not self.chance(0.3):
                continue
            a = {"id": name, "uname": name, "remote_node": "true", "crm-debug-origin": "controld_update_resource_history"}
            if kind == "remote" and not up and self.chance(0.3):
                a["node_fenced"] = "1" if self.chance(0.3) else "0"
            ns = ET.SubElement(status, "node_state", a)
            state_el[name] = ns
            lrm = ET.SubElement(ns, "lrm", id=name)
            lrm_by_node[name] = ET.SubElement(lrm, "lrm_resources")
        transients = {n: [] for n in state_el}
        # Bundles: containers, connections (on hosts), inner resources (on guests).
        for t in self.tops:
            if t.kind == "bundle":
                self.bundle_status(t, lrm_by_node, transients)
        for t in self.tops:
            if t.kind == "bundle":
                continue
            pairs = []
            for p in t.members:
                if t.kind == "clone" and t.unique:
                    pairs += [(p, f"{p.id}:{i}") for i in range(t.clone_max)]
                else:
                    pairs.append((p, p.id))
            for p, rid in pairs:
                for n, lrms in lrm_by_node.items():
                    role = self.placement.get((rid, n))
                    if role is None and not self.may_run_on(p, n):
                        continue
                    fails = self.history(lrms, p, rid, n, role)
                    for opname, count in fails:
                        transients[n].append((f"fail-count-{rid}#{opname}", count))
                        transients[n].append((f"last-failure-{rid}#{opname}", str(self.last_fail_when.get((rid, n, opname), self.now - 600))))
                    if p.promotable and self.chance(0.75):
                        transients[n].append((f"master-{p.id}", r.choice(["5", "10", "100", "1", "INFINITY"])))
                    if p.remote_node and role is not None:
                        self.connection_history(lrms, p, n)
        # Live migrations of allow-migrate primitives.
        for t in self.tops:
            if t.kind == "primitive" and t.members[0].meta.get("allow-migrate") == "true" and self.chance(0.5):
                self.migration_history(lrm_by_node, t.members[0])
        # Remote connection histories of guests were written; remote node attrs:
        for n in self.nodes:
            if n not in state_el:
                continue
            pairs = list(transients.get(n, []))
            if self.shutdown.get(n):
                pairs.append(("shutdown", str(self.now - 60)))
            if self.node_standby.get(n) and self.chance(0.4):
                pairs.append(("standby", "on"))
            if self.chance(0.3):
                pairs.append(("pingd", r.choice(["0", "100", "200"])))
            dedup = {}
            for k, v in pairs:
                dedup[k] = v
            self.transient(state_el[n], self.node_ids[n], sorted(dedup.items()))
        for name, kind, conn in self.extra_nodes:
            if name in state_el:
                dedup = dict(transients.get(name, []))
                self.transient(state_el[name], name, sorted(dedup.items()))
        if self.tickets:
            te = ET.SubElement(status, "tickets")
            for tk, v in sorted(self.tickets.items()):
                a = {"id": tk, "granted": v["granted"], "last-granted": str(self.now - 3600)}
                if v["standby"] == "true":
                    a["standby"] = "true"
                ET.SubElement(te, "ticket_state", a)

    def may_run_on(self, p, n):
        """Whether a history of p on node n is plausible at all."""
        kinds = {name: kind for name, kind, _ in self.extra_nodes}
        if n in kinds and (p.cls == "stonith" or p.is_remote_conn or p.remote_node):
            return False
        if kinds.get(n) == "bundle":
            return False
        return True

    def connection_history(self, lrms, vm, n):
        """The implicit guest connection runs where its container does."""
        guest = vm.remote_node
        a = {"id": guest, "class": "ocf", "provider": "pacemaker", "type": "remote", "container": vm.id}
        lrm = ET.SubElement(lrms, "lrm_resource", a)
        conn = Prim(guest, "ocf", "pacemaker", "remote")
        self.op(lrm, conn, guest, n, "start", 0, digest=True)
        if self.chance(0.1):
            self.op(lrm, conn, guest, n, "monitor", 30000, rc=1)
            self.op(lrm, conn, guest, n, "monitor", 30000, rc=1, suffix="last_failure_0")

    def bundle_prims(self, t, i, host):
        """The container, IP and connection primitives Pacemaker generates for
        replica i of bundle t, with the parameters it gives them (so that
        their histories carry the digests it expects)."""
        b = t.bundle
        bid, eng = t.id, b["engine"]
        inner = b["inner"] is not None
        ips = [next_ip(b["ip"], k) for k in range(b["replicas"])] if b["ip"] else None
        opts = " --restart=no" if eng == "docker" else ""
        if ips:
            opts += f" -h {bid}-{i}"
        opts += " -e PCMK_stderr=1 -e PCMK_remote_port=3121"
        if inner:
            opts += (f" -v /etc/pacemaker/authkey:/etc/pacemaker/authkey"
                     f" -v /var/log/pacemaker/bundles/{bid}-{i}:/var/log -p "
                     + (f"{ips[i]}:" if ips else "") + "3121:3121")
        opts += " "
        if ips:
            opts += "".join(f" --add-host={bid}-{k}:{ip}" for k, ip in enumerate(ips))
        cont = Prim(f"{bid}-{eng}-{i}", "ocf", "heartbeat", eng)
        cont.params = {"allow_pull": "true", "force_kill": "false", "image": f"localhost/{bid}",
                       "monitor_cmd": "/bin/true", "reuse": "false", "run_opts": opts,
                       "mount_points": f"/var/log/pacemaker/bundles/{bid}-{i}" if inner else ""}
        if inner:
            cont.params["run_cmd"] = "/usr/sbin/pacemaker-remoted"
        cont.ops = [{"name": "monitor", "interval": "60s"}]
        ip = None
        if ips:
            ip = Prim(f"{bid}-ip-{ips[i]}", "ocf", "heartbeat", "IPaddr2")
            ip.params = {"cidr_netmask": "32", "ip": ips[i]}
            ip.ops = [{"name": "monitor", "interval": "60s"}]
        conn = None
        if inner:
            conn = Prim(f"{bid}-{i}", "ocf", "pacemaker", "remote")
            conn.params = {"addr": ips[i] if ips else (host or "node1"), "port": "3121"}
            conn.ops = [{"name": "monitor", "interval": "30s"}]
        return cont, ip, conn, (ips[i] if ips else None)

    def bundle_status(self, t, lrm_by_node, transients):
        r = self.r
        b = t.bundle
        for i in range(b["replicas"]):
            host = b["placed"].get(i)
            for n in self.nodes:
                if n not in lrm_by_node:
                    continue
                lrms = lrm_by_node[n]
                cont, ip, conn, _ = self.bundle_prims(t, i, n)
                if n == host:
                    lrm = ET.SubElement(lrms, "lrm_resource", {"id": cont.id, **cont.agent_attrs()})
                    self.op(lrm, cont, cont.id, n, "start", 0)
                    self.op(lrm, cont, cont.id, n, "monitor", 60000)
                    if self.chance(0.06):
                        lrm.remove(lrm[-1])
                        self.op(lrm, cont, cont.id, n, "monitor", 60000, rc=7)
                        self.op(lrm, cont, cont.id, n, "monitor", 60000, rc=7, suffix="last_failure_0")
                        transients[n].append((f"fail-count-{cont.id}#monitor_60000", "1"))
                    if ip is not None:
                        il = ET.SubElement(lrms, "lrm_resource", {"id": ip.id, **ip.agent_attrs()})
                        self.op(il, ip, ip.id, n, "start", 0)
                        self.op(il, ip, ip.id, n, "monitor", 60000)
                    if conn is not None:
                        cl = ET.SubElement(lrms, "lrm_resource", {"id": conn.id, **conn.agent_attrs(),
                                                                  "container": cont.id})
                        self.op(cl, conn, conn.id, n, "start", 0)
                        self.op(cl, conn, conn.id, n, "monitor", 30000)
                elif self.chance(0.9):
                    lrm = ET.SubElement(lrms, "lrm_resource", {"id": cont.id, **cont.agent_attrs()})
                    self.op(lrm, cont, cont.id, n, "monitor", 0, rc=7)
                    if ip is not None:
                        il = ET.SubElement(lrms, "lrm_resource", {"id": ip.id, **ip.agent_attrs()})
                        self.op(il, ip, ip.id, n, "monitor", 0, rc=7)
                    if conn is not None:
                        cl = ET.SubElement(lrms, "lrm_resource", {"id": conn.id, **conn.agent_attrs(),
                                                                  "container": cont.id})
                        self.op(cl, conn, conn.id, n, "monitor", 0, rc=7)
            if host and b["inner"] is not None:
                guest = f"{t.id}-{i}"
                _, _, _, ext_ip = self.bundle_prims(t, i, host)
                p = b["inner"]
                if guest in lrm_by_node:
                    saved = dict(p.params)
                    role = None
                    if self.chance(0.85):
                        role = "Started"
                        if p.promotable:
                            role = "Promoted" if i == 0 and self.chance(0.6) else "Unpromoted"
                    fails = self.history(lrm_by_node[guest], p, p.id, guest, role)
                    p.params = saved
                    for opname, count in fails:
                        transients[guest].append((f"fail-count-{p.id}#{opname}", count))
                    if p.promotable:
                        target = host if t.meta.get("container-attribute-target") == "host" else guest
                        transients.setdefault(target, []).append((f"master-{p.id}", r.choice(["5", "10", "100"])))

    def xml(self):
        self.build()
        self.make_node_states()
        self.place_all()
        cib_attrs = {
            "crm_feature_set": FEATURE_SET, "validate-with": "pacemaker-3.10", "epoch": str(self.r.randrange(1, 500)),
            "num_updates": "0", "admin_epoch": "0", "have-quorum": "1" if self.have_quorum else "0",
            "execution-date": str(self.now),
        }
        if self.dc:
            cib_attrs["dc-uuid"] = self.dc
        cib = ET.Element("cib", cib_attrs)
        conf = ET.SubElement(cib, "configuration")
        crm = ET.SubElement(conf, "crm_config")
        nvset(crm, "cluster_property_set", self.ids, "cib-bootstrap-options", list(self.props.items()))
        if not len(crm):
            ET.SubElement(crm, "cluster_property_set", id="cib-bootstrap-options")
        nodes = ET.SubElement(conf, "nodes")
        for n in self.nodes:
            ne = ET.SubElement(nodes, "node", id=self.node_ids[n], uname=n)
            attrs = list(self.node_attrs[n].items())
            if self.node_standby[n]:
                attrs.append(("standby", "on"))
            if self.node_maint[n]:
                attrs.append(("maintenance", "true"))
            nvset(ne, "instance_attributes", self.ids, f"nodes-{self.node_ids[n]}", attrs)
            if self.utilization:
                nvset(ne, "utilization", self.ids, f"nodes-{self.node_ids[n]}", list(self.node_util[n].items()))
        for name, kind, _ in self.extra_nodes:
            if kind == "remote" and self.chance(0.5):
                ne = ET.SubElement(nodes, "node", id=name, uname=name, type="remote")
                if self.node_standby.get(name):
                    nvset(ne, "instance_attributes", self.ids, f"nodes-{name}", [("standby", "on")])
        res = ET.SubElement(conf, "resources")
        self.resources_xml(res)
        cons = ET.SubElement(conf, "constraints")
        self.constraints_xml(cons)
        if self.rsc_defaults:
            rd = ET.SubElement(conf, "rsc_defaults")
            nvset(rd, "meta_attributes", self.ids, "rsc-options", list(self.rsc_defaults.items()))
        if self.op_defaults_timeout:
            od = ET.SubElement(conf, "op_defaults")
            nvset(od, "meta_attributes", self.ids, "op-options", [("timeout", self.op_defaults_timeout)])
        status = ET.SubElement(cib, "status")
        self.status_xml(status)
        ET.indent(cib, space="  ")
        return ET.tostring(cib, encoding="unicode") + "\n"


def next_ip(start, n):
    parts = [int(x) for x in start.split(".")]
    v = (parts[0] << 24 | parts[1] << 16 | parts[2] << 8 | parts[3]) + n
    return ".".join(str((v >> s) & 255) for s in (24, 16, 8, 0))


def iso(epoch):
    import time
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def generate(seed):
    """The CIB for `seed`, as XML text."""
    return Generator(seed).xml()


if __name__ == "__main__":
    import sys
    print(generate(int(sys.argv[1])), end="")
