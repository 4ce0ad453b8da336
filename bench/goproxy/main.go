// Command goproxy is the Go baseline of TARGET=s3 bench/serve.sh: a bare
// net/http reverse proxy (httputil.ReverseProxy) to one upstream, with
// keep-alive connections as serve's target client keeps them. It shows
// what a proxy built on net/http costs per request, beside nginx's.
package main

import (
	"flag"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
)

func main() {
	addr := flag.String("listen", "127.0.0.1:18288", "address")
	upstream := flag.String("upstream", "http://127.0.0.1:9000", "upstream URL")
	flag.Parse()
	u, err := url.Parse(*upstream)
	if err != nil || u.Host == "" {
		log.Fatalf("goproxy: bad -upstream %q", *upstream)
	}
	p := httputil.NewSingleHostReverseProxy(u)
	p.Transport = &http.Transport{MaxIdleConnsPerHost: 256, DisableCompression: true}
	log.Fatal(http.ListenAndServe(*addr, p))
}
