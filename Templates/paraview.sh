#!/bin/bash
{{SBATCH}}
#
{{HEADER}}
{{include common.sh}}

# ---- your setup lines (trusted, placed verbatim) ------------------------------
{{SETUP}}

# ---- ParaView pvserver --------------------------------------------------------
command -v pvserver >/dev/null 2>&1 ||
  hpcserve_die "pvserver is not on PATH on $hpcserve_node; add --module NAME (e.g. paraview) or a --setup line that provides it"
paraview_ranks={{PARAVIEW_RANKS}}
# pvserver takes the connect-id only on its command line: on this exclusive node only you
# can see it there. The connect-id is the second lock; the bind address is the first.
if pvserver --help 2>&1 | grep -q -- '--bind-address'; then
  paraview_bind=(--bind-address=127.0.0.1)
else
  paraview_bind=()
  hpcserve_say "warning: this pvserver has no --bind-address (ParaView before 5.13): it listens on every address of $hpcserve_node; only the exclusive allocation and the connect-id protect it"
fi

# hpcserve_launch: start the server (again on another port if one was taken).
hpcserve_launch() {
  local args=(--force-offscreen-rendering --server-port="$hpcserve_port" --connect-id="$hpcserve_secret" ${paraview_bind[@]+"${paraview_bind[@]}"})
  if ((paraview_ranks > 1)); then
    hpcserve_start srun --ntasks="$paraview_ranks" pvserver "${args[@]}"
  else
    hpcserve_start pvserver "${args[@]}"
  fi
}
hpcserve_serve
