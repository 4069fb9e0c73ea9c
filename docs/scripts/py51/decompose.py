#!/usr/bin/env python3
"""py51: start -> first answer of a `bench --restorer criu --json F` report, decomposed per scenario and daemon, median
(min-max) over the successful runs: daemon start -> listening, `criu restore` itself, restore returned -> trigger (the
bench's own step: read the pid file, send SIGUSR1; it needs a CPU right after the restore), trigger -> answer and, for
the python workload, its CPU, its time runnable without a CPU and its time blocked (in faults) between trigger and
answer, its minor faults; the daemon's faults after "restore finished" when the run's daemon.log was kept (-v 3,
--keep-temp). Usage: decompose.py F.json [SCENARIO-PREFIX]"""
import json
import os
import re
import statistics
import sys


def cell(values, scale=1.0, fmt='{:.3g}'):
    values = [v * scale for v in values if v is not None and v == v]
    if not values:
        return '-'
    return (fmt + ' (' + fmt + '-' + fmt + ')').format(statistics.median(values), min(values), max(values))


def daemon_faults(work_dir):
    path = os.path.join(work_dir, 'daemon.log')
    if not os.path.exists(path):
        return None
    text = open(path).read()
    if 'restore finished;' not in text:
        return None
    after = text.split('restore finished;', 1)[1]
    counts = [int(m) for m in re.findall(r'complete, UFFD transferred pages: \(\d+/\d+\), (\d+) faults', after)]
    return sum(counts) if counts else None


def main():
    report = json.load(open(sys.argv[1]))
    prefix = sys.argv[2] if len(sys.argv) > 2 else ''
    rows = [
        ('start -> listening, s', lambda r: r['listening_s'], 1),
        ('criu restore itself, s', lambda r: r['restore_s'], 1),
        ('restore returned -> trigger, ms', lambda r: r['all_verified_s'] - r['trigger_to_verified_s'] - r['restore_returned_s'], 1000),
        ('trigger -> answer, s', lambda r: r['trigger_to_verified_s'], 1),
        ('start -> answer, s', lambda r: r['all_verified_s'], 1),
        ('python CPU, ms', lambda r: max((t.get('cpu_s', float('nan')) for t in r['tasks']), default=None), 1000),
        ('python runnable without a CPU, ms', lambda r: max((t.get('run_delay_s', float('nan')) for t in r['tasks']), default=None), 1000),
        ('python blocked (faults), ms', lambda r: max((t.get('blocked_s', float('nan')) for t in r['tasks']), default=None), 1000),
        ('python minor faults', lambda r: max((t.get('minor_faults', float('nan')) for t in r['tasks']), default=None), 1),
        ('daemon faults after "restore finished"', lambda r: daemon_faults(r['work_dir']), 1),
        ('daemon CPU, s', lambda r: r['daemon_cpu_s'], 1),
    ]
    for summary in report['criu_scenarios']:
        if not summary['scenario'].startswith(prefix):
            continue
        runs = [r for r in summary.get('run_details', []) if r['ok']]
        print(f"{summary['scenario']} @{summary['daemon']} ({len(runs)} runs)")
        for label, pick, scale in rows:
            values = []
            for run in runs:
                try:
                    values.append(pick(run))
                except (KeyError, TypeError):
                    values.append(None)
            print(f'  {label:42s} {cell(values, scale)}')


if __name__ == '__main__':
    main()
