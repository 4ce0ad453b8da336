#!/usr/bin/env bash
# bench/serve.sh: hit throughput of ferry serve against nginx and a bare Go
# http.FileServer serving the same directory (wrk, loopback), and the added
# first-byte latency of a fill against a direct origin GET.
#
#   bench/serve.sh [SECONDS]        (default 8 s per wrk run)
#   ACCESS_LOG=true bench/serve.sh  (serve with its access log on; off by default, like nginx here)
#
# Needs: go, wrk, nginx (nginx-light), curl. Run from anywhere in the repo.
set -euo pipefail
secs=${1:-8}
cd "$(dirname "$0")/.."
for bin in wrk nginx curl; do
	command -v "$bin" >/dev/null || { echo "bench/serve.sh: $bin is not installed" >&2; exit 1; }
done

work=$(mktemp -d /tmp/ferry-bench-serve.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	[[ -f $work/nginx/nginx.pid ]] && kill "$(cat "$work/nginx/nginx.pid")" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

P_SERVE=18181 P_ADMIN=18191 P_GO=18182 P_NGINX=18183 P_ORIGIN=18184
go build -o "$work/ferry" ./cmd/ferry
go build -o "$work/fileserver" ./bench/fileserver

mkdir -p "$work/data" "$work/origin/fill" "$work/nginx/logs" "$work/state"
head -c 4096 /dev/urandom >"$work/data/4k.bin"
head -c 1048576 /dev/urandom >"$work/data/1m.bin"
for i in $(seq 1 30); do head -c 65536 /dev/urandom >"$work/origin/fill/$i.bin"; done

cat >"$work/nginx/nginx.conf" <<NGINX
worker_processes 2;
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log;
events { worker_connections 1024; }
http {
	access_log off;
	sendfile on;
	tcp_nopush on;
	keepalive_requests 1000000;
	types { application/octet-stream bin; }
	server {
		listen 127.0.0.1:$P_NGINX;
		root $work/data;
	}
}
NGINX
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -g 'daemon off; user root;' &
pids+=($!)

"$work/fileserver" -listen 127.0.0.1:$P_GO -dir "$work/data" &
pids+=($!)
"$work/fileserver" -listen 127.0.0.1:$P_ORIGIN -dir "$work/origin" &
pids+=($!)

cat >"$work/ferry.yaml" <<YAML
target: $work/data
state_dir: $work/state
serve:
  listen: 127.0.0.1:$P_SERVE
  admin_listen: 127.0.0.1:$P_ADMIN
  # nginx runs with access_log off and the bare Go server logs nothing;
  # ACCESS_LOG=true bench/serve.sh measures serve with its access log on.
  access_log: ${ACCESS_LOG:-false}
rules:
  - key_prefix: fill/
    origin: http://127.0.0.1:$P_ORIGIN/
YAML
"$work/ferry" serve --config "$work/ferry.yaml" 2>"$work/serve.log" &
pids+=($!)

for port in $P_SERVE $P_GO $P_NGINX $P_ORIGIN; do
	for _ in $(seq 1 100); do
		curl -fso /dev/null "http://127.0.0.1:$port/4k.bin" && break
		[[ $port == "$P_ORIGIN" ]] && curl -fso /dev/null "http://127.0.0.1:$port/fill/1.bin" && break
		sleep 0.1
	done
done

# wrk_run URL CONNS -> "req/s MB/s"
wrk_run() {
	local out rps tr
	out=$(wrk -t2 -c"$2" -d"${secs}s" "$1")
	rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
	tr=$(awk '/^Transfer\/sec/ {print $2}' <<<"$out")
	# wrk prints Transfer/sec in KB, MB or GB.
	tr=$(awk -v t="$tr" 'BEGIN { v=t+0; if (t ~ /GB/) v*=1024; else if (t ~ /KB/) v/=1024; printf "%.1f", v }')
	echo "$rps $tr"
}

printf '%-8s %-8s %12s %10s\n' size server req/s MB/s
declare -A R
for spec in "4k.bin 32" "1m.bin 16"; do
	read -r file conns <<<"$spec"
	for srv in serve go nginx; do
		case $srv in
		serve) port=$P_SERVE ;;
		go) port=$P_GO ;;
		nginx) port=$P_NGINX ;;
		esac
		read -r rps mbs < <(wrk_run "http://127.0.0.1:$port/$file" "$conns")
		R[$file.$srv]=$rps
		R[$file.$srv.mb]=$mbs
		printf '%-8s %-8s %12.0f %10s\n' "$file" "$srv" "$rps" "$mbs"
	done
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a/b }'; }
echo
echo "4 KiB: serve/go $(ratio "${R[4k.bin.serve]}" "${R[4k.bin.go]}")x (target >= 0.8), serve/nginx $(ratio "${R[4k.bin.serve]}" "${R[4k.bin.nginx]}")x"
echo "1 MiB: serve/nginx $(ratio "${R[1m.bin.serve]}" "${R[1m.bin.nginx]}")x (target >= 1.0), serve/go $(ratio "${R[1m.bin.serve]}" "${R[1m.bin.go]}")x"

# First-byte latency: 30 fills of distinct 64 KiB keys through serve against
# 30 direct GETs of the same keys from the origin; medians.
ttfb() { curl -fso /dev/null -w '%{time_starttransfer}\n' "$1"; }
direct=() fill=()
for i in $(seq 1 30); do direct+=("$(ttfb "http://127.0.0.1:$P_ORIGIN/fill/$i.bin")"); done
for i in $(seq 1 30); do fill+=("$(ttfb "http://127.0.0.1:$P_SERVE/fill/$i.bin")"); done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
md=$(median "${direct[@]}") mf=$(median "${fill[@]}")
echo
awk -v d="$md" -v f="$mf" 'BEGIN { printf "first byte (median of 30, 64 KiB): origin direct %.3f ms, fill through serve %.3f ms, added %.3f ms\n", d*1000, f*1000, (f-d)*1000 }'
hits=$(curl -fso /dev/null -w '%{http_code}' "http://127.0.0.1:$P_SERVE/fill/1.bin")
echo "after the fills: GET fill/1.bin -> $hits, $(ls "$work/data/fill" | grep -vc attrs) of 30 keys stored"
