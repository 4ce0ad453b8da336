# bench/lib.sh: what the scan benchmarks share; source it from bench/*.sh.
# They run on loopback with the credentials in AWS_ACCESS_KEY_ID and
# AWS_SECRET_ACCESS_KEY, which the caller exports first.

# port: a free TCP port on 127.0.0.1.
port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

# start_minio BIN DATA LOG: a MinIO server on a free port, its data in DATA;
# returns once it is ready. Sets MINIO_PID and EP (its URL) and points
# rclone's remote m: and RC (an rclone command without a config) at it.
start_minio() {
  local mp
  mp=$(port)
  MINIO_ROOT_USER=$AWS_ACCESS_KEY_ID MINIO_ROOT_PASSWORD=$AWS_SECRET_ACCESS_KEY MINIO_BROWSER=off \
    "$1" server --quiet --address 127.0.0.1:$mp --console-address 127.0.0.1:$(port) "$2" >"$3" 2>&1 &
  MINIO_PID=$!
  EP=http://127.0.0.1:$mp
  until curl -sf $EP/minio/health/ready >/dev/null; do sleep 0.2; done
  export RCLONE_CONFIG_M_TYPE=s3 RCLONE_CONFIG_M_PROVIDER=Minio RCLONE_CONFIG_M_ENDPOINT=$EP \
    RCLONE_CONFIG_M_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID RCLONE_CONFIG_M_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY RCLONE_CONFIG_M_REGION=us-east-1
  RC="rclone --config /dev/null"
}

# minio_cpu: the CPU MinIO (MINIO_PID) has used so far, in clock ticks.
minio_cpu() { awk '{print $14+$15}' /proc/$MINIO_PID/stat; }

# minio_idle: waits (at most 20 s) until MinIO uses no CPU for half a
# second: its background work (deleting emptied buckets) done.
minio_idle() {
  local i a b
  for i in $(seq 40); do
    a=$(minio_cpu); sleep 0.5; b=$(minio_cpu)
    [ $((b - a)) -le 2 ] && break
  done
  return 0
}

# gen DIR COUNT SIZE_BYTES: random files spread over 100 directories like a real web root.
gen() {
  python3 - "$1" "$2" "$3" <<'PY'
import os, sys
d, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for i in range(n):
    p = os.path.join(d, "d%d" % (i % 100))
    os.makedirs(p, exist_ok=True)
    with open(os.path.join(p, "f%06d" % i), "wb") as f:
        f.write(os.urandom(size))
PY
}
