# METADATA
# description: Tests of the reference route matcher.
package reference_test

import data.reference

_table := {
	"/": {"GET": {}},
	"/users/{id}": {"GET": {}},
	"/users/{id}/": {"GET": {}},
	"/users/me": {"*": {}},
	"/files/*": {"GET": {}},
	"/files/{name}/raw": {"POST": {}},
	"/*": {"OPTIONS": {}},
}

match_cases := {
	"root": {"method": "GET", "path": [], "want": {"/"}},
	"placeholder": {"method": "GET", "path": ["users", "42"], "want": {"/users/{id}"}},
	"placeholder_and_literal": {"method": "GET", "path": ["users", "me"], "want": {"/users/me", "/users/{id}"}},
	"trailing_slash_is_literal": {"method": "GET", "path": ["users", "42", ""], "want": {"/users/{id}/"}},
	"placeholder_needs_a_segment": {"method": "GET", "path": ["users", ""], "want": set()},
	"any_method": {"method": "DELETE", "path": ["users", "me"], "want": {"/users/me"}},
	"head_takes_get": {"method": "HEAD", "path": ["users", "42"], "want": {"/users/{id}"}},
	"wrong_method": {"method": "POST", "path": ["users", "42"], "want": set()},
	"rest_one": {"method": "GET", "path": ["files", "a"], "want": {"/files/*"}},
	"rest_many": {"method": "GET", "path": ["files", "a", "b", ""], "want": {"/files/*"}},
	"rest_needs_a_segment": {"method": "GET", "path": ["files"], "want": set()},
	"rest_first_not_empty": {"method": "GET", "path": ["files", ""], "want": set()},
	"rest_from_root": {"method": "OPTIONS", "path": ["a", "b"], "want": {"/*"}},
	"rest_and_pattern": {"method": "POST", "path": ["files", "x", "raw"], "want": {"/files/{name}/raw"}},
	"empty_inner_segment": {"method": "GET", "path": ["users", "", "x"], "want": set()},
	"dot_segment": {"method": "GET", "path": ["files", ".."], "want": set()},
	"slash_in_segment": {"method": "GET", "path": ["users/42"], "want": set()},
}

test_matches[name] if {
	some name, tc in match_cases
	reference.matches(_table, tc.method, tc.path) == tc.want
}
