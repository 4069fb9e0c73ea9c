#!/usr/bin/env python3
"""remote34: the CPU of every `page-server` process (the source of `bench --source self`) that runs while this watches,
per thread, from /proc (utime + stime of each thread, in clock ticks), sampled every 20 ms until the process is gone;
so a bench run of a build whose page server logs no CPU of its own still says what the source cost. One line per page
server on stdout when it ends: its log path (which names the bench run), the process total and the session threads.
Usage: source-cpu.py [SECONDS] > sources.txt   (runs until SECONDS passed; start it before the bench)"""
import os
import sys
import time

TICK = os.sysconf('SC_CLK_TCK')


def threads(pid):
    out = {}
    try:
        for tid in os.listdir(f'/proc/{pid}/task'):
            try:
                with open(f'/proc/{pid}/task/{tid}/stat') as f:
                    text = f.read()
                name = text[text.index('(') + 1:text.rindex(')')]
                fields = text[text.rindex(')') + 2:].split()
                out[tid] = (name, (int(fields[11]) + int(fields[12])) / TICK)
            except (OSError, ValueError):
                pass
    except OSError:
        pass
    return out


def page_servers():
    found = {}
    for pid in os.listdir('/proc'):
        if not pid.isdigit():
            continue
        try:
            with open(f'/proc/{pid}/cmdline', 'rb') as f:
                argv = f.read().split(b'\0')
        except OSError:
            continue
        if b'page-server' in argv and b'--lazy-pages' in argv:
            log = next((argv[i + 1].decode() for i, a in enumerate(argv[:-1]) if a in (b'-o', b'--log-file')), '?')
            work = next((argv[i + 1].decode() for i, a in enumerate(argv[:-1]) if a in (b'-W', b'--work-dir')), '')
            found[pid] = os.path.join(work, log)
    return found


def main():
    until = time.monotonic() + (float(sys.argv[1]) if len(sys.argv) > 1 else 3600)
    seen = {}  # pid -> (log, {tid: (name, cpu)})
    while time.monotonic() < until:
        live = page_servers()
        for pid, log in live.items():
            sample = threads(pid)
            if sample:
                known = seen.setdefault(pid, (log, {}))[1]
                known.update(sample)
        for pid in [p for p in seen if p not in live]:
            log, known = seen.pop(pid)
            total = sum(cpu for _, cpu in known.values())
            by_name = {}
            for name, cpu in known.values():
                by_name[name] = by_name.get(name, 0) + cpu
            detail = '; '.join(f'{n} {c * 1000:.0f}' for n, c in sorted(by_name.items(), key=lambda x: -x[1]) if c > 0)
            print(f'{log}: page server pid {pid}: CPU {total * 1000:.0f} ms in {len(known)} thread(s): {detail}', flush=True)
        time.sleep(0.02)


if __name__ == '__main__':
    main()
