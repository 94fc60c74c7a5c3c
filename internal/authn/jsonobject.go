package authn

import (
	"encoding/json"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// maxJSONDepth bounds nesting, as encoding/json does.
const maxJSONDepth = 10_000

// decodeJSONObject parses b as exactly one JSON object (RFC 8259, with
// optional whitespace around it) into what encoding/json's Decoder with
// UseNumber gives for a map[string]any: objects as map[string]any, arrays
// as []any (never nil), numbers as json.Number holding their literal text,
// a repeated name keeping its last value, and invalid UTF-8 or a lone
// surrogate escape in a string read as U+FFFD. FuzzDecodeJSONObject holds
// it to that, input by input.
//
// It exists for speed: every token that is not in the cache has its header
// and payload decoded, and encoding/json's reflection and buffering cost
// more than the rest of the checks beside the signature.
//
// Every string it returns without an escape or a non-ASCII byte in it,
// and every number, is a substring of one copy of b, made once: a token's
// claims cost one allocation for all their names and values, not one
// each, and the token cache holds one object where it held a dozen for
// the collector to mark. Whoever keeps such a string for longer than the
// claims (the decision cache does) must clone it, or it keeps the whole
// copy alive.
func decodeJSONObject(b []byte) (map[string]any, bool) {
	return decodeJSONText(string(b))
}

// decodeJSONText is decodeJSONObject of a string, whose strings and
// numbers are substrings of s itself.
func decodeJSONText(s string) (map[string]any, bool) {
	p := jsonParser{s: s}
	p.skipSpace()
	if !p.peek('{') {
		return nil, false
	}
	m, ok := p.object()
	if !ok {
		return nil, false
	}
	p.skipSpace()
	if p.i != len(p.s) {
		return nil, false
	}
	return m, true
}

type jsonParser struct {
	s     string
	i     int
	depth int
}

func (p *jsonParser) skipSpace() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *jsonParser) peek(c byte) bool { return p.i < len(p.s) && p.s[p.i] == c }

func (p *jsonParser) value() (any, bool) {
	p.skipSpace()
	if p.i >= len(p.s) {
		return nil, false
	}
	switch c := p.s[p.i]; {
	case c == '{':
		m, ok := p.object()
		return m, ok
	case c == '[':
		a, ok := p.array()
		return a, ok
	case c == '"':
		s, ok := p.string()
		return s, ok
	case c == 't':
		return true, p.literal("true")
	case c == 'f':
		return false, p.literal("false")
	case c == 'n':
		return nil, p.literal("null")
	case c == '-' || '0' <= c && c <= '9':
		return p.number()
	}
	return nil, false
}

func (p *jsonParser) literal(word string) bool {
	if len(p.s)-p.i < len(word) || p.s[p.i:p.i+len(word)] != word {
		return false
	}
	p.i += len(word)
	return true
}

// object parses from '{' to its '}'.
func (p *jsonParser) object() (map[string]any, bool) {
	if p.depth++; p.depth > maxJSONDepth {
		return nil, false
	}
	p.i++
	m := make(map[string]any)
	p.skipSpace()
	if p.peek('}') {
		p.i++
		p.depth--
		return m, true
	}
	for {
		p.skipSpace()
		if !p.peek('"') {
			return nil, false
		}
		k, ok := p.string()
		if !ok {
			return nil, false
		}
		p.skipSpace()
		if !p.peek(':') {
			return nil, false
		}
		p.i++
		v, ok := p.value()
		if !ok {
			return nil, false
		}
		m[k] = v
		p.skipSpace()
		switch {
		case p.peek(','):
			p.i++
		case p.peek('}'):
			p.i++
			p.depth--
			return m, true
		default:
			return nil, false
		}
	}
}

// array parses from '[' to its ']'.
func (p *jsonParser) array() ([]any, bool) {
	if p.depth++; p.depth > maxJSONDepth {
		return nil, false
	}
	p.i++
	a := make([]any, 0)
	p.skipSpace()
	if p.peek(']') {
		p.i++
		p.depth--
		return a, true
	}
	for {
		v, ok := p.value()
		if !ok {
			return nil, false
		}
		a = append(a, v)
		p.skipSpace()
		switch {
		case p.peek(','):
			p.i++
		case p.peek(']'):
			p.i++
			p.depth--
			return a, true
		default:
			return nil, false
		}
	}
}

// number checks the JSON number grammar and keeps the literal text.
func (p *jsonParser) number() (any, bool) {
	start := p.i
	p.peekSkip('-')
	switch {
	case p.peek('0'):
		p.i++
	case p.digits() == 0:
		return nil, false
	}
	if p.peekSkip('.') && p.digits() == 0 {
		return nil, false
	}
	if p.peekSkip('e') || p.peekSkip('E') {
		if !p.peekSkip('+') {
			p.peekSkip('-')
		}
		if p.digits() == 0 {
			return nil, false
		}
	}
	return json.Number(p.s[start:p.i]), true
}

func (p *jsonParser) peekSkip(c byte) bool {
	if p.peek(c) {
		p.i++
		return true
	}
	return false
}

func (p *jsonParser) digits() int {
	n := 0
	for p.i < len(p.s) && '0' <= p.s[p.i] && p.s[p.i] <= '9' {
		p.i++
		n++
	}
	return n
}

// string parses from '"' to its closing '"'.
func (p *jsonParser) string() (string, bool) {
	p.i++
	start := p.i
	for p.i < len(p.s) { // the common case: plain ASCII, nothing escaped
		c := p.s[p.i]
		if c == '"' {
			s := p.s[start:p.i]
			p.i++
			return s, true
		}
		if c == '\\' || c < ' ' || c >= utf8.RuneSelf {
			break
		}
		p.i++
	}
	out := append(make([]byte, 0, p.i-start+16), p.s[start:p.i]...)
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '"':
			p.i++
			return string(out), true
		case c < ' ':
			return "", false
		case c == '\\':
			if p.i+1 >= len(p.s) {
				return "", false
			}
			switch e := p.s[p.i+1]; e {
			case '"', '\\', '/':
				out = append(out, e)
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				r := hex4(p.s[p.i:])
				if r < 0 {
					return "", false
				}
				p.i += 6
				if utf16.IsSurrogate(r) {
					// A pair is consumed whole; a lone half reads as
					// U+FFFD and what follows is read on its own.
					if dec := utf16.DecodeRune(r, hex4(p.s[p.i:])); dec != unicode.ReplacementChar {
						p.i += 6
						out = utf8.AppendRune(out, dec)
						continue
					}
					r = unicode.ReplacementChar
				}
				out = utf8.AppendRune(out, r)
				continue
			default:
				return "", false
			}
			p.i += 2
		case c < utf8.RuneSelf:
			out = append(out, c)
			p.i++
		default:
			r, size := utf8.DecodeRuneInString(p.s[p.i:])
			if r == utf8.RuneError && size == 1 {
				out = utf8.AppendRune(out, unicode.ReplacementChar)
			} else {
				out = append(out, p.s[p.i:p.i+size]...)
			}
			p.i += size
		}
	}
	return "", false
}

// hex4 reads `\uXXXX` at the start of s, or returns -1.
func hex4(s string) rune {
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
		return -1
	}
	var r rune
	for i := 2; i < 6; i++ {
		c := s[i]
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}
