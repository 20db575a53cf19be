#!/usr/bin/env bash
# A real Pacemaker 2.1 + Corosync 3 cluster of N nodes on one machine, for
# side-by-side figures (bench_scale's case run on Pacemaker). Each node is a
# network namespace (veth to a bridge, 10.99.0.K/24) and a mount namespace
# with its own /run, /dev/shm, /var/lib/pacemaker, /var/lib/corosync,
# /var/log and /etc/corosync, so the daemons of one node never meet
# another's files or IPC. Root only; cleans up with `down`.
#
#   rig.sh up N        start N nodes (installs pacemaker and corosync if missing)
#   rig.sh remotes M   start M pacemaker-remoted nodes (rnode1..M at
#                      10.99.1.K, port 3121) for the cluster to connect to
#   rig.sh exec K CMD  run CMD inside node K (e.g. crm_mon -1)
#   rig.sh down        stop every node, remove namespaces, bridge and state
set -euo pipefail
ROOT=/tmp/pcmk-rig
BRIDGE=br-pcmk

node_dir() { echo "$ROOT/node$1"; }

# The shell that runs inside node K's namespaces, with its private mounts.
enter() {
  local k=$1; shift
  local dir; dir=$(node_dir "$k")
  ip netns exec "pcmk$k" unshare --mount --propagation private bash -c '
    set -e
    d='"$dir"'
    mount -t tmpfs tmpfs /run
    mount -t tmpfs tmpfs /dev/shm
    mkdir -p /run/crm /run/pacemaker
    mount --bind "$d/lib-pacemaker" /var/lib/pacemaker
    mount --bind "$d/lib-corosync" /var/lib/corosync
    mount --bind "$d/log" /var/log
    mount --bind "$d/etc-corosync" /etc/corosync
    mount --bind "$d/etc-pacemaker" /etc/pacemaker
    exec "$@"' bash "$@"
}

remote_dir() { echo "$ROOT/rnode$1"; }

# Remote node K: pacemaker-remoted alone in its namespaces, with the rig's
# Pacemaker key.
remotes() {
  local m=$1
  if ! command -v pacemaker-remoted >/dev/null && [ ! -x /usr/sbin/pacemaker-remoted ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends pacemaker-remote >/dev/null
  fi
  for k in $(seq 1 "$m"); do
    local dir; dir=$(remote_dir "$k")
    mkdir -p "$dir"/{lib-pacemaker,log/pacemaker,etc-pacemaker}
    chown -R hacluster:haclient "$dir/lib-pacemaker" "$dir/log/pacemaker" 2>/dev/null || true
    cp "$ROOT/pcmk-authkey" "$dir/etc-pacemaker/authkey"
    chown hacluster:haclient "$dir/etc-pacemaker/authkey" 2>/dev/null || true
    chmod 440 "$dir/etc-pacemaker/authkey"
    ip netns add "pcmkr$k" 2>/dev/null || true
    ip link add "veth-r$k" type veth peer name eth0 netns "pcmkr$k" 2>/dev/null || true
    ip link set "veth-r$k" master "$BRIDGE" up
    ip -n "pcmkr$k" addr add "10.99.1.$k/16" dev eth0 2>/dev/null || true
    ip -n "pcmkr$k" link set eth0 up
    ip -n "pcmkr$k" link set lo up
    setsid nohup ip netns exec "pcmkr$k" unshare --mount --propagation private bash -c '
      set -e
      d='"$dir"'
      mount -t tmpfs tmpfs /run
      mount -t tmpfs tmpfs /dev/shm
      mkdir -p /run/pacemaker
      mount --bind "$d/lib-pacemaker" /var/lib/pacemaker
      mount --bind "$d/log" /var/log
      mount --bind "$d/etc-pacemaker" /etc/pacemaker
      PCMK_logfile=/var/log/pacemaker/pacemaker.log exec /usr/sbin/pacemaker-remoted' \
      > "$dir/daemons.out" 2>&1 < /dev/null &
    # ip, unshare and bash each exec the next: this is pacemaker-remoted.
    echo $! > "$dir/pid"
  done
  # The fence device's agent (fence_rig: kills a remote node's daemon).
  install -m 755 "$(dirname "$0")/fence_rig" /usr/sbin/fence_rig
}

up() {
  local n=$1
  if ! command -v pacemakerd >/dev/null || ! command -v corosync >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      pacemaker corosync pacemaker-cli-utils >/dev/null
  fi
  mkdir -p "$ROOT"
  ip link add "$BRIDGE" type bridge 2>/dev/null || true
  ip addr add 10.99.255.254/16 dev "$BRIDGE" 2>/dev/null || true
  ip link set "$BRIDGE" up
  [ -f "$ROOT/authkey" ] || corosync-keygen -l -k "$ROOT/authkey" >/dev/null 2>&1 \
    || head -c 256 /dev/urandom > "$ROOT/authkey"
  [ -f "$ROOT/pcmk-authkey" ] || head -c 4096 /dev/urandom > "$ROOT/pcmk-authkey"
  local nodelist=""
  for k in $(seq 1 "$n"); do
    nodelist+="  node {
    ring0_addr: 10.99.0.$k
    name: pnode$k
    nodeid: $k
  }
"
  done
  for k in $(seq 1 "$n"); do
    local dir; dir=$(node_dir "$k")
    mkdir -p "$dir"/{lib-pacemaker/cib,lib-pacemaker/pengine,lib-pacemaker/blackbox,lib-pacemaker/cores,lib-corosync,log/pacemaker,log/corosync,log/cluster,etc-corosync,etc-pacemaker}
    cp "$ROOT/pcmk-authkey" "$dir/etc-pacemaker/authkey"
    chown hacluster:haclient "$dir/etc-pacemaker/authkey" 2>/dev/null || true
    chmod 440 "$dir/etc-pacemaker/authkey"
    chown -R hacluster:haclient "$dir/lib-pacemaker" "$dir/log/pacemaker" 2>/dev/null || true
    cp "$ROOT/authkey" "$dir/etc-corosync/authkey"
    chmod 400 "$dir/etc-corosync/authkey"
    cat > "$dir/etc-corosync/corosync.conf" <<CONF
totem {
  version: 2
  cluster_name: rig
  transport: knet
  crypto_cipher: aes256
  crypto_hash: sha256
}
nodelist {
$nodelist}
quorum {
  provider: corosync_votequorum
}
logging {
  to_logfile: yes
  logfile: /var/log/corosync/corosync.log
  to_stderr: no
  to_syslog: no
  timestamp: hires
}
CONF
    ip netns add "pcmk$k" 2>/dev/null || true
    ip link add "veth-p$k" type veth peer name eth0 netns "pcmk$k" 2>/dev/null || true
    ip link set "veth-p$k" master "$BRIDGE" up
    ip -n "pcmk$k" addr add "10.99.0.$k/16" dev eth0 2>/dev/null || true
    ip -n "pcmk$k" link set eth0 up
    ip -n "pcmk$k" link set lo up
    # Corosync, then pacemakerd, both in the foreground of one detached shell.
    setsid nohup bash -c "$(declare -f enter node_dir); ROOT=$ROOT; enter $k bash -c 'corosync -f & sleep 1; PCMK_logfile=/var/log/pacemaker/pacemaker.log pacemakerd -f; wait'" \
      > "$dir/daemons.out" 2>&1 < /dev/null &
  done
}

down() {
  for ns in $(ip netns list 2>/dev/null | awk '/^pcmk/ {print $1}'); do
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
  done
  ip link del "$BRIDGE" 2>/dev/null || true
  rm -rf "$ROOT"
}

case "${1:-}" in
  up) up "${2:-3}" ;;
  remotes) remotes "${2:-1}" ;;
  exec)
    # Join the node's running namespaces (network and mounts: its /run and
    # /dev/shm hold the daemons' IPC).
    k=$2; shift 2
    pid=$(pgrep -x corosync | while read -r p; do
      if [ "$(ip netns identify "$p" 2>/dev/null)" = "pcmk$k" ]; then echo "$p"; fi; done | head -1)
    [ -n "$pid" ] || { echo "node $k is not running" >&2; exit 1; }
    nsenter -t "$pid" -m -n "$@" ;;
  down) down ;;
  *) echo "usage: $0 up N | remotes M | exec K CMD... | down" >&2; exit 2 ;;
esac
