# ---- hpcserve functions (private directories, tracked ssh tunnels) -----------
# Safe under `set -euo pipefail`. Every ssh tunnel started here is remembered by its
# control socket and stopped by hpcserve_tunnels_stop: a daemonised `ssh -f` leaves the
# job's process tree, so Slurm may not end it when the job ends.
hpcserve_tunnel_controls=()
hpcserve_tunnel_pids=()
hpcserve_tunnel_dir=

hpcserve_say() { printf '%(%H:%M:%S)T hpcserve: %s\n' -1 "$*" >&2; }

# hpcserve_private_dir DIR: create DIR (0700) or accept it only if it is a real directory,
# owned by us, that no one else can read or enter (the rule ssh's StrictModes follows).
hpcserve_private_dir() {
  local d=$1 info
  if [[ -L $d ]]; then hpcserve_say "error: $d is a symbolic link; remove it"; return 1; fi
  if [[ ! -d $d ]] && ! (umask 077 && mkdir -p "$d"); then
    hpcserve_say "error: cannot create $d"; return 1
  fi
  info=$(stat -c '%u %a' "$d") || { hpcserve_say "error: cannot stat $d"; return 1; }
  if [[ ${info%% *} != "$(id -u)" ]]; then
    hpcserve_say "error: $d is not owned by you; remove it or fix its owner"; return 1
  fi
  if (((8#${info##* } & 8#077) != 0)); then
    hpcserve_say "error: $d can be used by other users (mode ${info##* }); run: chmod 700 $(hpcserve_quote "$d")"; return 1
  fi
}

# hpcserve_quote WORD...: the words shell-quoted, for a command a person is to paste.
hpcserve_quote() {
  local quoted
  printf -v quoted '%q ' "$@"
  printf '%s' "${quoted% }"
}

# hpcserve_tunnel HOST FORWARD...: `ssh -f -N` with the given -L/-R forwards. It returns 0
# only when every forward is in place (ExitOnForwardFailure=yes: without it ssh "succeeds"
# even when a port or socket is taken), and never prompts (BatchMode=yes).
hpcserve_tunnel() {
  local host=$1 ctl check
  shift
  if [[ -z $hpcserve_tunnel_dir ]]; then
    hpcserve_tunnel_dir=$(mktemp -d /tmp/hpcserve-ssh.XXXXXX) || return 1
  fi
  ctl=$hpcserve_tunnel_dir/c${#hpcserve_tunnel_controls[@]}
  ssh -f -N -M -S "$ctl" -o ControlPersist=no -o BatchMode=yes -o ExitOnForwardFailure=yes \
    -o ServerAliveInterval=30 -o ServerAliveCountMax=3 "$@" -- "$host" </dev/null >/dev/null || return
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
