# bash completion for hpcserve            -*- shell-script -*-
# Install: copy to /etc/bash_completion.d/hpcserve or source it from ~/.bashrc.
_hpcserve() {
  local cur prev words cword
  if declare -F _init_completion >/dev/null; then
    _init_completion || return
  else
    cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]} words=("${COMP_WORDS[@]}") cword=$COMP_CWORD
  fi
  local apps="jupyter rstudio paraview"
  local job_opts="--time --partition --account --qos --cpus-per-task --mem --gpus --gres --job-name
    --constraint --reservation --shared --module --setup --listen --reverse-tunnel --ready-timeout
    --template --output --help"
  case $prev in
    --listen) mapfile -t COMPREPLY < <(compgen -W "socket tcp" -- "$cur"); return ;;
    --env) mapfile -t COMPREPLY < <(compgen -W "LM_LICENSE_FILE MLM_LICENSE_FILE ANSYSLMD_LICENSE_FILE CDLMD_LICENSE_FILE SNPSLMD_LICENSE_FILE ARMLMD_LICENSE_FILE INTEL_LICENSE_FILE RLM_LICENSE" -- "$cur"); return ;;
    --template | --output | -o | --socket) mapfile -t COMPREPLY < <(compgen -f -- "$cur"); return ;;
    --partition | -p)
      mapfile -t COMPREPLY < <(compgen -W "$(sinfo -h -o %R 2>/dev/null)" -- "$cur"); return ;;
  esac
  if ((cword == 1)); then
    mapfile -t COMPREPLY < <(compgen -W "$apps watch list stop script snippet help --help --version" -- "$cur")
    return
  fi
  local watch_opts="--detach --cancel-on-exit --json --login-host --laptop-port --help"
  case ${words[1]} in
    jupyter | rstudio | paraview)
      local extra=""
      case ${words[1]} in jupyter) extra="--classic" ;; paraview) extra="--ranks" ;; esac
      mapfile -t COMPREPLY < <(compgen -W "${job_opts/--output/} $watch_opts $extra" -- "$cur") ;;
    watch | stop)
      if ((cword == 2)); then
        mapfile -t COMPREPLY < <(compgen -W "$(squeue --me -h -o %i 2>/dev/null)" -- "$cur")
      else
        mapfile -t COMPREPLY < <(compgen -W "$watch_opts" -- "$cur")
      fi ;;
    list) mapfile -t COMPREPLY < <(compgen -W "--all --json --help" -- "$cur") ;;
    script)
      if ((cword == 2)); then
        mapfile -t COMPREPLY < <(compgen -W "$apps --help" -- "$cur")
      else
        local extra=""
        case ${words[2]} in jupyter) extra="--classic" ;; paraview) extra="--ranks" ;; esac
        mapfile -t COMPREPLY < <(compgen -W "$job_opts $extra" -- "$cur")
      fi ;;
    snippet)
      if ((cword == 2)); then
        mapfile -t COMPREPLY < <(compgen -W "license reverse-tunnel --help" -- "$cur")
      elif [[ ${words[2]} == license ]]; then
        mapfile -t COMPREPLY < <(compgen -W "--gateway --server --port --env --vendor-port --port-range --attempts --help" -- "$cur")
      else
        mapfile -t COMPREPLY < <(compgen -W "--port --host --socket --insecure-tcp-port --laptop-port --help" -- "$cur")
      fi ;;
    help) mapfile -t COMPREPLY < <(compgen -W "$apps watch list stop script snippet" -- "$cur") ;;
  esac
}
complete -F _hpcserve hpcserve
