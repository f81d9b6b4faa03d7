package main

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/ncp-sso/idp/idp"
	"github.com/ncp-sso/idp/idp/server"
)

// demoSP plays the SP inside `idp demo`, in the browser: a button starts
// the SP's login request, the employee signs in on the real login page, and
// the SP's callback shows every step (code, token response, userinfo
// response). It uses only the public endpoints, over HTTP, like the real SP.
type demoSP struct {
	srv          *server.Server
	publicURL    string
	clientID     string
	clientSecret string
	hc           *http.Client
	saml         bool
}

const demoStateCookie = "demo_sp_state"

func (d *demoSP) register(e *echo.Echo) {
	e.GET("/demo/sp", d.index)
	e.GET("/demo/sp/oauth/start", d.oauthStart)
	e.GET("/demo/sp/oauth/callback", d.oauthCallback)
	if d.saml {
		e.GET("/demo/sp/saml/start", d.samlStart)
	}
}

type demoStep struct {
	Title    string
	Request  string
	Status   int
	Response string
	Millis   string
}

type demoPage struct {
	Mode   string
	Steps  []demoStep
	Result string
	Error  string
	// SAML shows the SAML button when the SAML mode is configured.
	SAML bool
}

func (d *demoSP) index(c echo.Context) error {
	return d.srv.Render(c, http.StatusOK, "demo_sp", demoPage{SAML: d.saml})
}

func (d *demoSP) oauthStart(c echo.Context) error {
	state := idp.NewID(nil)[:16]
	c.SetCookie(&http.Cookie{Name: demoStateCookie, Value: state, Path: "/demo/sp/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
	q := url.Values{
		"response_type": {"code"},
		"client_id":     {d.clientID},
		"redirect_uri":  {d.publicURL + "/demo/sp/oauth/callback"},
		"state":         {state},
	}
	return c.Redirect(http.StatusSeeOther, "/oauth/authorize?"+q.Encode())
}

func (d *demoSP) oauthCallback(c echo.Context) error {
	page := demoPage{Mode: "oauth", SAML: d.saml}
	q := c.Request().URL.Query()
	page.Steps = append(page.Steps, demoStep{
		Title:   "1. Code return (redirect to the SP)",
		Request: "GET /demo/sp/oauth/callback?" + maskParams(q, "code"),
		Status:  http.StatusOK,
	})
	ck, err := c.Cookie(demoStateCookie)
	switch {
	case q.Get("error") != "":
		page.Error = q.Get("error") + ": " + q.Get("error_description")
		return d.srv.Render(c, http.StatusOK, "demo_sp", page)
	case err != nil || subtle.ConstantTimeCompare([]byte(ck.Value), []byte(q.Get("state"))) != 1:
		page.Error = "state does not match the one this SP sent (start again from the demo page)"
		return d.srv.Render(c, http.StatusBadRequest, "demo_sp", page)
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), 5*time.Second)
	defer cancel()
	tokBody, st, err := d.post(ctx, &page, "2. Access Token Return API", "/oauth/token", url.Values{
		"grant_type": {"authorization_code"}, "client_id": {d.clientID}, "client_secret": {d.clientSecret},
		"code": {q.Get("code")}, "state": {q.Get("state")},
	})
	if err != nil || st != http.StatusOK {
		page.Error = "token call failed"
		return d.srv.Render(c, http.StatusOK, "demo_sp", page)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.Unmarshal(tokBody, &tok)
	uiBody, st, err := d.post(ctx, &page, "3. User info return API", "/oauth/userinfo", url.Values{
		"client_id": {d.clientID}, "client_secret": {d.clientSecret}, "access_token": {tok.AccessToken},
	})
	if err != nil || st != http.StatusOK {
		page.Error = "userinfo call failed"
		return d.srv.Render(c, http.StatusOK, "demo_sp", page)
	}
	var ui map[string]any
	_ = json.Unmarshal(uiBody, &ui)
	page.Result = fmt.Sprint(ui["email_id"])
	return d.srv.Render(c, http.StatusOK, "demo_sp", page)
}

// post makes one back-channel call as the SP does and records it, with the
// secret and tokens masked.
func (d *demoSP) post(ctx context.Context, page *demoPage, title, path string, form url.Values) ([]byte, int, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, d.publicURL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	start := time.Now()
	resp, err := d.hc.Do(req)
	step := demoStep{Title: title, Request: "POST " + path + "\n" + maskParams(form, "client_secret", "code", "access_token")}
	if err != nil {
		step.Response = "request failed: " + err.Error()
		page.Steps = append(page.Steps, step)
		return nil, 0, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	step.Status = resp.StatusCode
	step.Millis = fmt.Sprintf("%.1f ms", float64(time.Since(start).Microseconds())/1000)
	step.Response = prettyJSON(body, "access_token")
	page.Steps = append(page.Steps, step)
	return body, resp.StatusCode, nil
}

// maskParams renders form values, cutting secrets to a recognisable prefix.
func maskParams(v url.Values, secret ...string) string {
	m := url.Values{}
	for k, vs := range v {
		for _, x := range vs {
			for _, s := range secret {
				if k == s && len(x) > 6 {
					x = x[:6] + "…"
				}
			}
			m.Add(k, x)
		}
	}
	s, _ := url.QueryUnescape(m.Encode())
	return strings.ReplaceAll(s, "&", "\n")
}

func prettyJSON(body []byte, secret ...string) string {
	var v map[string]any
	if json.Unmarshal(body, &v) != nil {
		return string(body)
	}
	for _, s := range secret {
		if x, ok := v[s].(string); ok && len(x) > 6 {
			v[s] = x[:6] + "…"
		}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return b.String()
}
