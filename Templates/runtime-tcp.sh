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

{{if USER_COMMAND}}
# hpcserve_listens_beyond_loopback PORT: true when a socket of yours listens on PORT at an
# address other than loopback (0.0.0.0, ::, the node's own): your --command may ignore {host}.
hpcserve_listens_beyond_loopback() {
  local hex
  printf -v hex '%04X' "$1"
  awk -v port="$hex" -v uid="$hpcserve_uid" '$4 == "0A" && $8 == uid {
    n = split($2, a, ":")
    if (a[n] == port && a[1] != "0100007F" && a[1] != "00000000000000000000000001000000" &&
      a[1] != "0000000000000000FFFF00000100007F") found = 1
  } END { exit !found }' /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

{{end}}
{{if HTTP_PROBE}}
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
{{else}}
# hpcserve_probe: a listener on the port, proven to be this job's, is enough: nothing is
# sent to it (pvserver would take a probe's connection for its one client).
hpcserve_probe() { true; }
{{end}}

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
