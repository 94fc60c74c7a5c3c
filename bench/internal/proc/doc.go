// Package proc starts a server under test as a child process with its
// output in a log file, waits until it answers, notices when it exits and
// stops it; it also finds free loopback addresses for it to listen on.
package proc
