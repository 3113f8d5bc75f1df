#!/bin/bash
{{SBATCH}}
#
{{HEADER}}

# ==== your setup lines (trusted, placed verbatim) ==============================
# A function: the main sequence at the end runs it once the session is prepared.
hpcserve_setup() {
{{SETUP}}
}

# ==== ParaView pvserver: the server command, then what it needs ===============
# pvserver takes the connect-id only on its command line: on this exclusive node only you
# can see it there. The connect-id is the second lock; the bind address is the first.
hpcserve_launch() {
{{if SRUN}}
  hpcserve_start srun --ntasks={{PARAVIEW_RANKS}} pvserver --force-offscreen-rendering \
{{else}}
  hpcserve_start pvserver --force-offscreen-rendering \
{{end}}
    --server-port="$hpcserve_port" --connect-id="$hpcserve_secret" ${paraview_bind[@]+"${paraview_bind[@]}"}
}

hpcserve_prepare_app() {
  command -v pvserver >/dev/null 2>&1 ||
    hpcserve_die "pvserver is not on PATH on $hpcserve_node; add --module NAME (e.g. paraview) or a --setup line that provides it"
  if pvserver --help 2>&1 | grep -q -- '--bind-address'; then
    paraview_bind=(--bind-address=127.0.0.1)
  else
    paraview_bind=()
    hpcserve_say "warning: this pvserver has no --bind-address (ParaView before 5.13): it listens on every address of $hpcserve_node; only the exclusive allocation and the connect-id protect it"
  fi
}

{{include runtime.sh}}
