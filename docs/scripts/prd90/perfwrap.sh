#!/bin/bash
# perf record of one daemon run (follows its children: the guardian); $B names the arm, the data goes to /tmp/prd90/perf
exec perf record -F 1999 -g -q -o /tmp/prd90/perf/$B.$$.data -- "$@"
