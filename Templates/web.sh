#!/bin/bash
{{SBATCH}}
#
{{HEADER}}

# ==== your setup lines (trusted, placed verbatim) ==============================
# A function: the main sequence at the end runs it once the session is prepared.
hpcserve_setup() {
{{SETUP}}
}

# ==== your web app: your --command (trusted, placed verbatim) ==================
# {host} became 127.0.0.1, {port} the job's port, {socket} the job's private socket.
# shellcheck disable=SC2317  # run by hpcserve_start (hpcserve_launch)
hpcserve_web_command() {
{{WEB_COMMAND_LINE}}
}

# HPCSERVE_SECRET: the per-job secret, in your command's environment for an app that uses one.
hpcserve_launch() {
{{if CONTAINER}}
  # In the image, bash there runs the function above, with the values it uses in its environment.
{{if TCP}}
  HPCSERVE_SECRET=$hpcserve_secret hpcserve_port=$hpcserve_port \
{{else}}
  HPCSERVE_SECRET=$hpcserve_secret hpcserve_node_socket=$hpcserve_node_socket \
{{end}}
    hpcserve_start "${hpcserve_container[@]}" bash -c "$(declare -f hpcserve_web_command); hpcserve_web_command"
{{else}}
  HPCSERVE_SECRET=$hpcserve_secret hpcserve_start hpcserve_web_command
{{end}}
}

hpcserve_prepare_app() {
{{if CONTAINER}}
  hpcserve_use_container "$hpcserve_node_dir"   # your command runs in the image (with bash there)
{{else}}
  :   # nothing to prepare: your command brings what it needs
{{end}}
}

{{include runtime.sh}}
