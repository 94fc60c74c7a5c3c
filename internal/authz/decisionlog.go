// Decision logs: OPA's decision_logs plugin, configured and fed as the SDK does.

package authz

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/bundle"
	"github.com/open-policy-agent/opa/v1/metrics"
	"github.com/open-policy-agent/opa/v1/server"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/util"
)

// withConsoleDecisionLogs turns on console decision logs in an OPA
// configuration (JSON or YAML), keeping its other decision_logs settings.
func withConsoleDecisionLogs(config []byte) ([]byte, error) {
	var m map[string]any
	if err := util.Unmarshal(config, &m); err != nil {
		return nil, fmt.Errorf("opa configuration: %w", err)
	}
	if m == nil {
		m = map[string]any{}
	}
	dl, _ := m["decision_logs"].(map[string]any)
	if dl == nil {
		dl = map[string]any{}
	}
	dl["console"] = true
	m["decision_logs"] = dl
	return json.Marshal(m)
}

// logDecision hands one decision to the decision_logs plugin, in the shape
// sdk.OPA.Decision gives it.
func (e *Engine) logDecision(ctx context.Context, txn storage.Transaction, input ast.Value, result ast.Value, evalErr error, record *server.Info) error {
	record.Metrics.Timer(metrics.SDKDecisionEval).Stop()
	record.Txn = txn
	record.Error = evalErr
	inputJSON, err := ast.JSON(input)
	if err != nil {
		return err
	}
	record.Input, record.InputAST = &inputJSON, input
	if evalErr == nil {
		r, err := ast.JSON(result)
		if err != nil {
			return err
		}
		record.Results = &r
	}
	names, err := bundle.ReadBundleNamesFromStore(ctx, e.manager.Store, txn)
	if err != nil && !storage.IsNotFound(err) {
		return err
	}
	record.Bundles = make(map[string]server.BundleInfo, len(names))
	for _, name := range names {
		rev, err := bundle.ReadBundleRevisionFromStore(ctx, e.manager.Store, txn, name)
		if err != nil && !storage.IsNotFound(err) {
			return err
		}
		record.Bundles[name] = server.BundleInfo{Revision: rev}
	}
	return e.decisionLog.Log(ctx, record)
}
