#!/usr/bin/env python3
"""One line per run of a `bench --keep-temp` directory: the daemon's own start-up marks (ms after Main) and the time
from "restore finished" to the last task's "complete" (the transfer as the daemon saw it, free of the harness and of
the restored workload), GC pauses and the page-server counters. Usage: daemon-timeline.py /tmp/ab/lacb-*"""
import glob
import os
import re
import sys


def seconds(line):
    m = re.match(r'\((\d+):(\d+):([\d.]+)\)', line)
    return int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3)) if m else None


def mark(trace, name):
    m = re.search(re.escape(name) + r' ([\d.]+)', trace)
    return float(m.group(1)) if m else float('nan')


for root in sys.argv[1:]:
    for run in sorted(glob.glob(os.path.join(root, 's*', 'r*'))):
        log = os.path.join(run, 'daemon.log')
        if not os.path.exists(log):
            continue
        lines = open(log, errors='replace').read().splitlines()
        finished = next((seconds(l) for l in lines if 'restore finished; pushing' in l), None)
        complete = [seconds(l) for l in lines if ': complete, UFFD transferred' in l and 'warm-up' not in l]
        trace = next((l for l in lines if 'start-up, ms after Main' in l), '')
        server = next((l.split('page server: ', 1)[1][:70] for l in lines if 'lazy-actors: page server:' in l), '')
        gc = next((re.search(r'GC pauses ([\d.]+) ms', l).group(1) for l in lines if 'GC pauses' in l), '?')
        transfer = max(complete) - finished if finished and complete else float('nan')
        print('%-40s listening %5.0f ms, restorer %5.0f ms, restore finished %5.0f ms | finished -> complete %.3f s | GC %s ms | %s'
              % (os.path.relpath(run, root), mark(trace, 'listening'), mark(trace, 'restorer accepted'), mark(trace, 'restore finished'), transfer, gc, server))
