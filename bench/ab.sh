#!/usr/bin/env bash
# A/B of tierguard's server across commits: the server of <commit>'s operator/ and of the work tree's, both
# pinned to core 0, wrk (bench/wrk.lua, 16 connections) alternating between them on core 1; prints each
# run's server CPU per review. Usage: bench/ab.sh <commit> [pairs=4] [seconds=5]. Needs wrk and taskset.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
commit=$1 pairs=${2:-4} seconds=${3:-5}
python=${PYTHON:-$repo/.venv/bin/python}
tmp=$(mktemp -d)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT
git -C "$repo" archive "$commit" operator | tar -x -C "$tmp"
"$python" -m tierguard certs --dir "$tmp/certs" --host 127.0.0.1 >/dev/null
"$python" -c "import sys; from pathlib import Path; from bench import bodies; bodies.write_bodies(Path(sys.argv[1]), 1000)" \
  "$tmp/bodies"
port() { "$python" -c "from bench.util import free_port; print(free_port())"; }
old_port=$(port) new_port=$(port)
cd "$repo"
PYTHONPATH=$tmp/operator:$repo taskset -c 0 "$python" -m bench.serve tierguard --port "$old_port" --certs "$tmp/certs" \
  >"$tmp/old.out" 2>&1 & pids+=($!)
taskset -c 0 "$python" -m bench.serve tierguard --port "$new_port" --certs "$tmp/certs" >"$tmp/new.out" 2>&1 & pids+=($!)
for _ in $(seq 1 120); do grep -q ready "$tmp/old.out" && grep -q ready "$tmp/new.out" && break; sleep 1; done
grep -q ready "$tmp/old.out" && grep -q ready "$tmp/new.out" || { cat "$tmp/old.out" "$tmp/new.out" >&2; exit 1; }
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
for pair in $(seq 1 "$pairs"); do
  for side in old new; do
    if [[ $side == old ]]; then pid=${pids[0]} p=$old_port; else pid=${pids[1]} p=$new_port; fi
    before=$(cpu "$pid")
    n=$(BENCH_BODIES=$tmp/bodies taskset -c 1 wrk -t1 -c16 "-d${seconds}s" -s bench/wrk.lua "https://127.0.0.1:$p" \
      | tail -1 | "$python" -c "import json, sys; print(json.load(sys.stdin)['requests'])")
    after=$(cpu "$pid")
    echo "pair $pair $side ($([[ $side == old ]] && echo "$commit" || echo work tree)): $n reviews," \
      "$(( (after - before) * 1000000 / $(getconf CLK_TCK) / n )) us CPU per review"
  done
done
