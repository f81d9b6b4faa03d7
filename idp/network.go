package idp

import (
	"net/netip"
	"strings"
)

// ParseNetwork reads a configured network: a CIDR prefix (10.0.0.0/8; host
// bits are dropped) or a single address (203.0.113.7, one host). An
// IPv4-mapped IPv6 address counts as its IPv4 address, as connections
// report it.
func ParseNetwork(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if p, err := netip.ParsePrefix(s); err == nil {
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96).Masked(), nil
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}
