# ==== hpcserve runtime: definitions only (the main sequence at the end runs them)
# Plain bash without `set -u`, so that module and conda setup lines keep working.
set -o pipefail
umask 077
hpcserve_app=jupyter
hpcserve_root=/home/alice/.hpcserve
hpcserve_ready_timeout=300
hpcserve_probe_path=/api
hpcserve_url_path=/lab
hpcserve_server_pid=
hpcserve_port=
hpcserve_port_attempts=5
hpcserve_relay_pid=
hpcserve_reverse_socket=

hpcserve_say() { printf '%(%H:%M:%S)T hpcserve: %s\n' -1 "$*" >&2; }   # a line for the job log
# hpcserve_private_dir DIR: create DIR (0700) or accept it only if it is a real directory,
# owned by us, that no one else can read or enter (the rule ssh's StrictModes follows).
hpcserve_private_dir() {
  local d=$1 info why=
  if [[ -L $d ]]; then why="$d is a symbolic link; remove it"
  elif [[ ! -d $d ]] && ! (umask 077 && mkdir -p "$d"); then why="cannot create $d"
  elif ! info=$(stat -c '%u %a' "$d"); then why="cannot stat $d"
  elif [[ ${info%% *} != "$(id -u)" ]]; then why="$d is not owned by you; remove it or fix its owner"
  elif (((8#${info##* } & 8#077) != 0)); then why="$d can be used by other users (mode ${info##* }); run: chmod 700 $(hpcserve_quote "$d")"
  fi
  [[ -z $why ]] || { hpcserve_say "error: $why"; return 1; }
}
# hpcserve_quote WORD...: the words shell-quoted, for a command a person is to paste.
hpcserve_quote() { local q; printf -v q '%q ' "$@"; printf '%s' "${q% }"; }
hpcserve_die() { hpcserve_say "error: $*"; exit 1; }

# hpcserve_prepare_session: only in a job; private session (shared) and node-local directories.
hpcserve_prepare_session() {
  [[ ${SLURM_JOB_ID:-} =~ ^[0-9]+$ ]] || hpcserve_die "SLURM_JOB_ID is not set: submit this script with sbatch"
  hpcserve_dir=$hpcserve_root/jobs/$SLURM_JOB_ID
  hpcserve_private_dir "$hpcserve_root" && hpcserve_private_dir "$hpcserve_root/jobs" && hpcserve_private_dir "$hpcserve_dir" || exit 1
  rm -f "$hpcserve_dir/connection.json" "$hpcserve_dir/server.sock"   # from an earlier run (requeue)
  printf '%s\n' "$hpcserve_app" >"$hpcserve_dir/app"   # for 'hpcserve list' after the job
  hpcserve_node=${SLURMD_NODENAME:-$(hostname -s)}
  hpcserve_uid=$(id -u)
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
}

# hpcserve_start COMMAND ARGS...: start the server in its own process group, tracked.
hpcserve_start() {
  hpcserve_say "starting $1"
  if command -v setsid >/dev/null 2>&1; then setsid "$@" </dev/null & else "$@" </dev/null & fi
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
  hpcserve_tunnels_stop
  if [[ -n $hpcserve_reverse_socket ]]; then rm -f "$hpcserve_reverse_socket"; fi
  if [[ -n $hpcserve_relay_pid ]]; then kill -TERM "$hpcserve_relay_pid" 2>/dev/null; fi
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

# ---- TCP: nothing is trusted until it is proven to be this job's --------------
# 127.0.0.1:PORT is open to every process on the node, so another user's could take the
# port first. Nothing is sent to the port until the kernel's tables name this job as the
# owner of every listener on it, and forwards reach it only through an owner-checking relay.

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

# hpcserve_probe: true when the server gives any HTTP answer. It carries no secret, and is
# only asked once the port is proven to be this job's.
hpcserve_probe() {
  local code line
  if command -v curl >/dev/null 2>&1; then
    code=$(curl -s -o /dev/null -m 5 -w '%{http_code}' "http://127.0.0.1:$hpcserve_port$hpcserve_probe_path")
    [[ $code =~ ^[1-5][0-9][0-9]$ ]]
  else
    { exec 3<>"/dev/tcp/127.0.0.1/$hpcserve_port"; } 2>/dev/null || return 1
    printf 'GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n' "$hpcserve_probe_path" >&3
    IFS= read -r -t 5 line <&3
    exec 3>&-
    [[ $line == HTTP/* ]]
  fi
}

# hpcserve_relay: the node end of every forward to a TCP server is a Unix socket in the
# private node directory, relayed to 127.0.0.1:PORT only after the kernel names you as the
# owner of the server's end of each connection; it ends within 0.2 s of the server.
hpcserve_relay() {
  command -v python3 >/dev/null 2>&1 ||
    hpcserve_die "python3 is not on PATH on $hpcserve_node: TCP mode needs it for the relay that checks each connection reaches your server; use --listen socket where the app supports it, or add --module NAME"
  cat >"$hpcserve_node_dir/relay.py" <<'HPCSERVE_RELAY_PY'
# hpcserve relay: the node end of every forward to a server that listens on TCP.
# Usage: python3 -I relay.py SOCKET PORT SERVER_PID
# Listens on SOCKET (in the job's 0700 directory, so only you can connect) and relays each
# connection to 127.0.0.1:PORT, but only after proving that the socket which accepted it
# belongs to you: the kernel's table (/proc/net/tcp*) names the owner of the server's end
# of the connection. Another user's process that took the port gets no byte. The relay
# ends, and every connection with it, within 0.2 s of the server's end.
import os
import socket
import sys
import threading
import time

path, port, server_pid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
uid = os.getuid()


def say(text):
    sys.stderr.write(time.strftime("%H:%M:%S") + " hpcserve relay: " + text + "\n")
    sys.stderr.flush()


def server_alive():
    try:
        os.kill(server_pid, 0)
        return True
    except OSError:  # gone, or the number now belongs to another user's process
        return False


def owner_of_peer(client_port):
    """The uid that owns the server's end of our connection from client_port, or None."""
    for _ in range(200):  # the kernel lists it at once; allow 2 s on a very busy node
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            try:
                with open(table) as f:
                    rows = f.read().splitlines()[1:]
            except OSError:
                continue
            for row in rows:
                field = row.split()
                local_port = int(field[1].rsplit(":", 1)[1], 16)
                remote_port = int(field[2].rsplit(":", 1)[1], 16)
                if local_port == port and remote_port == client_port and field[3] != "0A":
                    return int(field[7])
        time.sleep(0.01)
    return None


def pump(source, sink):
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            sink.sendall(data)
        sink.shutdown(socket.SHUT_WR)
    except OSError:
        for s in (source, sink):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def serve(client):
    upstream = None
    try:
        upstream = socket.create_connection(("127.0.0.1", port), timeout=10)
        owner = owner_of_peer(upstream.getsockname()[1])
        if owner != uid or not server_alive():
            say("refused a connection: 127.0.0.1:%d is not your server's (its owner is uid %s)" % (port, owner))
            return
        upstream.settimeout(None)
        back = threading.Thread(target=pump, args=(client, upstream), daemon=True)
        back.start()
        pump(upstream, client)
        back.join()
    except OSError as error:
        say("cannot reach 127.0.0.1:%d: %s" % (port, error))
    finally:
        client.close()
        if upstream is not None:
            upstream.close()


listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
os.umask(0o177)
listener.bind(path)
listener.listen(64)
listener.settimeout(0.2)
while server_alive():
    try:
        conn, _ = listener.accept()
    except socket.timeout:
        continue
    conn.settimeout(None)
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
os.unlink(path)
os._exit(0)  # closes every relayed connection at once
HPCSERVE_RELAY_PY
  python3 -I "$hpcserve_node_dir/relay.py" "$hpcserve_node_socket" "$hpcserve_port" "$hpcserve_server_pid" </dev/null &
  hpcserve_relay_pid=$!
  until [[ -S $hpcserve_node_socket ]]; do
    kill -0 "$hpcserve_relay_pid" 2>/dev/null || hpcserve_die "the relay for port $hpcserve_port did not start; see the lines above"
    sleep 0.05
  done
}

# hpcserve_wait_ready: wait until the server answers; fail if it exits or takes too long.
# Nothing counts until the port is proven to be this job's, and a port that another
# process took first returns 1 (the caller starts the server again on another port).
hpcserve_wait_ready() {
  local start=$SECONDS deadline=$((SECONDS + hpcserve_ready_timeout)) pause=0.05
  local owner
  while true; do
    owner=$(hpcserve_port_owner "$hpcserve_port")
    if [[ $owner == foreign ]]; then
      hpcserve_say "port $hpcserve_port on $hpcserve_node is held by a process that is not this job's (another user's?); nothing was sent to it"
      return 1
    fi
    if ! kill -0 "$hpcserve_server_pid" 2>/dev/null; then
      wait "$hpcserve_server_pid"
      hpcserve_die "$hpcserve_app exited (status $?) before it answered; see the lines above"
    fi
    # After the probe, the port must still be this job's and the server alive.
    if [[ $owner == ours ]] && hpcserve_probe && kill -0 "$hpcserve_server_pid" 2>/dev/null &&
      [[ $(hpcserve_port_owner "$hpcserve_port") == ours ]]; then
      break
    fi
    ((SECONDS < deadline)) ||
      hpcserve_die "$hpcserve_app did not answer within ${hpcserve_ready_timeout}s; raise --ready-timeout or see the lines above"
    ((SECONDS - start < 10)) || pause=0.5; sleep "$pause"   # every 50 ms at first, then backing off
  done
  hpcserve_say "$hpcserve_app answers on $hpcserve_node port $hpcserve_port (127.0.0.1; the socket is this job's)"
}

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

# ---- hpcserve functions: tracked ssh tunnels ----------------------------------
# Safe under `set -euo pipefail`. Every ssh tunnel started here is remembered by its
# control socket and stopped by hpcserve_tunnels_stop: a daemonised `ssh -f` leaves the
# job's process tree, so Slurm may not end it when the job ends.
hpcserve_tunnel_controls=()
hpcserve_tunnel_pids=()
hpcserve_tunnel_dir=
# shellcheck disable=SC2034  # for callers that want ssh's words after a failure
hpcserve_tunnel_error=

# hpcserve_tunnel HOST FORWARD...: `ssh -f -N` with the given -L/-R forwards. It returns 0
# only when every forward is in place (ExitOnForwardFailure=yes: without it ssh "succeeds"
# even when a port or socket is taken), and never prompts (BatchMode=yes). On failure,
# ssh's words are in hpcserve_tunnel_error too.
hpcserve_tunnel() {
  local host=$1 ctl check
  shift
  if [[ -z $hpcserve_tunnel_dir ]]; then
    hpcserve_tunnel_dir=$(mktemp -d /tmp/hpcserve-ssh.XXXXXX) || return 1
  fi
  ctl=$hpcserve_tunnel_dir/c${#hpcserve_tunnel_controls[@]}
  # ssh's messages go to the job log as before, and the last one is kept for the caller.
  if ! ssh -f -N -M -S "$ctl" -o ControlPersist=no -o BatchMode=yes -o ExitOnForwardFailure=yes \
    -o ServerAliveInterval=30 -o ServerAliveCountMax=3 "$@" -- "$host" </dev/null >/dev/null 2>"$ctl.err"; then
    # shellcheck disable=SC2034  # read by the callers that want it
    hpcserve_tunnel_error=$(tr '\n' ' ' <"$ctl.err")
    cat "$ctl.err" >&2
    rm -f "$ctl.err"
    return 1
  fi
  cat "$ctl.err" >&2   # warnings, if any (the daemon goes on writing there)
  hpcserve_tunnel_controls+=("$ctl")
  check=$(ssh -S "$ctl" -O check -- "$host" 2>&1) || true
  if [[ $check =~ pid=([0-9]+) ]]; then hpcserve_tunnel_pids+=("${BASH_REMATCH[1]}"); fi
}

# hpcserve_tunnels_stop: end every tunnel hpcserve_tunnel started (safe to call twice).
# shellcheck disable=SC2317  # called from a trap
hpcserve_tunnels_stop() {
  local ctl pid
  for ctl in ${hpcserve_tunnel_controls[@]+"${hpcserve_tunnel_controls[@]}"}; do
    ssh -S "$ctl" -O exit -- hpcserve >/dev/null 2>&1 || true
  done
  for pid in ${hpcserve_tunnel_pids[@]+"${hpcserve_tunnel_pids[@]}"}; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  hpcserve_tunnel_controls=()
  hpcserve_tunnel_pids=()
  if [[ -n $hpcserve_tunnel_dir ]]; then rm -rf "$hpcserve_tunnel_dir"; fi
  hpcserve_tunnel_dir=
}

# hpcserve_reverse_tunnel: ssh -R from the login node's session directory (0700, on the shared
# home) to the server's socket here; the watcher then needs no ssh to this node.
hpcserve_reverse_tunnel() {
  [[ -n ${SLURM_SUBMIT_HOST:-} ]] || hpcserve_die "SLURM_SUBMIT_HOST is not set: cannot open the reverse tunnel"
  hpcserve_reverse_socket=$hpcserve_dir/server.sock
  rm -f "$hpcserve_reverse_socket"
  hpcserve_tunnel "$SLURM_SUBMIT_HOST" -R "$hpcserve_reverse_socket:$hpcserve_node_socket" ||
    hpcserve_die "reverse tunnel to $SLURM_SUBMIT_HOST failed (${hpcserve_tunnel_error:-no message from ssh}); check that '$(hpcserve_quote ssh "$SLURM_SUBMIT_HOST")' works from a compute node without a password"
  hpcserve_say "reverse tunnel: $SLURM_SUBMIT_HOST:$hpcserve_reverse_socket -> $hpcserve_node_socket"
}

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
    printf '  "port": %s,\n' "$hpcserve_port"
    printf '  "socket": %s,\n' "$(hpcserve_json "$hpcserve_node_socket")"
    printf '  "reverse_socket": %s,\n' "$(hpcserve_json "$hpcserve_reverse_socket")"
    printf '  "token": %s,\n' "$(hpcserve_json "$hpcserve_secret")"
    printf '  "secret_kind": "token",\n'
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
hpcserve_start_server       # hpcserve_launch (at the top) on a port proven to be this job's
hpcserve_relay              # the private socket forwards reach, owner-checked
hpcserve_reverse_tunnel     # ssh -R to the login node's session directory
hpcserve_publish            # connection.json: the watcher takes it from here
hpcserve_stay               # until the server ends, the job is cancelled or time is up
