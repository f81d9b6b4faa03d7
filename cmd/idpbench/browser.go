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
	"sync"
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
		loc := resp.Header.Get("Location")
		if resp.StatusCode < 300 || resp.StatusCode > 399 || loc == "" {
			body, err := readBody(resp)
			if err != nil {
				return page{}, fmt.Errorf("%w: read: %v", errJourney, err)
			}
			return page{url: req.URL, status: resp.StatusCode, body: body}, nil
		}
		// A redirect's own body is read (so that the connection is
		// reused) but not kept: a browser does not show it.
		_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBodyBytes))
		resp.Body.Close()
		if err != nil {
			return page{}, fmt.Errorf("%w: read: %v", errJourney, err)
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

// readBody reads and closes resp's body through a reused buffer, copied
// out at its size.
func readBody(resp *http.Response) ([]byte, error) {
	defer resp.Body.Close()
	buf := bodyBuffers.Get().(*bytes.Buffer)
	defer bodyBuffers.Put(buf)
	buf.Reset()
	if _, err := buf.ReadFrom(io.LimitReader(resp.Body, maxBodyBytes)); err != nil {
		return nil, err
	}
	return bytes.Clone(buf.Bytes()), nil
}

var bodyBuffers = sync.Pool{New: func() any { return bytes.NewBuffer(make([]byte, 0, 32<<10)) }}
