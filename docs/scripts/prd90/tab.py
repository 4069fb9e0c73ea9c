#!/usr/bin/env python3
"""Tables of one or more prd90 bench runs: tab.py RUN... (reads /tmp/prd90/RUN.json). Per scenario and arm: start ->
verified (python: first answer), `criu restore` itself, daemon CPU s/GiB, bytes verified, and for the tree the worst
run's worst-task first-touch p99 and the largest first-touch max; median (min-max) over the ok runs."""
import json, statistics, sys
def f(v): return f"{statistics.median(v):.3g} ({min(v):.3g}–{max(v):.3g})" if v else '—'
names = {'env-B=base': 'base', 'env-B=pop': 'pop pair', 'criu': "CRIU's daemon"}
for run in sys.argv[1:]:
    r = json.load(open(f'/tmp/prd90/{run}.json'))
    by = {}
    for s in r['criu_scenarios']:
        by.setdefault(s['scenario'], {})[s['daemon']] = s['run_details']
    probes = r.get('probes', {})
    bw = [c for c in probes.get('copy_bandwidth', []) if c['chunk_bytes'] == 4194304]
    print(f"\n{run}: {r['date']}, probes UFFDIO_COPY 4 MiB {bw[0]['gb_per_s']['median']:.2f} GB/s" if bw else f"\n{run}")
    for sc, arms in by.items():
        order = list(arms)
        print(f"\n| {sc} ({run}) | " + ' | '.join(names.get(a, a.replace('env-B=', '')) for a in order) + ' |')
        print('|---|' + '---|' * len(order))
        def row(label, fn):
            print(f'| {label} | ' + ' | '.join(fn([d for d in arms[a] if d['ok']], arms[a]) for a in order) + ' |')
        row('start → verified/answer, s', lambda ok, all_: f([d['all_verified_s'] for d in ok]))
        row('`criu restore` itself, s', lambda ok, all_: f([d['restore_s'] for d in ok]))
        row('daemon CPU s/GiB', lambda ok, all_: f([d['daemon_cpu_s_per_gib'] for d in ok]))
        row('runs ok, every byte verified', lambda ok, all_: f"{sum(1 for d in ok if d['bytes_verified'] == d['bytes_expected'])}/{len(all_)}")
        if sc.startswith('tree'):
            row("worst run's worst-task first-touch p99, µs", lambda ok, all_: f"{max(max(t['p99_us'] for t in d['tasks']) for d in ok):.3g}" if ok else '—')
            row('first-touch max (largest of all runs), µs', lambda ok, all_: f"{max(max(t['max_us'] for t in d['tasks']) for d in ok):.3g}" if ok else '—')
