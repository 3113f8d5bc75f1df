# ==== hpcserve runtime: definitions only (the main sequence at the end runs them)
# Plain bash without `set -u`, so that module and conda setup lines keep working.
set -o pipefail
umask 077
hpcserve_app={{APP}}
hpcserve_root={{SESSION_ROOT}}
hpcserve_ready_timeout={{READY_TIMEOUT}}
{{if HTTP_PROBE}}
hpcserve_probe_path={{PROBE_PATH}}
{{end}}
hpcserve_url_path={{URL_PATH}}
hpcserve_server_pid=
{{if TCP}}
hpcserve_port=
hpcserve_port_attempts=5
hpcserve_relay_pid=
{{end}}
{{if REVERSE_TUNNEL}}
hpcserve_reverse_socket=
{{end}}
{{if CONTAINER}}
hpcserve_container_image={{CONTAINER_IMAGE}}
hpcserve_container=()
{{end}}

{{include functions.sh}}
hpcserve_die() { hpcserve_say "error: $*"; exit 1; }

# hpcserve_prepare_session: only in a job; private session (shared) and node-local directories.
hpcserve_prepare_session() {
  [[ ${SLURM_JOB_ID:-} =~ ^[0-9]+$ ]] || hpcserve_die "SLURM_JOB_ID is not set: submit this script with sbatch"
  hpcserve_dir=$hpcserve_root/jobs/$SLURM_JOB_ID
  hpcserve_private_dir "$hpcserve_root" && hpcserve_private_dir "$hpcserve_root/jobs" && hpcserve_private_dir "$hpcserve_dir" || exit 1
  rm -f "$hpcserve_dir/connection.json" "$hpcserve_dir/server.sock"   # from an earlier run (requeue)
  printf '%s\n' "$hpcserve_app" >"$hpcserve_dir/app"   # for 'hpcserve list' after the job
  hpcserve_node=${SLURMD_NODENAME:-$(hostname -s)}
{{if TCP}}
  hpcserve_uid=$(id -u)
{{end}}
  hpcserve_say "job $SLURM_JOB_ID on $hpcserve_node: starting $hpcserve_app; session directory $hpcserve_dir"
  hpcserve_node_dir=$(mktemp -d "${TMPDIR:-/tmp}/hpcserve-$SLURM_JOB_ID.XXXXXX" 2>/dev/null)
  if [[ -z $hpcserve_node_dir || ${#hpcserve_node_dir} -gt 80 ]]; then
    [[ -n $hpcserve_node_dir ]] && rmdir "$hpcserve_node_dir"
    hpcserve_node_dir=$(mktemp -d "/tmp/hpcserve-$SLURM_JOB_ID.XXXXXX") || hpcserve_die "cannot create a private directory in /tmp"
  fi
  hpcserve_node_socket=$hpcserve_node_dir/server.sock
}

# hpcserve_make_secret: from the kernel's random source; kept in memory, 0600 files and the server's env.
hpcserve_make_secret() {
  hpcserve_secret=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
  [[ ${#hpcserve_secret} -eq 48 ]] || hpcserve_die "cannot read /dev/urandom"
{{if CONNECT_ID}}
  hpcserve_secret=$((16#${hpcserve_secret:0:8} % 2147483646 + 1))   # a connect-id: 1 to 2^31-1
{{end}}
}

# hpcserve_start COMMAND ARGS...: start the server in its own process group, tracked.
hpcserve_start() {
  hpcserve_say "starting $1"
{{if SERVER_FUNCTION}}
  set -m; "$@" </dev/null & set +m   # a shell function (your --command): job control gives it its group
{{else}}
  if command -v setsid >/dev/null 2>&1; then setsid "$@" </dev/null & else "$@" </dev/null & fi
{{end}}
  hpcserve_server_pid=$!
}
# hpcserve_stop_server: TERM the server's process group, KILL it after 10 s.
# shellcheck disable=SC2317  # called from a trap
hpcserve_stop_server() {
  local i
  if [[ -n $hpcserve_server_pid ]] && kill -0 "$hpcserve_server_pid" 2>/dev/null; then
    kill -TERM -- "-$hpcserve_server_pid" "$hpcserve_server_pid" 2>/dev/null
    for ((i = 0; i < 50; i++)); do kill -0 "$hpcserve_server_pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL -- "-$hpcserve_server_pid" "$hpcserve_server_pid" 2>/dev/null
  fi
  wait "$hpcserve_server_pid" 2>/dev/null
}

# hpcserve_cleanup: at exit, scancel or near the time limit (USR1): stop and remove all this job started.
# shellcheck disable=SC2317  # called from a trap
hpcserve_cleanup() {
  local status=$?
  trap - EXIT TERM INT HUP USR1
  rm -f "$hpcserve_dir/connection.json"
{{if REVERSE_TUNNEL}}
  hpcserve_tunnels_stop
  if [[ -n $hpcserve_reverse_socket ]]; then rm -f "$hpcserve_reverse_socket"; fi
{{end}}
{{if TCP}}
  if [[ -n $hpcserve_relay_pid ]]; then kill -TERM "$hpcserve_relay_pid" 2>/dev/null; fi
{{end}}
  hpcserve_stop_server
  rm -rf "$hpcserve_node_dir"
  hpcserve_say "stopped (exit status $status)"
  exit "$status"
}
hpcserve_clean_up_on_exit() {
  trap hpcserve_cleanup EXIT
  trap 'hpcserve_say "job cancelled or signalled: stopping $hpcserve_app"; exit 143' TERM INT HUP
  trap 'hpcserve_say "the time limit is near: stopping $hpcserve_app cleanly"; exit 0' USR1
}

{{if CONTAINER}}
{{include container.sh}}

{{end}}
{{if TCP}}
{{include runtime-tcp.sh}}

{{end}}
{{if not TCP}}
{{if HTTP_PROBE}}
# hpcserve_probe: true when the server gives any HTTP answer (the probe carries no secret).
hpcserve_probe() {
  if command -v curl >/dev/null 2>&1; then
    [[ $(curl -s -o /dev/null -m 5 -w '%{http_code}' --unix-socket "$hpcserve_node_socket" "http://localhost$hpcserve_probe_path") =~ ^[1-5][0-9][0-9]$ ]]
  else
    python3 -c 'import socket,sys
s=socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect(sys.argv[1])
s.sendall(("GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n" % sys.argv[2]).encode())
sys.exit(0 if s.recv(5) == b"HTTP/" else 1)' "$hpcserve_node_socket" "$hpcserve_probe_path" 2>/dev/null
  fi
}
{{else}}
# hpcserve_probe: true when the server's socket exists (nothing is sent to it).
hpcserve_probe() { [[ -S $hpcserve_node_socket ]]; }
{{end}}

{{end}}
# hpcserve_wait_ready: wait until the server answers; fail if it exits or takes too long.
{{if TCP}}
# Nothing counts until the port is proven to be this job's, and a port that another
# process took first returns 1 (the caller starts the server again on another port).
{{end}}
hpcserve_wait_ready() {
  local start=$SECONDS deadline=$((SECONDS + hpcserve_ready_timeout)) pause=0.05
{{if TCP}}
  local owner
{{end}}
  while true; do
{{if TCP}}
    owner=$(hpcserve_port_owner "$hpcserve_port")
    if [[ $owner == foreign ]]; then
      hpcserve_say "port $hpcserve_port on $hpcserve_node is held by a process that is not this job's (another user's?); nothing was sent to it"
      return 1
    fi
{{end}}
    if ! kill -0 "$hpcserve_server_pid" 2>/dev/null; then
      wait "$hpcserve_server_pid"
      hpcserve_die "$hpcserve_app exited (status $?) before it answered; see the lines above"
    fi
{{if TCP}}
    # After the probe, the port must still be this job's and the server alive.
    if [[ $owner == ours ]] && hpcserve_probe && kill -0 "$hpcserve_server_pid" 2>/dev/null &&
      [[ $(hpcserve_port_owner "$hpcserve_port") == ours ]]; then
      break
    fi
{{else}}
    if [[ -S $hpcserve_node_socket ]] && hpcserve_probe && kill -0 "$hpcserve_server_pid" 2>/dev/null; then break; fi   # and still alive after it
{{end}}
    ((SECONDS < deadline)) ||
      hpcserve_die "$hpcserve_app did not answer within ${hpcserve_ready_timeout}s; raise --ready-timeout or see the lines above"
    ((SECONDS - start < 10)) || pause=0.5; sleep "$pause"   # every 50 ms at first, then backing off
  done
{{if TCP}}
{{if USER_COMMAND}}
  ! hpcserve_listens_beyond_loopback "$hpcserve_port" ||
    hpcserve_die "your --command listens on port $hpcserve_port at an address other hosts can reach (0.0.0.0?), not only 127.0.0.1; give it {host}"
{{end}}
  hpcserve_say "$hpcserve_app answers on $hpcserve_node port $hpcserve_port (127.0.0.1; the socket is this job's)"
{{else}}
  hpcserve_say "$hpcserve_app answers on $hpcserve_node at $hpcserve_node_socket"
{{end}}
}
{{if TCP}}

# hpcserve_start_server: start the server on a free port and wait until it answers; again on
# another port when another process took the port first (at most hpcserve_port_attempts times).
hpcserve_start_server() {
  local attempt
  for ((attempt = 1; ; attempt++)); do
    hpcserve_port=$(hpcserve_free_port) || hpcserve_die "found no free port on $hpcserve_node"
    hpcserve_launch
    hpcserve_wait_ready && break
    hpcserve_stop_server
    ((attempt < hpcserve_port_attempts)) ||
      hpcserve_die "another process took the server's port $attempt times in a row on $hpcserve_node; nothing was sent to it. Ask for another node, or use --listen socket where the app supports it"
  done
}
{{end}}
{{if REVERSE_TUNNEL}}

{{include runtime-reverse.sh}}
{{end}}

hpcserve_json() { local s=${1//\\/\\\\}; printf '"%s"' "${s//\"/\\\"}"; }   # a JSON string literal for $1
# hpcserve_publish: connection.json, atomically (0600 temp file, rename): a watcher never reads half.
hpcserve_publish() {
  local tmp
  tmp=$(mktemp "$hpcserve_dir/.connection.json.XXXXXX") || hpcserve_die "cannot write in $hpcserve_dir"
  {
    printf '{\n  "version": 1,\n'
    printf '  "app": %s,\n' "$(hpcserve_json "$hpcserve_app")"
    printf '  "job_id": %s,\n' "$SLURM_JOB_ID"
    printf '  "node": %s,\n' "$(hpcserve_json "$hpcserve_node")"
    printf '  "host": "127.0.0.1",\n'
{{if TCP}}
    printf '  "port": %s,\n' "$hpcserve_port"
{{else}}
    printf '  "port": null,\n'
{{end}}
    printf '  "socket": %s,\n' "$(hpcserve_json "$hpcserve_node_socket")"
{{if REVERSE_TUNNEL}}
    printf '  "reverse_socket": %s,\n' "$(hpcserve_json "$hpcserve_reverse_socket")"
{{else}}
    printf '  "reverse_socket": null,\n'
{{end}}
    printf '  "token": %s,\n' "$(hpcserve_json "$hpcserve_secret")"
    printf '  "secret_kind": "{{SECRET_KIND}}",\n'
    printf '  "user": %s,\n' "$(hpcserve_json "$(id -un)")"
    printf '  "url_path": %s,\n' "$(hpcserve_json "$hpcserve_url_path")"
    printf '  "pid": %s,\n' "$hpcserve_server_pid"
    printf '  "started": "%(%Y-%m-%dT%H:%M:%S%z)T"\n}\n' -1
  } >"$tmp" || hpcserve_die "cannot write $tmp"
  mv -f "$tmp" "$hpcserve_dir/connection.json" || hpcserve_die "cannot write $hpcserve_dir/connection.json"
  hpcserve_say "ready: run 'hpcserve watch $SLURM_JOB_ID' on $SLURM_SUBMIT_HOST for the laptop command"
}

hpcserve_stay() {   # until the server ends (or a trap above ends the job first)
  wait "$hpcserve_server_pid"
  local status=$?
  hpcserve_say "$hpcserve_app exited with status $status"
  exit "$status"
}

# ==== main: what this job does, in order ======================================
hpcserve_prepare_session    # check the job; private session and node directories
hpcserve_make_secret        # the per-job secret
hpcserve_clean_up_on_exit   # from here on, every way out cleans up
hpcserve_setup              # your setup lines (at the top)
hpcserve_prepare_app        # the app's checks and files (at the top)
{{if TCP}}
hpcserve_start_server       # hpcserve_launch (at the top) on a port proven to be this job's
{{else}}
hpcserve_launch             # the server command (at the top)
hpcserve_wait_ready         # until it answers
{{end}}
{{if TCP}}
hpcserve_relay              # the private socket forwards reach, owner-checked
{{end}}
{{if REVERSE_TUNNEL}}
hpcserve_reverse_tunnel     # ssh -R to the login node's session directory
{{end}}
hpcserve_publish            # connection.json: the watcher takes it from here
hpcserve_stay               # until the server ends, the job is cancelled or time is up
