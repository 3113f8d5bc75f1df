#!/bin/bash
{{SBATCH}}
#
{{HEADER}}

# ==== your setup lines (trusted, placed verbatim) ==============================
# A function: the main sequence at the end runs it once the session is prepared.
hpcserve_setup() {
{{SETUP}}
}

# ==== JupyterLab: the server command, then what it needs ======================
# port_retries=0: fail rather than drift silently to another port.
hpcserve_launch() {
  JUPYTER_TOKEN_FILE=$hpcserve_node_dir/token JUPYTER_RUNTIME_DIR=$hpcserve_node_dir/runtime \
{{if CLASSIC}}
    hpcserve_start {{CONTAINER_PREFIX}}jupyter notebook --no-browser --ServerApp.port_retries=0 \
{{else}}
    hpcserve_start {{CONTAINER_PREFIX}}jupyter lab --no-browser --ServerApp.port_retries=0 \
{{end}}
{{if TCP}}
    --ip=127.0.0.1 --port="$hpcserve_port"
{{else}}
    --sock="$hpcserve_node_socket" --sock-mode=0600
{{end}}
}

hpcserve_prepare_app() {
{{if CONTAINER}}
  hpcserve_use_container "$hpcserve_node_dir"   # jupyter is in the image
{{else}}
  command -v jupyter >/dev/null 2>&1 ||
    hpcserve_die "jupyter is not on PATH on $hpcserve_node; add --module NAME or --setup 'source VENV/bin/activate'"
{{end}}
  # The token file (not in the environment kernels inherit) must not end in a newline.
  printf '%s' "$hpcserve_secret" >"$hpcserve_node_dir/token" || hpcserve_die "cannot write the token file"
{{if CLASSIC}}
  hpcserve_url_path=/tree
{{end}}
}

{{include runtime.sh}}
