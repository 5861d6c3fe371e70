package policy

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Diff summarises what changes from a to b, for audit records and
// `kq policy diff`: names only, never anything secret.
func Diff(a, b *Policy) string {
	var parts []string
	add := func(what string, was, is []string) {
		var d []string
		for _, x := range is {
			if !slices.Contains(was, x) {
				d = append(d, "+"+x)
			}
		}
		for _, x := range was {
			if !slices.Contains(is, x) {
				d = append(d, "-"+x)
			}
		}
		if len(d) > 0 {
			parts = append(parts, what+" "+strings.Join(d, ","))
		}
	}
	if a.Open != b.Open {
		parts = append(parts, fmt.Sprintf("open %t -> %t", a.Open, b.Open))
	}
	add("tenants", a.Tenants, b.Tenants)
	add("principals", slices.Sorted(maps.Keys(a.Principals)), slices.Sorted(maps.Keys(b.Principals)))
	var changed []string
	for _, name := range slices.Sorted(maps.Keys(b.Principals)) {
		if was, ok := a.Principals[name]; ok && !slices.EqualFunc(was.Roles, b.Principals[name].Roles, grantEqual) {
			changed = append(changed, name)
		}
	}
	if len(changed) > 0 {
		parts = append(parts, "roles changed for "+strings.Join(changed, ","))
	}
	var pquotas []string
	for _, name := range slices.Sorted(maps.Keys(b.Principals)) {
		if was, ok := a.Principals[name]; ok && !quotaEqual(was.Quota, b.Principals[name].Quota) {
			pquotas = append(pquotas, name)
		}
	}
	if len(pquotas) > 0 {
		parts = append(parts, "quotas changed for principals "+strings.Join(pquotas, ","))
	}
	pairs := func(p *Policy) []string {
		var out []string
		for _, s := range p.SeparationOfDuties {
			out = append(out, string(s[0])+"+"+string(s[1]))
		}
		return out
	}
	add("separation_of_duties", pairs(a), pairs(b))
	var quotas []string
	for _, t := range b.Tenants {
		if a.Quotas[t] != b.Quotas[t] {
			quotas = append(quotas, t)
		}
	}
	if len(quotas) > 0 {
		parts = append(parts, "quotas changed for "+strings.Join(quotas, ","))
	}
	add("denied", a.Denied, b.Denied)
	add("denied_serials", a.DeniedSerials, b.DeniedSerials)
	parts = append(parts, CeremonyDiff(a, b)...)
	if len(parts) == 0 {
		return "no change"
	}
	return strings.Join(parts, "; ")
}

func quotaEqual(a, b *Quota) bool {
	return a == b || a != nil && b != nil && *a == *b
}

func grantEqual(a, b Grant) bool {
	return a.Role == b.Role && a.Tenant == b.Tenant && a.MaxTTL == b.MaxTTL && slices.Equal(a.Purposes, b.Purposes)
}
