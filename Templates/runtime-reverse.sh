{{include tunnels.sh}}

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
