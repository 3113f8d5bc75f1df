# ---- hpcserve snippet: license server through a gateway ----------------------
{{HEADER}}
{{include functions.sh}}
hpcserve_license_gateway={{GATEWAY}}
hpcserve_license_server={{SERVER}}
hpcserve_license_port={{PORT}}
hpcserve_license_vendor_ports=({{VENDOR_PORTS}})
hpcserve_license_attempts={{ATTEMPTS}}
hpcserve_license_range={{PORT_RANGE}}
trap hpcserve_tunnels_stop EXIT
trap 'exit 143' TERM INT HUP
hpcserve_license_local=
for ((hpcserve_i = 1; hpcserve_i <= hpcserve_license_attempts; hpcserve_i++)); do
  hpcserve_p=$(shuf -i "$hpcserve_license_range" -n 1)
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
  hpcserve_say "license forward on local port $hpcserve_p failed (attempt $hpcserve_i of $hpcserve_license_attempts)"
done
if [[ -z $hpcserve_license_local ]]; then
  hpcserve_say "error: no forward to $hpcserve_license_server:$hpcserve_license_port through $hpcserve_license_gateway after $hpcserve_license_attempts attempts; check that 'ssh $hpcserve_license_gateway' works from a compute node without a password"
  exit 1
fi
{{EXPORTS}}
hpcserve_say "license server $hpcserve_license_server:$hpcserve_license_port reachable as $hpcserve_license_local@localhost (127.0.0.1)"
# ---- end of hpcserve snippet --------------------------------------------------
