package rules

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Formats of the cloud providers' built-in mirror (back-to-origin)
// configuration that rules can be exported to and imported from.
const (
	FormatJDCloud = "jdcloud" // JD Cloud OSS backSource API body (JSON)
	FormatAliyun  = "aliyun"  // Alibaba Cloud OSS RoutingRules (XML)
)

// Export writes rules in a cloud's mirror configuration format. A field the
// format cannot hold is an *Error naming the rule and the field (key_suffix,
// bucket origins, and every failover, condition, pass-through or proxy-only
// setting a format lacks), so nothing that changes what is fetched, from
// where or what is stored is dropped silently; name and mirror_head: false
// are dropped with a warning.
func Export(format string, rules []Rule) (data []byte, warnings []string, err error) {
	switch format {
	case FormatJDCloud:
		return exportJD(rules)
	case FormatAliyun:
		return exportAliyun(rules)
	}
	return nil, nil, fmt.Errorf("unknown format %q (use %s or %s)", format, FormatJDCloud, FormatAliyun)
}

// Import reads a cloud's mirror configuration. The rules are not validated
// yet (see NewSet); rules that are not mirror rules (e.g. aliyun External
// redirects) are skipped with a warning.
func Import(format string, data []byte) (rules []Rule, warnings []string, err error) {
	switch format {
	case FormatJDCloud:
		return importJD(data)
	case FormatAliyun:
		return importAliyun(data)
	}
	return nil, nil, fmt.Errorf("unknown format %q (use %s or %s)", format, FormatJDCloud, FormatAliyun)
}

// --- JD Cloud ---

type jdConfig struct {
	BackSourceRules []jdRule `json:"backSourceRules"`
}

type jdRule struct {
	BackSourceType   string       `json:"backSourceType,omitempty"`
	Condition        *jdCondition `json:"condition,omitempty"`
	Address          *jdAddress   `json:"address,omitempty"`
	AllowQueryString *bool        `json:"allowQueryString,omitempty"`
	FollowRedirects  *bool        `json:"followRedirects,omitempty"`
	HeaderRule       *jdHeaders   `json:"headerRule,omitempty"`
}

type jdCondition struct {
	KeyPrefixEquals             string `json:"keyPrefixEquals,omitempty"`
	HTTPErrorCodeReturnedEquals int    `json:"httpErrorCodeReturnedEquals,omitempty"`
}

type jdAddress struct {
	Protocol             string `json:"protocol,omitempty"`
	HostName             string `json:"hostName"`
	ReplaceKeyPrefixWith string `json:"replaceKeyPrefixWith,omitempty"`
	ReplaceKeySuffixWith string `json:"replaceKeySuffixWith,omitempty"`
	ReplaceKeyWith       string `json:"replaceKeyWith,omitempty"`
}

type jdHeaders struct {
	AllowAllHeaders bool          `json:"allowAllHeaders"`
	AllowHeaders    []string      `json:"allowHeaders,omitempty"`
	NotAllowHeaders []string      `json:"notAllowHeaders,omitempty"`
	SetHeaders      orderedHeader `json:"setHeaders,omitempty"`
}

// orderedHeader is a JSON object of header values that keeps its order
// (setHeaders is a Map<String, String> in the JD Cloud API).
type orderedHeader []HeaderValue

func (o orderedHeader) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, hv := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(hv.Name)
		v, _ := json.Marshal(hv.Value)
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func (o *orderedHeader) UnmarshalJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok == nil {
		return nil
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return fmt.Errorf("setHeaders: expected an object of header names and values")
	}
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return err
		}
		var v string
		if err := dec.Decode(&v); err != nil {
			return fmt.Errorf("setHeaders: %q: expected a string value", kt)
		}
		*o = append(*o, HeaderValue{Name: kt.(string), Value: v})
	}
	_, err = dec.Token()
	return err
}

func exportJD(rules []Rule) ([]byte, []string, error) {
	cfg := jdConfig{BackSourceRules: []jdRule{}}
	var warn []string
	for i := range rules {
		r := &rules[i]
		n := i + 1
		if err := jdRefuse(n, r); err != nil {
			return nil, nil, err
		}
		org := r.Origins()[0]
		o, err := parseOrigin(org.URL)
		if err != nil {
			return nil, nil, &Error{Rule: n, Field: "origin", Msg: err.Error()}
		}
		warn = append(warn, dropped(FormatJDCloud, n, r)...)
		q, f := r.PassQueryString, r.FollowRedirects
		jr := jdRule{
			BackSourceType:   "mirror",
			Condition:        &jdCondition{KeyPrefixEquals: r.KeyPrefix, HTTPErrorCodeReturnedEquals: 404},
			Address:          &jdAddress{Protocol: o.scheme, HostName: o.host + strings.TrimSuffix(o.rawPrefix, "/"), ReplaceKeyPrefixWith: r.ReplaceKeyPrefixWith, ReplaceKeyWith: r.ReplaceKeyWith},
			AllowQueryString: &q,
			FollowRedirects:  &f,
		}
		h := &r.Headers
		if h.PassAll || len(h.Pass)+len(h.Remove)+len(h.Set) > 0 {
			jr.HeaderRule = &jdHeaders{AllowAllHeaders: h.PassAll, AllowHeaders: h.Pass, NotAllowHeaders: h.Remove, SetHeaders: orderedHeader(h.Set)}
		}
		cfg.BackSourceRules = append(cfg.BackSourceRules, jr)
	}
	data, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return nil, nil, err
	}
	return append(data, '\n'), warn, nil
}

// jdRefuse returns an *Error for the first field of rule n that the jdcloud
// format cannot hold: a backSource rule has one address and no header
// condition, failover, pass-through or proxy-only setting.
func jdRefuse(n int, r *Rule) *Error {
	const f = FormatJDCloud
	switch {
	case r.KeySuffix != "":
		return &Error{Rule: n, Field: "key_suffix", Msg: "the jdcloud format has no key suffix condition"}
	case len(r.WhenHeaders) > 0:
		return &Error{Rule: n, Field: "when_headers", Msg: "the jdcloud format has no header condition"}
	case len(r.OriginList) > 1:
		return &Error{Rule: n, Field: "origins", Msg: fmt.Sprintf("the jdcloud format holds one origin per rule (address), this rule has %d", len(r.OriginList))}
	case len(r.FailoverOn) > 0:
		return &Error{Rule: n, Field: "failover_on", Msg: "the jdcloud format has no failover"}
	}
	if err := refuseCommon(f, n, r, 1); err != nil {
		return err
	}
	if len(r.PassStatus) > 0 {
		return &Error{Rule: n, Field: "pass_status", Msg: "the jdcloud format cannot pass origin statuses through"}
	}
	if r.NoStore {
		return &Error{Rule: n, Field: "store", Msg: "the jdcloud format has no proxy-only rules (every mirrored object is stored)"}
	}
	return nil
}

// refuseCommon refuses what neither format holds: bucket origins and a Host
// per origin (for both, a Host is a header of the whole rule), for the first
// max origins.
func refuseCommon(format string, n int, r *Rule, max int) *Error {
	for j, o := range r.Origins() {
		if j == max {
			break
		}
		field := "origin"
		if len(r.OriginList) > 0 {
			field = fmt.Sprintf("origins[%d].url", j+1)
		}
		if o.IsBucket() {
			return &Error{Rule: n, Field: field, Msg: "the " + format + " format only holds http(s) origins"}
		}
		if o.Host != "" {
			return &Error{Rule: n, Field: fmt.Sprintf("origins[%d].host", j+1),
				Msg: "the " + format + " format has no Host per origin (when every origin takes the same Host, set it under headers.set)"}
		}
	}
	return nil
}

// dropped warns about the fields that a format cannot hold but that change
// no fetch: the name and mirror_head: false.
func dropped(format string, n int, r *Rule) []string {
	var warn []string
	if !r.MirrorHead {
		warn = append(warn, fmt.Sprintf("rule %d: mirror_head: false is not part of the %s format", n, format))
	}
	if r.Name != "" {
		warn = append(warn, fmt.Sprintf("rule %d: the name %q is not part of the %s format", n, r.Name, format))
	}
	return warn
}

func importJD(data []byte) ([]Rule, []string, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var cfg jdConfig
	if err := dec.Decode(&cfg); err != nil {
		// Also accept the GetBackSourceConfiguration response shape.
		var resp struct {
			Result struct {
				Config jdConfig `json:"bucketBackSourceConfiguration"`
			} `json:"result"`
		}
		if err2 := json.Unmarshal(data, &resp); err2 != nil || resp.Result.Config.BackSourceRules == nil {
			return nil, nil, fmt.Errorf("jdcloud JSON: %v", err)
		}
		cfg = resp.Result.Config
	}
	var rules []Rule
	var warn []string
	for i, jr := range cfg.BackSourceRules {
		n := i + 1
		if t := strings.ToLower(jr.BackSourceType); t != "" && t != "mirror" {
			warn = append(warn, fmt.Sprintf("backSourceRules[%d]: backSourceType %q is not a mirror rule: skipped", n, jr.BackSourceType))
			continue
		}
		if jr.Address == nil || jr.Address.HostName == "" {
			return nil, nil, fmt.Errorf("backSourceRules[%d]: address.hostName is missing", n)
		}
		if jr.Address.ReplaceKeySuffixWith != "" {
			return nil, nil, fmt.Errorf("backSourceRules[%d]: address.replaceKeySuffixWith is not supported by ferry", n)
		}
		r := Rule{FollowRedirects: true, MirrorHead: true}
		if c := jr.Condition; c != nil {
			if c.HTTPErrorCodeReturnedEquals != 0 && c.HTTPErrorCodeReturnedEquals != 404 {
				return nil, nil, fmt.Errorf("backSourceRules[%d]: condition.httpErrorCodeReturnedEquals %d: ferry fetches from the origin only when the target lacks the key (404)", n, c.HTTPErrorCodeReturnedEquals)
			}
			r.KeyPrefix = c.KeyPrefixEquals
		}
		proto := strings.ToLower(jr.Address.Protocol)
		if proto == "" {
			proto = "http"
		}
		host := jr.Address.HostName
		if p, rest, ok := strings.Cut(host, "://"); ok { // a full URL in hostName
			proto, host = strings.ToLower(p), rest
		}
		r.Origin = proto + "://" + host
		if !strings.HasSuffix(host, "/") {
			r.Origin += "/"
		}
		r.ReplaceKeyPrefixWith = jr.Address.ReplaceKeyPrefixWith
		r.ReplaceKeyWith = jr.Address.ReplaceKeyWith
		if jr.AllowQueryString != nil {
			r.PassQueryString = *jr.AllowQueryString
		}
		if jr.FollowRedirects != nil {
			r.FollowRedirects = *jr.FollowRedirects
		}
		if h := jr.HeaderRule; h != nil {
			r.Headers = Headers{PassAll: h.AllowAllHeaders, Pass: h.AllowHeaders, Remove: h.NotAllowHeaders, Set: []HeaderValue(h.SetHeaders)}
		}
		rules = append(rules, r)
	}
	return rules, warn, nil
}

// --- Alibaba Cloud ---

type aliyunRules struct {
	XMLName xml.Name     `xml:"RoutingRules"`
	Rules   []aliyunRule `xml:"RoutingRule"`
}

type aliyunRule struct {
	RuleNumber int             `xml:"RuleNumber"`
	Condition  aliyunCondition `xml:"Condition"`
	Redirect   aliyunRedirect  `xml:"Redirect"`
}

type aliyunCondition struct {
	KeyPrefixEquals             string                `xml:"KeyPrefixEquals,omitempty"`
	KeySuffixEquals             string                `xml:"KeySuffixEquals,omitempty"`
	HTTPErrorCodeReturnedEquals int                   `xml:"HttpErrorCodeReturnedEquals,omitempty"`
	IncludeHeaders              []aliyunIncludeHeader `xml:"IncludeHeader,omitempty"`
	Other                       []xmlElement          `xml:",any"`
}

type aliyunIncludeHeader struct {
	Key    string `xml:"Key"`
	Equals string `xml:"Equals"`
}

// xmlElement collects elements ferry does not read, to warn about them.
type xmlElement struct {
	XMLName xml.Name
}

type aliyunRedirect struct {
	RedirectType                   string            `xml:"RedirectType"`
	PassQueryString                *bool             `xml:"PassQueryString,omitempty"`
	MirrorURL                      string            `xml:"MirrorURL,omitempty"`
	MirrorURLSlave                 string            `xml:"MirrorURLSlave,omitempty"`
	MirrorURLProbe                 string            `xml:"MirrorURLProbe,omitempty"`
	MirrorSwitchAllErrors          *bool             `xml:"MirrorSwitchAllErrors,omitempty"`
	MirrorMultiAlternates          *aliyunAlternates `xml:"MirrorMultiAlternates,omitempty"`
	MirrorPassQueryString          *bool             `xml:"MirrorPassQueryString,omitempty"`
	MirrorFollowRedirect           *bool             `xml:"MirrorFollowRedirect,omitempty"`
	MirrorPassOriginalSlashes      *bool             `xml:"MirrorPassOriginalSlashes,omitempty"`
	MirrorProxyPass                *bool             `xml:"MirrorProxyPass,omitempty"`
	TransparentMirrorResponseCodes string            `xml:"TransparentMirrorResponseCodes,omitempty"`
	ReplaceKeyPrefixWith           string            `xml:"ReplaceKeyPrefixWith,omitempty"`
	ReplaceKeyWith                 string            `xml:"ReplaceKeyWith,omitempty"`
	MirrorHeaders                  *aliyunHeaders    `xml:"MirrorHeaders,omitempty"`
	Other                          []xmlElement      `xml:",any"`
}

type aliyunAlternates struct {
	Alternates []struct {
		URL string `xml:"MirrorMultiAlternateURL"`
	} `xml:"MirrorMultiAlternate"`
}

type aliyunHeaders struct {
	PassAll bool             `xml:"PassAll,omitempty"`
	Pass    []string         `xml:"Pass,omitempty"`
	Remove  []string         `xml:"Remove,omitempty"`
	Set     []aliyunSetValue `xml:"Set,omitempty"`
}

type aliyunSetValue struct {
	Key   string `xml:"Key"`
	Value string `xml:"Value"`
}

// aliyunSwitchAll is the failover policy of MirrorSwitchAllErrors true:
// every answer but 200, 206, 3xx and 404 switches to MirrorURLSlave (false,
// the default, switches on 5xx and timeouts: DefaultFailoverOn).
func aliyunSwitchAll() []string {
	return []string{FailoverNetwork, FailoverTimeout, Failover4xx, Failover5xx}
}

func exportAliyun(rules []Rule) ([]byte, []string, error) {
	out := aliyunRules{}
	var warn []string
	for i := range rules {
		r := &rules[i]
		n := i + 1
		ar, err := aliyunFrom(n, r)
		if err != nil {
			return nil, nil, err
		}
		warn = append(warn, dropped(FormatAliyun, n, r)...)
		out.Rules = append(out.Rules, ar)
	}
	data, err := xml.MarshalIndent(out, "", "  ")
	if err != nil {
		return nil, nil, err
	}
	return append(append([]byte(xml.Header), data...), '\n'), warn, nil
}

// aliyunFrom maps rule n to a RoutingRule, or refuses a field the format
// cannot hold.
func aliyunFrom(n int, r *Rule) (aliyunRule, error) {
	origins := r.Origins()
	if len(origins) > 2 {
		return aliyunRule{}, &Error{Rule: n, Field: "origins",
			Msg: fmt.Sprintf("the aliyun format holds a primary and a secondary origin (MirrorURL, MirrorURLSlave), this rule has %d", len(origins))}
	}
	if err := refuseCommon(FormatAliyun, n, r, 2); err != nil {
		return aliyunRule{}, err
	}
	q, f := r.PassQueryString, r.FollowRedirects
	ar := aliyunRule{
		RuleNumber: n,
		Condition:  aliyunCondition{KeyPrefixEquals: r.KeyPrefix, KeySuffixEquals: r.KeySuffix, HTTPErrorCodeReturnedEquals: 404},
		Redirect: aliyunRedirect{RedirectType: "Mirror", MirrorURL: origins[0].URL, MirrorPassQueryString: &q, MirrorFollowRedirect: &f,
			ReplaceKeyPrefixWith: r.ReplaceKeyPrefixWith, ReplaceKeyWith: r.ReplaceKeyWith},
	}
	for _, c := range r.WhenHeaders {
		ar.Condition.IncludeHeaders = append(ar.Condition.IncludeHeaders, aliyunIncludeHeader{Key: c.Name, Equals: c.Value})
	}
	rd := &ar.Redirect
	if len(origins) == 2 {
		rd.MirrorURLSlave = origins[1].URL
	}
	switch {
	case len(r.FailoverOn) == 0 || sameSet(r.FailoverOn, DefaultFailoverOn()):
	case sameSet(r.FailoverOn, aliyunSwitchAll()):
		t := true
		rd.MirrorSwitchAllErrors = &t
	default:
		return aliyunRule{}, &Error{Rule: n, Field: "failover_on",
			Msg: "the aliyun format switches to MirrorURLSlave either on 5xx and timeouts or on every error but 404 (MirrorSwitchAllErrors): use [network, timeout, 5xx] or [network, timeout, 4xx, 5xx]"}
	}
	if r.NoStore {
		t := true
		rd.MirrorProxyPass = &t
	}
	var codes []string
	for _, c := range r.PassStatus {
		codes = append(codes, strconv.Itoa(c))
	}
	rd.TransparentMirrorResponseCodes = strings.Join(codes, ",")
	h := &r.Headers
	if h.PassAll || len(h.Pass)+len(h.Remove)+len(h.Set) > 0 {
		ah := &aliyunHeaders{PassAll: h.PassAll, Pass: h.Pass, Remove: h.Remove}
		for _, hv := range h.Set {
			ah.Set = append(ah.Set, aliyunSetValue{Key: hv.Name, Value: hv.Value})
		}
		rd.MirrorHeaders = ah
	}
	return ar, nil
}

// sameSet reports whether a and b hold the same strings, in any order.
func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

func importAliyun(data []byte) ([]Rule, []string, error) {
	var root struct {
		XMLName      xml.Name
		RoutingRules *struct {
			Rules []aliyunRule `xml:"RoutingRule"`
		} `xml:"RoutingRules"`
		Rules []aliyunRule `xml:"RoutingRule"`
	}
	if err := xml.Unmarshal(data, &root); err != nil {
		return nil, nil, fmt.Errorf("aliyun XML: %v", err)
	}
	var list []aliyunRule
	switch root.XMLName.Local {
	case "RoutingRules":
		list = root.Rules
	case "WebsiteConfiguration":
		if root.RoutingRules != nil {
			list = root.RoutingRules.Rules
		}
	default:
		return nil, nil, fmt.Errorf("aliyun XML: expected <RoutingRules> or <WebsiteConfiguration>, got <%s>", root.XMLName.Local)
	}
	slices.SortStableFunc(list, func(a, b aliyunRule) int { return a.RuleNumber - b.RuleNumber })
	var rules []Rule
	var warn []string
	for _, ar := range list {
		id := "RuleNumber " + strconv.Itoa(ar.RuleNumber)
		if !strings.EqualFold(ar.Redirect.RedirectType, "Mirror") {
			warn = append(warn, fmt.Sprintf("%s: RedirectType %q is not a mirror rule: skipped", id, ar.Redirect.RedirectType))
			continue
		}
		r, w, err := aliyunTo(id, &ar)
		if err != nil {
			return nil, nil, err
		}
		rules = append(rules, r)
		warn = append(warn, w...)
	}
	return rules, warn, nil
}

// aliyunTo maps one Mirror RoutingRule to a rule (not validated yet), with
// warnings for the elements ferry does not read.
func aliyunTo(id string, ar *aliyunRule) (Rule, []string, error) {
	rd := &ar.Redirect
	if c := ar.Condition.HTTPErrorCodeReturnedEquals; c != 0 && c != 404 {
		return Rule{}, nil, fmt.Errorf("%s: HttpErrorCodeReturnedEquals %d: ferry fetches from the origin only when the target lacks the key (404)", id, c)
	}
	if rd.MirrorURL == "" {
		return Rule{}, nil, fmt.Errorf("%s: MirrorURL is missing", id)
	}
	if rd.MirrorMultiAlternates != nil && len(rd.MirrorMultiAlternates.Alternates) > 0 {
		return Rule{}, nil, fmt.Errorf("%s: MirrorMultiAlternates is not supported by ferry (the order and conditions in which OSS tries them are not documented): list the origins under origins: in ferry.yaml", id)
	}
	r := Rule{
		KeyPrefix: ar.Condition.KeyPrefixEquals, KeySuffix: ar.Condition.KeySuffixEquals,
		Origin: rd.MirrorURL, ReplaceKeyPrefixWith: rd.ReplaceKeyPrefixWith, ReplaceKeyWith: rd.ReplaceKeyWith,
		FollowRedirects: true, MirrorHead: true,
	}
	if rd.MirrorURLSlave != "" {
		r.Origin, r.OriginList = "", []Origin{{URL: rd.MirrorURL}, {URL: rd.MirrorURLSlave}}
	}
	for _, c := range ar.Condition.IncludeHeaders {
		r.WhenHeaders = append(r.WhenHeaders, HeaderValue{Name: c.Key, Value: c.Equals})
	}
	switch {
	case rd.MirrorPassQueryString != nil:
		r.PassQueryString = *rd.MirrorPassQueryString
	case rd.PassQueryString != nil:
		r.PassQueryString = *rd.PassQueryString
	}
	if rd.MirrorFollowRedirect != nil {
		r.FollowRedirects = *rd.MirrorFollowRedirect
	}
	if rd.MirrorSwitchAllErrors != nil && *rd.MirrorSwitchAllErrors {
		r.FailoverOn = aliyunSwitchAll()
	}
	r.NoStore = rd.MirrorProxyPass != nil && *rd.MirrorProxyPass
	codes, err := statusList(rd.TransparentMirrorResponseCodes)
	if err != nil {
		return Rule{}, nil, fmt.Errorf("%s: TransparentMirrorResponseCodes: %v", id, err)
	}
	r.PassStatus = codes
	if h := rd.MirrorHeaders; h != nil {
		r.Headers = Headers{PassAll: h.PassAll, Pass: h.Pass, Remove: h.Remove}
		for _, s := range h.Set {
			r.Headers.Set = append(r.Headers.Set, HeaderValue{Name: s.Key, Value: s.Value})
		}
	}
	return r, aliyunIgnored(id, ar), nil
}

// statusList parses a comma-separated list of status codes ("403,410").
func statusList(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("%q is not a status code", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// aliyunIgnored warns about what an imported rule says that ferry does not
// do: the probe URL, MirrorPassOriginalSlashes and unknown elements.
func aliyunIgnored(id string, ar *aliyunRule) []string {
	var warn []string
	rd := &ar.Redirect
	if rd.MirrorURLProbe != "" {
		warn = append(warn, fmt.Sprintf("%s: MirrorURLProbe is not used: ferry decides on each fill whether to try the next origin", id))
	}
	if rd.MirrorPassOriginalSlashes != nil && *rd.MirrorPassOriginalSlashes {
		warn = append(warn, fmt.Sprintf("%s: MirrorPassOriginalSlashes is not used: ferry refuses keys with empty path segments (\"//\")", id))
	}
	for _, e := range ar.Condition.Other {
		warn = append(warn, fmt.Sprintf("%s: Condition/%s is not supported by ferry: ignored", id, e.XMLName.Local))
	}
	for _, e := range rd.Other {
		warn = append(warn, fmt.Sprintf("%s: Redirect/%s is not supported by ferry: ignored", id, e.XMLName.Local))
	}
	return warn
}
