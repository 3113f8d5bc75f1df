#!/bin/bash
{{SBATCH}}
#
{{HEADER}}
{{include common.sh}}

# ---- your setup lines (trusted, placed verbatim) ------------------------------
{{SETUP}}

# ---- JupyterLab ---------------------------------------------------------------
command -v jupyter >/dev/null 2>&1 ||
  hpcserve_die "jupyter is not on PATH on $hpcserve_node; add --module NAME or --setup 'source VENV/bin/activate'"
jupyter_interface=lab
jupyter_classic={{JUPYTER_CLASSIC}}
if [[ $jupyter_classic == 1 ]]; then
  jupyter_interface=notebook
  hpcserve_url_path=/tree
fi
# The token through a 0600 file (never argv, and not in the environment kernels inherit);
# a runtime directory of this job's own (0700), so a 'jupyter server list' on another host
# cannot delete this server's files. The file must not end in a newline.
printf '%s' "$hpcserve_secret" >"$hpcserve_node_dir/token" || hpcserve_die "cannot write the token file"

# hpcserve_launch: start the server (again on another port if one was taken).
hpcserve_launch() {
  # port_retries=0: fail rather than drift silently to another port.
  local args=("$jupyter_interface" --no-browser --ServerApp.port_retries=0)
  if [[ $hpcserve_listen == socket ]]; then
    args+=(--sock="$hpcserve_node_socket" --sock-mode=0600)
  else
    args+=(--ip=127.0.0.1 --port="$hpcserve_port")
  fi
  JUPYTER_TOKEN_FILE=$hpcserve_node_dir/token JUPYTER_RUNTIME_DIR=$hpcserve_node_dir/runtime \
    hpcserve_start jupyter "${args[@]}"
}
hpcserve_serve
