#!/bin/bash
# Does a WireGuard peer that has been retrying its handshake for a while connect at once when the other side
# finally configures it? (Issue #20: the ~90 s connects at N=10/200 were suspected to be REKEY_ATTEMPT_TIME.)
# Per delay D, one pair of fresh network namespaces (hw-wglp-*) joined by a veth, a wireguard-go in each:
#   R: peer = G (endpoint, allowed IPs, PSK, persistent-keepalive 10), up at t0: it starts initiating at once
#      and retries every 5 s; G has no peer for it, so every initiation is dropped.
#   G: configures R's peer (endpoint, keepalive 10, PSK) at t0 + D, as hawser's driver does for a new cable.
# Prints how long after G's `wg set` G saw its first handshake. The pairs run side by side; traffic stays in
# their own namespaces; processes are stopped by PID and the namespaces deleted on exit.
#   bash bench/scale/late-peer.sh [delays in s, default "3 30 70 88 100"]   (root; ~D_max + 10 s)
set -u
DELAYS=${*:-3 30 70 88 100}
WORK=$(mktemp -d /tmp/hw-wglp.XXXXXX)
pair() {
  local id=$1 delay=$2 sfx=$RANDOM
  local G=hw-wglp-g$id-$sfx R=hw-wglp-r$id-$sfx gdev=wlg$id$sfx rdev=wlr$id$sfx dir=$WORK/$id
  mkdir -p "$dir"
  # Each pair runs in its own subshell: these are its globals, read by its EXIT trap after the function returns.
  gp='' rp=''
  # shellcheck disable=SC2064
  trap "kill \$gp \$rp 2>/dev/null; ip netns del $G 2>/dev/null; ip netns del $R 2>/dev/null" EXIT
  ip netns add "$G"; ip netns add "$R"
  ip link add "gv$sfx" netns "$G" type veth peer name "rv$sfx" netns "$R"
  ip -n "$G" addr add "10.250.$id.1/24" dev "gv$sfx"; ip -n "$G" link set "gv$sfx" up
  ip -n "$R" addr add "10.250.$id.2/24" dev "rv$sfx"; ip -n "$R" link set "rv$sfx" up
  LOG_LEVEL=verbose ip netns exec "$G" wireguard-go -f "$gdev" > "$dir/g.log" 2>&1 & gp=$!
  LOG_LEVEL=verbose ip netns exec "$R" wireguard-go -f "$rdev" > "$dir/r.log" 2>&1 & rp=$!
  for _ in $(seq 100); do ip -n "$G" link show "$gdev" > /dev/null 2>&1 && ip -n "$R" link show "$rdev" > /dev/null 2>&1 && break; sleep 0.1; done
  (umask 077; wg genkey > "$dir/gk"; wg genkey > "$dir/rk"; wg genpsk > "$dir/psk")
  ip netns exec "$G" wg set "$gdev" private-key "$dir/gk" listen-port 4500; ip -n "$G" link set "$gdev" up
  ip netns exec "$R" wg set "$rdev" private-key "$dir/rk" listen-port 4500 peer "$(wg pubkey < "$dir/gk")" \
    endpoint "10.250.$id.1:4500" allowed-ips 10.99.0.0/16 persistent-keepalive 10 preshared-key "$dir/psk"
  ip -n "$R" link set "$rdev" up
  sleep "$delay"
  local ta; ta=$(date +%s%N)
  ip netns exec "$G" wg set "$gdev" peer "$(wg pubkey < "$dir/rk")" endpoint "10.250.$id.2:4500" allowed-ips 10.98.0.0/16 \
    persistent-keepalive 10 preshared-key "$dir/psk"
  local hs=0
  while [ "${hs:-0}" = 0 ]; do
    hs=$(ip netns exec "$G" wg show "$gdev" latest-handshakes | awk '{print $2}')
    if (( ($(date +%s%N) - ta) / 1000000 > 150000 )); then echo "D=${delay}s: no handshake within 150 s"; return; fi
    [ "${hs:-0}" = 0 ] && sleep 0.05
  done
  local tries; tries=$(grep -c 'retrying (try' "$dir/r.log")
  printf 'D=%3ss: G handshook %5d ms after configuring the peer (R had retried %s times, given up %s times)\n' \
    "$delay" $(( ($(date +%s%N) - ta) / 1000000 )) "$tries" "$(grep -c 'giving up' "$dir/r.log")"
}
i=0
for d in $DELAYS; do i=$((i + 1)); pair "$i" "$d" & done
wait
rm -rf "$WORK"
