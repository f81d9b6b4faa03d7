package saml

import (
	"crypto/sha256"
	"runtime"
	"testing"
	"time"
)

// signings records what a SigningObserver is told.
type signings struct {
	all, timed int
	cpu        time.Duration
}

func (s *signings) Signed(cpu time.Duration, timed bool) {
	s.all++
	if timed {
		s.timed++
		s.cpu += cpu
	} else if cpu != 0 {
		s.cpu = -1 // an untimed signature with a time: caught below
	}
}

// TestSigningIsSampled: every signature is counted, the first and then one
// in TimedEvery are timed, and a timed one carries an RSA signature's time.
func TestSigningIsSampled(t *testing.T) {
	kp, _ := testKeys(t)
	obs := &signings{}
	s := newSigner(kp.Key, kp.Cert, obs)
	sum := sha256.Sum256([]byte("x"))
	n := 2*TimedEvery + 1
	for range n {
		if _, err := s.signDigest(sum[:]); err != nil {
			t.Fatal(err)
		}
	}
	if obs.all != n {
		t.Errorf("%d signatures observed of %d", obs.all, n)
	}
	if runtime.GOOS != "linux" {
		return // the thread's CPU clock is read on Linux only
	}
	if obs.timed != 3 {
		t.Errorf("%d of %d signatures timed, want 3 (the 1st, 17th and 33rd)", obs.timed, n)
	}
	if per := obs.cpu / time.Duration(max(obs.timed, 1)); per < 50*time.Microsecond || per > 100*time.Millisecond {
		t.Errorf("%v per timed signature: not an RSA signature's time", per)
	}
}
