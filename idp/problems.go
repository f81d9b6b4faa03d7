package idp

import (
	"fmt"
	"strings"
)

// Problem is one configuration mistake: the key path as written in the YAML
// file (e.g. "ldap.servers[1].url") and what to do about it.
type Problem struct {
	Key string
	Msg string
}

func (p Problem) String() string { return p.Key + ": " + p.Msg }

// Problems collects every configuration mistake so that validation reports
// them all at once instead of one per run. The zero value is ready to use.
type Problems []Problem

// Addf records a problem under key.
func (ps *Problems) Addf(key, format string, args ...any) {
	*ps = append(*ps, Problem{Key: key, Msg: fmt.Sprintf(format, args...)})
}

// Merge appends the problems of a nested section, prefixing their keys.
func (ps *Problems) Merge(prefix string, more Problems) {
	for _, p := range more {
		k := p.Key
		if prefix != "" {
			k = prefix + "." + k
		}
		*ps = append(*ps, Problem{Key: k, Msg: p.Msg})
	}
}

// Err returns nil when there are no problems, otherwise the Problems as an error.
func (ps Problems) Err() error {
	if len(ps) == 0 {
		return nil
	}
	return ps
}

func (ps Problems) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "config: %d problem(s):", len(ps))
	for _, p := range ps {
		b.WriteString("\n  - ")
		b.WriteString(p.String())
	}
	return b.String()
}
