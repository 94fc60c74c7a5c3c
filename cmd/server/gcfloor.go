package main

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// gcHeapFloor is the heap size below which the collector does not run
// unless GOGC or GOMEMLIMIT says otherwise. Go collects when the heap
// reaches twice what survived the last cycle (GOGC=100), or 4 MiB: sized
// for small programs. policygate keeps 3 to 40 MiB alive (the compiled
// policy, the token and decision caches) and every request leaves a few
// kilobytes of garbage, most of it net/http's, so with a small live heap
// the collector ran every few thousand requests and marked the whole
// heap each time: a fifth of a replayed request's CPU under load
// (docs/performance.md). A floor of 32 MiB spaces the cycles out while
// the live heap is small and changes nothing once it passes 16 MiB, so a
// large route table and full caches use no more memory than before.
const gcHeapFloor = 32 << 20

// gcFloorInterval is how often the live heap is read to set GOGC.
const gcFloorInterval = time.Second

// startGCFloor keeps the heap goal at gcHeapFloor or more while ctx
// lasts, by raising GOGC when the live heap is small (gcPercent). It does
// nothing when the operator set GOGC or GOMEMLIMIT: those decide then.
// At the end it restores GOGC=100, Go's default. It reports whether it
// started.
func startGCFloor(ctx context.Context, getenv func(string) string) bool {
	if getenv("GOGC") != "" || getenv("GOMEMLIMIT") != "" {
		return false
	}
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	apply := func() {
		metrics.Read(sample)
		if sample[0].Value.Kind() == metrics.KindUint64 {
			debug.SetGCPercent(gcPercent(sample[0].Value.Uint64(), gcHeapFloor))
		}
	}
	apply()
	go func() {
		t := time.NewTicker(gcFloorInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				debug.SetGCPercent(100)
				return
			case <-t.C:
				apply()
			}
		}
	}()
	return true
}

// gcPercent is the GOGC that puts the heap goal, live*(1+GOGC/100), at
// floor when live is below floor/2, else Go's default of 100; at most
// 300, so a near-empty heap (just after start) does not set a goal far
// above the floor once it fills.
func gcPercent(live, floor uint64) int {
	if live == 0 || 2*live >= floor {
		return 100
	}
	return int(min(100*(floor-live)/live, 300))
}
