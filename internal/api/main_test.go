package api_test

import (
	"flag"
	"fmt"
	"os"
	"testing"
)

// decisionCacheSize is authz.Config.DecisionCacheSize for every engine the
// tests start. TestMain runs the suite with the decision cache on (the
// default), then again with it off, so the contract, attack and cache
// tests show that the cache changes no answer.
var decisionCacheSize int

func TestMain(m *testing.M) {
	code := m.Run()
	if bench := flag.Lookup("test.bench"); code == 0 && (bench == nil || bench.Value.String() == "") {
		fmt.Println("=== the same tests with the decision cache off")
		decisionCacheSize = -1
		code = m.Run()
	}
	os.Exit(code)
}
