#!/usr/bin/env python3
"""One line per scenario and daemon of a `bench --restorer criu --json F --keep-temp` report: the bench's medians (min-max)
of start -> verified, trigger -> verified, CPU per GiB, first-touch p99 and max and touch time, plus what only the kept
daemon logs tell: faults per run (the restored tasks' counts, warm-ups left out), faults that overtook their background
read, and the daemon's own transfer ("restore finished" -> last task complete). Usage: bench-faults.py F.json"""
import json
import os
import re
import statistics
import sys


def seconds(line):
    m = re.match(r'\((\d+):(\d+):([\d.]+)\)', line)
    return int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3)) if m else None


def summary(metric, scale=1.0):
    if not metric:
        return '-'
    return '{:.3g} ({:.3g}-{:.3g})'.format(metric['median'] * scale, metric['min'] * scale, metric['max'] * scale)


def spread(values, fmt):
    return (fmt + ' (' + fmt + '-' + fmt + ')').format(statistics.median(values), min(values), max(values)) if values else '-'


def from_log(work_dir):
    path = os.path.join(work_dir, 'daemon.log')
    if not os.path.exists(path):
        return None
    lines = open(path, errors='replace').read().splitlines()
    faults = sum(int(m.group(1)) for l in lines for m in [re.search(r'task-\d+: \d+: complete, UFFD transferred pages: \(\d+/\d+\), (\d+) faults', l)] if m)
    overtook = next((int(m.group(1)) for l in lines for m in [re.search(r'(\d+) fault\(s\) overtook', l)] if m), 0)
    finished = next((seconds(l) for l in lines if 'restore finished; pushing' in l), None)
    complete = [seconds(l) for l in lines if re.search(r'task-\d+: \d+: complete', l)]
    transfer = max(complete) - finished if finished is not None and complete else None
    return faults, overtook, transfer


report = json.load(open(sys.argv[1]))
for scenario in report['criu_scenarios']:
    logs = [x for x in (from_log(r['work_dir']) for r in scenario.get('run_details', [])) if x]
    print('{:26s} {:32s} start->verified {} | trigger->verified {} | finished->complete {} | CPU s/GiB {} | p99 us {} | max ms {} | touch ms {} | faults {} | overtook {}'.format(
        scenario['scenario'], scenario['daemon'], summary(scenario.get('all_verified_s')), summary(scenario.get('trigger_to_verified_s')),
        spread([x[2] for x in logs if x[2] is not None], '{:.3f}'), summary(scenario.get('daemon_cpu_s_per_gib')), summary(scenario.get('touch_p99_us')),
        summary(scenario.get('touch_max_us'), 0.001), summary(scenario.get('touch_s'), 1000), spread([x[0] for x in logs], '{:.0f}'), spread([x[1] for x in logs], '{:.0f}')))
bandwidth = report['probes']['copy_bandwidth']
print('probes: ' + ', '.join('UFFDIO_COPY {} KiB {:.2f} GB/s'.format(c['chunk_bytes'] // 1024, c['gb_per_s']['median']) for c in bandwidth)
      + ', fault round trip p50 {:.1f} us'.format(report['probes']['round_trip_p50_us']['median']))
