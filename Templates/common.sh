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
hpcserve_uid=$(id -u)
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

# hpcserve_listeners PORT: "UID INODE" of each socket listening on PORT at an address that
# covers 127.0.0.1 (127.0.0.1, 0.0.0.0, ::, ::ffff:127.0.0.1), from the kernel's tables.
hpcserve_listeners() {
  local hex
  printf -v hex '%04X' "$1"
  awk -v port="$hex" '$4 == "0A" {
    n = split($2, a, ":")
    if (a[n] == port && (a[1] == "0100007F" || a[1] ~ /^0+$/ || a[1] == "0000000000000000FFFF00000100007F")) print $8, $10
  }' /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# hpcserve_job_holds INODE: true when a process of this job (one of yours with this job's
# SLURM_JOB_ID in its environment: the server, its children, its srun tasks) holds the socket.
hpcserve_job_holds() {
  local fd pid
  while IFS= read -r fd; do
    pid=${fd#/proc/}
    pid=${pid%%/*}
    if tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qx "SLURM_JOB_ID=$SLURM_JOB_ID"; then return 0; fi
  done < <(find /proc/[0-9]*/fd -maxdepth 1 -lname "socket:\[$1\]" 2>/dev/null)
  return 1
}

# hpcserve_port_owner PORT: "ours" when every listener on PORT (as above) is a socket of
# yours held by this job, "foreign" when any is not (another user took the port first),
# "none" when nothing listens yet. Nothing is sent to the port to find out.
hpcserve_port_owner() {
  local uid inode found=0
  while read -r uid inode; do
    if [[ $uid != "$hpcserve_uid" ]] || ! hpcserve_job_holds "$inode"; then
      echo foreign
      return
    fi
    found=1
  done < <(hpcserve_listeners "$1")
  if ((found)); then echo ours; else echo none; fi
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

# hpcserve_probe: true when the server is up. On TCP it is only asked once the port is
# proven to be this job's (hpcserve_port_owner), and carries no secret either way.
hpcserve_probe() {
  case $hpcserve_probe_kind in
    http) hpcserve_http_answers "$hpcserve_probe_path" ;;
    *) [[ $hpcserve_listen == tcp || -S $hpcserve_node_socket ]] ;;
  esac
}

hpcserve_port=
hpcserve_port_attempts=5

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

# hpcserve_stop_server: TERM the server's process group, KILL it after 10 s.
# shellcheck disable=SC2317  # called from a trap
hpcserve_stop_server() {
  local i
  if [[ -n $hpcserve_server_pid ]] && kill -0 "$hpcserve_server_pid" 2>/dev/null; then
    kill -TERM -- "-$hpcserve_server_pid" "$hpcserve_server_pid" 2>/dev/null
    for ((i = 0; i < 50; i++)); do
      kill -0 "$hpcserve_server_pid" 2>/dev/null || break
      sleep 0.2
    done
    kill -KILL -- "-$hpcserve_server_pid" "$hpcserve_server_pid" 2>/dev/null
  fi
  wait "$hpcserve_server_pid" 2>/dev/null
}

# shellcheck disable=SC2317  # called from a trap
hpcserve_cleanup() {
  local status=$?
  trap - EXIT TERM INT HUP USR1
  rm -f "$hpcserve_dir/connection.json"
  hpcserve_tunnels_stop
  if [[ -n $hpcserve_reverse_socket ]]; then rm -f "$hpcserve_reverse_socket"; fi
  if [[ -n $hpcserve_relay_pid ]]; then kill -TERM "$hpcserve_relay_pid" 2>/dev/null; fi
  hpcserve_stop_server
  rm -rf "$hpcserve_node_dir"
  hpcserve_say "stopped (exit status $status)"
  exit "$status"
}
hpcserve_reverse_socket=
hpcserve_relay_pid=
trap hpcserve_cleanup EXIT
trap 'hpcserve_say "job cancelled or signalled: stopping $hpcserve_app"; exit 143' TERM INT HUP
trap 'hpcserve_say "the time limit is near: stopping $hpcserve_app cleanly"; exit 0' USR1

# hpcserve_wait_ready: wait until the server answers; fail if it exits or takes too long.
# On TCP nothing counts until the port is proven to be this job's, and a port that another
# process took first returns 1 (the caller starts the server again on another port).
hpcserve_wait_ready() {
  local deadline=$((SECONDS + hpcserve_ready_timeout)) status owner=ours
  while true; do
    if [[ $hpcserve_listen == tcp ]]; then
      owner=$(hpcserve_port_owner "$hpcserve_port")
      if [[ $owner == foreign ]]; then
        hpcserve_say "port $hpcserve_port on $hpcserve_node is held by a process that is not this job's (another user's?); nothing was sent to it"
        return 1
      fi
    fi
    if ! kill -0 "$hpcserve_server_pid" 2>/dev/null; then
      wait "$hpcserve_server_pid"
      status=$?
      hpcserve_die "$hpcserve_app exited (status $status) before it answered; see the lines above"
    fi
    # After the probe, the port must still be this job's and the server alive.
    if [[ $owner == ours ]] && hpcserve_probe && kill -0 "$hpcserve_server_pid" 2>/dev/null &&
      { [[ $hpcserve_listen == socket ]] || [[ $(hpcserve_port_owner "$hpcserve_port") == ours ]]; }; then
      break
    fi
    if ((SECONDS >= deadline)); then
      hpcserve_die "$hpcserve_app did not answer within ${hpcserve_ready_timeout}s; raise --ready-timeout or see the lines above"
    fi
    sleep 0.2
  done
  if [[ $hpcserve_listen == tcp ]]; then
    hpcserve_say "$hpcserve_app answers on $hpcserve_node port $hpcserve_port (127.0.0.1; the socket is this job's)"
  else
    hpcserve_say "$hpcserve_app answers on $hpcserve_node at $hpcserve_node_socket"
  fi
}

# hpcserve_relay: the node end of every forward to a TCP server is a Unix socket in the
# private node directory, relayed to 127.0.0.1:PORT only after the kernel names you as the
# owner of the server's end of each connection; it ends within 0.2 s of the server.
hpcserve_relay() {
  command -v python3 >/dev/null 2>&1 ||
    hpcserve_die "python3 is not on PATH on $hpcserve_node: TCP mode needs it for the relay that checks each connection reaches your server; use --listen socket where the app supports it, or add --module NAME"
  cat >"$hpcserve_node_dir/relay.py" <<'HPCSERVE_RELAY_PY'
{{include relay.py}}
HPCSERVE_RELAY_PY
  python3 -I "$hpcserve_node_dir/relay.py" "$hpcserve_node_socket" "$hpcserve_port" "$hpcserve_server_pid" </dev/null &
  hpcserve_relay_pid=$!
  until [[ -S $hpcserve_node_socket ]]; do
    kill -0 "$hpcserve_relay_pid" 2>/dev/null || hpcserve_die "the relay for port $hpcserve_port did not start; see the lines above"
    sleep 0.05
  done
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
    printf '  "port": %s,\n' "${hpcserve_port:-null}"
    printf '  "socket": %s,\n' "$(hpcserve_json "$hpcserve_node_socket")"
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
  local attempt status
  for ((attempt = 1; ; attempt++)); do
    if [[ $hpcserve_listen == tcp ]]; then
      hpcserve_port=$(hpcserve_free_port) || hpcserve_die "found no free port on $hpcserve_node"
    fi
    hpcserve_launch
    hpcserve_wait_ready && break
    hpcserve_stop_server
    ((attempt < hpcserve_port_attempts)) ||
      hpcserve_die "another process took the server's port $attempt times in a row on $hpcserve_node; nothing was sent to it. Ask for another node, or use --listen socket where the app supports it"
  done
  [[ $hpcserve_listen == tcp ]] && hpcserve_relay
  if [[ $hpcserve_reverse_tunnel == 1 ]]; then
    [[ -n ${SLURM_SUBMIT_HOST:-} ]] || hpcserve_die "SLURM_SUBMIT_HOST is not set: cannot open the reverse tunnel"
    hpcserve_reverse_socket=$hpcserve_dir/server.sock
    rm -f "$hpcserve_reverse_socket"
    hpcserve_tunnel "$SLURM_SUBMIT_HOST" -R "$hpcserve_reverse_socket:$hpcserve_node_socket" ||
      hpcserve_die "reverse tunnel to $SLURM_SUBMIT_HOST failed (${hpcserve_tunnel_error:-no message from ssh}); check that 'ssh $SLURM_SUBMIT_HOST' works from a compute node without a password"
    hpcserve_say "reverse tunnel: $SLURM_SUBMIT_HOST:$hpcserve_reverse_socket -> $hpcserve_node_socket"
  fi
  hpcserve_publish
  hpcserve_say "ready: run 'hpcserve watch $SLURM_JOB_ID' on $SLURM_SUBMIT_HOST for the laptop command"
  wait "$hpcserve_server_pid"
  status=$?
  hpcserve_say "$hpcserve_app exited with status $status"
  exit "$status"
}
