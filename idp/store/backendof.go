package store

import "github.com/ncp-sso/idp/idp"

// BackendOf returns the Backend under an idp.Store made by New, so that
// other users of the same state (the login throttle) share it. ok is false
// for any other idp.Store.
func BackendOf(s idp.Store) (b Backend, ok bool) {
	t, ok := s.(*typed)
	if !ok {
		return nil, false
	}
	return t.b, true
}
