#!/bin/bash
{{SBATCH}}
#
{{HEADER}}

# ==== your setup lines (trusted, placed verbatim) ==============================
# A function: the main sequence at the end runs it once the session is prepared.
hpcserve_setup() {
{{SETUP}}
}

# ==== TensorBoard: the server command, then what it needs =====================
# No login of its own: 127.0.0.1 on a port proven to be this job's, reached only through
# the job's private relay socket. --load_fast=false: no second (data server) port.
hpcserve_launch() {
  hpcserve_start tensorboard --logdir="$tensorboard_logdir" --host=127.0.0.1 --port="$hpcserve_port" \
    --load_fast=false
}

hpcserve_prepare_app() {
  command -v tensorboard >/dev/null 2>&1 ||
    hpcserve_die "tensorboard is not on PATH on $hpcserve_node; add --module NAME or --setup 'source VENV/bin/activate'"
  tensorboard_logdir={{TENSORBOARD_LOGDIR}}
  [[ -d $tensorboard_logdir ]] ||
    hpcserve_say "warning: --logdir $tensorboard_logdir is not a directory on $hpcserve_node (yet); TensorBoard shows runs once it has them"
}

{{include runtime.sh}}
