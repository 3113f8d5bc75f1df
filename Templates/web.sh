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
  HPCSERVE_SECRET=$hpcserve_secret hpcserve_start hpcserve_web_command
}

hpcserve_prepare_app() { :; }   # nothing to prepare: your command brings what it needs

{{include runtime.sh}}
