package redact

import "testing"

func TestURLs(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{name: "plain_url_kept", in: "fetch jwks https://idp.example.com/keys: 500", want: "fetch jwks https://idp.example.com/keys: 500"},
		{name: "userinfo", in: "fetch jwks https://user:s3cret@idp/keys: refused", want: "fetch jwks https://***@idp/keys: refused"},
		{name: "user_only", in: "http://token@h/x", want: "http://***@h/x"},
		{name: "query", in: `Get "https://blob.example/b.tar.gz?sv=1&sig=S3CRET": 403`, want: `Get "https://blob.example/b.tar.gz?***": 403`},
		{name: "both_and_two_urls", in: "a https://u:p@h/p?q=1 b HTTP://x/y?z", want: "a https://***@h/p?*** b HTTP://x/y?***"},
		{name: "fragment", in: "https://h/jwks#access_token=abc", want: "https://h/jwks#***"},
		{name: "query_and_fragment", in: "https://h/p?a=1#b", want: "https://h/p?***#***"},
		{name: "at_in_password", in: `Get "https://user:p@ss@host/x?sig=abc": 500`, want: `Get "https://***@host/x?***": 500`},
		{name: "at_in_path_is_not_userinfo", in: "https://h/users/a@b", want: "https://h/users/a@b"},
		{name: "query_then_colon", in: "fetch jwks http://127.0.0.1:1/keys?sig=SECRET: dial tcp: refused", want: "fetch jwks http://127.0.0.1:1/keys?***: dial tcp: refused"},
		{name: "query_then_comma_and_paren", in: "(see https://h/b?token=T), retrying", want: "(see https://h/b?***), retrying"},
		{name: "path_colon_kept", in: "https://h/keys: 500", want: "https://h/keys: 500"},
		{name: "no_url", in: "no policy is active yet", want: "no policy is active yet"},
		{name: "inside_a_word", in: "x_https://user:pw@idp/keys?sig=S", want: "x_https://***@idp/keys?***"},
		{name: "other_scheme_untouched", in: "ftp://u:p@h/x?y", want: "ftp://u:p@h/x?y"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := URLs(tc.in); got != tc.want {
				t.Errorf("URLs(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}
