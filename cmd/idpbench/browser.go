package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"

	"golang.org/x/net/html"
)

const (
	maxHops      = 10
	maxBodyBytes = 4 << 20
)

var errJourney = errors.New("idpbench: journey failed")

// browser is one fresh browser: its own cookie jar over the shared
// transport (kept-alive connections, as a browser keeps its connection to
// a site during a login).
type browser struct {
	hc http.Client
}

func newBrowser(tr http.RoundTripper) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{hc: http.Client{
		Transport: tr, Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// page is the answer a navigation ended on.
type page struct {
	url    *url.URL
	status int
	body   []byte
	// location is set when the navigation stopped at a redirect to a URL
	// stop accepted (the SP callback): that URL, never fetched.
	location string
}

// navigate sends req and follows redirects by GET until a page, or until a
// redirect whose target stop accepts.
func (b *browser) navigate(ctx context.Context, req *http.Request, stop func(*url.URL) bool) (page, error) {
	for hop := 0; ; hop++ {
		if hop > maxHops {
			return page{}, fmt.Errorf("%w: more than %d redirects", errJourney, maxHops)
		}
		resp, err := b.hc.Do(req)
		if err != nil {
			return page{}, fmt.Errorf("%w: %v", errJourney, err)
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxBodyBytes))
		resp.Body.Close()
		if err != nil {
			return page{}, fmt.Errorf("%w: read: %v", errJourney, err)
		}
		loc := resp.Header.Get("Location")
		if resp.StatusCode < 300 || resp.StatusCode > 399 || loc == "" {
			return page{url: req.URL, status: resp.StatusCode, body: body}, nil
		}
		next, err := req.URL.Parse(loc)
		if err != nil {
			return page{}, fmt.Errorf("%w: Location: %v", errJourney, err)
		}
		if stop != nil && stop(next) {
			return page{url: req.URL, status: resp.StatusCode, location: next.String()}, nil
		}
		if req, err = http.NewRequestWithContext(ctx, http.MethodGet, next.String(), nil); err != nil {
			return page{}, fmt.Errorf("%w: %v", errJourney, err)
		}
	}
}

// get navigates to raw.
func (b *browser) get(ctx context.Context, raw string, stop func(*url.URL) bool) (page, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, raw, nil)
	if err != nil {
		return page{}, fmt.Errorf("%w: %v", errJourney, err)
	}
	return b.navigate(ctx, req, stop)
}

// submit posts a form as a browser does (Origin and Referer of the page).
func (b *browser) submit(ctx context.Context, from page, f form, stop func(*url.URL) bool) (page, error) {
	req, err := http.NewRequestWithContext(ctx, f.method, f.action.String(), strings.NewReader(f.values.Encode()))
	if err != nil {
		return page{}, fmt.Errorf("%w: %v", errJourney, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", from.url.Scheme+"://"+from.url.Host)
	req.Header.Set("Referer", from.url.String())
	return b.navigate(ctx, req, stop)
}

// form is one HTML form with the values a browser would send.
type form struct {
	action   *url.URL
	method   string
	values   url.Values
	password string // name of the password field, "" if none
	text     string // name of the first text/email field
}

// forms tokenizes body and returns its forms (inputs only: the login and
// auto-POST pages need nothing else).
func forms(body []byte, base *url.URL) []form {
	var out []form
	var cur *form
	z := html.NewTokenizer(bytes.NewReader(body))
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return out
		case html.EndTagToken:
			if name, _ := z.TagName(); string(name) == "form" && cur != nil {
				out = append(out, *cur)
				cur = nil
			}
			continue
		case html.StartTagToken, html.SelfClosingTagToken:
		default:
			continue
		}
		name, hasAttr := z.TagName()
		attrs := map[string]string{}
		for hasAttr {
			var k, v []byte
			k, v, hasAttr = z.TagAttr()
			attrs[string(k)] = string(v)
		}
		switch string(name) {
		case "form":
			action, err := base.Parse(attrs["action"])
			if err != nil {
				action = base
			}
			method := strings.ToUpper(attrs["method"])
			if method == "" {
				method = http.MethodGet
			}
			cur = &form{action: action, method: method, values: url.Values{}}
		case "input":
			if cur == nil || attrs["name"] == "" {
				continue
			}
			switch strings.ToLower(attrs["type"]) {
			case "password":
				cur.password = attrs["name"]
			case "text", "email", "":
				if cur.text == "" {
					cur.text = attrs["name"]
				}
			case "submit", "button", "checkbox", "radio":
				continue
			}
			cur.values.Set(attrs["name"], attrs["value"])
		}
	}
}

// loginForm finds the form with a password field and fills it in.
func loginForm(p page, username, password string) (form, error) {
	for _, f := range forms(p.body, p.url) {
		if f.password == "" || f.text == "" {
			continue
		}
		f.values.Set(f.text, username)
		f.values.Set(f.password, password)
		return f, nil
	}
	return form{}, fmt.Errorf("%w: no login form on %s (HTTP %d)", errJourney, p.url.Path, p.status)
}
