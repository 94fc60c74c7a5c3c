package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/policygate/policygate/internal/authz"
)

// maxTableCases bounds one table.
const maxTableCases = 100_000

// tableCase is one row of a decide table.
type tableCase struct {
	Name   string          `json:"name"`
	Method string          `json:"method"`
	Path   string          `json:"path"`
	Host   string          `json:"host"`
	Scopes json.RawMessage `json:"scopes"` // "a b" or ["a", "b"]
	Claims json.RawMessage `json:"claims"` // a JSON object
	Expect string          `json:"expect"`
	where  string          // "line 3" of a CSV file, "case 2" of a JSON one
}

// expectation is a parsed expect column: any of allow/deny, a status code,
// a reason (or OAuth error code), in any order.
type expectation struct {
	allowed *bool
	status  int
	reason  string
}

var tableColumns = []string{"name", "method", "path", "host", "scopes", "claims", "expect"}

// readTable reads a .csv (header row naming the columns) or .json (array of
// objects) table of cases.
func readTable(path string) ([]tableCase, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var cases []tableCase
	switch strings.ToLower(filepath.Ext(path)) {
	case ".json":
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&cases); err != nil {
			return nil, fmt.Errorf("not a JSON array of cases (%s): %s", strings.Join(tableColumns, ", "), jsonProblem(err))
		}
		for i := range cases {
			cases[i].where = fmt.Sprintf("case %d", i+1)
		}
	case ".csv":
		if cases, err = readCSVTable(raw); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("want a .csv or .json file")
	}
	if len(cases) > maxTableCases {
		return nil, fmt.Errorf("more than %d cases", maxTableCases)
	}
	return cases, nil
}

func readCSVTable(raw []byte) ([]tableCase, error) {
	r := csv.NewReader(bytes.NewReader(raw))
	r.Comment = '#'
	r.TrimLeadingSpace = true
	var rows [][]string
	var lines []int
	for len(rows) <= maxTableCases {
		row, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		line, _ := r.FieldPos(0)
		rows, lines = append(rows, row), append(lines, line)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("no header row (%s)", strings.Join(tableColumns, ","))
	}
	index := map[string]int{}
	for i, name := range rows[0] {
		name = strings.ToLower(strings.TrimSpace(name))
		if !slices.Contains(tableColumns, name) {
			return nil, fmt.Errorf("unknown column %q (want %s)", name, strings.Join(tableColumns, ","))
		}
		index[name] = i
	}
	get := func(row []string, col string) string {
		if i, ok := index[col]; ok && i < len(row) {
			return strings.TrimSpace(row[i])
		}
		return ""
	}
	cases := make([]tableCase, 0, len(rows)-1)
	for n, row := range rows[1:] {
		c := tableCase{Name: get(row, "name"), Method: get(row, "method"), Path: get(row, "path"), Host: get(row, "host"), Expect: get(row, "expect"), where: fmt.Sprintf("line %d", lines[n+1])}
		if s := get(row, "scopes"); s != "" {
			c.Scopes, _ = json.Marshal(s)
		}
		if s := get(row, "claims"); s != "" {
			c.Claims = json.RawMessage(s)
		}
		cases = append(cases, c)
	}
	return cases, nil
}

// toDecideCase builds the request of a row: scopes or claims make a token
// (claims {} is a token without scopes); neither is an anonymous request.
func (c tableCase) toDecideCase() (decideCase, expectation, error) {
	dc := decideCase{method: c.Method, path: c.Path, host: c.Host}
	if c.Method == "" || c.Path == "" {
		return dc, expectation{}, fmt.Errorf("method and path are required")
	}
	exp, err := parseExpect(c.Expect)
	if err != nil {
		return dc, exp, err
	}
	var scopes []string
	if len(c.Scopes) > 0 {
		var s string
		if json.Unmarshal(c.Scopes, &s) == nil {
			scopes = strings.Fields(s)
		} else if err := json.Unmarshal(c.Scopes, &scopes); err != nil {
			return dc, exp, fmt.Errorf("scopes: want a string or an array of strings")
		}
	}
	if len(c.Claims) == 0 && len(c.Scopes) == 0 {
		return dc, exp, nil
	}
	claims := map[string]any{"sub": "decide-table"}
	if len(c.Claims) > 0 {
		claims = nil
		if err := json.Unmarshal(c.Claims, &claims); err != nil || claims == nil {
			return dc, exp, fmt.Errorf("claims: not a JSON object: %s", jsonProblem(err))
		}
	}
	if len(scopes) > 0 {
		existing, _ := claims["scope"].(string)
		claims["scope"] = strings.TrimSpace(existing + " " + strings.Join(scopes, " "))
	}
	dc.claims, _ = json.Marshal(claims)
	return dc, exp, nil
}

func parseExpect(s string) (expectation, error) {
	var e expectation
	fields := strings.Fields(s)
	if len(fields) == 0 {
		return e, fmt.Errorf("expect is empty (allow, deny, a status such as 403, a reason such as insufficient_scope)")
	}
	for _, f := range fields {
		switch f = strings.ToLower(f); {
		case f == "allow" || f == "allowed" || f == "deny" || f == "denied":
			b := strings.HasPrefix(f, "allow")
			e.allowed = &b
		case len(f) == 3 && f[0] >= '1' && f[0] <= '5':
			n, err := strconv.Atoi(f)
			if err != nil {
				return e, fmt.Errorf("expect %q: not a status code", f)
			}
			e.status = n
		default:
			e.reason = f
		}
	}
	return e, nil
}

// mismatch says how a result differs from the expectation, "" when not.
func (e expectation) mismatch(r decideResult) string {
	var got []string
	if e.allowed != nil && *e.allowed != r.Allowed ||
		e.status != 0 && e.status != r.Status ||
		e.reason != "" && e.reason != r.Reason && e.reason != r.Error {
		verdict := "deny"
		if r.Allowed {
			verdict = "allow"
		}
		got = append(got, verdict, strconv.Itoa(r.Status), r.Reason)
		if r.Error != "" && r.Error != r.Reason {
			got = append(got, r.Error)
		}
	}
	return strings.Join(got, " ")
}

// runTable decides every case of a table and reports each mismatch.
func (d *decider) runTable(ctx context.Context, path string, asJSON bool, w io.Writer) error {
	cases, err := readTable(path)
	if err != nil {
		return badInput("--table %s: %v", path, err)
	}
	type report struct {
		Where    string   `json:"where"`
		Name     string   `json:"name,omitempty"`
		Request  string   `json:"request"`
		Expect   string   `json:"expect"`
		Got      string   `json:"got"`
		Routes   []string `json:"routes"`
		Describe string   `json:"error_description,omitempty"`
	}
	var mismatches []report
	for _, c := range cases {
		dc, exp, err := c.toDecideCase()
		if err != nil {
			return badInput("--table %s: %s: %v", path, c.where, err)
		}
		r, err := d.decide(ctx, dc, authz.ExplainNone)
		if err != nil {
			return badInput("--table %s: %s: %v", path, c.where, strings.TrimPrefix(err.Error(), "decide: "))
		}
		if got := exp.mismatch(r); got != "" {
			req := strings.TrimSpace(c.Method + " " + c.Path + prefixed(" host ", c.Host) + prefixed(" scopes ", string(c.Scopes)) + prefixed(" claims ", string(c.Claims)))
			mismatches = append(mismatches, report{Where: c.where, Name: c.Name, Request: req, Expect: c.Expect, Got: got, Routes: r.Routes, Describe: r.Description})
		}
	}
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(map[string]any{"policy": d.source, "revision": d.engine.Revision(), "cases": len(cases), "mismatches": mismatches})
	} else {
		for _, m := range mismatches {
			fmt.Fprintf(w, "MISMATCH %s%s: %s: got %s, want %s (routes: %s)\n", m.Where, prefixed(" ", m.Name), m.Request, m.Got, m.Expect, listOrNone(m.Routes))
		}
		fmt.Fprintf(w, "%d cases, %d mismatches (%s, revision %s)\n", len(cases), len(mismatches), d.source, d.engine.Revision())
	}
	if len(mismatches) > 0 {
		return &exitError{code: 1}
	}
	return nil
}
