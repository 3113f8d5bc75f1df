#!/bin/bash
{{SBATCH}}
#
{{HEADER}}

# ==== your setup lines (trusted, placed verbatim) ==============================
# A function: the main sequence at the end runs it once the session is prepared.
hpcserve_setup() {
{{SETUP}}
}

# ==== RStudio Server: the server command, then what it needs ==================
# rserver runs as you; its data, database, cookie key and password helper are this job's own.
hpcserve_launch() {
  TMPDIR=$rstudio_tmp hpcserve_start {{CONTAINER_PREFIX}}rserver \
    --server-user="$rstudio_user" \
    --server-daemonize=0 \
    --server-data-dir="$rstudio_data" \
    --server-pid-file="$rstudio_data/rserver.pid" \
    --database-config-file="$hpcserve_dir/rstudio-database.conf" \
    --secure-cookie-key-file="$hpcserve_dir/rstudio-secure-cookie-key" \
    --auth-none=0 \
    --auth-pam-helper-path="$hpcserve_dir/rstudio-auth" \
    --auth-encrypt-password=0 \
    ${rstudio_which_r[@]+"${rstudio_which_r[@]}"} \
{{if TCP}}
    --www-address=127.0.0.1 --www-port="$hpcserve_port"
{{else}}
    --www-socket="$hpcserve_node_socket"
{{end}}
}

hpcserve_prepare_app() {
{{if not CONTAINER}}
  command -v rserver >/dev/null 2>&1 ||
    hpcserve_die "rserver is not on PATH on $hpcserve_node; add --module NAME (e.g. rstudio-server) or a --setup line that provides it"
{{end}}
  rstudio_user=$(id -un)
  rstudio_data=$hpcserve_node_dir/rstudio-data     # rserver's sockets and state: node-local, private
  rstudio_tmp=$hpcserve_node_dir/tmp               # a private /tmp for rsession
  mkdir -p "$rstudio_data" "$rstudio_tmp" "$hpcserve_node_dir/rstudio-db" || hpcserve_die "cannot create $hpcserve_node_dir"
{{if CONTAINER}}
  # The rocker recipe: this job's own writable /run, /tmp and /var/lib/rstudio-server in the image
  # (the sqlite database.conf below is given with --database-config-file).
  mkdir -p "$hpcserve_node_dir/rstudio-run" "$hpcserve_node_dir/rstudio-var-lib" || hpcserve_die "cannot create $hpcserve_node_dir"
  hpcserve_use_container "$hpcserve_node_dir/rstudio-run:/run" "$rstudio_tmp:/tmp" \
    "$hpcserve_node_dir/rstudio-var-lib:/var/lib/rstudio-server" "$hpcserve_node_dir"
{{end}}

  # The password: a 0600 file in the session directory, read by the helper rserver calls.
  printf '%s\n' "$hpcserve_secret" >"$hpcserve_dir/rstudio-password" || hpcserve_die "cannot write the password file"
  od -An -N32 -tx1 /dev/urandom | tr -d ' \n' >"$hpcserve_dir/rstudio-secure-cookie-key" ||
    hpcserve_die "cannot write the cookie key"
  printf 'provider=sqlite\ndirectory=%s\n' "$hpcserve_node_dir/rstudio-db" >"$hpcserve_dir/rstudio-database.conf"
  # shellcheck disable=SC2016  # the helper's own variables, written literally
  {
    printf '#!/bin/bash\n'
    printf '# PAM helper for rserver, job %s: user name in $1, password on stdin (no newline);\n' "$SLURM_JOB_ID"
    printf '# exit 0 accepts. Newer rserver versions add two more arguments.\n'
    printf 'expected_user=%q\n' "$rstudio_user"
    printf 'password_file=%q\n' "$hpcserve_dir/rstudio-password"
    printf '%s\n' 'IFS= read -r password || [[ -n $password ]] || exit 1' \
      '[[ -r $password_file ]] || exit 1' \
      'expected=$(<"$password_file")' \
      '[[ $1 == "$expected_user" && -n $expected && $password == "$expected" ]] && exit 0' \
      'exit 1'
  } >"$hpcserve_dir/rstudio-auth" || hpcserve_die "cannot write the password helper"
  chmod 0700 "$hpcserve_dir/rstudio-auth"
{{if not TCP}}
  {{CONTAINER_PREFIX}}rserver --help 2>&1 | grep -q -- '--www-socket' ||
    hpcserve_die "this rserver has no --www-socket (RStudio Server 2024.12 or later); use --listen tcp"
{{end}}
  rstudio_which_r=()
{{if not CONTAINER}}
  if command -v R >/dev/null 2>&1; then rstudio_which_r=(--rsession-which-r="$(command -v R)"); fi
{{end}}
}

{{include runtime.sh}}
