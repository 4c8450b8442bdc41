#!/usr/bin/env bash
# A few seconds of bonus-bench against a real bonusd: closed loop with a preload, mailing
# bursts, --json, --csv and --cdf; then open loop at a fixed rate; then a flow count over
# two loops. Fails on any request not served, on a missing operation, on an empty output
# file or on a count missed; then stops bonusd under a run, which must end with status 1
# and the unanswered requests counted.
#   bonus_bench_smoke.sh BONUSD BONUS_BENCH
set -euo pipefail
bonusd=$1
bench=$2
dir=$(mktemp -d /tmp/bonus-bench-smoke-XXXXXX)
log="$dir/bonusd.log"
mkdir "$dir/data"
"$bonusd" --listen 127.0.0.1:0 --data "$dir/data" >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 100); do grep -q "listening on" "$log" && break; sleep 0.1; done
port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log" | head -1)
[[ -n "$port" ]] || { echo "bonusd did not start:"; cat "$log"; exit 1; }

"$bench" --port "$port" --buyers 2000 --sellers 50 --duration 2 --connections 2 --depth 4 \
  --batch 256 --burst-every 1 --burst-buyers 500 --hold-timeout-ms 300 --accrual-lag 4 \
  --json --csv "$dir/run.csv" --cdf "$dir/run.cdf.csv" >"$dir/closed.json"
cat "$dir/closed.json"
for op in cart hold capture accrue confirm credit; do
  grep -q "\"$op\":{\"count\":[1-9]" "$dir/closed.json" || { echo "no $op in the closed-loop run"; exit 1; }
done
[[ $(wc -l <"$dir/run.csv") -gt 3 ]] || { echo "CSV time series too short"; cat "$dir/run.csv"; exit 1; }
grep -q '^cart,0.999000,' "$dir/run.cdf.csv" || { echo "no cart p99.9 in the CDF file"; exit 1; }

"$bench" --port "$port" --buyers 2000 --sellers 50 --no-preload --duration 2 --rate 400 \
  --connections 1 --depth 8 --burst-every 0 --quiet >"$dir/open.txt"
cat "$dir/open.txt"
grep -q "open loop at 400 flows/s" "$dir/open.txt"
count=$(awk '$1 == "cart" {print $2}' "$dir/open.txt")
# 2 s at 400 flows/s, 80 % carts: about 640 carts.
[[ "$count" -gt 450 && "$count" -lt 800 ]] || { echo "open loop carts: $count, expected ~640"; exit 1; }
# Two loops sharing three connections and a flow count: exactly that many flows run.
"$bench" --port "$port" --buyers 2000 --sellers 50 --no-preload --count 1000 --threads 2 \
  --connections 3 --depth 4 --burst-every 0 --quiet --json >"$dir/count.json"
flows=$(python3 -c 'import json, sys
ops = json.load(open(sys.argv[1]))["ops"]
print(sum(ops[op]["count"] for op in ("cart", "hold", "accrue") if op in ops))' "$dir/count.json")
[[ "$flows" -eq 1000 ]] || { echo "--count 1000 on 2 threads ran $flows flows"; exit 1; }

# The server going away mid-run: the requests it never answered are counted as not served,
# the run ends (no hang on the lost connections) and exits 1.
(sleep 1; kill "$pid") &
status=0
timeout 60 "$bench" --port "$port" --buyers 2000 --sellers 50 --no-preload --duration 5 \
  --burst-every 0 --quiet >"$dir/lost.txt" 2>"$dir/lost.err" || status=$?
cat "$dir/lost.err"
[[ "$status" -eq 1 ]] || { echo "bonus-bench exited $status when bonusd went away, expected 1"; exit 1; }
grep -q "requests not served" "$dir/lost.err" || { echo "no count of requests not served"; exit 1; }
grep -q "lost" "$dir/lost.err" || { echo "the lost connections were not reported"; exit 1; }
echo "bonus-bench smoke: ok"
