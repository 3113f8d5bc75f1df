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
