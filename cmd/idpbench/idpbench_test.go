package main

import (
	"net/url"
	"os"
	"strings"
	"testing"
	"time"
)

func TestLoginForm(t *testing.T) {
	base, _ := url.Parse("http://127.0.0.1:1234/simplesaml/module.php/core/loginuserpass.php?AuthState=abc")
	tests := []struct {
		name, body, action string
		want               url.Values
	}{
		{
			name: "ours",
			body: `<html><body><form method="get" action="/lang"><input type="text" name="q"></form>
<form method="post" action="/login"><input type="hidden" name="csrf" value="c1"><input type="hidden" name="flow" value="f1">
<input id="u" type="text" name="username" value="hint" autocomplete="username"><input type="password" name="password">
<button type="submit">Sign in</button></form></body></html>`,
			action: "http://127.0.0.1:1234/login",
			want:   url.Values{"csrf": {"c1"}, "flow": {"f1"}, "username": {"u000007"}, "password": {"pw"}},
		},
		{
			name: "simplesamlphp",
			body: `<form action="?" method="post" name="f"><input id="username" type="text" name="username" value="" />
<input id="password" type="password" name="password" /><input type="hidden" name="AuthState" value="st&amp;1" />
<input type="submit" value="Login" /></form>`,
			action: "http://127.0.0.1:1234/simplesaml/module.php/core/loginuserpass.php?",
			want:   url.Values{"AuthState": {"st&1"}, "username": {"u000007"}, "password": {"pw"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := loginForm(page{url: base, status: 200, body: []byte(tt.body)}, "u000007", "pw")
			if err != nil {
				t.Fatal(err)
			}
			if f.method != "POST" || f.action.String() != tt.action {
				t.Errorf("form %s %s, want POST %s", f.method, f.action, tt.action)
			}
			if f.values.Encode() != tt.want.Encode() {
				t.Errorf("values %v, want %v", f.values, tt.want)
			}
		})
	}
	t.Run("no password field", func(t *testing.T) {
		if _, err := loginForm(page{url: base, body: []byte(`<form><input name="username"></form>`)}, "u", "p"); err == nil {
			t.Error("a form without a password field was taken for the login form")
		}
	})
}

func TestAutoPostForm(t *testing.T) {
	base, _ := url.Parse("http://127.0.0.1:1234/login")
	body := `<form method="post" action="https://acme.ncpworkplace.com/authn/saml/acs"><input type="hidden" name="SAMLResponse" value="PHg+"><input type="hidden" name="RelayState" value="r1"><noscript><button>Continue</button></noscript></form>`
	fs := forms([]byte(body), base)
	if len(fs) != 1 || fs[0].values.Get("SAMLResponse") != "PHg+" || fs[0].values.Get("RelayState") != "r1" || fs[0].action.String() != spACS {
		t.Fatalf("forms = %+v", fs)
	}
}

func TestProcStat(t *testing.T) {
	st, err := readStat(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if st.ppid != os.Getppid() {
		t.Errorf("ppid %d, want %d", st.ppid, os.Getppid())
	}
	for end := time.Now().Add(50 * time.Millisecond); time.Now().Before(end); {
	}
	if d, err := treeCPU(os.Getpid()); err != nil || d <= 0 {
		t.Errorf("treeCPU = %v, %v after busy work", d, err)
	}
	if rss, anon := rssKB(os.Getpid()); rss <= 0 || anon <= 0 || anon > rss {
		t.Errorf("rss %d, anon %d", rss, anon)
	}
}

func TestPercentiles(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	p := pct(ds)
	if p.N != 100 || p.P50 != 50 || p.P90 != 90 || p.P99 != 99 {
		t.Errorf("pct = %+v", p)
	}
}

// Flag combinations that cannot work are refused before any cell runs,
// with the fix in the message.
func TestParseFlagsRefusesEarly(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // "" means accepted
	}{
		{[]string{"-modes", "saml,saml1", "-soak", "10m"}, "add oauth to -modes"},
		{[]string{"-modes", "saml,oauth", "-soak", "10m"}, ""},
		{[]string{"-soak", "1m"}, ""},
		{[]string{"-modes", "saml"}, ""},
		{[]string{"-modes", "sam1"}, `unknown mode "sam1"`},
		{[]string{"-store", "disk"}, "-store must be bolt or memory"},
	} {
		var stderr strings.Builder
		_, err := parseFlags(tc.args, &stderr)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%v: refused: %v", tc.args, err)
		case tc.want != "" && (err == nil || !strings.Contains(stderr.String(), tc.want)):
			t.Errorf("%v: err %v, stderr %q; want it to say %q", tc.args, err, stderr.String(), tc.want)
		}
	}
}
