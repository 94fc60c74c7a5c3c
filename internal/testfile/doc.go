// Package testfile writes the files a test sets up (policies, settings,
// certificates' neighbours), failing the test on any error, so that each
// test's own code says what it writes and not how.
package testfile
