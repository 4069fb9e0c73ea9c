#!/bin/bash
# Run from the repository root. One run of one mode of remote17's interleaved A/B (docs/benchmarks.md, "remote17").
# One run of one mode: criu (CRIU-protocol transport), akka (bulk connection), akka-nobulk. Prints one line:
# mode run sim_wall_s daemon_cpu_s source_cpu_s ok
# HOSTDLL: the host to run (both sides); T: the tools dll.
mode=$1; i=$2
H=${HOSTDLL:-src/Host/bin/Release/net10.0/LazyActors.Host.dll}
T=${TOOLSDLL:-src/Tools/bin/Release/net10.0/LazyActors.Tools.dll}
IMG=${IMG:-/tmp/img4x128}
W=${WORKROOT:-/tmp}/ab-w-$mode-$i; rm -rf $W; mkdir -p $W/empty
P=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
tr=(); cfg=(); dimg=$IMG
case $mode in
  akka) tr=(--transport akka); dimg=$W/empty;;
  akka-nobulk) tr=(--transport akka); dimg=$W/empty; cfg=(--config ${BULKOFF:-/tmp/bulkoff.conf});;
esac
dotnet $H page-server -D $IMG --address 127.0.0.1 --port $P --lazy-pages "${tr[@]}" -v 3 -o $W/ps.log > $W/ps.out 2>&1 & SP=$!
for k in $(seq 1 240); do grep -q 'Using ' $W/ps.log 2>/dev/null && break; sleep 0.25; done
/usr/bin/time -f '%e %U %S' -o $W/lp.time dotnet $H lazy-pages -D $dimg -W $W --page-server --address 127.0.0.1 --port $P "${tr[@]}" "${cfg[@]}" -o $W/lp.log > $W/lp.out 2>&1 & DP=$!
for k in $(seq 1 480); do [ -S $W/lazy-pages.socket ] && break; sleep 0.25; done
s=$(date +%s.%N)
timeout 300 dotnet $T restore-sim -D $IMG -W $W --touch rand > $W/sim.out 2>&1; rc=$?
e=$(date +%s.%N)
for k in $(seq 1 240); do kill -0 $DP 2>/dev/null || break; sleep 0.25; done
kill $DP 2>/dev/null; wait $DP
read -r _ su ss _ <<< "$(awk '{print 0, $14, $15, 0}' /proc/$SP/stat 2>/dev/null)"
kill -TERM $SP; wait $SP
read -r dw du ds < $W/lp.time
printf '%s %s %.2f %.2f %.2f rc=%s\n' $mode $i $(echo "$e - $s" | bc) $(echo "$du + $ds" | bc) $(echo "($su + $ss)/100" | bc -l) $rc
