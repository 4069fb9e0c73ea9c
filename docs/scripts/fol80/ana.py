#!/usr/bin/env python3
"""fol80: python-192m under perf. Usage: ana.py NAME (reads /tmp/fol80/NAME.json, /tmp/fol80/perf/sw-NAME.data and the
perfbase daemon's perf data). Per run: python's trigger->answer window; python's switch-outs in it by state (R: preempted,
grouped by the task that took the CPU; S/D: blocked) and their time; for the perf-recorded daemon its CPU samples before
the trigger and inside the window, by thread name."""
import collections, glob, json, os, re, statistics, subprocess, sys
name = sys.argv[1]
rep = json.load(open(f'/tmp/fol80/{name}.json'))
runs = []
for s in rep['criu_scenarios']:
    for d in s['run_details']:
        res = glob.glob(os.path.join(os.path.dirname(d['work_dir']), '**', 'result-0.json'), recursive=True)
        # the python result of this run lives in the run's own dir
        mine = [p for p in glob.glob(os.path.join(d['work_dir'], '**', 'result-0.json'), recursive=True)]
        if not mine:
            continue
        r = json.load(open(mine[0]))
        runs.append((s['daemon'], d, r))
sw = subprocess.run(['perf', 'script', '-i', f'/tmp/fol80/perf/sw-{name}.data', '-F', 'time,trace'], capture_output=True, text=True).stdout
ev = []
pat = re.compile(r'([\d.]+):\s+prev_comm=(.*?) prev_pid=(\d+) prev_prio=(-?\d+) prev_state=(\S+) ==> next_comm=(.*?) next_pid=(\d+) next_prio=(-?\d+)')
for line in sw.splitlines():
    m = pat.search(line)
    if m:
        ev.append((float(m[1]), m[2], int(m[3]), m[5], m[6], int(m[7]), int(m[8])))
pypid = runs[0][2]['pid'] if runs else None
def window(t0, t1):
    out_at = None; why = None; who = None
    pre = collections.Counter(); pret = collections.Counter(); blocked = 0.0; nblk = 0; ran = 0.0; in_at = None
    for t, pc, pp, st, nc, np_, nprio in ev:
        if t < t0 - 2 or t > t1:
            continue
        if pp == pypid:
            if in_at is not None:
                ran += t - max(in_at, t0) if t > t0 else 0
            in_at = None
            out_at, why, who = t, st, (nc if nprio >= 100 else f'{nc}(rt{99-nprio})')
        elif np_ == pypid:
            in_at = t
            if out_at is not None:
                a, b = max(out_at, t0), t
                if b > a:
                    if why.startswith('R'):
                        k = re.sub(r'[-:/]\d+$|\d+$', '', who)
                        pre[k] += 1; pret[k] += b - a
                    else:
                        blocked += b - a; nblk += 1
            out_at = None
    return pre, pret, blocked, nblk, ran
for label in ('restore (criu restore spawned -> returned)', 'restore returned -> answer'):
    per_arm = collections.defaultdict(list)
    for arm, d, r in runs:
        v = r['verified_mono_ns'] / 1e9
        dstart = v - d['all_verified_s']
        if label.startswith('restore ('):
            t0, t1 = dstart + d['restore_returned_s'] - d['restore_s'], dstart + d['restore_returned_s']
        else:
            t0, t1 = dstart + d['restore_returned_s'], v
        pre, pret, blocked, nblk, ran = window(t0, t1)
        per_arm[arm].append((t1 - t0, pre, pret, blocked, nblk, ran))
    print(f'\n######## {label}')
    for arm, xs in per_arm.items():
        n = len(xs)
        print(f'\n== {arm}: {n} runs; window median {statistics.median(x[0] for x in xs)*1000:.0f} ms; python-pid on CPU {statistics.median(x[5] for x in xs)*1000:.0f} ms; preempted (runnable) {statistics.median(sum(x[2].values()) for x in xs)*1000:.0f} ms; blocked/sleeping {statistics.median(x[3] for x in xs)*1000:.1f} ms in {statistics.median(x[4] for x in xs)} waits')
        tot = collections.Counter(); cnt = collections.Counter()
        for x in xs:
            tot.update(x[2]); cnt.update(x[1])
        print('   preempted by (mean per run: count, ms runnable until back):')
        for k, v in tot.most_common(10):
            print(f'     {k:28} {cnt[k]/n:7.1f} {v/n*1000:8.1f}')
# daemon perf data of perfbase runs
for arm, d, r in runs:
    if 'perfbase' not in arm:
        continue
    t0, t1 = r['trigger_mono_ns'] / 1e9, r['verified_mono_ns'] / 1e9
    files = sorted(glob.glob('/tmp/fol80/perf/perfbase.*.data'), key=os.path.getmtime)
    # pick the data file whose samples cover t0
    for f in files:
        out = subprocess.run(['perf', 'script', '-i', f, '-F', 'comm,tid,time', '-G'], capture_output=True, text=True).stdout
        ts = []
        for line in out.splitlines():
            w = line.split()
            if len(w) >= 3:
                try:
                    ts.append((w[0], float(w[-1].rstrip(':'))))
                except ValueError:
                    pass
        if ts and ts[0][1] <= t0 <= ts[-1][1] + 1:
            before = collections.Counter(c for c, t in ts if t < t0); inwin = collections.Counter(c for c, t in ts if t0 <= t <= t1)
            print(f'\n{os.path.basename(f)}: window {t1-t0:.3f} s; daemon samples/1999 before trigger {sum(before.values())/1999:.3f} CPU-s, in window {sum(inwin.values())/1999:.3f} CPU-s')
            print('   before:', ', '.join(f'{c} {v/1999*1000:.0f}ms' for c, v in before.most_common(8)))
            print('   in window:', ', '.join(f'{c} {v/1999*1000:.0f}ms' for c, v in inwin.most_common(8)))
            break
