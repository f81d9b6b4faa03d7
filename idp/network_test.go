package idp

import "testing"

func TestParseNetwork(t *testing.T) {
	for in, want := range map[string]string{
		"10.0.0.0/8":           "10.0.0.0/8",
		"10.1.2.3/8":           "10.0.0.0/8",
		" 203.0.113.7 ":        "203.0.113.7/32",
		"2001:db8::1":          "2001:db8::1/128",
		"2001:db8::/32":        "2001:db8::/32",
		"::ffff:192.0.2.1":     "192.0.2.1/32",
		"::ffff:192.0.2.0/120": "192.0.2.0/24",
	} {
		got, err := ParseNetwork(in)
		if err != nil || got.String() != want {
			t.Errorf("ParseNetwork(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "10.0.0.0/33", "proxy.example", "10.0.0.0/8/8", "10.0.0"} {
		if got, err := ParseNetwork(bad); err == nil {
			t.Errorf("ParseNetwork(%q) = %v, want an error", bad, got)
		}
	}
}
