#!/usr/bin/env bash
# bench/scan.sh: ferry scan against rclone, the AWS CLI (aws s3 sync) and a
# bare Go PUT loop, on loopback.
#
# Workloads (sizes scale with SCALE, default 1 = the full issue-6 set):
#   20,000 x 4 KiB, 200 x 8 MiB, 4 x 256 MiB from a file origin into MinIO,
#   a no-op rerun, a rerun with 1 % new keys, the 4 KiB set from a MinIO origin
#   (listing mode) and through nginx (key-list mode, fetched through the rules),
#   and the 1,000,000-key diff memory benchmark.
# Prints seconds, objects/s, MiB/s, client CPU seconds and peak RSS per run,
# then ferry against the best peer (the faster of rclone and aws s3 sync) and
# against the fastest bare PUT loop (the ceiling).
#
#   bench/scan.sh                 # everything
#   SCALE=0.25 bench/scan.sh      # quicker: a quarter of the objects
#   ONLY=small bench/scan.sh      # small | big | huge | keys | mem
#   REPEAT=3 bench/scan.sh        # run each copy of a workload 3 times, in turn; ratios use each tool's best
#   MINIO_DIR=/dev/shm bench/scan.sh # MinIO's data in a new directory under /dev/shm (tmpfs): no disk, so no
#                                 # disk noise, and the run is CPU-bound: a client's CPU per object shows in its seconds
#   RESULTS=out.tsv bench/scan.sh # also keep the raw figures (name, objects, bytes, s, cpu_s, rss_KB)
#   FERRY_SRC=../old bench/scan.sh # build ferry from another checkout (before/after in one sitting)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
ROOT=$PWD
SCALE=${SCALE:-1}
ONLY=${ONLY:-}
REPEAT=${REPEAT:-1}
MINIO=${MINIO_BIN:-$(command -v minio || echo "$(go env GOPATH)/bin/minio")}
W=$(mktemp -d /tmp/ferry-bench.XXXXXX)
chmod 755 "$W" # nginx workers read the origin
PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done; rm -rf "$W" "$MD"; }
MD=$W/minio
[ -n "${MINIO_DIR:-}" ] && MD=$(mktemp -d "$MINIO_DIR/ferry-bench-minio.XXXXXX")
trap cleanup EXIT
unset AWS_CA_BUNDLE
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret AWS_REGION=us-east-1

# --- servers -----------------------------------------------------------------
start_minio "$MINIO" "$MD" "$W/minio.log"
PIDS+=($MINIO_PID)
s3url() { echo "s3://$1?endpoint=$EP&region=us-east-1"; }
# aws s3 sync at a given concurrency (the AWS CLI's max_concurrent_requests)
awscfg() { printf '[default]\nregion = us-east-1\ns3 =\n  max_concurrent_requests = %s\n' "$1" >"$W/aws-$1.cfg"; echo "$W/aws-$1.cfg"; }
AWS() { echo env AWS_CONFIG_FILE="$(awscfg $1)" aws --endpoint-url "$EP" s3 sync --only-show-errors; } # AWS T: the command

(cd "${FERRY_SRC:-$ROOT}" && go build -o "$W/ferry" ./cmd/ferry)
go build -o "$W/putloop" ./bench/putloop # the ceiling: a bare PUT loop

# --- helpers -----------------------------------------------------------------
B=0
newbucket() { local b=bench-$RANDOM$RANDOM; $RC mkdir m:$b >/dev/null; echo $b; }
printf '%-44s %8s %9s %8s %8s %9s\n' run seconds objects/s MiB/s cpu_s rss_MB
drop() { $RC purge "m:$1" >/dev/null 2>&1 || true; } # keep MinIO's data (and its speed) the same for every run
# settle: the same starting point for every run: dirty pages written, the
# page cache dropped (when permitted) and the source files ($WARM) read back
# in, and MinIO idle (its background deletes done).
WARM=""
settle() {
  sync
  echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
  [ -n "$WARM" ] && [ -d "$WARM" ] && find "$WARM" -type f -exec cat {} + >/dev/null
  minio_idle
}
# measure NAME OBJECTS BYTES cmd...
measure() {
  local name=$1 objs=$2 bytes=$3; shift 3
  settle
  /usr/bin/time -f '%e %U %S %M' -o "$W/time" "$@" >"$W/out" 2>"$W/err" || { echo "FAILED: $name"; tail -5 "$W/err"; return 0; }
  read -r e u s m <"$W/time"
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$objs" "$bytes" "$e" "$(awk -v u=$u -v s=$s 'BEGIN{print u+s}')" "$m" >>"$W/results.tsv"
  awk -v n="$name" -v e="$e" -v u="$u" -v s="$s" -v m="$m" -v o="$objs" -v b="$bytes" \
    'BEGIN{printf "%-44s %8.2f %9.0f %8.1f %8.2f %9.1f\n", n, e, o/e, b/e/1048576, u+s, m/1024}'
}
FERRY=("$W/ferry" scan --state-dir "$W/state" --log-level warn)

workload() { # workload LABEL COUNT SIZE
  local label=$1 n=$2 size=$3 dir=$W/$1
  gen "$dir" "$n" "$size"
  WARM=$dir
  local bytes=$(( n * size ))
  local bk t
  # At ferry's concurrencies, in turn: the ceiling (the SDK's PutObject,
  # plain signed HTTP PUTs, which are lighter on the client, and the same
  # create-only as ferry's writes; ratios use the fastest of all), rclone,
  # ferry. Every bucket is emptied after its run but the first ferry one at
  # 64, which the reruns use.
  local round kept=""
  for round in $(seq "$REPEAT"); do
    for t in 32 64; do
      bk=$(newbucket); measure "$label bare Go PUT loop, AWS SDK ($t)" $n $bytes "$W/putloop" "$dir" "$bk" "$EP" $t sdk; drop $bk
      bk=$(newbucket); measure "$label bare Go PUT loop, signed HTTP ($t)" $n $bytes "$W/putloop" "$dir" "$bk" "$EP" $t http; drop $bk
      bk=$(newbucket); measure "$label bare Go PUT loop, signed HTTP create-only ($t)" $n $bytes "$W/putloop" "$dir" "$bk" "$EP" $t http-create; drop $bk
      bk=$(newbucket); measure "$label rclone --transfers $t --s3-no-head" $n $bytes $RC copy --transfers $t --s3-no-head "$dir" m:$bk; drop $bk
      bk=$(newbucket); measure "$label aws s3 sync ($t)" $n $bytes $(AWS $t) "$dir" s3://$bk/; drop $bk
      bk=$(newbucket); measure "$label ferry scan --transfers $t" $n $bytes "${FERRY[@]}" --origin "$dir" --target "$(s3url $bk)" --transfers $t
      if [ -z "$kept" ] && [ $t = 64 ]; then kept=$bk; else drop $bk; fi
    done
    for t in 8 16; do
      bk=$(newbucket); measure "$label rclone --transfers $t --s3-no-head" $n $bytes $RC copy --transfers $t --s3-no-head "$dir" m:$bk; drop $bk
    done
  done
  bk=$(newbucket); measure "$label rclone defaults" $n $bytes $RC copy "$dir" m:$bk; drop $bk
  echo "$kept" >"$W/last-$label"
}

N_SMALL=$(awk -v s=$SCALE 'BEGIN{print int(20000*s)}')
N_BIG=$(awk -v s=$SCALE 'BEGIN{n=int(200*s); print n<1?1:n}')
N_HUGE=$(awk -v s=$SCALE 'BEGIN{n=int(4*s); print n<1?1:n}')

if [ -z "$ONLY" ] || [ "$ONLY" = small ]; then
  workload small $N_SMALL 4096
  bk=$(cat "$W/last-small")
  measure "small no-op rerun: ferry" $N_SMALL 0 "${FERRY[@]}" --origin "$W/small" --target "$(s3url $bk)"
  measure "small no-op rerun: rclone --transfers 32" $N_SMALL 0 $RC copy --transfers 32 "$W/small" m:$bk
  measure "small no-op rerun: aws s3 sync (32)" $N_SMALL 0 $(AWS 32) "$W/small" s3://$bk/
  NEW=$(( N_SMALL / 100 )); gen "$W/small/new" $NEW 4096
  bk2=$(newbucket); $RC copy --transfers 32 "$W/small" m:$bk2 --exclude 'new/**'
  measure "small rerun +1% new: ferry" $NEW $((NEW*4096)) "${FERRY[@]}" --origin "$W/small" --target "$(s3url $bk)"
  measure "small rerun +1% new: rclone --transfers 32" $NEW $((NEW*4096)) $RC copy --transfers 32 "$W/small" m:$bk2
  drop $bk
  # MinIO origin, listing mode.
  src=$(newbucket); $RC copy --transfers 32 "$W/small" m:$src
  bk=$(newbucket); measure "small from MinIO origin: ferry" $N_SMALL $((N_SMALL*4096)) "${FERRY[@]}" --origin "$(s3url $src)" --target "$(s3url $bk)"; drop $bk
  bk=$(newbucket); measure "small from MinIO origin: rclone --transfers 32" $N_SMALL $((N_SMALL*4096)) $RC copy --transfers 32 --s3-no-head m:$src m:$bk; drop $bk
  drop $bk2; drop $src
fi
if [ -z "$ONLY" ] || [ "$ONLY" = keys ]; then
  [ -d "$W/small" ] || gen "$W/small" $N_SMALL 4096
  NP=$(port)
  cat >"$W/nginx.conf" <<NG
daemon off; worker_processes 2; pid $W/nginx.pid; error_log $W/nginx.err;
events { worker_connections 1024; }
http { access_log off; sendfile on; server { listen 127.0.0.1:$NP; root $W/small; } }
NG
  nginx -c "$W/nginx.conf" -p "$W" & PIDS+=($!)
  sleep 0.5
  (cd "$W/small" && find . -type f | sed 's|^\./||') >"$W/keys.txt"
  printf 'rules:\n  - origin: http://127.0.0.1:%s/\n' $NP >"$W/ferry.yaml"
  WARM=$W/small
  bk=$(newbucket); measure "small keys via nginx: ferry (rules)" $N_SMALL $((N_SMALL*4096)) "${FERRY[@]}" --config "$W/ferry.yaml" --keys "$W/keys.txt" --target "$(s3url $bk)"; drop $bk
  bk=$(newbucket); measure "small keys via nginx: rclone http --files-from" $N_SMALL $((N_SMALL*4096)) $RC copy --transfers 32 --s3-no-head --http-url http://127.0.0.1:$NP/ --files-from "$W/keys.txt" --no-traverse :http: m:$bk; drop $bk
fi
if [ -z "$ONLY" ] || [ "$ONLY" = big ]; then workload big $N_BIG $((8<<20)); drop "$(cat "$W/last-big")"; fi
if [ -z "$ONLY" ] || [ "$ONLY" = huge ]; then workload huge $N_HUGE $((256<<20)); drop "$(cat "$W/last-huge")"; fi
# --- ratios --------------------------------------------------------------------
if [ -s "$W/results.tsv" ]; then
  echo
  echo "ratios (speed = best peer's seconds / ferry seconds, >1 means ferry is faster; the best peer is the faster of rclone and aws s3 sync; cpu = ferry CPU per object / the peer's)"
  awk -F'\t' '
    function pick(prefix, which,   i, best) { best = ""; for (i = 1; i <= n; i++) if (index(name[i], prefix) == 1 && (best == "" || e[i] < e[best])) best = i; return best }
    function faster(a, b) { return a == "" ? b : (b == "" || e[a] <= e[b]) ? a : b }
    function row(label, f, r, b,   rn) {
      if (f == "" || r == "") return
      rn = substr(name[r], length(label) + 1); sub(/^[: ]+/, "", rn)
      printf "%-26s ferry %7.2fs %6.2f cpu_s | best peer %7.2fs %6.2f cpu_s (%s) | speed %5.2fx  cpu/obj %5.2fx", label, e[f], c[f], e[r], c[r], rn, e[r] / e[f], (o[r] > 0 ? (c[f] / o[f]) / (c[r] / o[r]) : 0)
      if (b != "") printf " | fastest bare PUT %7.2fs, ferry/bare %5.2f", e[b], e[f] / e[b]
      printf "\n"
    }
    { n++; name[n] = $1; o[n] = $2; e[n] = $4; c[n] = $5 }
    END {
      split("small big huge", ls, " ")
      for (k = 1; k <= 3; k++) row(ls[k], pick(ls[k] " ferry"), faster(pick(ls[k] " rclone"), pick(ls[k] " aws")), pick(ls[k] " bare"))
      split("small no-op rerun|small rerun +1% new|small from MinIO origin|small keys via nginx", ps, "|")
      for (k = 1; k <= 4; k++) row(ps[k], pick(ps[k] ": ferry"), faster(pick(ps[k] ": rclone"), pick(ps[k] ": aws")), "")
    }' "$W/results.tsv"
  # Paired: ferry against the like-for-like ceiling, the create-only bare
  # loop at the same concurrency, run for run (each pair ran back to back, so
  # drift in the machine's speed cancels, and neither side gets a best-of-N).
  echo
  echo "paired (ferry seconds / the create-only bare PUT loop's at the same --transfers, the k-th run of each; <1 means ferry is faster)"
  awk -F'\t' '
    { if (match($1, / ferry scan --transfers [0-9]+$/)) { k = substr($1, 1, RSTART - 1) " " substr($1, RSTART + 24); f[k, ++nf[k]] = $4; keys[k] = 1 }
      else if (match($1, / bare Go PUT loop, signed HTTP create-only \([0-9]+\)$/)) { k = substr($1, 1, RSTART - 1) " " substr($1, RSTART + 44, RLENGTH - 45); b[k, ++nb[k]] = $4 } }
    END {
      for (k in keys) {
        line = ""; m = 0
        for (i = 1; i <= nf[k] && i <= nb[k]; i++) { r = f[k, i] / b[k, i]; line = line sprintf(" %.2f", r); all[++m] = r }
        if (m == 0) continue
        for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (all[j] < all[i]) { t = all[i]; all[i] = all[j]; all[j] = t }
        med = (m % 2) ? all[(m + 1) / 2] : (all[m / 2] + all[m / 2 + 1]) / 2
        printf "%-26s --transfers %-3s ferry/bare:%s | median %.2f, worst %.2f\n", substr(k, 1, index(k, " ") - 1), substr(k, index(k, " ") + 1), line, med, all[m]
      }
    }' "$W/results.tsv" | sort
  [ -n "${RESULTS:-}" ] && cp "$W/results.tsv" "$RESULTS"
fi
if [ -z "$ONLY" ] || [ "$ONLY" = mem ]; then
  FERRY_BENCH_MEM=1 go test -count=1 -v -run TestDiffMemory1M ./scan/ | grep 'diff of'
fi
