package spsim

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
)

// describeBody shows JSON (redacted) and summarises anything else.
func describeBody(contentType string, body []byte) string {
	if len(body) == 0 {
		return ""
	}
	if strings.HasPrefix(contentType, "application/json") {
		var m map[string]any
		if json.Unmarshal(body, &m) == nil {
			for k := range m {
				if secretKeys[k] {
					m[k] = shorten(fmt.Sprint(m[k]))
				}
			}
			b, _ := json.Marshal(m)
			return string(b)
		}
	}
	ct, _, _ := strings.Cut(contentType, ";")
	return fmt.Sprintf("(%s, %d bytes)", ct, len(body))
}

// secretKeys are shortened in recorded steps; passwords and client secrets
// are replaced entirely.
var secretKeys = map[string]bool{"code": true, "access_token": true, "refresh_token": true, "sessionKey": true, "csrf": true, "flow": true}

func redactForm(v url.Values) string {
	out := url.Values{}
	for k, vs := range v {
		for _, x := range vs {
			switch {
			case k == "password" || k == "client_secret":
				x = "********"
			case secretKeys[k]:
				x = shorten(x)
			}
			out.Add(k, x)
		}
	}
	return out.Encode()
}

func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.RawQuery == "" {
		return raw
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return raw
	}
	u.RawQuery = redactForm(q)
	return u.String()
}

func shorten(s string) string {
	if len(s) <= 8 {
		return "…"
	}
	return s[:6] + "…"
}
