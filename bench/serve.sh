#!/usr/bin/env bash
# bench/serve.sh: hit throughput of ferry serve against nginx and a bare Go
# http.FileServer serving the same directory (wrk, loopback), and the added
# first-byte latency of a fill against a direct origin GET.
#
#   bench/serve.sh [SECONDS]        (default 8 s per wrk run)
#   ACCESS_LOG=true bench/serve.sh  (serve with its access log on; off by default, like nginx here)
#   TARGET=s3 bench/serve.sh        (an S3 target, MinIO: see s3_mode below)
#   FERRY_SRC=../old bench/serve.sh (build ferry from another checkout: before/after figures in one sitting)
#
# Needs: go, wrk, nginx (nginx-light), curl; TARGET=s3 also MinIO ($MINIO_BIN,
# or minio in $PATH or $(go env GOPATH)/bin: scripts/test installs it). Run from anywhere in the repo.
set -euo pipefail
secs=${1:-8}
cd "$(dirname "$0")/.."
ROOT=$PWD
for bin in wrk nginx curl; do
	command -v "$bin" >/dev/null || { echo "bench/serve.sh: $bin is not installed" >&2; exit 1; }
done

work=$(mktemp -d /tmp/ferry-bench-serve.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	[[ -f $work/nginx/nginx.pid ]] && kill "$(cat "$work/nginx/nginx.pid" 2>/dev/null)" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

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
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a/b }'; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ttfb() { curl -fso /dev/null -w '%{time_starttransfer}\n' "$1"; }

# cpu_ticks PID... -> user+system clock ticks of those processes so far.
cpu_ticks() {
	local t=0 p
	for p in "$@"; do
		t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat")))
	done
	echo "$t"
}

# nginx_start HTTP_BODY: nginx (2 workers, no access log) under $work/nginx,
# with HTTP_BODY (upstreams, servers) inside its http block; $! is its pid.
nginx_start() {
	cat >"$work/nginx/nginx.conf" <<NGINX
worker_processes 2;
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log;
events { worker_connections 1024; }
http {
	access_log off;
	keepalive_requests 1000000;
$1
}
NGINX
	nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -g 'daemon off; user root;' &
	pids+=($!)
}

# s3_mode: in one sitting, MinIO directly (its bucket readable anonymously),
# nginx proxy_pass to it, and ferry serve in front of it (path addressing),
# signing its reads (serve) or reading unsigned first (serve-anon:
# anonymous_reads=true, as nginx reads), and a bare Go
# httputil.ReverseProxy (go-proxy: what net/http itself costs) and a bare
# fasthttp proxy (fast-proxy: what a leaner HTTP stack costs),
# for 4 KiB hits at 32 connections, 1 MiB at 16, and the first-byte latency
# (median of 200 GETs of the 4 KiB object). Per request it also reports the
# CPU of the client (wrk), of the proxy (nginx's workers, ferry serve) and
# of MinIO, from /proc/PID/stat before and after each run.
s3_mode() {
	local P_MINIO=18281 P_MCON=18282 P_SERVE=18283 P_ADMIN=18284 P_NGINX=18285 P_ANON=18286 P_ANON_ADMIN=18287 P_GOPROXY=18288 P_FAST=18289
	local key=benchkey secret=benchsecret bucket=bench minio=${MINIO_BIN:-}
	if [[ -z $minio ]]; then
		minio=$(command -v minio || true)
		[[ -n $minio ]] || minio="$(go env GOPATH)/bin/minio"
	fi
	[[ -x $minio ]] || { echo "bench/serve.sh: TARGET=s3 needs MinIO (set MINIO_BIN, or run scripts/test once)" >&2; exit 1; }
	(cd "${FERRY_SRC:-$ROOT}" && go build -o "$work/ferry" ./cmd/ferry)
	go build -o "$work/goproxy" ./bench/goproxy
	go build -o "$work/fastproxy" ./bench/fastproxy
	mkdir -p "$work/minio" "$work/nginx/logs" "$work/state" "$work/data"
	head -c 4096 /dev/urandom >"$work/data/4k.bin"
	head -c 1048576 /dev/urandom >"$work/data/1m.bin"

	MINIO_ROOT_USER=$key MINIO_ROOT_PASSWORD=$secret MINIO_BROWSER=off MINIO_UPDATE=off \
		"$minio" server --quiet --address 127.0.0.1:$P_MINIO --console-address 127.0.0.1:$P_MCON "$work/minio" >"$work/minio.log" 2>&1 &
	pids+=($!)
	local minio_pid=$!
	for _ in $(seq 1 300); do curl -fso /dev/null "http://127.0.0.1:$P_MINIO/minio/health/ready" && break; sleep 0.1; done
	local M=http://127.0.0.1:$P_MINIO
	s3curl() { curl -fsS --aws-sigv4 "aws:amz:us-east-1:s3" -u "$key:$secret" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$@"; }
	s3curl -X PUT "$M/$bucket" >/dev/null
	for f in 4k.bin 1m.bin; do s3curl -T "$work/data/$f" "$M/$bucket/$f" >/dev/null; done
	s3curl -X PUT "$M/$bucket?policy=" --data-binary @- >/dev/null <<POLICY
{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["*"]},"Action":["s3:GetObject"],"Resource":["arn:aws:s3:::$bucket/*"]}]}
POLICY

	nginx_start "	upstream minio { server 127.0.0.1:$P_MINIO; keepalive 64; }
	server {
		listen 127.0.0.1:$P_NGINX;
		location / {
			proxy_pass http://minio;
			proxy_http_version 1.1;
			proxy_set_header Connection \"\";
			proxy_set_header Host \$host;
		}
	}"
	local nginx_pid=$!

	cat >"$work/ferry.yaml" <<YAML
target: s3://$bucket?endpoint=$M&region=us-east-1
state_dir: $work/state
serve:
  listen: 127.0.0.1:$P_SERVE
  admin_listen: 127.0.0.1:$P_ADMIN
  addressing: path
  bucket: $bucket
  access_log: ${ACCESS_LOG:-false}
YAML
	AWS_ACCESS_KEY_ID=$key AWS_SECRET_ACCESS_KEY=$secret AWS_REGION=us-east-1 AWS_CA_BUNDLE= \
		"$work/ferry" serve --config "$work/ferry.yaml" 2>"$work/serve.log" &
	pids+=($!)
	local serve_pid=$!
	# serve-anon: the same with anonymous_reads=true (the bucket is public,
	# as nginx needs it to be): hits are read unsigned, as nginx reads them.
	sed -e "s|region=us-east-1|region=us-east-1\&anonymous_reads=true|" -e "s|$P_SERVE|$P_ANON|" -e "s|$P_ADMIN|$P_ANON_ADMIN|" \
		-e "s|state_dir: .*|state_dir: $work/state-anon|" "$work/ferry.yaml" >"$work/ferry-anon.yaml"
	mkdir -p "$work/state-anon"
	AWS_ACCESS_KEY_ID=$key AWS_SECRET_ACCESS_KEY=$secret AWS_REGION=us-east-1 AWS_CA_BUNDLE= \
		"$work/ferry" serve --config "$work/ferry-anon.yaml" 2>"$work/serve-anon.log" &
	pids+=($!)
	local anon_pid=$!
	"$work/goproxy" -listen 127.0.0.1:$P_GOPROXY -upstream "$M" 2>"$work/goproxy.log" &
	pids+=($!)
	local goproxy_pid=$!
	"$work/fastproxy" -listen 127.0.0.1:$P_FAST -upstream "$M" 2>"$work/fastproxy.log" &
	pids+=($!)
	local fast_pid=$!
	for port in $P_SERVE $P_NGINX $P_ANON $P_GOPROXY $P_FAST; do
		for _ in $(seq 1 100); do curl -fso /dev/null "http://127.0.0.1:$port/$bucket/4k.bin" && break; sleep 0.1; done
	done
	# url_of VIA FILE: the URL of FILE in the bucket through VIA.
	url_of() {
		case $1 in
		minio) echo "$M/$bucket/$2" ;;
		nginx) echo "http://127.0.0.1:$P_NGINX/$bucket/$2" ;;
		go-proxy) echo "http://127.0.0.1:$P_GOPROXY/$bucket/$2" ;;
		fast-proxy) echo "http://127.0.0.1:$P_FAST/$bucket/$2" ;;
		serve) echo "http://127.0.0.1:$P_SERVE/$bucket/$2" ;;
		serve-anon) echo "http://127.0.0.1:$P_ANON/$bucket/$2" ;;
		esac
	}
	local workers
	workers=$(pgrep -P "$nginx_pid" | tr '\n' ' ')
	local hz
	hz=$(getconf CLK_TCK)
	# Warm up every path (MinIO's start-up work, connection pools) before
	# anything is measured.
	for w in minio nginx go-proxy fast-proxy serve serve-anon; do
		wrk -t1 -c8 -d2s "$(url_of $w 4k.bin)" >/dev/null
	done

	# us TICKS -> CPU microseconds per request of the run ($n requests).
	us() { awk -v t="$1" -v n="$n" -v hz="$hz" 'BEGIN { printf "%.0f us", t / hz * 1e6 / n }'; }
	printf '%-7s %-10s %10s %9s %12s %12s %12s\n' size via req/s MB/s client/req proxy/req minio/req
	declare -A R
	local spec file conns via url proxy rps mbs n c0 c1 p0 p1 m0 m1 out
	for spec in "4k.bin 32" "1m.bin 16"; do
		read -r file conns <<<"$spec"
		for via in minio nginx go-proxy fast-proxy serve serve-anon; do
			url=$(url_of $via $file)
			case $via in
			minio) proxy="" ;;
			nginx) proxy=$workers ;;
			go-proxy) proxy=$goproxy_pid ;;
			fast-proxy) proxy=$fast_pid ;;
			serve) proxy=$serve_pid ;;
			serve-anon) proxy=$anon_pid ;;
			esac
			p0=0 p1=0
			[[ -n $proxy ]] && p0=$(cpu_ticks $proxy)
			m0=$(cpu_ticks "$minio_pid")
			# The client's CPU: wrk's, as the children time of the shell that waited for it.
			out=$(bash -c 'wrk -t2 -c"$1" -d"$2s" "$3"; awk "{print \"CHILD\", \$16 + \$17}" /proc/$$/stat' _ "$conns" "$secs" "$url")
			m1=$(cpu_ticks "$minio_pid")
			[[ -n $proxy ]] && p1=$(cpu_ticks $proxy)
			rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
			n=$(awk '/requests in/ {print $1}' <<<"$out")
			c1=$(awk '/^CHILD/ {print $2}' <<<"$out")
			mbs=$(awk '/^Transfer\/sec/ {t=$2; v=t+0; if (t ~ /GB/) v*=1024; else if (t ~ /KB/) v/=1024; printf "%.1f", v}' <<<"$out")
			R[$file.$via]=$rps R[$file.$via.mb]=$mbs
			printf '%-7s %-10s %10.0f %9s %12s %12s %12s\n' "$file" "$via" "$rps" "$mbs" "$(us "$c1")" "$(us $((p1 - p0)))" "$(us $((m1 - m0)))"
		done
	done
	echo
	echo "4 KiB: serve/nginx $(ratio "${R[4k.bin.serve]}" "${R[4k.bin.nginx]}")x (target >= 1.0), serve-anon/nginx $(ratio "${R[4k.bin.serve-anon]}" "${R[4k.bin.nginx]}")x, go-proxy/nginx $(ratio "${R[4k.bin.go-proxy]}" "${R[4k.bin.nginx]}")x, fast-proxy/nginx $(ratio "${R[4k.bin.fast-proxy]}" "${R[4k.bin.nginx]}")x, serve-anon/go-proxy $(ratio "${R[4k.bin.serve-anon]}" "${R[4k.bin.go-proxy]}")x, serve/minio $(ratio "${R[4k.bin.serve]}" "${R[4k.bin.minio]}")x, nginx/minio $(ratio "${R[4k.bin.nginx]}" "${R[4k.bin.minio]}")x"
	echo "1 MiB: serve/nginx $(ratio "${R[1m.bin.serve.mb]}" "${R[1m.bin.nginx.mb]}")x (target >= 1.0), serve-anon/nginx $(ratio "${R[1m.bin.serve-anon.mb]}" "${R[1m.bin.nginx.mb]}")x, go-proxy/nginx $(ratio "${R[1m.bin.go-proxy.mb]}" "${R[1m.bin.nginx.mb]}")x, fast-proxy/nginx $(ratio "${R[1m.bin.fast-proxy.mb]}" "${R[1m.bin.nginx.mb]}")x, serve/minio $(ratio "${R[1m.bin.serve.mb]}" "${R[1m.bin.minio.mb]}")x"

	# First byte of a fresh connection per GET (curl), through each path;
	# minio-signed is MinIO itself answering a signed GET (as serve's reads
	# are signed without anonymous_reads): the part of serve/nginx that is
	# MinIO checking a signature nginx's anonymous reads do not carry.
	local -a fb
	declare -A F
	for via in minio minio-signed nginx go-proxy fast-proxy serve serve-anon; do
		fb=()
		if [[ $via == minio-signed ]]; then
			for _ in $(seq 1 200); do fb+=("$(s3curl -o /dev/null -w '%{time_starttransfer}\n' "$M/$bucket/4k.bin")"); done
		else
			url=$(url_of $via 4k.bin)
			for _ in $(seq 1 200); do fb+=("$(ttfb "$url")"); done
		fi
		F[$via]=$(median "${fb[@]}")
	done
	echo
	awk -v m="${F[minio]}" -v ms="${F[minio-signed]}" -v n="${F[nginx]}" -v g="${F[go-proxy]}" -v f="${F[fast-proxy]}" -v s="${F[serve]}" -v a="${F[serve-anon]}" 'BEGIN {
		printf "first byte (median of 200, 4 KiB): minio %.3f ms, minio-signed %.3f ms, nginx %.3f ms, go-proxy %.3f ms, fast-proxy %.3f ms, serve %.3f ms, serve-anon %.3f ms\n", m*1000, ms*1000, n*1000, g*1000, f*1000, s*1000, a*1000
		printf "first byte: serve/nginx %.2fx, serve-anon/nginx %.2fx (target <= 1.2); minio-signed/minio %.2fx, go-proxy/nginx %.2fx, fast-proxy/nginx %.2fx\n", s/n, a/n, ms/m, g/n, f/n }'
}

if [[ ${TARGET:-file} == s3 ]]; then
	s3_mode
	exit 0
fi

P_SERVE=18181 P_ADMIN=18191 P_GO=18182 P_NGINX=18183 P_ORIGIN=18184
(cd "${FERRY_SRC:-$ROOT}" && go build -o "$work/ferry" ./cmd/ferry)
go build -o "$work/fileserver" ./bench/fileserver

mkdir -p "$work/data" "$work/origin/fill" "$work/nginx/logs" "$work/state"
head -c 4096 /dev/urandom >"$work/data/4k.bin"
head -c 1048576 /dev/urandom >"$work/data/1m.bin"
for i in $(seq 1 30); do head -c 65536 /dev/urandom >"$work/origin/fill/$i.bin"; done

nginx_start "	sendfile on;
	tcp_nopush on;
	types { application/octet-stream bin; }
	server {
		listen 127.0.0.1:$P_NGINX;
		root $work/data;
	}"

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
echo
echo "4 KiB: serve/go $(ratio "${R[4k.bin.serve]}" "${R[4k.bin.go]}")x (target >= 0.8), serve/nginx $(ratio "${R[4k.bin.serve]}" "${R[4k.bin.nginx]}")x"
echo "1 MiB: serve/nginx $(ratio "${R[1m.bin.serve]}" "${R[1m.bin.nginx]}")x (target >= 1.0), serve/go $(ratio "${R[1m.bin.serve]}" "${R[1m.bin.go]}")x"

# First-byte latency: 30 fills of distinct 64 KiB keys through serve against
# 30 direct GETs of the same keys from the origin; medians.
direct=() fill=()
for i in $(seq 1 30); do direct+=("$(ttfb "http://127.0.0.1:$P_ORIGIN/fill/$i.bin")"); done
for i in $(seq 1 30); do fill+=("$(ttfb "http://127.0.0.1:$P_SERVE/fill/$i.bin")"); done
md=$(median "${direct[@]}") mf=$(median "${fill[@]}")
echo
awk -v d="$md" -v f="$mf" 'BEGIN { printf "first byte (median of 30, 64 KiB): origin direct %.3f ms, fill through serve %.3f ms, added %.3f ms\n", d*1000, f*1000, (f-d)*1000 }'
hits=$(curl -fso /dev/null -w '%{http_code}' "http://127.0.0.1:$P_SERVE/fill/1.bin")
echo "after the fills: GET fill/1.bin -> $hits, $(ls "$work/data/fill" | grep -vc attrs) of 30 keys stored"
