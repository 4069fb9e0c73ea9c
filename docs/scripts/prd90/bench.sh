#!/bin/bash
# One interleaved bench run of prd90: bench.sh NAME RUNS ARM... (ARM = base | pop | CONF with /tmp/prd90/cf/CONF.conf on
# this branch's publish | criu). Writes /tmp/prd90/NAME.json and NAME.log; load averages before and after in NAME.load.
set -e
name=$1; runs=$2; shift 2
cd /work/prd90
T=src/Tools/bin/Release/net10.0/LazyActors.Tools.dll; B=/tmp/la-host90/LazyActors.Host; N=/tmp/prd90/host/LazyActors.Host; C=${CF:-/work/prd90/docs/scripts/prd90/cf}
args=()
for arm in "$@"; do
  case $arm in
    base) args+=(--daemon "env B=base $B lazy-pages") ;;
    pop) args+=(--daemon "env B=pop $B lazy-pages --config $C/pop.conf") ;;
    criu) args+=(--daemon criu) ;;
    *) args+=(--daemon "env B=$arm $N lazy-pages --config $C/$arm.conf") ;;
  esac
done
uptime > /tmp/prd90/$name.load
dotnet $T bench --restorer criu -s ${SCEN:-single-1g-seq,tree-8x128-rand,python-192m} "${args[@]}" \
  --runs $runs --run-budget 60 --temp-dir /tmp/prd90/t-$name --json /tmp/prd90/$name.json > /tmp/prd90/$name.log 2>&1
uptime >> /tmp/prd90/$name.load
