package testwait

import "time"

// Poll intervals: short at first, so a condition that soon holds costs
// little, then growing, so a long wait does not spin on a shared machine.
const (
	firstInterval = time.Millisecond
	maxInterval   = 20 * time.Millisecond
)

// Until calls cond until it returns true or within has passed, and
// reports whether it held. cond is called at least once, also when within
// is not positive. The caller fails the test with what it knows:
//
//	if !testwait.Until(10*time.Second, func() bool { return keys.Fetches() > n }) {
//		t.Fatalf("no fetch within 10s: %v", keys.LastError())
//	}
func Until(within time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(within)
	interval := firstInterval
	for {
		if cond() {
			return true
		}
		if !time.Now().Before(deadline) {
			return false
		}
		time.Sleep(min(interval, time.Until(deadline)))
		interval = min(2*interval, maxInterval)
	}
}
