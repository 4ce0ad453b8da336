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

// Export writes rules in a cloud's mirror configuration format. Fields the
// format cannot hold are errors when they change which keys are fetched or
// from where (key_suffix for jdcloud, bucket origins), and warnings when they
// only change behaviour (mirror_head, name).
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
		if r.KeySuffix != "" {
			return nil, nil, &Error{Rule: n, Field: "key_suffix", Msg: "the jdcloud format has no key suffix condition"}
		}
		if r.IsBucket() {
			return nil, nil, &Error{Rule: n, Field: "origin", Msg: "the jdcloud format only holds http(s) origins"}
		}
		o, err := parseOrigin(r.Origin)
		if err != nil {
			return nil, nil, &Error{Rule: n, Field: "origin", Msg: err.Error()}
		}
		if !r.MirrorHead {
			warn = append(warn, fmt.Sprintf("rule %d: mirror_head: false is not part of the jdcloud format", n))
		}
		if r.Name != "" {
			warn = append(warn, fmt.Sprintf("rule %d: the name %q is not part of the jdcloud format", n, r.Name))
		}
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
	KeyPrefixEquals             string `xml:"KeyPrefixEquals,omitempty"`
	KeySuffixEquals             string `xml:"KeySuffixEquals,omitempty"`
	HTTPErrorCodeReturnedEquals int    `xml:"HttpErrorCodeReturnedEquals,omitempty"`
}

type aliyunRedirect struct {
	RedirectType          string         `xml:"RedirectType"`
	PassQueryString       *bool          `xml:"PassQueryString,omitempty"`
	MirrorURL             string         `xml:"MirrorURL,omitempty"`
	MirrorPassQueryString *bool          `xml:"MirrorPassQueryString,omitempty"`
	MirrorFollowRedirect  *bool          `xml:"MirrorFollowRedirect,omitempty"`
	ReplaceKeyPrefixWith  string         `xml:"ReplaceKeyPrefixWith,omitempty"`
	ReplaceKeyWith        string         `xml:"ReplaceKeyWith,omitempty"`
	MirrorHeaders         *aliyunHeaders `xml:"MirrorHeaders,omitempty"`
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

func exportAliyun(rules []Rule) ([]byte, []string, error) {
	out := aliyunRules{}
	var warn []string
	for i := range rules {
		r := &rules[i]
		n := i + 1
		if r.IsBucket() {
			return nil, nil, &Error{Rule: n, Field: "origin", Msg: "the aliyun format only holds http(s) origins"}
		}
		if !r.MirrorHead {
			warn = append(warn, fmt.Sprintf("rule %d: mirror_head: false is not part of the aliyun format", n))
		}
		if r.Name != "" {
			warn = append(warn, fmt.Sprintf("rule %d: the name %q is not part of the aliyun format", n, r.Name))
		}
		q, f := r.PassQueryString, r.FollowRedirects
		ar := aliyunRule{
			RuleNumber: n,
			Condition:  aliyunCondition{KeyPrefixEquals: r.KeyPrefix, KeySuffixEquals: r.KeySuffix, HTTPErrorCodeReturnedEquals: 404},
			Redirect: aliyunRedirect{RedirectType: "Mirror", MirrorURL: r.Origin, MirrorPassQueryString: &q, MirrorFollowRedirect: &f,
				ReplaceKeyPrefixWith: r.ReplaceKeyPrefixWith, ReplaceKeyWith: r.ReplaceKeyWith},
		}
		h := &r.Headers
		if h.PassAll || len(h.Pass)+len(h.Remove)+len(h.Set) > 0 {
			ah := &aliyunHeaders{PassAll: h.PassAll, Pass: h.Pass, Remove: h.Remove}
			for _, hv := range h.Set {
				ah.Set = append(ah.Set, aliyunSetValue{Key: hv.Name, Value: hv.Value})
			}
			ar.Redirect.MirrorHeaders = ah
		}
		out.Rules = append(out.Rules, ar)
	}
	data, err := xml.MarshalIndent(out, "", "  ")
	if err != nil {
		return nil, nil, err
	}
	return append(append([]byte(xml.Header), data...), '\n'), warn, nil
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
		rd := &ar.Redirect
		if !strings.EqualFold(rd.RedirectType, "Mirror") {
			warn = append(warn, fmt.Sprintf("%s: RedirectType %q is not a mirror rule: skipped", id, rd.RedirectType))
			continue
		}
		if c := ar.Condition.HTTPErrorCodeReturnedEquals; c != 0 && c != 404 {
			return nil, nil, fmt.Errorf("%s: HttpErrorCodeReturnedEquals %d: ferry fetches from the origin only when the target lacks the key (404)", id, c)
		}
		if rd.MirrorURL == "" {
			return nil, nil, fmt.Errorf("%s: MirrorURL is missing", id)
		}
		r := Rule{
			KeyPrefix: ar.Condition.KeyPrefixEquals, KeySuffix: ar.Condition.KeySuffixEquals,
			Origin: rd.MirrorURL, ReplaceKeyPrefixWith: rd.ReplaceKeyPrefixWith, ReplaceKeyWith: rd.ReplaceKeyWith,
			FollowRedirects: true, MirrorHead: true,
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
		if h := rd.MirrorHeaders; h != nil {
			r.Headers = Headers{PassAll: h.PassAll, Pass: h.Pass, Remove: h.Remove}
			for _, s := range h.Set {
				r.Headers.Set = append(r.Headers.Set, HeaderValue{Name: s.Key, Value: s.Value})
			}
		}
		rules = append(rules, r)
	}
	return rules, warn, nil
}
