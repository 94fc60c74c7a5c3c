package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// rssSampler records the largest VmRSS of a process, every 100 ms, and
// the largest RssAnon and RssFile (its heap and stacks; the executable's
// pages it has touched, clean and shared with the page cache).
type rssSampler struct {
	done chan struct{}
	max  chan rssPeak
}

// rssPeak is the largest of each figure over the samples, in KiB.
type rssPeak struct{ rss, anon, file int64 }

func startRSSSampler(pid int) *rssSampler {
	s := &rssSampler{done: make(chan struct{}), max: make(chan rssPeak, 1)}
	go func() {
		var peak rssPeak
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			v := procStatusKB(pid, "VmRSS:", "RssAnon:", "RssFile:")
			peak = rssPeak{max(peak.rss, v[0]), max(peak.anon, v[1]), max(peak.file, v[2])}
			select {
			case <-s.done:
				s.max <- peak
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *rssSampler) stop() rssPeak { close(s.done); return <-s.max }

func vmHWM(pid int) int64 { return procStatusKB(pid, "VmHWM:")[0] }

// procStatusKB reads "Name: N kB" lines of /proc/PID/status, one value per
// field asked for (0 for a field it lacks).
func procStatusKB(pid int, fields ...string) []int64 {
	values := make([]int64, len(fields))
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return values
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		for i, field := range fields {
			if v, ok := strings.CutPrefix(sc.Text(), field); ok {
				values[i], _ = strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			}
		}
	}
	return values
}
