#!/usr/bin/env bash
# bench/scan-pair.sh: ferry scan against its ceiling, the create-only bare PUT
# loop (bench/putloop http-create), for small objects, in interleaved pairs.
#
# Each round runs, for every --transfers value, the bare loop and ferry (in
# turn first) on the same 4 KiB files into fresh buckets of one MinIO, so a
# drift in the machine's speed hits both sides of a pair alike. Prints every run (seconds,
# client and MinIO CPU), then per --transfers the ratio of each pair, their
# median and worst, and the client CPU per object of both sides.
#
#   bench/scan-pair.sh                          # 5 rounds, --transfers 32 and 64, 20,000 objects
#   ROUNDS=8 N=10000 TRANSFERS=32 bench/scan-pair.sh
#   MINIO_DIR=/dev/shm bench/scan-pair.sh       # MinIO's data on tmpfs: CPU-bound, no disk noise
#   FERRY_SRC=../old bench/scan-pair.sh         # build ferry from another checkout
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
ROUNDS=${ROUNDS:-5}
N=${N:-20000}
TRANSFERS=${TRANSFERS:-32 64}
MINIO=${MINIO_BIN:-$(command -v minio || echo "$(go env GOPATH)/bin/minio")}
W=$(mktemp -d /tmp/ferry-pair.XXXXXX)
MD=$W/minio
[ -n "${MINIO_DIR:-}" ] && MD=$(mktemp -d "$MINIO_DIR/ferry-pair-minio.XXXXXX")
MINIO_PID=""
cleanup() { [ -n "$MINIO_PID" ] && kill "$MINIO_PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$W" "$MD"; }
trap cleanup EXIT
unset AWS_CA_BUNDLE
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret AWS_REGION=us-east-1

start_minio "$MINIO" "$MD" "$W/minio.log"

(cd "${FERRY_SRC:-$PWD}" && go build -o "$W/ferry" ./cmd/ferry)
go build -o "$W/putloop" ./bench/putloop
gen "$W/src" "$N" 4096

settle() { sync; minio_idle; } # dirty pages written, MinIO idle (its deletes done)
# run SIDE T cmd...: one run into a fresh bucket (the command's last argument
# is built from the bucket name), appended to $W/runs as SIDE T s cli_cpu minio_cpu
run() {
  local side=$1 t=$2 bk=pair-$RANDOM$RANDOM a z e u s
  shift 2
  settle
  $RC mkdir "m:$bk" >/dev/null
  a=$(minio_cpu)
  case $side in
    bare) /usr/bin/time -f '%e %U %S' -o "$W/time" "$W/putloop" "$W/src" "$bk" "$EP" "$t" http-create >"$W/out" 2>&1 ;;
    ferry) /usr/bin/time -f '%e %U %S' -o "$W/time" "$W/ferry" scan --state-dir "$W/state-$bk" --log-level warn \
      --origin "$W/src" --target "s3://$bk?endpoint=$EP&region=us-east-1" --transfers "$t" >"$W/out" 2>&1 ;;
  esac || { echo "FAILED: $side $t"; tail -5 "$W/out"; exit 1; }
  z=$(minio_cpu)
  read -r e u s <"$W/time"
  awk -v n="$side" -v t="$t" -v e="$e" -v u="$u" -v s="$s" -v m=$((z - a)) \
    'BEGIN{printf "%-6s --transfers %-3s %7.2f s  client %5.2f s  MinIO %5.2f s\n", n, t, e, u+s, m/100}' | tee -a "$W/log"
  printf '%s\t%s\t%s\t%s\n' "$side" "$t" "$e" "$(awk -v u=$u -v s=$s 'BEGIN{print u+s}')" >>"$W/runs"
  $RC purge "m:$bk" >/dev/null 2>&1 || true
}

# Odd rounds run the bare loop first, even rounds ferry first (ABBA): a
# machine that drifts slower or faster through the sitting, or a run that
# leaves MinIO busier for the next one, weighs on both sides alike.
for round in $(seq "$ROUNDS"); do
  for t in $TRANSFERS; do
    if ((round % 2)); then
      run bare "$t"
      run ferry "$t"
    else
      run ferry "$t"
      run bare "$t"
    fi
  done
done

echo
echo "pairs (ferry seconds / the create-only bare loop's, round by round; <1 means ferry is faster), $N x 4 KiB"
awk -F'\t' -v n="$N" '
  { k = $2; if ($1 == "bare") { b[k, ++nb[k]] = $3; cb[k] += $4 } else { f[k, ++nf[k]] = $3; cf[k] += $4 }; ts[k] = 1 }
  END {
    for (k in ts) {
      m = 0; line = ""
      for (i = 1; i <= nf[k] && i <= nb[k]; i++) { r[++m] = f[k, i] / b[k, i]; line = line sprintf(" %.2f", r[m]) }
      for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (r[j] < r[i]) { x = r[i]; r[i] = r[j]; r[j] = x }
      med = (m % 2) ? r[(m + 1) / 2] : (r[m / 2] + r[m / 2 + 1]) / 2
      printf "--transfers %-3s%s | median %.2f, worst %.2f | client CPU per object: ferry %.0f us, bare %.0f us\n", k, line, med, r[m], cf[k] / nf[k] / n * 1e6, cb[k] / nb[k] / n * 1e6
    }
  }' "$W/runs" | sort
