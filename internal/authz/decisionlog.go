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

// defaultMask is OPA's decision_logs.mask_decision default.
const defaultMask = "/system/log/mask"

// maskRef is the rule OPA masks every decision-log event with
// (decision_logs.mask_decision, data.system.log.mask by default), nil when
// the configuration logs no decisions.
func maskRef(config []byte) (ast.Ref, error) {
	var m map[string]any
	if err := util.Unmarshal(config, &m); err != nil {
		return nil, fmt.Errorf("opa configuration: %w", err)
	}
	dl, ok := m["decision_logs"]
	if !ok || dl == nil {
		return nil, nil
	}
	path := defaultMask
	if dl, ok := dl.(map[string]any); ok {
		if p, ok := dl["mask_decision"].(string); ok {
			path = p
		}
	}
	// As OPA parses it: a slash-separated path below data.
	p, ok := storage.ParsePath(util.WithPrefix(path, "/"))
	if !ok {
		return nil, fmt.Errorf("opa configuration: decision_logs.mask_decision %q: invalid path", path)
	}
	return p.Ref(ast.DefaultRootDocument), nil
}

// checkMask refuses a version without the mask rule while decisions are
// logged: OPA writes an event unmasked, silently, when the rule is
// undefined, and the input holds the token's claims (e-mail addresses,
// custom claims with secrets). Defining the rule, even one that masks
// nothing, is the policy author's explicit choice.
func (s *checkedStore) checkMask(ctx context.Context, txn storage.Transaction, c *ast.Compiler) error {
	mask := s.checks.mask
	if mask == nil || len(c.GetRules(mask)) > 0 {
		return nil
	}
	// The plugin manager's own start compiles no policy.
	names, err := bundle.ReadBundleNamesFromStore(ctx, s.Store, txn)
	if err != nil && !storage.IsNotFound(err) {
		return err
	}
	if len(names) == 0 {
		return nil
	}
	// The mask may also be plain data (a data.json holding the list).
	if path, err := storage.NewPathForRef(mask); err == nil {
		if v, err := readValue(ctx, s.Store, txn, path); err != nil || v != nil {
			return err
		}
	}
	return fmt.Errorf("invalid policy: decision logs are on but the policy does not define %v, so every event would log the token's claims in clear; "+
		"add it (e.g. copy policygate's policies/system/log/ folder into the policy folder or bundle) or turn decision logs off", mask)
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
