#!/usr/bin/env python3
"""Differential testing of `systole simulate` against Pacemaker's crm_simulate.

  difftest.py gen SEED [-o FILE]
      print (or write) the random CIB of SEED (see randcib.py)
  difftest.py run --seeds A-B [--jobs N] [--work DIR] [--show N] [--json FILE]
      generate the CIBs of seeds A..B (inclusive), have the reference and
      systole schedule each, compare their "Transition Summary" sections
      (lines as sets, white space folded; exact = reasons included, core =
      reasons dropped) and print the figures and the differing seeds.
      The reference's answers are cached under WORK (keyed by the
      generator's source, so a changed generator starts afresh).
  difftest.py compare FILE
      one CIB: both summaries and their difference
  difftest.py shrink FILE [-o OUT] [--crash] [--keep TEXT]
      remove elements from a differing CIB while it still differs (or, with
      --crash, while the reference still crashes on it) and write the
      smallest CIB found. --keep TEXT: a differing line must still contain
      TEXT (stays on the same difference).
  difftest.py testcase FILE NAME [--comment TEXT]
      print FILE as a data-driven scenario (tests/scheduler_data format)
      with the reference's summary as the expectation

Options common to all: --bin PATH (systole, default target/release/systole),
--ref PATH (default ../shared/pacemaker-ref/crm_simulate.sh beside the
checkout). The reference needs its runtime libraries (see its README).
Python 3 standard library only.
"""

import argparse
import atexit
import concurrent.futures as cf
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
import randcib  # noqa: E402

DEFAULT_REF = os.path.abspath(os.path.join(ROOT, "..", "shared", "pacemaker-ref", "crm_simulate.sh"))
DEFAULT_BIN = os.path.join(ROOT, "target", "release", "systole")
# Every scratch directory lives under one per-run directory removed at exit.
_SCRATCH = tempfile.TemporaryDirectory(prefix="difftest-")
atexit.register(_SCRATCH.cleanup)


def scratch(prefix):
    """A fresh scratch directory, removed when the run ends."""
    return tempfile.mkdtemp(prefix=prefix, dir=_SCRATCH.name)


REASON = re.compile(r"\s+(due to .*|blocked|'[^']*')$")


def summary_lines(text):
    """The folded bullet lines of the "Transition Summary:" section, or None."""
    lines, inside = [], False
    for line in text.splitlines():
        if line.strip() == "Transition Summary:":
            inside = True
            continue
        if inside:
            if not line.strip():
                continue
            if not line[:1].isspace():
                break
            s = " ".join(line.split())
            if s.startswith("* "):
                lines.append(s)
    return lines if inside else None


def core(line):
    return REASON.sub("", line)


def run_reference(ref, path, shadow_dir, timeout=120):
    """(summary lines or None, status): status 'ok', 'crash' or 'error'."""
    env = dict(os.environ, CIB_shadow_dir=shadow_dir)
    try:
        p = subprocess.run([ref, "-S", "-x", path], capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return None, "timeout"
    out = p.stdout + p.stderr
    lines = summary_lines(p.stdout)
    if "fatal assertion" in out or p.returncode < 0:
        return lines, "crash"
    if lines is None:
        return None, "error"
    return lines, "ok"


def run_systole(binary, path, timeout=60):
    try:
        p = subprocess.run([binary, "simulate", "--cib", path], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, "timeout"
    lines = summary_lines(p.stdout)
    if lines is None:
        return None, f"error: {p.stderr.strip()[:300]}"
    return lines, "ok"


def compare(want, got):
    exact = sorted(want) == sorted(got)
    loose = sorted(map(core, want)) == sorted(map(core, got))
    return exact, loose


def generator_hash():
    with open(os.path.join(HERE, "randcib.py"), "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:12]


def parse_seeds(text):
    out = []
    for part in text.split(","):
        if "-" in part:
            a, b = part.split("-", 1)
            out.extend(range(int(a), int(b) + 1))
        else:
            out.append(int(part))
    return out


def cmd_gen(a):
    text = randcib.generate(a.seed)
    if a.output:
        with open(a.output, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)


def judge_seed(seed, a, xml_dir, ref_dir, shadow):
    path = os.path.join(xml_dir, f"seed-{seed}.xml")
    if not os.path.exists(path):
        with open(path, "w") as f:
            f.write(randcib.generate(seed))
    cache = os.path.join(ref_dir, f"seed-{seed}.json")
    if os.path.exists(cache):
        with open(cache) as f:
            want, status = json.load(f)
    else:
        want, status = run_reference(a.ref, path, shadow)
        with open(cache, "w") as f:
            json.dump([want, status], f)
    if status != "ok":
        return {"seed": seed, "status": status, "exact": False, "core": False, "want": want, "got": None}
    got, gstatus = run_systole(a.bin, path)
    if gstatus != "ok":
        return {"seed": seed, "status": "systole " + gstatus, "exact": False, "core": False, "want": want, "got": None}
    exact, loose = compare(want, got)
    return {"seed": seed, "status": "ok", "exact": exact, "core": loose, "want": want, "got": got}


def cmd_run(a):
    seeds = parse_seeds(a.seeds)
    work = os.path.abspath(a.work)
    xml_dir = os.path.join(work, f"gen-{generator_hash()}", "xml")
    ref_dir = os.path.join(work, f"gen-{generator_hash()}", "ref")
    os.makedirs(xml_dir, exist_ok=True)
    os.makedirs(ref_dir, exist_ok=True)
    shadow = scratch("shadow-")
    with cf.ThreadPoolExecutor(a.jobs) as ex:
        results = list(ex.map(lambda s: judge_seed(s, a, xml_dir, ref_dir, shadow), seeds))
    judged = [r for r in results if r["status"] == "ok" or r["status"].startswith("systole")]
    unjudged = [r for r in results if r not in judged]
    exact = sum(r["exact"] for r in judged)
    loose = sum(r["core"] for r in judged)
    failing = [r for r in judged if not r["exact"]]
    for r in failing[: a.show]:
        print(f"DIFF seed {r['seed']}: {'reasons differ' if r['core'] else r['status'] if r['status'] != 'ok' else 'actions differ'}")
        if a.verbose and r["got"] is not None:
            want, got = set(r["want"]), set(r["got"])
            for line in sorted(want - got):
                print("   - " + line)
            for line in sorted(got - want):
                print("   + " + line)
    kinds = {}
    for r in unjudged:
        kinds[r["status"]] = kinds.get(r["status"], 0) + 1
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)
    print(f"CIBs in {xml_dir}")
    if unjudged:
        print("not judged (reference failed): " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))
              + " (seeds " + " ".join(str(r["seed"]) for r in unjudged[:20]) + (" ..." if len(unjudged) > 20 else "") + ")")
    n = len(judged)
    print(f"seeds {a.seeds}: {exact}/{n} exact ({100 * exact / max(n, 1):.1f}%), "
          f"{loose}/{n} core ({100 * loose / max(n, 1):.1f}%)")


def cmd_compare(a):
    shadow = scratch("shadow-")
    want, status = run_reference(a.ref, a.file, shadow)
    got, gstatus = run_systole(a.bin, a.file)
    print(f"reference ({status}):")
    for line in want or []:
        print("  " + line)
    print(f"systole ({gstatus}):")
    for line in got or []:
        print("  " + line)
    if want is not None and got is not None:
        w, g = set(want), set(got)
        print("difference:")
        for line in sorted(w - g):
            print("  - " + line)
        for line in sorted(g - w):
            print("  + " + line)
        exact, loose = compare(want, got)
        print("exact" if exact else ("core (reasons differ)" if loose else "DIFFERENT"))


# ------------------------------------------------------------------ shrinking
KEEP_TAGS = {"cib", "configuration", "status", "crm_config", "nodes", "resources", "constraints"}


def removable(root):
    """(parent, child) pairs, biggest first: whole resources and node states
    before their insides."""
    out = []

    def walk(parent, depth):
        for child in list(parent):
            if child.tag not in KEEP_TAGS:
                out.append((depth, parent, child))
            walk(child, depth + 1)

    walk(root, 0)
    out.sort(key=lambda t: t[0])
    return [(p, c) for _, p, c in out]


def shrink(text, predicate, log=print):
    root = ET.fromstring(text)
    changed = True
    rounds = 0
    while changed:
        changed = False
        rounds += 1
        for parent, child in removable(root):
            if child not in list(parent):
                continue
            idx = list(parent).index(child)
            parent.remove(child)
            if predicate(ET.tostring(root, encoding="unicode")):
                changed = True
            else:
                parent.insert(idx, child)
        # Attributes that are optional: try dropping them one by one.
        for el in root.iter():
            if el.tag in ("cib", "nvpair", "resource_ref", "node", "expression"):
                continue
            for key in list(el.attrib):
                if key in ("id", "class", "type", "provider", "operation", "operation_key", "rc-code",
                           "op-status", "call-id", "interval", "uname", "rsc", "with-rsc", "first", "then",
                           "name", "value", "ticket", "on_node", "transition-key", "transition-magic"):
                    continue
                value = el.attrib.pop(key)
                if predicate(ET.tostring(root, encoding="unicode")):
                    changed = True
                else:
                    el.attrib[key] = value
        log(f"round {rounds}: {len(list(root.iter()))} elements")
    ET.indent(root, space="  ")
    return ET.tostring(root, encoding="unicode") + "\n"


def make_predicate(a):
    shadow = scratch("shadow-")
    tmp = scratch("shrink-")
    path = os.path.join(tmp, "cib.xml")

    def predicate(text):
        with open(path, "w") as f:
            f.write(text)
        want, status = run_reference(a.ref, path, shadow)
        if a.crash:
            return status == "crash"
        if status != "ok":
            return False
        got, gstatus = run_systole(a.bin, path)
        if gstatus != "ok":
            return True
        if sorted(want) == sorted(got):
            return False
        if a.keep:
            diff = set(want) ^ set(got)
            return any(a.keep in line for line in diff)
        return True

    return predicate


def cmd_shrink(a):
    with open(a.file) as f:
        text = f.read()
    predicate = make_predicate(a)
    if not predicate(text):
        sys.exit("shrink: the CIB does not show the difference to begin with")
    small = shrink(text, predicate, log=lambda m: print(m, file=sys.stderr))
    if a.output:
        with open(a.output, "w") as f:
            f.write(small)
    else:
        sys.stdout.write(small)


def cmd_testcase(a):
    with open(a.file) as f:
        text = f.read()
    shadow = scratch("shadow-")
    want, status = run_reference(a.ref, a.file, shadow)
    if status != "ok":
        sys.exit(f"testcase: the reference did not judge {a.file} ({status})")
    root = ET.fromstring(text)
    now = root.get("execution-date")
    for c in (a.comment or "").splitlines():
        print(f"# {c}")
    args = f"simulate name={a.name}" + (f" now={now}" if now else "")
    print(args)
    for line in text.rstrip("\n").splitlines():
        if line.strip():
            print(line)
    print("----")
    for line in want:
        print(line)
    print()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=DEFAULT_BIN)
    ap.add_argument("--ref", default=DEFAULT_REF)
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("gen")
    g.add_argument("seed", type=int)
    g.add_argument("-o", "--output")
    r = sub.add_parser("run")
    r.add_argument("--seeds", required=True)
    r.add_argument("--jobs", type=int, default=2)
    r.add_argument("--work", default="/tmp/difftest")
    r.add_argument("--show", type=int, default=30)
    r.add_argument("-v", "--verbose", action="store_true")
    r.add_argument("--json")
    c = sub.add_parser("compare")
    c.add_argument("file")
    s = sub.add_parser("shrink")
    s.add_argument("file")
    s.add_argument("-o", "--output")
    s.add_argument("--crash", action="store_true")
    s.add_argument("--keep")
    t = sub.add_parser("testcase")
    t.add_argument("file")
    t.add_argument("name")
    t.add_argument("--comment")
    a = ap.parse_args()
    {"gen": cmd_gen, "run": cmd_run, "compare": cmd_compare, "shrink": cmd_shrink, "testcase": cmd_testcase}[a.cmd](a)


if __name__ == "__main__":
    main()
