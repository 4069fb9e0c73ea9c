#!/usr/bin/python3
# Runs a lazy-pages daemon, but passes its readiness byte (--status-fd N) on to N only DELAY seconds after it arrived,
# so that `criu restore` starts once the daemon's start-up work is over (experiment: what that work costs the restorer).
import os, subprocess, sys, time
delay = float(os.environ.get("DELAY", "0.15"))
args = sys.argv[1:]
i = args.index("--status-fd")
outer = int(args[i + 1])
r, w = os.pipe()
args[i + 1] = str(w)
p = subprocess.Popen(args, pass_fds=(w,))
os.close(w)
b = os.read(r, 1)
if b:
    time.sleep(delay)
    os.write(outer, b)
os.close(outer)
sys.exit(p.wait())
