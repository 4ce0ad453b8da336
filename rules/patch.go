package rules

import (
	"fmt"
	"strconv"
	"strings"
)

// Patch is a change to some fields of a rule, as rules add and edit take it
// from their flags: every non-nil field replaces the rule's value. List
// fields replace the whole list; their empty strings are dropped, so a list
// of one empty value clears it.
type Patch struct {
	Name, KeyPrefix, KeySuffix             *string
	ReplaceKeyPrefixWith, ReplaceKeyWith   *string
	PassQueryString, FollowRedirects       *bool
	MirrorHead, Store, PassAllHeaders      *bool
	Origins                                *[]string // URLs, in failover order
	OriginHosts                            *[]string // the Host of the origin at the same position ("" for none)
	FailoverOn, PassHeaders, RemoveHeaders *[]string
	PassStatus                             *[]string // status codes as text
	SetHeaders, WhenHeaders                *[]string // "Name: value"
}

// Apply changes r by the patch. Errors name the field (as its flag) and the
// value.
func (p *Patch) Apply(r *Rule) error {
	for _, f := range []struct {
		v   *string
		dst *string
	}{{p.Name, &r.Name}, {p.KeyPrefix, &r.KeyPrefix}, {p.KeySuffix, &r.KeySuffix},
		{p.ReplaceKeyPrefixWith, &r.ReplaceKeyPrefixWith}, {p.ReplaceKeyWith, &r.ReplaceKeyWith}} {
		if f.v != nil {
			*f.dst = *f.v
		}
	}
	for _, f := range []struct {
		v   *bool
		dst *bool
	}{{p.PassQueryString, &r.PassQueryString}, {p.FollowRedirects, &r.FollowRedirects},
		{p.MirrorHead, &r.MirrorHead}, {p.PassAllHeaders, &r.Headers.PassAll}} {
		if f.v != nil {
			*f.dst = *f.v
		}
	}
	if p.Store != nil {
		r.NoStore = !*p.Store
	}
	if p.Origins != nil || p.OriginHosts != nil {
		if err := p.applyOrigins(r); err != nil {
			return err
		}
	}
	if p.FailoverOn != nil {
		r.FailoverOn = nonEmpty(*p.FailoverOn)
	}
	if p.PassHeaders != nil {
		r.Headers.Pass = nonEmpty(*p.PassHeaders)
	}
	if p.RemoveHeaders != nil {
		r.Headers.Remove = nonEmpty(*p.RemoveHeaders)
	}
	var err error
	if p.PassStatus != nil {
		r.PassStatus, err = statusCodes(*p.PassStatus)
	}
	if err == nil && p.SetHeaders != nil {
		r.Headers.Set, err = parseHeaderList("--set-header", *p.SetHeaders)
	}
	if err == nil && p.WhenHeaders != nil {
		r.WhenHeaders, err = parseHeaderList("--when-header", *p.WhenHeaders)
	}
	return err
}

// applyOrigins sets the origins (replacing them) and the Host of each, by
// position. One origin without a Host is written in the one-origin form
// (origin:), several under origins:.
func (p *Patch) applyOrigins(r *Rule) error {
	origins := append([]Origin(nil), r.Origins()...)
	if p.Origins != nil {
		origins = nil
		for _, u := range nonEmpty(*p.Origins) {
			origins = append(origins, Origin{URL: u})
		}
	}
	if p.OriginHosts != nil {
		hosts := *p.OriginHosts
		if len(hosts) > len(origins) {
			return fmt.Errorf("--origin-host: %d hosts for %d origins: give at most one --origin-host per --origin, in the same order (an empty value for none)",
				len(hosts), len(origins))
		}
		for i, h := range hosts {
			origins[i].Host = strings.TrimSpace(h)
		}
	}
	r.Origin, r.OriginList = "", nil
	switch {
	case len(origins) == 1 && origins[0].Host == "":
		r.Origin = origins[0].URL
	case len(origins) > 0:
		r.OriginList = origins
	}
	return nil
}

// parseHeaderList parses "Name: value" values (empty values are skipped).
func parseHeaderList(flag string, values []string) ([]HeaderValue, error) {
	var out []HeaderValue
	for _, v := range nonEmpty(values) {
		hv, err := ParseHeaderValue(v)
		if err != nil {
			return nil, fmt.Errorf("%s %w", flag, err)
		}
		out = append(out, hv)
	}
	return out, nil
}

// statusCodes parses --pass-status values (empty values are skipped).
func statusCodes(values []string) ([]int, error) {
	var out []int
	for _, s := range nonEmpty(values) {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("--pass-status %q: not a status code (e.g. 403)", s)
		}
		out = append(out, n)
	}
	return out, nil
}

func nonEmpty(list []string) []string {
	var out []string
	for _, s := range list {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}
