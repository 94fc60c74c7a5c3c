// Command bare is the load comparison's ceiling: a chi router answering the
// same three routes with constant JSON, checking nothing.
package main

import (
	"flag"
	"log"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:3012", "listen address")
	flag.Parse()
	r := chi.NewRouter()
	r.Get("/api/public", constant(`{"message":"Hello from a public endpoint! You don't need to be authenticated to see this."}`))
	r.Get("/api/private", constant(`{"message":"Hello from a private endpoint! You need to be authenticated to see this."}`))
	r.Get("/api/private-scoped", constant(`{"message":"Hello from a private endpoint! You need to be authenticated and have a scope of read:messages to see this."}`))
	srv := &http.Server{Addr: *addr, Handler: r, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 60 * time.Second}
	log.Fatal(srv.ListenAndServe())
}

func constant(body string) http.HandlerFunc {
	b := []byte(body + "\n")
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(b)
	}
}
