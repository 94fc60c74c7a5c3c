package main

import (
	"fmt"
	"strings"
	"time"
)

// maxShutdownDelay bounds SHUTDOWN_DELAY: Kubernetes' default grace
// period is 30s, and a delay longer than the grace period is cut by SIGKILL.
const maxShutdownDelay = 5 * time.Minute

// opsConfig is how the process behaves for its operator: rollouts.
type opsConfig struct {
	// ShutdownDelay is how long /readyz answers 503 while the listener
	// keeps serving, after the first SIGTERM and before the graceful
	// shutdown, so load balancers stop sending before connections are
	// refused.
	ShutdownDelay time.Duration
}

// opsConfigFromEnv reads SHUTDOWN_DELAY.
func opsConfigFromEnv(getenv func(string) string) (opsConfig, []error) {
	var c opsConfig
	var errs []error
	if v := strings.TrimSpace(getenv("SHUTDOWN_DELAY")); v != "" {
		d, err := time.ParseDuration(v)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("SHUTDOWN_DELAY: %q is not a duration (e.g. 5s)", v))
		case d < 0 || d > maxShutdownDelay:
			errs = append(errs, fmt.Errorf("SHUTDOWN_DELAY: %s is outside 0s..%s", d, maxShutdownDelay))
		default:
			c.ShutdownDelay = d
		}
	}
	return c, errs
}
