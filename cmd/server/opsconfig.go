package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"
)

// maxShutdownDelay bounds SHUTDOWN_DELAY: Kubernetes' default grace
// period is 30s, and a delay longer than the grace period is cut by SIGKILL.
const maxShutdownDelay = 5 * time.Minute

// opsConfig is how the process behaves for its operator: rollouts, logs
// and TLS.
type opsConfig struct {
	// LogFormat is "json" (the default) or "text".
	LogFormat string
	tlsFiles

	// ShutdownDelay is how long /readyz answers 503 while the listener
	// keeps serving, after the first SIGTERM and before the graceful
	// shutdown, so load balancers stop sending before connections are
	// refused.
	ShutdownDelay time.Duration
}

// opsConfigFromEnv reads SHUTDOWN_DELAY, LOG_FORMAT, TLS_CERT_FILE and
// TLS_KEY_FILE.
func opsConfigFromEnv(getenv func(string) string, dev bool) (opsConfig, []error) {
	var c opsConfig
	var errs, more []error
	c.LogFormat, more = logFormatFromEnv(getenv)
	errs = append(errs, more...)
	c.tlsFiles, more = tlsConfigFromEnv(getenv, dev)
	errs = append(errs, more...)
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

// logFormatFromEnv reads LOG_FORMAT.
func logFormatFromEnv(getenv func(string) string) (string, []error) {
	switch v := strings.ToLower(strings.TrimSpace(getenv("LOG_FORMAT"))); v {
	case "":
		return "json", nil
	case "json", "text":
		return v, nil
	default:
		return "", []error{fmt.Errorf("LOG_FORMAT: %q is not json or text", v)}
	}
}

// newLogger writes to w in format ("json" or "text") from level on.
func newLogger(w io.Writer, format string, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// tlsFiles are the HTTP listener's certificate and key (TLS_CERT_FILE,
// TLS_KEY_FILE); both empty means plain HTTP.
type tlsFiles struct {
	TLSCertFile, TLSKeyFile string
}

// tlsConfigFromEnv reads TLS_CERT_FILE and TLS_KEY_FILE: both or neither,
// and they must load now (later changes are re-read while serving).
func tlsConfigFromEnv(getenv func(string) string, dev bool) (tlsFiles, []error) {
	c := tlsFiles{
		TLSCertFile: strings.TrimSpace(getenv("TLS_CERT_FILE")),
		TLSKeyFile:  strings.TrimSpace(getenv("TLS_KEY_FILE")),
	}
	switch {
	case c.TLSCertFile == "" && c.TLSKeyFile == "":
		return c, nil
	case dev:
		return c, []error{errors.New("TLS_CERT_FILE: dev mode serves plain http on loopback; unset TLS_CERT_FILE and TLS_KEY_FILE")}
	case c.TLSCertFile == "":
		return c, []error{errors.New("TLS_CERT_FILE: required with TLS_KEY_FILE")}
	case c.TLSKeyFile == "":
		return c, []error{errors.New("TLS_KEY_FILE: required with TLS_CERT_FILE")}
	}
	var errs []error
	bad := badFunc(func(variable, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", variable, fmt.Sprintf(format, args...)))
	})
	checkTLSFiles(bad, tlsFile{"TLS_CERT_FILE", c.TLSCertFile}, tlsFile{"TLS_KEY_FILE", c.TLSKeyFile}, tlsFile{})
	return c, errs
}
