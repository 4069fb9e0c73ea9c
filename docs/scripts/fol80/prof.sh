#!/bin/bash
# P: python-192m only, base (perf record -g of the daemon), base plain, criu; python's sched_switch traced system-wide
set -u
N=$1; R=${2:-5}
cd /work/fol80; T=src/Tools/bin/Release/net10.0/LazyActors.Tools.dll; B=/tmp/la-host81/LazyActors.Host
rm -rf /tmp/fol80/k$N; mkdir -p /tmp/fol80/k$N
date -u +"start %H:%M:%S"
dotnet $T bench --restorer criu -s python-192m \
  --daemon "env B=perfbase /tmp/fol80/perfwrap.sh $B lazy-pages -v 3" --daemon "env B=base $B lazy-pages -v 3" --daemon criu \
  --runs $R --run-budget 60 --keep-temp --temp-dir /tmp/fol80/k$N --json /tmp/fol80/$N.json > /tmp/fol80/$N.log 2>&1 &
BP=$!
until PID=$(grep -o 'python-192m-1000k: dumping pid [0-9]*' /tmp/fol80/$N.log | grep -o '[0-9]*$'); do sleep 0.2; kill -0 $BP || exit 1; done
echo python pid $PID
perf record -a -k CLOCK_MONOTONIC -q -o /tmp/fol80/perf/sw-$N.data -e sched:sched_switch \
  --filter "prev_pid == $PID || next_pid == $PID" -- sh -c "while kill -0 $BP 2>/dev/null; do sleep 0.5; done" 
wait $BP; echo rc=$?
date -u +"end %H:%M:%S"
