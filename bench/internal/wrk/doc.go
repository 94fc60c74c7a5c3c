// Package wrk drives the wrk load generator with this module's request
// script and reads the RESULT line the script prints: requests, duration,
// p50 and p99 latency and socket errors, with the CPU the server under
// test, wrk and the rest of the machine used during the run.
package wrk
