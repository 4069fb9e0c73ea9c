#!/bin/bash
# perf record of one daemon run (follows its children: the guardian), monotonic clock to line up with python's stamps
exec perf record -F 1999 -g -q -k CLOCK_MONOTONIC -o /tmp/fol80/perf/$B.$$.data -- "$@"
