#!/usr/bin/env python3
"""py51: start -> first answer of a `bench --restorer criu --json F` report, decomposed per scenario and daemon, median
(min-max) over the successful runs, one markdown table per scenario with a column per daemon: daemon start -> listening, `criu restore` itself, restore returned -> trigger (the
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
    values = [v * scale for v in values if isinstance(v, (int, float)) and v == v]
    if not values:
        return '-'
    return (fmt + ' (' + fmt + '-' + fmt + ')').format(statistics.median(values), min(values), max(values))


def task_figure(run, key):
    values = [t.get(key) for t in run.get('tasks', [])]
    values = [v for v in values if isinstance(v, (int, float)) and v == v]
    return max(values) if values else None


def seen_late(run):
    """Trigger -> the python workload's own trigger stamp: the bench's trigger -> answer less python's own wall time
    (CPU + run delay + blocked). About the rest of its 1 s sleep when SIGUSR1 found it running instead of sleeping."""
    own = [task_figure(run, k) for k in ('cpu_s', 'run_delay_s', 'blocked_s')]
    return None if None in own else run['trigger_to_verified_s'] - sum(own)


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
        ('trigger -> python saw it, ms', seen_late, 1000),
        ('start -> answer, s', lambda r: r['all_verified_s'], 1),
        ('python CPU, ms', lambda r: task_figure(r, 'cpu_s'), 1000),
        ('python runnable without a CPU, ms', lambda r: task_figure(r, 'run_delay_s'), 1000),
        ('python blocked (faults), ms', lambda r: task_figure(r, 'blocked_s'), 1000),
        ('python minor faults', lambda r: task_figure(r, 'minor_faults'), 1),
        ('daemon faults after "restore finished"', lambda r: daemon_faults(r['work_dir']), 1),
        ('daemon CPU, s', lambda r: r['daemon_cpu_s'], 1),
    ]
    scenarios = {}
    for summary in report['criu_scenarios']:
        if summary['scenario'].startswith(prefix):
            scenarios.setdefault(summary['scenario'], []).append(summary)
    for scenario, summaries in scenarios.items():
        runs = {s['daemon']: [r for r in s.get('run_details', []) if r['ok']] for s in summaries}
        print(f"\n{scenario}, median (min-max) of the runs that passed ({', '.join(f'{d}: {len(r)}' for d, r in runs.items())})\n")
        print('| figure | ' + ' | '.join(runs) + ' |')
        print('|---|' + '---|' * len(runs))
        for label, pick, scale in rows:
            cells = []
            for daemon_runs in runs.values():
                values = []
                for run in daemon_runs:
                    try:
                        values.append(pick(run))
                    except (KeyError, TypeError, ValueError):
                        values.append(None)
                cells.append(cell(values, scale))
            if any(c != '-' for c in cells):
                print(f'| {label} | ' + ' | '.join(cells) + ' |')
        late = [sum(1 for r in rs if (seen_late(r) or 0) > 0.3) for rs in runs.values()]
        if any(late):
            print('| runs whose python saw the trigger > 0.3 s late | ' + ' | '.join(f'{n}/{len(rs)}' for n, rs in zip(late, runs.values())) + ' |')
        states = [sum(1 for r in rs if 'syscall running' in (r.get('root_at_trigger') or '')) for rs in runs.values()]
        if any(r.get('root_at_trigger') for rs in runs.values() for r in rs):
            print('| runs whose root was running (not in its sleep) at the trigger | ' + ' | '.join(f'{n}/{len(rs)}' for n, rs in zip(states, runs.values())) + ' |')

if __name__ == '__main__':
    main()
