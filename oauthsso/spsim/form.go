package spsim

import (
	"bytes"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// loginForm is the login form found on a page, ready to submit: every
// hidden input with its value (CSRF token, flow handle, whatever the IdP
// adds), the resolved action and the method.
type loginForm struct {
	action string
	method string
	values url.Values
}

// findLoginForm returns the first form on the page that has a password
// input, as a browser user would see it.
func findLoginForm(body []byte, base *url.URL) (loginForm, error) {
	doc, err := html.Parse(bytes.NewReader(body))
	if err != nil {
		return loginForm{}, err
	}
	var found *html.Node
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if found != nil {
			return
		}
		if n.Type == html.ElementNode && n.DataAtom == atom.Form && hasPassword(n) {
			found = n
			return
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	if found == nil {
		return loginForm{}, errors.New("spsim: no form with a password field")
	}
	f := loginForm{method: http.MethodGet, values: url.Values{}}
	if m := strings.ToUpper(attr(found, "method")); m == http.MethodPost {
		f.method = http.MethodPost
	}
	action, err := base.Parse(attr(found, "action")) // "" resolves to the page itself
	if err != nil {
		return loginForm{}, errors.New("spsim: form action is not a URL")
	}
	f.action = action.String()
	eachInput(found, func(n *html.Node) {
		if strings.EqualFold(attr(n, "type"), "hidden") && attr(n, "name") != "" {
			f.values.Add(attr(n, "name"), attr(n, "value"))
		}
	})
	return f, nil
}

func hasPassword(form *html.Node) bool {
	found := false
	eachInput(form, func(n *html.Node) {
		if strings.EqualFold(attr(n, "type"), "password") {
			found = true
		}
	})
	return found
}

func eachInput(n *html.Node, fn func(*html.Node)) {
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if c.Type == html.ElementNode && c.DataAtom == atom.Input {
			fn(c)
		}
		eachInput(c, fn)
	}
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Namespace == "" && strings.EqualFold(a.Key, key) {
			return a.Val
		}
	}
	return ""
}
