# ---- hpcserve snippet: reverse tunnel from this job to the login node --------
{{HEADER}}
{{include functions.sh}}
{{include tunnels.sh}}
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
hpcserve_rt_stop() {   # end the tunnel; sshd leaves its socket behind, so remove it too
  hpcserve_tunnels_stop
  if [[ -z $hpcserve_rt_tcp_port ]]; then rm -f "$hpcserve_rt_socket"; fi
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
  rm -f "$hpcserve_rt_socket"   # sshd does not replace a stale socket (StreamLocalBindUnlink no)
  hpcserve_rt_spec=$hpcserve_rt_socket:127.0.0.1:$hpcserve_rt_port
  hpcserve_rt_where=$hpcserve_rt_host:$hpcserve_rt_socket
  hpcserve_rt_laptop=$hpcserve_rt_socket
fi
if ! hpcserve_tunnel "$hpcserve_rt_host" -R "$hpcserve_rt_spec"; then
  hpcserve_say "error: reverse tunnel to $hpcserve_rt_host failed; check that 'ssh $hpcserve_rt_host' works from a compute node without a password"
  exit 1
fi
hpcserve_say "reverse tunnel: $hpcserve_rt_where -> 127.0.0.1:$hpcserve_rt_port on $(hostname -s)"
hpcserve_say "on your laptop: ssh -N -L {{LAPTOP_PORT}}:$hpcserve_rt_laptop $(id -un)@$hpcserve_rt_host"
# ---- end of hpcserve snippet --------------------------------------------------
