# Tables of def90's bench runs: python3 tab.py A [B ...] (run in /tmp/def90, reads A.json ...).
# Per scenario and arm: start -> verified/answer median (min-max) and runs; slowest / median; `criu restore` itself;
# daemon CPU s/GiB; peak RSS (maxrss) and peak anon RSS; for the tree each run's worst-task p99 and max first touch.
import json, statistics, sys
def f(v): return f"{statistics.median(v):.3g} ({min(v):.3g}–{max(v):.3g})"
order = ['env-B=base', 'env-B=g64', 'env-B=pop', 'env-B=both', 'env-B=g1', 'env-B=bgnormal', 'criu']
for name in sys.argv[1:]:
    r = json.load(open(name + '.json'))
    rows = {}
    for s in r['criu_scenarios']:
        rows.setdefault(s['scenario'], {})[s['daemon']] = s['run_details']
    arms = [a for a in order if any(a in v for v in rows.values())]
    print(f"\n### {name}\n\n| {name}: scenario, figure | " + ' | '.join(a.replace('env-B=', '') for a in arms) + ' |')
    print('|---' * (len(arms) + 1) + '|')
    for sc, by in rows.items():
        def cell(fn, a):
            ds = by.get(a, [])
            ok = [d for d in ds if d['ok']]
            return fn(ok, ds) if ok else '—'
        def line(label, fn): print(f"| {sc}: {label} | " + ' | '.join(cell(fn, a) for a in arms) + ' |')
        line('start → verified/answer, s (ok/runs)', lambda ok, ds: f([d['all_verified_s'] for d in ok]) + f", {len(ok)}/{len(ds)}")
        line('slowest ÷ median', lambda ok, ds: f"{max(d['all_verified_s'] for d in ok) / statistics.median([d['all_verified_s'] for d in ok]):.2f}")
        line('`criu restore` itself, s', lambda ok, ds: f([d['restore_s'] for d in ok]))
        line('daemon CPU s/GiB', lambda ok, ds: f"{statistics.median([d['daemon_cpu_s_per_gib'] for d in ok]):.3g}")
        line('daemon peak RSS / anon RSS, MiB', lambda ok, ds: f"{max(d['daemon_maxrss_mib'] for d in ok):.0f} / {max(d['daemon_peak_anon_rss_mib'] for d in ok):.1f}")
        if sc.startswith('tree'):
            line('per run: worst-task p99, µs', lambda ok, ds: ' '.join(f"{max(t['p99_us'] for t in d['tasks']):.0f}" for d in ok))
            line('per run: max first touch, ms', lambda ok, ds: ' '.join(f"{max(t['max_us'] for t in d['tasks']) / 1000:.0f}" for d in ok))
