#!/bin/bash
{{SBATCH}}
#
{{HEADER}}

# ==== your setup lines (trusted, placed verbatim) ==============================
# A function: the main sequence at the end runs it once the session is prepared.
hpcserve_setup() {
{{SETUP}}
}

# ==== code-server: the server command, then what it needs =====================
# Password auth with the per-job secret from a 0600 config file; the session socket is node-local.
hpcserve_launch() {
  hpcserve_start {{CONTAINER_PREFIX}}code-server --config "$hpcserve_node_dir/code-server.yaml" \
    --user-data-dir "$code_server_data" --session-socket "$hpcserve_node_dir/code-server-ipc.sock" \
    --disable-telemetry --disable-update-check \
{{if TCP}}
    --bind-addr "127.0.0.1:$hpcserve_port"
{{else}}
    --socket "$hpcserve_node_socket" --socket-mode 600
{{end}}
}

hpcserve_prepare_app() {
{{if not CONTAINER}}
  command -v code-server >/dev/null 2>&1 ||
    hpcserve_die "code-server is not on PATH on $hpcserve_node; add --module NAME or a --setup line that provides it"
{{end}}
  code_server_data=${XDG_DATA_HOME:-$HOME/.local/share}/code-server   # yours, across jobs
  mkdir -p "$code_server_data" || hpcserve_die "cannot create $code_server_data"
{{if CONTAINER}}
  hpcserve_use_container "$code_server_data" "$hpcserve_node_dir"
{{end}}
  local version
  version=$({{CONTAINER_PREFIX}}code-server --version 2>/dev/null | awk 'NR == 1 { print $1 }')
  # X.Y.Z at least 4.14.1 (a suffix such as -rc.1 is ignored)
  if [[ ! $version =~ ^[0-9]+\.[0-9]+\.[0-9]+ ]] ||
    [[ $(printf '%s\n' 4.14.1 "${BASH_REMATCH[0]}" | sort -V | head -n 1) != 4.14.1 ]]; then
    hpcserve_die "code-server ${version:-of unknown version} is older than 4.14.1, whose session socket is private (older ones share one in /tmp); load a newer code-server"
  fi
  unset PASSWORD HASHED_PASSWORD   # they would override the config file
  # The secret in double quotes: YAML must read it as a string, whatever its digits.
  printf 'auth: password\npassword: "%s"\ncert: false\n' "$hpcserve_secret" >"$hpcserve_node_dir/code-server.yaml" ||
    hpcserve_die "cannot write the code-server config file"
}

{{include runtime.sh}}
