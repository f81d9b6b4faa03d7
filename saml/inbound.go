package saml

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"
)

// inbound is an SSO request as it arrived, before any decoding of the
// SAMLRequest itself.
type inbound struct {
	binding     Binding
	samlRequest string // URL-decoded parameter value (still Base64)
	relayState  string
	hasRelay    bool
	worksID     string
	// Redirect binding signature (SAML bindings §3.4.4.1): SigAlg and
	// Signature, and the exact octets that were signed, rebuilt from the
	// parameters as they appeared on the wire.
	sigAlg       string
	signature    string
	signedOctets string
}

// rawParam is a query/form parameter: its value as on the wire and decoded.
type rawParam struct {
	raw, value string
}

// parseRawParams parses application/x-www-form-urlencoded data keeping the
// raw values, and refuses duplicated names and ";" separators: a parameter
// that appears twice could be read one way here and another way by a proxy
// or signature check.
func parseRawParams(s string) (map[string]rawParam, error) {
	out := map[string]rawParam{}
	for _, part := range strings.Split(s, "&") {
		if part == "" {
			continue
		}
		if strings.Contains(part, ";") {
			return nil, fmt.Errorf("%w: \";\" in parameters", ErrMalformed)
		}
		k, v, _ := strings.Cut(part, "=")
		key, err := url.QueryUnescape(k)
		if err != nil {
			return nil, fmt.Errorf("%w: bad parameter name encoding", ErrMalformed)
		}
		val, err := url.QueryUnescape(v)
		if err != nil {
			return nil, fmt.Errorf("%w: bad encoding of parameter %q", ErrMalformed, key)
		}
		if _, dup := out[key]; dup {
			return nil, fmt.Errorf("%w: parameter %q appears twice", ErrMalformed, key)
		}
		out[key] = rawParam{raw: v, value: val}
	}
	return out, nil
}

// queryParams parses a redirect-binding query, after the size cap.
func queryParams(r *http.Request) (map[string]rawParam, error) {
	if len(r.URL.RawQuery) > maxQueryBytes {
		return nil, fmt.Errorf("%w: query of %d bytes", ErrTooLarge, len(r.URL.RawQuery))
	}
	return parseRawParams(r.URL.RawQuery)
}

// readInbound extracts the SSO parameters of either binding, enforcing the
// size caps before anything is decoded.
func readInbound(r *http.Request) (*inbound, error) {
	var params map[string]rawParam
	var err error
	var binding Binding
	switch r.Method {
	case http.MethodGet:
		params, err = queryParams(r)
		binding = BindingRedirect
	case http.MethodPost:
		params, err = readPostParams(r)
		binding = BindingPOST
	default:
		return nil, fmt.Errorf("%w: method %s", ErrMalformed, r.Method)
	}
	if err != nil {
		return nil, err
	}
	return inboundFrom(params, binding)
}

// inboundFrom reads the SSO parameters out of params, as they arrived in
// binding.
func inboundFrom(params map[string]rawParam, binding Binding) (*inbound, error) {
	in := &inbound{binding: binding}
	req, ok := params["SAMLRequest"]
	if !ok {
		return nil, fmt.Errorf("%w: no SAMLRequest", ErrMalformed)
	}
	in.samlRequest = req.value
	if rs, ok := params["RelayState"]; ok {
		if err := checkRelayState(rs.value); err != nil {
			return nil, err
		}
		in.relayState, in.hasRelay = rs.value, true
	}
	if w, ok := params["worksId"]; ok && len(w.value) <= 256 && utf8.ValidString(w.value) {
		in.worksID = strings.TrimSpace(w.value)
	}
	if in.binding == BindingRedirect {
		sa, hasAlg := params["SigAlg"]
		sig, hasSig := params["Signature"]
		if hasAlg && hasSig {
			in.sigAlg, in.signature = sa.value, sig.value
			in.signedOctets = "SAMLRequest=" + req.raw
			if rs, ok := params["RelayState"]; ok {
				in.signedOctets += "&RelayState=" + rs.raw
			}
			in.signedOctets += "&SigAlg=" + sa.raw
		}
	}
	return in, nil
}

func readPostParams(r *http.Request) (map[string]rawParam, error) {
	if r.PostForm != nil {
		// Something upstream parsed the body already; duplicates are still
		// visible as multiple values.
		out := map[string]rawParam{}
		for k, vs := range r.PostForm {
			if len(vs) != 1 {
				return nil, fmt.Errorf("%w: parameter %q appears twice", ErrMalformed, k)
			}
			out[k] = rawParam{raw: url.QueryEscape(vs[0]), value: vs[0]}
		}
		return out, nil
	}
	ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || ct != "application/x-www-form-urlencoded" {
		return nil, fmt.Errorf("%w: POST binding needs application/x-www-form-urlencoded", ErrMalformed)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, fmt.Errorf("%w: body", ErrTooLarge)
		}
		return nil, fmt.Errorf("%w: read body: %v", ErrMalformed, err)
	}
	if len(body) > maxBodyBytes {
		return nil, fmt.Errorf("%w: body over %d bytes", ErrTooLarge, maxBodyBytes)
	}
	return parseRawParams(string(body))
}

// checkRelayState accepts what can be echoed byte for byte through an HTML
// form: valid UTF-8 without control characters (browsers rewrite line
// breaks in form values), at most maxRelayState bytes.
func checkRelayState(s string) error {
	if len(s) > maxRelayState {
		return fmt.Errorf("%w: RelayState over %d bytes", ErrTooLarge, maxRelayState)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: RelayState is not UTF-8", ErrMalformed)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%w: control character in RelayState", ErrMalformed)
		}
	}
	return nil
}
