# ---- hpcserve: session directory, secret, clean-up ----------------------------
# Plain bash without `set -u`, so that module and conda setup lines keep working.
set -o pipefail
umask 077
hpcserve_app={{APP}}
hpcserve_listen={{LISTEN}}
hpcserve_root={{SESSION_ROOT}}
hpcserve_ready_timeout={{READY_TIMEOUT}}
hpcserve_reverse_tunnel={{REVERSE_TUNNEL}}
hpcserve_probe_kind={{PROBE_KIND}}
hpcserve_probe_path={{PROBE_PATH}}
hpcserve_url_path={{URL_PATH}}
hpcserve_secret_kind={{SECRET_KIND}}

{{include functions.sh}}

hpcserve_die() { hpcserve_say "error: $*"; exit 1; }

if [[ ! ${SLURM_JOB_ID:-} =~ ^[0-9]+$ ]]; then
  hpcserve_die "SLURM_JOB_ID is not set: submit this script with sbatch"
fi
hpcserve_dir=$hpcserve_root/jobs/$SLURM_JOB_ID
hpcserve_private_dir "$hpcserve_root" || exit 1
hpcserve_private_dir "$hpcserve_root/jobs" || exit 1
hpcserve_private_dir "$hpcserve_dir" || exit 1
rm -f "$hpcserve_dir/connection.json" "$hpcserve_dir/server.sock"   # from an earlier run (requeue)
printf '%s\n' "$hpcserve_app" >"$hpcserve_dir/app"   # for 'hpcserve list' after the job
hpcserve_node=${SLURMD_NODENAME:-$(hostname -s)}
hpcserve_say "job $SLURM_JOB_ID on $hpcserve_node: starting $hpcserve_app; session directory $hpcserve_dir"

# Node-local private directory for the server's socket and runtime files.
hpcserve_node_dir=$(mktemp -d "${TMPDIR:-/tmp}/hpcserve-$SLURM_JOB_ID.XXXXXX" 2>/dev/null)
if [[ -z $hpcserve_node_dir || ${#hpcserve_node_dir} -gt 80 ]]; then
  [[ -n $hpcserve_node_dir ]] && rmdir "$hpcserve_node_dir"
  hpcserve_node_dir=$(mktemp -d "/tmp/hpcserve-$SLURM_JOB_ID.XXXXXX") || hpcserve_die "cannot create a private directory in /tmp"
fi
hpcserve_node_socket=$hpcserve_node_dir/server.sock

# The per-job secret, from the kernel's random source. It stays in this shell's memory, in
# the 0600 files below and in the server's environment: never in an argv, never in this text.
hpcserve_secret=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
[[ ${#hpcserve_secret} -eq 48 ]] || hpcserve_die "cannot read /dev/urandom"
if [[ $hpcserve_secret_kind == connect-id ]]; then
  hpcserve_secret=$((16#${hpcserve_secret:0:8} % 2147483646 + 1))
fi

# hpcserve_free_port: a port on 127.0.0.1 that nothing listens on.
hpcserve_free_port() {
  local p i
  for ((i = 0; i < 100; i++)); do
    p=$((20000 + (RANDOM * 32768 + RANDOM) % 30000))
    if ! hpcserve_tcp_listening "$p"; then echo "$p"; return 0; fi
  done
  return 1
}

# hpcserve_tcp_listening PORT: true when some socket on this node listens on PORT
# (read from /proc/net/tcp*, so no connection is made).
hpcserve_tcp_listening() {
  local hex
  printf -v hex '%04X' "$1"
  grep -qE "^ *[0-9]+: [0-9A-F]+:$hex [0-9A-F]+:0000 0A " /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# hpcserve_http_answers PATH: true when the server gives any HTTP answer for PATH.
hpcserve_http_answers() {
  local code line
  if command -v curl >/dev/null 2>&1; then
    if [[ $hpcserve_listen == socket ]]; then
      code=$(curl -s -o /dev/null -m 5 -w '%{http_code}' --unix-socket "$hpcserve_node_socket" "http://localhost$1")
    else
      code=$(curl -s -o /dev/null -m 5 -w '%{http_code}' "http://127.0.0.1:$hpcserve_port$1")
    fi
    [[ $code =~ ^[1-5][0-9][0-9]$ ]]
  elif [[ $hpcserve_listen == tcp ]]; then
    { exec 3<>"/dev/tcp/127.0.0.1/$hpcserve_port"; } 2>/dev/null || return 1
    printf 'GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n' "$1" >&3
    IFS= read -r -t 5 line <&3
    exec 3>&-
    [[ $line == HTTP/* ]]
  else
    python3 -c 'import socket,sys
s=socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect(sys.argv[1])
s.sendall(("GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n" % sys.argv[2]).encode())
sys.exit(0 if s.recv(5) == b"HTTP/" else 1)' "$hpcserve_node_socket" "$1" 2>/dev/null
  fi
}

hpcserve_probe() {
  if [[ $hpcserve_probe_kind == http ]]; then
    hpcserve_http_answers "$hpcserve_probe_path"
  elif [[ $hpcserve_listen == socket ]]; then
    [[ -S $hpcserve_node_socket ]]
  else
    hpcserve_tcp_listening "$hpcserve_port"
  fi
}

hpcserve_port=
if [[ $hpcserve_listen == tcp ]]; then
  hpcserve_port=$(hpcserve_free_port) || hpcserve_die "found no free port on $hpcserve_node"
fi

hpcserve_server_pid=
# hpcserve_start COMMAND ARGS...: start the server in its own process group, tracked.
hpcserve_start() {
  hpcserve_say "starting $1"
  if command -v setsid >/dev/null 2>&1; then
    setsid "$@" </dev/null &
  else
    "$@" </dev/null &
  fi
  hpcserve_server_pid=$!
}

# shellcheck disable=SC2317  # called from a trap
hpcserve_cleanup() {
  local status=$? i
  trap - EXIT TERM INT HUP USR1
  rm -f "$hpcserve_dir/connection.json"
  hpcserve_tunnels_stop
  if [[ -n $hpcserve_reverse_socket ]]; then rm -f "$hpcserve_reverse_socket"; fi
  if [[ -n $hpcserve_server_pid ]] && kill -0 "$hpcserve_server_pid" 2>/dev/null; then
    kill -TERM -- "-$hpcserve_server_pid" "$hpcserve_server_pid" 2>/dev/null
    for ((i = 0; i < 50; i++)); do
      kill -0 "$hpcserve_server_pid" 2>/dev/null || break
      sleep 0.2
    done
    kill -KILL -- "-$hpcserve_server_pid" "$hpcserve_server_pid" 2>/dev/null
  fi
  rm -rf "$hpcserve_node_dir"
  hpcserve_say "stopped (exit status $status)"
  exit "$status"
}
hpcserve_reverse_socket=
trap hpcserve_cleanup EXIT
trap 'hpcserve_say "job cancelled or signalled: stopping $hpcserve_app"; exit 143' TERM INT HUP
trap 'hpcserve_say "the time limit is near: stopping $hpcserve_app cleanly"; exit 0' USR1

# hpcserve_wait_ready: wait until the server answers; fail if it exits or takes too long.
hpcserve_wait_ready() {
  local deadline=$((SECONDS + hpcserve_ready_timeout)) status
  until hpcserve_probe; do
    if ! kill -0 "$hpcserve_server_pid" 2>/dev/null; then
      wait "$hpcserve_server_pid"
      status=$?
      hpcserve_die "$hpcserve_app exited (status $status) before it answered; see the lines above"
    fi
    if ((SECONDS >= deadline)); then
      hpcserve_die "$hpcserve_app did not answer within ${hpcserve_ready_timeout}s; raise --ready-timeout or see the lines above"
    fi
    sleep 1
  done
  hpcserve_say "$hpcserve_app answers on $hpcserve_node ${hpcserve_port:+port $hpcserve_port}${hpcserve_port:-$hpcserve_node_socket}"
}

hpcserve_json() {   # a JSON string literal for $1
  local s=$1
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  printf '"%s"' "$s"
}

# hpcserve_publish: write connection.json atomically (0600 temp file, then rename), so a
# watcher on the login node never reads half a file, even on a shared file system.
hpcserve_publish() {
  local tmp
  tmp=$(mktemp "$hpcserve_dir/.connection.json.XXXXXX") || hpcserve_die "cannot write in $hpcserve_dir"
  {
    printf '{\n'
    printf '  "version": 1,\n'
    printf '  "app": %s,\n' "$(hpcserve_json "$hpcserve_app")"
    printf '  "job_id": %s,\n' "$SLURM_JOB_ID"
    printf '  "node": %s,\n' "$(hpcserve_json "$hpcserve_node")"
    printf '  "host": "127.0.0.1",\n'
    if [[ $hpcserve_listen == socket ]]; then
      printf '  "port": null,\n  "socket": %s,\n' "$(hpcserve_json "$hpcserve_node_socket")"
    else
      printf '  "port": %s,\n  "socket": null,\n' "$hpcserve_port"
    fi
    if [[ -n $hpcserve_reverse_socket ]]; then
      printf '  "reverse_socket": %s,\n' "$(hpcserve_json "$hpcserve_reverse_socket")"
    else
      printf '  "reverse_socket": null,\n'
    fi
    printf '  "token": %s,\n' "$(hpcserve_json "$hpcserve_secret")"
    printf '  "secret_kind": %s,\n' "$(hpcserve_json "$hpcserve_secret_kind")"
    printf '  "user": %s,\n' "$(hpcserve_json "$(id -un)")"
    printf '  "url_path": %s,\n' "$(hpcserve_json "$hpcserve_url_path")"
    printf '  "pid": %s,\n' "$hpcserve_server_pid"
    printf '  "started": "%(%Y-%m-%dT%H:%M:%S%z)T"\n' -1
    printf '}\n'
  } >"$tmp" || hpcserve_die "cannot write $tmp"
  mv -f "$tmp" "$hpcserve_dir/connection.json" || hpcserve_die "cannot write $hpcserve_dir/connection.json"
}

# hpcserve_serve: wait for readiness, open the reverse tunnel if asked, publish, then stay
# with the server until it ends, the job is cancelled or the time limit is near.
hpcserve_serve() {
  local target status
  hpcserve_wait_ready
  if [[ $hpcserve_reverse_tunnel == 1 ]]; then
    [[ -n ${SLURM_SUBMIT_HOST:-} ]] || hpcserve_die "SLURM_SUBMIT_HOST is not set: cannot open the reverse tunnel"
    target=127.0.0.1:$hpcserve_port
    [[ $hpcserve_listen == socket ]] && target=$hpcserve_node_socket
    hpcserve_reverse_socket=$hpcserve_dir/server.sock
    rm -f "$hpcserve_reverse_socket"
    hpcserve_tunnel "$SLURM_SUBMIT_HOST" -R "$hpcserve_reverse_socket:$target" ||
      hpcserve_die "reverse tunnel to $SLURM_SUBMIT_HOST failed; check that 'ssh $SLURM_SUBMIT_HOST' works from a compute node without a password"
    hpcserve_say "reverse tunnel: $SLURM_SUBMIT_HOST:$hpcserve_reverse_socket -> $target"
  fi
  hpcserve_publish
  hpcserve_say "ready: run 'hpcserve watch $SLURM_JOB_ID' on $SLURM_SUBMIT_HOST for the laptop command"
  wait "$hpcserve_server_pid"
  status=$?
  hpcserve_say "$hpcserve_app exited with status $status"
  exit "$status"
}
