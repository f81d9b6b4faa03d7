package spsim

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Profiles, as in the IdP's oauth config.
const (
	ProfileWorkplace  = "workplace"
	ProfileNaverWorks = "naverworks"
)

// Default endpoint paths of the IdP (oauthsso.Path*).
const (
	DefaultAuthorizePath = "/oauth/authorize"
	DefaultTokenPath     = "/oauth/token"
	DefaultUserinfoPath  = "/oauth/userinfo"
)

const (
	defaultMaxHops = 10
	maxBodyBytes   = 1 << 20
)

// Errors. Run wraps them with detail; test with errors.Is / errors.As.
var (
	// ErrLoginFailed: the IdP answered the login form with a page instead of
	// a redirect (wrong password, locked account, ...).
	ErrLoginFailed = errors.New("spsim: login did not complete")
	// ErrUnexpected: the IdP answered something an SP cannot use.
	ErrUnexpected = errors.New("spsim: unexpected answer")
	// ErrRedirectAltered: the code came back to a URL that does not start
	// with the redirect_uri sent, or with the wrong state.
	ErrRedirectAltered = errors.New("spsim: redirect_uri or state altered")
)

// CallbackError is an error the IdP sent to the callback (error=...).
type CallbackError struct {
	Code        string
	Description string
}

func (e *CallbackError) Error() string {
	return fmt.Sprintf("spsim: callback error %s: %s", e.Code, e.Description)
}

// APIError is an error answer of the token or userinfo API.
type APIError struct {
	Step        string
	Status      int
	Code        string
	Description string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("spsim: %s: HTTP %d %s: %s", e.Step, e.Status, e.Code, e.Description)
}

// Config describes one simulated SP login.
type Config struct {
	// HTTPClient is the "browser" and the SP's back channel. Give it a
	// cookie jar for the IdP session. Its redirect policy is not used: Run
	// follows redirects itself on a copy.
	HTTPClient *http.Client
	// IdPURL is the IdP's base URL (no trailing slash needed).
	IdPURL string
	// ClientID and ClientSecret as configured at the IdP.
	ClientID     string
	ClientSecret string
	// CallbackURL is the SP's redirect_uri. It is never fetched. For
	// NAVER WORKS a random state is embedded in its query, as WORKS does.
	CallbackURL string
	// Profile is ProfileWorkplace (default) or ProfileNaverWorks.
	Profile string
	// Username and Password fill the login form when the IdP shows one.
	Username string
	Password string
	// LoginHint is sent as loginId (WORKPLACE) or worksId (NAVER WORKS).
	LoginHint string
	// AppLogin adds the NAVER WORKS app parameters userAgent=LineWorks and
	// a random sessionKey.
	AppLogin bool
	// UserinfoField is the userinfo JSON field to read. Default: email_id
	// for WORKPLACE, user_id for NAVER WORKS.
	UserinfoField string
	// Paths of the IdP endpoints; defaults are the Default*Path constants.
	AuthorizePath, TokenPath, UserinfoPath string
}

// Step is one recorded HTTP exchange.
type Step struct {
	Name     string        `json:"name"`
	Method   string        `json:"method"`
	URL      string        `json:"url"`
	Request  string        `json:"request,omitempty"`
	Status   int           `json:"status"`
	Location string        `json:"location,omitempty"`
	Response string        `json:"response,omitempty"`
	Duration time.Duration `json:"duration_ns"`
}

// Result is what one Run observed. On error it holds the steps so far.
type Result struct {
	Steps []Step `json:"steps"`
	// FormShown is false when the IdP session gave a code without the form.
	FormShown   bool          `json:"form_shown"`
	Code        string        `json:"-"`
	State       string        `json:"state,omitempty"`
	AccessToken string        `json:"-"`
	TokenType   string        `json:"token_type,omitempty"`
	ExpiresIn   string        `json:"expires_in,omitempty"`
	UserID      string        `json:"user_id,omitempty"`
	Total       time.Duration `json:"total_ns"`
}

type sim struct {
	cfg      Config
	hc       http.Client
	res      *Result
	redirect string // redirect_uri as sent
	state    string // state as sent (WORKPLACE) or embedded (WORKS)
}

// Run performs one SP login against the IdP.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	start := time.Now()
	res := &Result{}
	if cfg.HTTPClient == nil || cfg.IdPURL == "" || cfg.ClientID == "" || cfg.CallbackURL == "" {
		return res, fmt.Errorf("%w: HTTPClient, IdPURL, ClientID and CallbackURL are required", ErrUnexpected)
	}
	setDefault(&cfg.Profile, ProfileWorkplace)
	setDefault(&cfg.AuthorizePath, DefaultAuthorizePath)
	setDefault(&cfg.TokenPath, DefaultTokenPath)
	setDefault(&cfg.UserinfoPath, DefaultUserinfoPath)
	if cfg.UserinfoField == "" {
		cfg.UserinfoField = "email_id"
		if cfg.Profile == ProfileNaverWorks {
			cfg.UserinfoField = "user_id"
		}
	}
	cfg.IdPURL = strings.TrimRight(cfg.IdPURL, "/")
	s := &sim{cfg: cfg, hc: *cfg.HTTPClient, res: res}
	s.hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	err := s.run(ctx)
	res.Total = time.Since(start)
	return res, err
}

func setDefault(s *string, v string) {
	if *s == "" {
		*s = v
	}
}

func (s *sim) run(ctx context.Context) error {
	callback, err := s.login(ctx)
	if err != nil {
		return err
	}
	if err := s.readCallback(callback); err != nil {
		return err
	}
	if err := s.token(ctx); err != nil {
		return err
	}
	return s.userinfo(ctx)
}

// login sends the browser to the login URL, submits the login form if one is
// shown, and returns the callback URL the IdP redirected to.
func (s *sim) login(ctx context.Context) (string, error) {
	s.state = randomString()
	q := url.Values{"response_type": {"code"}, "client_id": {s.cfg.ClientID}}
	s.redirect = s.cfg.CallbackURL
	hint := "loginId"
	if s.cfg.Profile == ProfileNaverWorks {
		// WORKS carries its state inside redirect_uri, not as a parameter.
		s.redirect = appendQuery(s.cfg.CallbackURL, url.Values{"state": {s.state}})
		hint = "worksId"
		if s.cfg.AppLogin {
			q.Set("userAgent", "LineWorks")
			q.Set("sessionKey", randomString())
		}
	} else {
		q.Set("state", s.state)
	}
	q.Set("redirect_uri", s.redirect)
	if s.cfg.LoginHint != "" {
		q.Set(hint, s.cfg.LoginHint)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.cfg.IdPURL+s.cfg.AuthorizePath+"?"+q.Encode(), nil)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrUnexpected, err)
	}
	callback, page, err := s.follow(ctx, "authorize", req)
	if err != nil || callback != "" {
		return callback, err
	}
	form, err := findLoginForm(page.body, page.url)
	if err != nil {
		return "", fmt.Errorf("%w: login page (HTTP %d): %v", ErrUnexpected, page.status, err)
	}
	s.res.FormShown = true
	form.values.Set("username", s.cfg.Username)
	form.values.Set("password", s.cfg.Password)
	req, err = http.NewRequestWithContext(ctx, form.method, form.action, strings.NewReader(form.values.Encode()))
	if err != nil {
		return "", fmt.Errorf("%w: form action: %v", ErrUnexpected, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	// A browser sends both on a same-origin form POST.
	req.Header.Set("Origin", page.url.Scheme+"://"+page.url.Host)
	req.Header.Set("Referer", page.url.String())
	callback, page, err = s.follow(ctx, "login_submit", req)
	if err != nil || callback != "" {
		return callback, err
	}
	if _, ferr := findLoginForm(page.body, page.url); ferr == nil {
		return "", fmt.Errorf("%w: the login form came back (HTTP %d)", ErrLoginFailed, page.status)
	}
	return "", fmt.Errorf("%w: HTTP %d page instead of a redirect to the SP", ErrLoginFailed, page.status)
}

// page is a non-redirect answer.
type page struct {
	status int
	url    *url.URL
	body   []byte
}

// follow sends req and follows redirects by GET until the callback URL
// (returned, never fetched) or a non-redirect page.
func (s *sim) follow(ctx context.Context, name string, req *http.Request) (string, page, error) {
	for hop := 0; ; hop++ {
		if hop > defaultMaxHops {
			return "", page{}, fmt.Errorf("%w: more than %d redirects", ErrUnexpected, defaultMaxHops)
		}
		resp, body, err := s.do(name, req)
		if err != nil {
			return "", page{}, err
		}
		loc := resp.Header.Get("Location")
		if resp.StatusCode < 300 || resp.StatusCode > 399 || loc == "" {
			return "", page{status: resp.StatusCode, url: req.URL, body: body}, nil
		}
		next, err := req.URL.Parse(loc)
		if err != nil {
			return "", page{}, fmt.Errorf("%w: bad Location: %v", ErrUnexpected, err)
		}
		if s.isCallback(next) {
			// Keep the Location exactly as sent: it is checked byte for byte.
			if !next.IsAbs() {
				return "", page{}, fmt.Errorf("%w: relative redirect to the callback", ErrUnexpected)
			}
			return loc, page{}, nil
		}
		if req, err = http.NewRequestWithContext(ctx, http.MethodGet, next.String(), nil); err != nil {
			return "", page{}, fmt.Errorf("%w: %v", ErrUnexpected, err)
		}
		name = "redirect"
	}
}

// isCallback reports whether u points at the callback (same origin and path).
func (s *sim) isCallback(u *url.URL) bool {
	cb, err := url.Parse(s.cfg.CallbackURL)
	if err != nil {
		return false
	}
	return strings.EqualFold(u.Scheme, cb.Scheme) && strings.EqualFold(u.Host, cb.Host) && u.Path == cb.Path
}

// readCallback checks the code redirect as the SP would.
func (s *sim) readCallback(loc string) error {
	s.res.Steps = append(s.res.Steps, Step{Name: "callback", Method: http.MethodGet, URL: redactURL(loc)})
	if !strings.HasPrefix(loc, s.redirect) {
		return fmt.Errorf("%w: callback does not start with the redirect_uri sent", ErrRedirectAltered)
	}
	u, err := url.Parse(loc)
	if err != nil {
		return fmt.Errorf("%w: callback URL: %v", ErrUnexpected, err)
	}
	q := u.Query()
	if e := q.Get("error"); e != "" {
		return &CallbackError{Code: e, Description: q.Get("error_description")}
	}
	if len(q["code"]) != 1 || q.Get("code") == "" {
		return fmt.Errorf("%w: callback without exactly one code", ErrUnexpected)
	}
	s.res.Code = q.Get("code")
	s.res.State = q.Get("state")
	if len(q["state"]) != 1 || s.res.State != s.state {
		return fmt.Errorf("%w: state", ErrRedirectAltered)
	}
	return nil
}

func (s *sim) token(ctx context.Context) error {
	form := url.Values{
		"grant_type":    {"authorization_code"},
		"client_id":     {s.cfg.ClientID},
		"client_secret": {s.cfg.ClientSecret},
		"code":          {s.res.Code},
	}
	if s.cfg.Profile != ProfileNaverWorks {
		form.Set("state", s.state)
	}
	var tr struct {
		AccessToken string          `json:"access_token"`
		TokenType   string          `json:"token_type"`
		ExpiresIn   json.RawMessage `json:"expires_in"`
	}
	if err := s.api(ctx, "token", s.cfg.TokenPath, form, &tr); err != nil {
		return err
	}
	if tr.AccessToken == "" || !strings.EqualFold(tr.TokenType, "Bearer") || len(tr.ExpiresIn) == 0 {
		return fmt.Errorf("%w: token answer lacks access_token, token_type Bearer or expires_in", ErrUnexpected)
	}
	s.res.AccessToken, s.res.TokenType = tr.AccessToken, tr.TokenType
	s.res.ExpiresIn = strings.Trim(string(tr.ExpiresIn), `"`)
	return nil
}

func (s *sim) userinfo(ctx context.Context) error {
	form := url.Values{
		"client_id":     {s.cfg.ClientID},
		"client_secret": {s.cfg.ClientSecret},
		"access_token":  {s.res.AccessToken},
	}
	var ui map[string]any
	if err := s.api(ctx, "userinfo", s.cfg.UserinfoPath, form, &ui); err != nil {
		return err
	}
	v, ok := ui[s.cfg.UserinfoField].(string)
	if !ok || v == "" {
		return fmt.Errorf("%w: userinfo answer has no %q string", ErrUnexpected, s.cfg.UserinfoField)
	}
	s.res.UserID = v
	return nil
}

// api POSTs a form to an IdP API and decodes the JSON answer into out.
func (s *sim) api(ctx context.Context, name, path string, form url.Values, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.IdPURL+path, strings.NewReader(form.Encode()))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnexpected, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, body, err := s.do(name, req)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var eb struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		_ = json.Unmarshal(body, &eb)
		return &APIError{Step: name, Status: resp.StatusCode, Code: eb.Error, Description: eb.Description}
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("%w: %s answer is not JSON: %v", ErrUnexpected, name, err)
	}
	return nil
}

// do sends one request, reads the (capped) body and records the step.
func (s *sim) do(name string, req *http.Request) (*http.Response, []byte, error) {
	st := Step{Name: name, Method: req.Method, URL: redactURL(req.URL.String())}
	if req.Method == http.MethodPost && req.GetBody != nil {
		if rc, err := req.GetBody(); err == nil {
			b, _ := io.ReadAll(rc)
			if v, err := url.ParseQuery(string(b)); err == nil {
				st.Request = redactForm(v)
			}
		}
	}
	start := time.Now()
	resp, err := s.hc.Do(req)
	if err != nil {
		st.Duration = time.Since(start)
		s.res.Steps = append(s.res.Steps, st)
		return nil, nil, fmt.Errorf("%w: %s: %v", ErrUnexpected, name, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBodyBytes))
	st.Duration = time.Since(start)
	st.Status = resp.StatusCode
	if loc := resp.Header.Get("Location"); loc != "" {
		st.Location = redactURL(loc)
	}
	st.Response = describeBody(resp.Header.Get("Content-Type"), body)
	s.res.Steps = append(s.res.Steps, st)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s: reading body: %v", ErrUnexpected, name, err)
	}
	return resp, body, nil
}

func randomString() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic("spsim: randomness source failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// appendQuery adds v to raw's query without re-encoding what is there.
func appendQuery(raw string, v url.Values) string {
	sep := "?"
	if strings.Contains(raw, "?") {
		sep = "&"
		if strings.HasSuffix(raw, "?") || strings.HasSuffix(raw, "&") {
			sep = ""
		}
	}
	return raw + sep + v.Encode()
}
