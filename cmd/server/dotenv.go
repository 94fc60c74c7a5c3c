package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// maxDotEnvBytes bounds the .env file read at start.
const maxDotEnvBytes = 1 << 20

// withDotEnv returns a getenv that prefers the real environment (a
// variable set to a non-empty value) and falls back to the .env file at
// path, if it exists. The file is read into a map; the process
// environment is never modified.
func withDotEnv(getenv func(string) string, path string) (func(string) string, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return getenv, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(raw) > maxDotEnvBytes {
		return nil, fmt.Errorf("read %s: larger than %d bytes", path, maxDotEnvBytes)
	}
	values, err := parseDotEnv(string(raw))
	if err != nil {
		return nil, fmt.Errorf("%s:%w", path, err)
	}
	return func(name string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return values[name]
	}, nil
}

// parseDotEnv reads the common dotenv format:
//
//	# a comment line; blank lines are skipped
//	KEY=value             unquoted: trimmed; " #" (whitespace, then #) starts a comment
//	export KEY=value      the shell's export prefix is allowed
//	KEY='literal'         single quotes: taken as written, may span lines
//	KEY="a\nb \"q\""      double quotes: \n \r \t \" \\ escapes, may span lines
//	KEY="value" # note    a comment may follow a quoted value
//
// Nothing is expanded: a "$" stays a "$" (other dotenv readers expand
// $VAR, which would eat a "$" in a secret). A later line for the same key
// wins. Errors start with the line number.
func parseDotEnv(src string) (map[string]string, error) {
	src = strings.TrimPrefix(src, "\ufeff") // a byte order mark some editors write
	p := &dotEnvParser{src: strings.ReplaceAll(src, "\r\n", "\n"), line: 1}
	values := map[string]string{}
	for {
		p.skipBlankAndComments()
		if p.done() {
			return values, nil
		}
		key, value, err := p.entry()
		if err != nil {
			return nil, err
		}
		values[key] = value
	}
}

type dotEnvParser struct {
	src  string
	pos  int
	line int
}

func (p *dotEnvParser) done() bool { return p.pos >= len(p.src) }

func (p *dotEnvParser) errorf(format string, args ...any) error {
	return fmt.Errorf("%d: %s", p.line, fmt.Sprintf(format, args...))
}

// skipBlankAndComments moves to the start of the next entry.
func (p *dotEnvParser) skipBlankAndComments() {
	for !p.done() {
		switch c := p.src[p.pos]; {
		case c == '\n':
			p.line++
			p.pos++
		case c == ' ' || c == '\t':
			p.pos++
		case c == '#':
			p.skipLine()
		default:
			return
		}
	}
}

// skipLine moves past the end of the current line.
func (p *dotEnvParser) skipLine() {
	if i := strings.IndexByte(p.src[p.pos:], '\n'); i >= 0 {
		p.pos += i + 1
		p.line++
		return
	}
	p.pos = len(p.src)
}

// restOfLine returns the rest of the current line and moves past it.
func (p *dotEnvParser) restOfLine() string {
	start := p.pos
	end := strings.IndexByte(p.src[start:], '\n')
	if end < 0 {
		p.pos = len(p.src)
		return p.src[start:]
	}
	p.pos = start + end + 1
	p.line++
	return p.src[start : start+end]
}

func (p *dotEnvParser) entry() (key, value string, err error) {
	line := p.line
	rest := p.src[p.pos:]
	if after, ok := strings.CutPrefix(rest, "export"); ok && after != "" && (after[0] == ' ' || after[0] == '\t') {
		p.pos += len("export")
		for !p.done() && (p.src[p.pos] == ' ' || p.src[p.pos] == '\t') {
			p.pos++
		}
	}
	eq := strings.IndexAny(p.src[p.pos:], "=\n")
	if eq < 0 || p.src[p.pos+eq] != '=' {
		return "", "", p.errorf("want KEY=VALUE")
	}
	key = strings.TrimRight(p.src[p.pos:p.pos+eq], " \t")
	if !validEnvName(key) {
		return "", "", p.errorf("%q is not a variable name", key)
	}
	p.pos += eq + 1
	valueStart := p.pos
	for !p.done() && (p.src[p.pos] == ' ' || p.src[p.pos] == '\t') {
		p.pos++
	}
	if p.done() {
		return key, "", nil
	}
	switch p.src[p.pos] {
	case '#':
		if p.pos > valueStart { // KEY= # a comment: empty
			p.restOfLine()
			return key, "", nil
		}
		return key, unquoted(p.restOfLine()), nil
	case '\'', '"':
		value, err = p.quoted(p.src[p.pos])
		if err != nil {
			return "", "", err
		}
		if tail := strings.TrimLeft(p.restOfLine(), " \t"); tail != "" && tail[0] != '#' {
			return "", "", fmt.Errorf("%d: %s: unexpected %q after the closing quote", line, key, tail)
		}
		return key, value, nil
	default:
		return key, unquoted(p.restOfLine()), nil
	}
}

// unquoted cuts an unquoted value at a comment (a # after whitespace) and
// trims it.
func unquoted(v string) string {
	for i := 1; i < len(v); i++ {
		if v[i] == '#' && (v[i-1] == ' ' || v[i-1] == '\t') {
			v = v[:i]
			break
		}
	}
	return strings.TrimSpace(v)
}

// quoted reads a value in quote q, starting at the opening quote.
func (p *dotEnvParser) quoted(q byte) (string, error) {
	start := p.line
	p.pos++ // the opening quote
	var b strings.Builder
	for !p.done() {
		c := p.src[p.pos]
		p.pos++
		switch {
		case c == q:
			return b.String(), nil
		case c == '\n':
			p.line++
			b.WriteByte(c)
		case c == '\\' && q == '"' && !p.done():
			e := p.src[p.pos]
			p.pos++
			switch e {
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case '"', '\\':
				b.WriteByte(e)
			default: // not an escape: keep it as written
				b.WriteByte('\\')
				b.WriteByte(e)
				if e == '\n' {
					p.line++
				}
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", fmt.Errorf("%d: %c-quoted value is not closed", start, q)
}

// validEnvName accepts the names a shell accepts: a letter or _, then
// letters, digits and _.
func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_', r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
