package authz

import (
	"errors"
	"fmt"
	"time"

	"github.com/policygate/policygate/internal/redact"
)

// ReadinessCheck is /readyz's policy check: check is nil once a policy is
// active, and stays nil when a newer version was refused (the old one
// serves); details say which revision serves and why the newest does not.
// /readyz may be served on the public port: URLs in the errors (a bundle
// URL with a signed query, say) lose their userinfo and query.
func (e *Engine) ReadinessCheck() (check func() error, details func() map[string]any) {
	check = func() error {
		select {
		case <-e.Ready():
			return nil
		default:
		}
		if s := e.Status(); s.LastError != "" {
			return fmt.Errorf("no policy is active yet: %s", redact.URLs(s.LastError))
		}
		return errors.New("no policy is active yet")
	}
	details = func() map[string]any {
		s := e.Status()
		d := map[string]any{
			"source":      s.Source,
			"revision":    s.Revision,
			"activations": s.Activations,
			"failures":    s.Failures,
		}
		if !s.ActivatedAt.IsZero() {
			d["activated_at"] = s.ActivatedAt.Format(time.RFC3339Nano)
		}
		if s.LastError != "" {
			d["last_error"] = redact.URLs(s.LastError)
			d["last_error_at"] = s.LastErrorAt.Format(time.RFC3339Nano)
		}
		return d
	}
	return check, details
}
