# ---- hpcserve snippet: reverse tunnel from this job to the login node --------
{{HEADER}}
{{include functions.sh}}
{{include tunnels.sh}}

# hpcserve_socket_listening PATH: true when a process on this host listens on the Unix socket
# PATH (read from /proc/net/unix, so no connection is made; flag 00010000 is "listening").
# Where there is no /proc/net/unix it cannot tell, and says so (status 2).
hpcserve_socket_listening() {
  local line flags
  [[ -r /proc/net/unix ]] || return 2
  while IFS= read -r line; do
    [[ $line == *" $1" ]] || continue
    read -r _ _ _ flags _ <<<"$line"
    if [[ $flags =~ ^[0-9A-Fa-f]+$ ]] && (((16#$flags & 16#10000) != 0)); then return 0; fi
  done </proc/net/unix
  return 1
}

# hpcserve_clear_socket PATH: make way for a new socket at PATH. Only a socket of ours that
# nothing here listens on (a stale one from an earlier job) is removed; anything else at PATH
# is an error that names it. A socket on a shared file system that a process on another host
# listens on looks stale from here: keep such sockets in a directory of their own.
hpcserve_clear_socket() {
  local p=$1 status=0
  if [[ ! -e $p && ! -L $p ]]; then return 0; fi
  if [[ -L $p || ! -S $p ]]; then
    hpcserve_say "error: $p exists and is not a socket; hpcserve removes only a stale socket of its own: move it away or choose another path"
    return 1
  fi
  if [[ ! -O $p ]]; then
    hpcserve_say "error: socket $p is not yours; choose another path"
    return 1
  fi
  hpcserve_socket_listening "$p" || status=$?
  if ((status == 0)); then
    hpcserve_say "error: something listens on $p; stop it or choose another path"
    return 1
  elif ((status == 2)); then
    hpcserve_say "error: cannot tell whether anything listens on $p (no /proc/net/unix); remove it yourself if it is stale"
    return 1
  fi
  rm -f -- "$p"
}

hpcserve_rt_port={{PORT}}
hpcserve_rt_host={{HOST}}
hpcserve_rt_tcp_port={{TCP_PORT}}
hpcserve_rt_socket={{SOCKET}}
if [[ -z $hpcserve_rt_host ]]; then
  hpcserve_rt_host=${SLURM_SUBMIT_HOST:-}
fi
if [[ -z $hpcserve_rt_host ]]; then
  hpcserve_say "error: SLURM_SUBMIT_HOST is not set; run this inside a Slurm job or give --host"
  exit 1
fi
hpcserve_rt_made=
hpcserve_rt_stop() {   # end the tunnel; sshd leaves its socket behind, so remove it too
  hpcserve_tunnels_stop
  # Only the socket this tunnel made: never what was there before, nor what replaced it.
  if [[ -n $hpcserve_rt_made && -S $hpcserve_rt_socket && -O $hpcserve_rt_socket ]]; then
    rm -f -- "$hpcserve_rt_socket"
  fi
  hpcserve_rt_made=
}
trap hpcserve_rt_stop EXIT
trap 'exit 143' TERM INT HUP
if [[ -n $hpcserve_rt_tcp_port ]]; then
  hpcserve_say "warning: TCP port $hpcserve_rt_tcp_port on $hpcserve_rt_host is open to every user logged in there"
  hpcserve_rt_spec=127.0.0.1:$hpcserve_rt_tcp_port:127.0.0.1:$hpcserve_rt_port
  hpcserve_rt_where=$hpcserve_rt_host:$hpcserve_rt_tcp_port
  hpcserve_rt_laptop=127.0.0.1:$hpcserve_rt_tcp_port
else
  if [[ -z $hpcserve_rt_socket ]]; then
    # The session directory hpcserve uses: private (0700), on the shared home.
    if [[ ! ${SLURM_JOB_ID:-} =~ ^[0-9]+$ ]]; then
      hpcserve_say "error: SLURM_JOB_ID is not set; run this inside a Slurm job or give --socket"
      exit 1
    fi
    hpcserve_private_dir "${HPCSERVE_DIR:-$HOME/.hpcserve}" || exit 1
    hpcserve_private_dir "${HPCSERVE_DIR:-$HOME/.hpcserve}/jobs" || exit 1
    hpcserve_private_dir "${HPCSERVE_DIR:-$HOME/.hpcserve}/jobs/$SLURM_JOB_ID" || exit 1
    hpcserve_rt_socket=${HPCSERVE_DIR:-$HOME/.hpcserve}/jobs/$SLURM_JOB_ID/server.sock
  else
    hpcserve_private_dir "$(dirname "$hpcserve_rt_socket")" || exit 1
  fi
  if [[ $hpcserve_rt_socket == *:* ]]; then
    hpcserve_say "error: socket path $hpcserve_rt_socket contains ':' (ssh's forward syntax); set HPCSERVE_DIR to a path without one"
    exit 1
  fi
  # sshd does not replace a stale socket (StreamLocalBindUnlink no): remove a stale one of
  # ours, and stop at anything else.
  hpcserve_clear_socket "$hpcserve_rt_socket" || exit 1
  hpcserve_rt_spec=$hpcserve_rt_socket:127.0.0.1:$hpcserve_rt_port
  hpcserve_rt_where=$hpcserve_rt_host:$hpcserve_rt_socket
  hpcserve_rt_laptop=$hpcserve_rt_socket
fi
if ! hpcserve_tunnel "$hpcserve_rt_host" -R "$hpcserve_rt_spec"; then
  hpcserve_say "error: reverse tunnel to $hpcserve_rt_host failed; check that '$(hpcserve_quote ssh "$hpcserve_rt_host")' works from a compute node without a password"
  exit 1
fi
hpcserve_rt_made=1
hpcserve_say "reverse tunnel: $hpcserve_rt_where -> 127.0.0.1:$hpcserve_rt_port on $(hostname -s)"
hpcserve_say "on your laptop: $(hpcserve_quote ssh -N -L "{{LAPTOP_PORT}}:$hpcserve_rt_laptop" "$(id -un)@$hpcserve_rt_host")"
# ---- end of hpcserve snippet --------------------------------------------------
