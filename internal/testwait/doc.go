// Package testwait bounds the waits of tests: a condition is polled until
// it holds or a deadline passes, so that a test never hangs on a broken
// component and never sleeps for a fixed time hoping it is long enough.
package testwait
