// Package memory is an in-process store.Backend: maps behind one mutex, so
// every operation is atomic. State is lost when the process exits, and two
// processes never share it: it is meant for tests and `idp demo`, not for
// production. Expired records are invisible at once and dropped by a
// background sweeper (store.DefaultSweepInterval unless set) that Close stops.
package memory
