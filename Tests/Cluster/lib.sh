# shellcheck shell=bash disable=SC2034  # (variables are used by the scripts that source this)
# lib.sh - shared settings for up / down / on / verify / verify-policy (sourced, not run).
# Everything the cluster creates is named here, so `down` can remove exactly that.

# Topology: three "hosts", each a network namespace + a UTS namespace (own hostname),
# all sharing this machine's single filesystem (like a shared GPFS /home).
TB_BRIDGE=hpctb0                  # Linux bridge in the root namespace ("the switch")
TB_BRIDGE_IP=10.77.0.1            # root namespace's own address on it (debug access)
TB_PREFIX=24
TB_HOSTS=(login node01 node02)    # login: slurmctld + sshd ; nodeNN: slurmd + sshd
declare -A TB_IP=([login]=10.77.0.10 [node01]=10.77.0.11 [node02]=10.77.0.12)
TB_COMPUTE=(node01 node02)
TB_USERS=(alice bob)
# local users of "the laptop" (the root network namespace), see up
TB_LAPTOP_USERS=(lap1 lap2)
TB_LAPTOP_HOME=/var/lib/hpcserve-laptop

TB_STATE=/var/lib/hpcserve-testbed   # persistent: ssh host keys, sshd configs, knobs, policy
TB_RUN=/run/hpcserve-testbed         # runtime: pid files, persistent UTS-namespace handles
TB_LOG=/var/log/hpcserve-testbed     # sshd logs (slurm logs stay in /var/log/slurm)
TB_LOCK=/run/hpcserve-testbed.lock   # up/down take this lock (flock), so they never interleave
TB_POLICY=$TB_STATE/policy           # active site policy as written by the last `up`
# Root-owned helper for --ssh-needs-job. sshd insists that an AuthorizedKeysCommand and every
# directory above it are root-owned and not group/world-writable.
TB_AKC=$TB_STATE/bin/keys-if-job
# JupyterLab "site module": a venv (Debian's python refuses `pip install`, PEP 668), linked
# into /usr/local/bin, which is on PATH for runuser -l, ssh sessions and (inherited) jobs.
TB_VENV=/opt/hpcserve-testbed/jupyter
TB_VENV_LINKS=(jupyter jupyter-lab tensorboard)
TB_HOSTS_BEGIN='# BEGIN hpcserve-testbed (written by Tests/Cluster/up, removed by down)'
TB_HOSTS_END='# END hpcserve-testbed'

# Run a command "on" a host: enter its network + UTS namespaces (the filesystem is shared).
# 9>&- : never hand up/down's lock fd to a daemon (it would hold the lock forever).
tb_on() {
  local h=$1; shift
  nsenter --net="/run/netns/$h" --uts="$TB_RUN/uts/$h" -- "$@" 9>&-
}

# True if the pid in file $1 is alive and its command name is $2.
tb_pid_alive() {
  local f=$1 name=$2 pid
  [[ -s $f ]] || return 1
  pid=$(<"$f")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [[ -r /proc/$pid/stat ]] || return 1
  # /proc/PID/stat = "PID (comm) STATE ...". Zombies count as dead: PID 1 on this VM
  # (process_api) reaps orphans lazily (~2 s), so a killed daemon lingers as <defunct>
  # and `kill -0 PID` still succeeds.
  local stat; stat=$(<"/proc/$pid/stat") || return 1
  local comm=${stat#*(}; comm=${comm%)*}
  local st=${stat##*) }; st=${st%% *}
  [[ $comm == "$name"* && $st != Z && $st != X ]]
}

tb_log() { printf '[cluster %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
tb_die() { echo "${0##*/}: $*" >&2; exit 1; }
tb_need_root() { [[ $EUID -eq 0 ]] || tb_die "must run as root (it enters or changes the test cluster's namespaces, users and daemons)"; }

# Serialise up/down (e.g. two e2e tests switching policy at once).
tb_lock() {
  exec 9>"$TB_LOCK"
  flock -w 300 9 || tb_die "could not get $TB_LOCK within 300 s (another up/down running?)"
}
