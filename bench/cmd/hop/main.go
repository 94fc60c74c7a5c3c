// Command hop is one plain reverse-proxy hop, the yardstick of what
// policygate's proxy mode adds: net/http/httputil.ReverseProxy with
// Rewrite and SetXForwarded in front of an upstream, deciding nothing. Its
// transport is Go's default one (as policygate's proxy mode uses) unless
// -max-idle-per-host raises how many idle upstream connections it keeps.
package main

import (
	"flag"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:3013", "listen address")
	upstream := flag.String("upstream", "http://127.0.0.1:3012", "upstream URL")
	idle := flag.Int("max-idle-per-host", 0, "idle upstream connections kept (0: Go's default, 2)")
	flag.Parse()
	u, err := url.Parse(*upstream)
	if err != nil {
		log.Fatalf("-upstream %q: %v", *upstream, err)
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil
	if *idle > 0 {
		t.MaxIdleConnsPerHost, t.MaxIdleConns = *idle, max(t.MaxIdleConns, *idle)
	}
	rp := &httputil.ReverseProxy{Transport: t, Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(u)
		pr.SetXForwarded()
	}}
	srv := &http.Server{Addr: *addr, Handler: rp, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 60 * time.Second}
	log.Fatal(srv.ListenAndServe())
}
