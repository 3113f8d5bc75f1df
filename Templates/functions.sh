hpcserve_say() { printf '%(%H:%M:%S)T hpcserve: %s\n' -1 "$*" >&2; }   # a line for the job log
# hpcserve_private_dir DIR: create DIR (0700) or accept it only if it is a real directory,
# owned by us, that no one else can read or enter (the rule ssh's StrictModes follows).
hpcserve_private_dir() {
  local d=$1 info why=
  if [[ -L $d ]]; then why="$d is a symbolic link; remove it"
  elif [[ ! -d $d ]] && ! (umask 077 && mkdir -p "$d"); then why="cannot create $d"
  elif ! info=$(stat -c '%u %a' "$d"); then why="cannot stat $d"
  elif [[ ${info%% *} != "$(id -u)" ]]; then why="$d is not owned by you; remove it or fix its owner"
  elif (((8#${info##* } & 8#077) != 0)); then why="$d can be used by other users (mode ${info##* }); run: chmod 700 $(hpcserve_quote "$d")"
  fi
  [[ -z $why ]] || { hpcserve_say "error: $why"; return 1; }
}
# hpcserve_quote WORD...: the words shell-quoted, for a command a person is to paste.
hpcserve_quote() { local q; printf -v q '%q ' "$@"; printf '%s' "${q% }"; }
