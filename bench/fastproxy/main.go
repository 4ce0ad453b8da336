// Command fastproxy is the second baseline of TARGET=s3 bench/serve.sh: a
// bare reverse proxy built on github.com/valyala/fasthttp (its server and
// its HostClient, keep-alive connections to one upstream). Beside nginx and
// bench/goproxy it shows what the HTTP stack alone costs per request: the
// part of serve's 4 KiB hit rate that net/http, not ferry, decides.
package main

import (
	"flag"
	"log"
	"net/url"

	"github.com/valyala/fasthttp"
)

func main() {
	addr := flag.String("listen", "127.0.0.1:18289", "address")
	upstream := flag.String("upstream", "http://127.0.0.1:9000", "upstream URL")
	flag.Parse()
	u, err := url.Parse(*upstream)
	if err != nil || u.Host == "" || u.Scheme != "http" {
		log.Fatalf("fastproxy: bad -upstream %q (want http://host:port)", *upstream)
	}
	c := &fasthttp.HostClient{Addr: u.Host, MaxConns: 512, DisablePathNormalizing: true}
	h := func(ctx *fasthttp.RequestCtx) {
		ctx.Request.Header.Del("Connection")
		if err := c.Do(&ctx.Request, &ctx.Response); err != nil {
			ctx.Error(err.Error(), fasthttp.StatusBadGateway)
		}
	}
	s := &fasthttp.Server{Handler: h, DisablePreParseMultipartForm: true, NoDefaultServerHeader: true}
	log.Fatal(s.ListenAndServe(*addr))
}
