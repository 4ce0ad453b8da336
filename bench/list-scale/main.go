// list-scale measures a no-op diff of a large bucket: a synthetic S3
// endpoint serves ListObjectsV2 (url-encoded names on request, the
// delimiter "/"), HEAD and GET for N generated keys (nested prefixes and
// some odd keys) with a fixed latency per request, as two
// buckets, origin and target, where the target holds everything. It runs
// `ferry scan --dry-run` against it with each --listers value and prints
// the wall time, the limit (pages x latency / listers, or the CPU time of
// ferry and the endpoint over the cores, whichever is larger), ferry's CPU
// and peak RSS, and the list requests made.
//
//	go run ./bench/list-scale -n 1000000 -latency 20ms -listers 1,32
//	go run ./bench/list-scale -n 10000000 -listers 32 -seq-estimate
//
// The endpoint builds every generated key's listing entry before the runs
// (about 250 bytes a key: 2.5 GB at 10 M keys), so that a page costs it a
// copy, not an MD5 and the formatting of 1,000 entries: it shares the cores
// with the ferry it measures, which a real S3 does not (-prerender=false
// builds the entries on every request, as before). ferry's CPU and peak
// RSS are measured in a process of its own (see rusageOf); -cpuprofile
// writes the endpoint's.
//
// -ferry takes a built binary (default: build ./cmd/ferry into a temp dir).
// -seq-estimate skips a long sequential run and prints pages x (latency +
// the measured time per page) instead. -serve only serves the endpoint, for
// other commands (`ferry plan create DIR --origin 's3://origin?endpoint=URL&anonymous=true'`).
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) > 3 && os.Args[1] == rusageOf {
		runMeasured(os.Args[2], os.Args[3:])
		return
	}
	n := flag.Int("n", 1_000_000, "keys in each bucket")
	latency := flag.Duration("latency", 20*time.Millisecond, "added to every request")
	listers := flag.String("listers", "1,32", "comma-separated --listers values to run")
	ferry := flag.String("ferry", "", "ferry binary (default: go build ./cmd/ferry)")
	seqEstimate := flag.Bool("seq-estimate", false, "estimate the sequential figure instead of running --listers 1")
	serveOnly := flag.Bool("serve", false, "only serve the endpoint (prints its URL) until interrupted")
	prerender := flag.Bool("prerender", true, "build every key's listing entry before the runs instead of on every request")
	cpuProfile := flag.String("cpuprofile", "", "write the endpoint's CPU profile during the runs to this file")
	steps := flag.Bool("timeline", false, "also print the list requests in flight in each 50 ms of every partitioned run")
	flag.Parse()

	ks := newKeySpace(*n)
	srv := &server{keys: ks, latency: *latency}
	if *prerender {
		start := time.Now()
		srv.prerender()
		fmt.Fprintf(os.Stderr, "list-scale: %d listing entries built in %v (%d MB)\n", ks.n, time.Since(start).Round(time.Millisecond), len(srv.frags)>>20)
	}
	if *cpuProfile != "" { // after the prerendering: the runs only
		f, err := os.Create(*cpuProfile)
		check(err)
		check(pprof.StartCPUProfile(f))
		defer pprof.StopCPUProfile()
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	go http.Serve(ln, srv)
	endpoint := "http://" + ln.Addr().String()
	if *serveOnly {
		fmt.Println(endpoint)
		select {}
	}
	bin := *ferry
	if bin == "" {
		bin = buildFerry()
	}
	fmt.Printf("keys: %d per bucket (%d odd), %d pages per side, latency %v, %d CPUs\n",
		ks.len(), len(ks.odd), pages(ks.len()), *latency, runtime.NumCPU())
	var seq float64
	for _, f := range strings.Split(*listers, ",") {
		l, err := strconv.Atoi(strings.TrimSpace(f))
		check(err)
		m := run(bin, endpoint, l, srv, *steps)
		if m.listed != int64(ks.len()) || m.missing != 0 {
			fmt.Fprintf(os.Stderr, "list-scale: --listers %d listed %d keys, %d missing; want %d, 0\n", l, m.listed, m.missing, ks.len())
			os.Exit(1)
		}
		latLimit := float64(pages(ks.len())) * latency.Seconds() / float64(l)
		cpuLimit := (m.cpu + m.serverCPU) / float64(runtime.NumCPU())
		limit := max(latLimit, cpuLimit)
		fmt.Printf("--listers %-3d %7.2fs  limit %6.2fs (latency %.2fs, cpu %.2fs)  %.2fx the limit  ferry cpu %.2fs  endpoint cpu %.2fs  peak RSS %d MB  %d spans  list requests %d\n",
			l, m.wall, limit, latLimit, cpuLimit, m.wall/limit, m.cpu, m.serverCPU, m.maxRSS>>20, m.spans, m.lists)
		if l == 1 {
			seq = m.wall
		} else if *seqEstimate && seq == 0 {
			perPage := m.cpu / float64(2*pages(ks.len()))
			seq = float64(pages(ks.len())) * (latency.Seconds() + perPage)
			fmt.Printf("sequential (estimated: pages x (latency + %.2f ms of ferry CPU per page)): %.2fs\n", perPage*1000, seq)
		}
		if l > 1 && seq > 0 {
			fmt.Printf("--listers %d is %.1fx faster than sequential\n", l, seq/m.wall)
		}
	}
}

func pages(n int) int { return (n + 999) / 1000 }

type measure struct {
	wall, cpu, serverCPU float64
	maxRSS               int64
	listed, missing      int64
	spans, lists         int64
}

// run runs one no-op diff and measures it.
func run(bin, endpoint string, listers int, srv *server, steps bool) measure {
	dir, err := os.MkdirTemp("", "list-scale-")
	check(err)
	defer os.RemoveAll(dir)
	q := "?endpoint=" + endpoint + "&region=us-east-1&anonymous=true"
	self, err := os.Executable()
	check(err)
	usage := filepath.Join(dir, "rusage.json")
	cmd := exec.Command(self, rusageOf, usage, bin, "scan", "--origin", "s3://origin"+q, "--target", "s3://target"+q,
		"--dry-run", "--json", "--listers", strconv.Itoa(listers), "--state-dir", filepath.Join(dir, "state"), "--log-level", "error")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+dir, "AWS_CA_BUNDLE=")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	srv.lists.Store(0)
	srv.tl.reset()
	before := selfCPU()
	start := time.Now()
	err = cmd.Run()
	stop := time.Now()
	wall := stop.Sub(start).Seconds()
	if err != nil {
		fmt.Fprintf(os.Stderr, "list-scale: ferry: %v\n%s", err, errb.String())
		os.Exit(1)
	}
	var ru childUsage
	b, err := os.ReadFile(usage)
	check(err)
	check(json.Unmarshal(b, &ru))
	var sum struct {
		Listed  int64 `json:"listed"`
		Missing int64 `json:"missing"`
		Spans   int64 `json:"spans"`
	}
	check(json.Unmarshal(out.Bytes(), &sum))
	if listers > 1 {
		var w io.Writer
		if steps {
			w = os.Stdout
		}
		fmt.Println("  " + srv.tl.report(start, stop, listers, w))
	}
	return measure{
		wall: wall, cpu: ru.CPU, serverCPU: selfCPU() - before, maxRSS: ru.MaxRSS,
		listed: sum.Listed, missing: sum.Missing, spans: sum.Spans, lists: srv.lists.Load(),
	}
}

// rusageOf runs a command in a process of its own and writes the
// command's CPU time and peak RSS to a file: a child's peak RSS as the
// kernel counts it includes the parent's at the time of the fork, and the
// endpoint holds every prerendered entry.
const rusageOf = "-rusage-of"

type childUsage struct {
	CPU    float64 `json:"cpu_seconds"`
	MaxRSS int64   `json:"max_rss_bytes"`
}

func runMeasured(file string, args []string) {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err := cmd.Run()
	if cmd.ProcessState == nil {
		check(err)
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	b, _ := json.Marshal(childUsage{CPU: tv(ru.Utime) + tv(ru.Stime), MaxRSS: ru.Maxrss << 10})
	check(os.WriteFile(file, b, 0o644))
	os.Exit(cmd.ProcessState.ExitCode())
}

func selfCPU() float64 {
	var ru syscall.Rusage
	check(syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return tv(ru.Utime) + tv(ru.Stime)
}

func tv(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }

func buildFerry() string {
	dir, err := os.MkdirTemp("", "list-scale-bin-")
	check(err)
	bin := filepath.Join(dir, "ferry")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/ferry")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	check(cmd.Run())
	return bin
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "list-scale:", err)
		os.Exit(1)
	}
}
