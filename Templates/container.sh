# ---- --container: the server runs in an Apptainer (or Singularity) image ------

# hpcserve_use_container BIND...: the command that runs a program in the image, with the app's
# binds (SRC:DEST, or a directory at its own path; the node directory last), then the session directory.
hpcserve_use_container() {
  local runtime bind binds=()
  if command -v apptainer >/dev/null 2>&1; then runtime=apptainer
  elif command -v singularity >/dev/null 2>&1; then runtime=singularity
  else hpcserve_die "--container needs apptainer or singularity on $hpcserve_node; add --module NAME (e.g. apptainer)"
  fi
  for bind in "$@" "$hpcserve_dir"; do
    [[ ${bind%%:*} != *,* ]] || hpcserve_die "cannot bind $bind into the container: its path has a comma"
    binds+=(--bind "$bind")
  done
  hpcserve_container=("$runtime" exec "${binds[@]}" "$hpcserve_container_image")
  hpcserve_say "the server runs in $hpcserve_container_image with $runtime"
}
