# METADATA
# description: |
#   A reference route matcher, written to be obviously right rather than
#   fast: the engine's Go index must agree with it, and a Go test
#   (internal/authz) compares the two on a large generated table. Nothing
#   decides with it. Keys are canonical (the engine refuses the others).
package reference

# METADATA
# description: |
#   The keys of table whose pattern matches path and that have a rule for
#   method ("*" rules apply to every method; HEAD also takes GET's).
matches(table, method, path) := {key |
	_well_formed(path)
	some key, rules in table
	_has_rule(rules, method)
	_key_matches(_segments(key), path)
}

_has_rule(rules, method) if rules[method]

_has_rule(rules, _) if rules["*"]

_has_rule(rules, "HEAD") if rules.GET

# No "/" inside a segment, no "." or "..", no empty segment but a final one
# (a trailing "/").
_well_formed(path) if {
	every i, segment in path {
		not segment in {".", ".."}
		not contains(segment, "/")
		_empty_only_last(segment, i, count(path))
	}
}

_empty_only_last(segment, _, _) if segment != ""

_empty_only_last("", i, n) if i == n - 1

# "/" is the root; any other key is the segments after its leading "/".
_segments("/") := []

_segments(key) := array.slice(parts, 1, count(parts)) if {
	key != "/"
	parts := split(key, "/")
}

_key_matches(segments, path) if {
	not _ends_with_rest(segments)
	count(segments) == count(path)
	every i, segment in segments {
		_segment_matches(segment, path[i])
	}
}

# A final "*" matches the rest: one or more segments, the first non-empty.
_key_matches(segments, path) if {
	_ends_with_rest(segments)
	last := count(segments) - 1
	count(path) > last
	path[last] != ""
	every i, segment in array.slice(segments, 0, last) {
		_segment_matches(segment, path[i])
	}
}

_ends_with_rest(segments) if segments[count(segments) - 1] == "*"

_segment_matches(segment, value) if {
	not _placeholder(segment)
	segment == value
}

# "{name}" matches one non-empty segment, whatever it holds.
_segment_matches(segment, value) if {
	_placeholder(segment)
	value != ""
}

_placeholder(segment) if regex.match(`^[{][A-Za-z_][A-Za-z0-9_]*[}]$`, segment)
