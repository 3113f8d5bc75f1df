# ---- hpcserve snippet: license server through a gateway ----------------------
{{HEADER}}
{{include functions.sh}}
{{include tunnels.sh}}
hpcserve_license_gateway={{GATEWAY}}
hpcserve_license_server={{SERVER}}
hpcserve_license_port={{PORT}}
hpcserve_license_vendor_ports=({{VENDOR_PORTS}})
hpcserve_license_attempts={{ATTEMPTS}}
hpcserve_license_range={{PORT_RANGE}}   # empty: 1024-65535 less the kernel's ephemeral range
trap hpcserve_tunnels_stop EXIT
trap 'exit 143' TERM INT HUP

# hpcserve_license_pick: a port in the range, from a random start, that nothing on this node
# listens on (any address) and that has not failed before; outside the ephemeral range
# (where outgoing connections take their ports) unless a range was given.
# hpcserve_license_in_use: the ports (hex) something on this node listens on, any address.
hpcserve_license_in_use() { awk '$4 == "0A" { n = split($2, a, ":"); print a[n] }' /proc/net/tcp /proc/net/tcp6 2>/dev/null; }
declare -A hpcserve_license_skip=()
hpcserve_license_pick() {
  local lo=1024 hi=65535 elo=1 ehi=0 hex p i
  local -A taken=()
  if [[ -n $hpcserve_license_range ]]; then
    lo=${hpcserve_license_range%-*} hi=${hpcserve_license_range#*-}
  elif ! read -r elo ehi </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null; then
    elo=32768 ehi=60999
  fi
  while read -r hex; do taken[$hex]=1; done < <(hpcserve_license_in_use)
  p=$(shuf -i "$lo-$hi" -n 1 2>/dev/null)
  if [[ ! $p =~ ^[0-9]+$ ]] || ((p < lo || p > hi)); then p=$lo; fi
  for ((i = lo; i <= hi; i++, p = p < hi ? p + 1 : lo)); do
    ((p >= elo && p <= ehi)) && continue
    printf -v hex '%04X' "$p"
    [[ -n ${taken[$hex]:-} || -n ${hpcserve_license_skip[$p]:-} ]] && continue
    echo "$p"
    return 0
  done
  return 1
}

for hpcserve_v in ${hpcserve_license_vendor_ports[@]+"${hpcserve_license_vendor_ports[@]}"}; do
  if hpcserve_license_in_use | grep -qx "$(printf '%04X' "$hpcserve_v")"; then
    hpcserve_say "error: vendor-daemon port $hpcserve_v is already taken on $(hostname -s) by another process; the license server fixes that number, so it cannot move: run on a node of your own (--exclusive)"
    exit 1
  fi
done
hpcserve_license_local=
for ((hpcserve_i = 1; hpcserve_i <= hpcserve_license_attempts; hpcserve_i++)); do
  if ! hpcserve_p=$(hpcserve_license_pick); then
    hpcserve_say "error: ports taken: every local port in ${hpcserve_license_range:-1024-65535 (less the ephemeral range)} on $(hostname -s) is in use; give --port-range, or run on a node of your own (--exclusive)"
    exit 1
  fi
  # 127.0.0.1 explicitly: with a bare port ssh also binds ::1, and a port taken on one
  # address only does not count as a failure, so ExitOnForwardFailure would not fire.
  hpcserve_forwards=(-L "127.0.0.1:$hpcserve_p:$hpcserve_license_server:$hpcserve_license_port")
  for hpcserve_v in ${hpcserve_license_vendor_ports[@]+"${hpcserve_license_vendor_ports[@]}"}; do
    hpcserve_forwards+=(-L "127.0.0.1:$hpcserve_v:$hpcserve_license_server:$hpcserve_v")
  done
  if hpcserve_tunnel "$hpcserve_license_gateway" "${hpcserve_forwards[@]}"; then
    hpcserve_license_local=$hpcserve_p
    break
  fi
  if [[ $hpcserve_tunnel_error != *"Address already in use"* && $hpcserve_tunnel_error != *"cannot listen to port"* ]]; then
    hpcserve_say "error: ssh to $hpcserve_license_gateway failed (${hpcserve_tunnel_error:-no message}); check that '$(hpcserve_quote ssh "$hpcserve_license_gateway")' works from a compute node without a password"
    exit 1
  fi
  hpcserve_license_skip[$hpcserve_p]=1
  hpcserve_say "license forward on local port $hpcserve_p failed: another process took the port first (attempt $hpcserve_i of $hpcserve_license_attempts)"
done
if [[ -z $hpcserve_license_local ]]; then
  hpcserve_say "error: ports taken: another process took each of the $hpcserve_license_attempts local ports tried before ssh could bind it; raise --attempts, or run on a node of your own (--exclusive)"
  exit 1
fi
{{EXPORTS}}
hpcserve_say "license server $hpcserve_license_server:$hpcserve_license_port reachable as $hpcserve_license_local@localhost (127.0.0.1)"
# ---- end of hpcserve snippet --------------------------------------------------
