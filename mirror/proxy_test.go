package mirror

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ferry-migrate/ferry/rules"
)

// errorPage answers code with an HTML body.
func errorPage(code int, page string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(code)
		_, _ = io.WriteString(w, page)
	}
}

// pass_status answers reach the caller with status, headers and body, are
// journaled as passed and never stored; other statuses stay failures.
func TestPassStatus(t *testing.T) {
	leakCheck(t)
	o := newRecOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/denied":
			errorPage(403, "<h1>hotlinking is not allowed</h1>")(w, r)
		case "/big":
			errorPage(410, strings.Repeat("x", MaxPassBody+1))(w, r)
		default:
			errorPage(500, "boom")(w, r)
		}
	})
	obs := &observer{}
	e := newEnv(t, targets[1].open(t), func(op *Options) { op.Observer = obs })
	rule := httpRule(o.URL + "/")
	rule.PassStatus = []int{403, 410}
	get := func(key string) error {
		_, err := e.m.Get(context.Background(), Request{Rules: ruleSet(rule), Key: key, Header: http.Header{}})
		return err
	}

	var pe *PassError
	if err := get("denied"); !errors.As(err, &pe) || pe.Status != 403 ||
		string(pe.Body) != "<h1>hotlinking is not allowed</h1>" || pe.Meta.ContentType != "text/html" ||
		pe.Meta.CacheControl != "no-store" || pe.Meta.Size != int64(len(pe.Body)) {
		t.Fatalf("denied: %v %+v", err, pe)
	}
	meta, err := e.m.Head(context.Background(), Request{Rules: ruleSet(rule), Key: "denied", Header: http.Header{}})
	if !errors.As(err, &pe) || pe.Status != 403 || len(pe.Body) != 0 || meta != nil {
		t.Fatalf("HEAD denied: %v %+v", err, pe)
	}
	_, err = e.m.Copy(context.Background(), Request{Rules: ruleSet(rule), Key: "denied", Header: http.Header{}})
	var fe *FailedError
	if !errors.As(err, &fe) || fe.Status != 403 || fe.Reason != ReasonStatus || errors.As(err, &pe) {
		t.Fatalf("copy of a pass_status answer: %v, want a status failure", err)
	}
	if err := get("big"); failedReason(err) != "too_large" {
		t.Fatalf("a pass_status body over MaxPassBody: %v", err)
	}
	if err := get("other"); failedReason(err) != "status" || errors.As(err, &pe) {
		t.Fatalf("500, not in pass_status: %v", err)
	}
	e.assertClean()
	en := e.entries()
	if len(en) != 3 || en[0].Result != OutcomePassed || en[0].Status != 403 || en[1].Result != OutcomeFailed {
		t.Fatalf("journal %+v", en)
	}
}

// With several origins, failover_on comes first: a status in both lists
// moves on, and is passed on only from the last origin.
func TestPassStatusAfterFailover(t *testing.T) {
	leakCheck(t)
	for _, c := range []struct {
		name       string
		second     http.HandlerFunc
		wantStatus int
	}{
		{"second answers", serveBody([]byte("ok")), 0},
		{"second passes", errorPage(403, "no"), 403},
	} {
		t.Run(c.name, func(t *testing.T) {
			primary := newRecOrigin(t, errorPage(403, "first"))
			second := newRecOrigin(t, c.second)
			e := newEnv(t, targets[0].open(t), nil)
			req := failoverReq("k", []string{"network", "timeout", "5xx", "403"},
				rules.Origin{URL: primary.URL + "/"}, rules.Origin{URL: second.URL + "/"})
			req.Rules.Rules[0].PassStatus = []int{403}
			_, err := e.fill(context.Background(), req)
			var pe *PassError
			switch {
			case c.wantStatus == 0 && err != nil:
				t.Fatal(err)
			case c.wantStatus != 0 && (!errors.As(err, &pe) || pe.Status != 403 || string(pe.Body) != "no"):
				t.Fatalf("err %v, want the second origin's 403", err)
			}
			if len(primary.asked()) != 1 || len(second.asked()) != 1 {
				t.Fatalf("asked %d and %d", len(primary.asked()), len(second.asked()))
			}
		})
	}
}

// store: false streams the origin's answer and stores nothing: no fill,
// spool, journal line or object; every request goes to the origin, and
// Copy (scan, finalize) does not fetch at all.
func TestStoreFalse(t *testing.T) {
	leakCheck(t)
	body := payload(3<<20, 11)
	o := newRecOrigin(t, serveBody(body))
	obs := &observer{}
	e := newEnv(t, targets[1].open(t), func(op *Options) { op.Observer = obs })
	rule := httpRule(o.URL + "/")
	rule.NoStore = true
	req := Request{Rules: ruleSet(rule), Key: "api/x", Header: http.Header{}}

	for i := range 2 {
		s, err := e.m.Get(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		if !s.Proxied() || s.Coalesced() || s.Meta().Size != int64(len(body)) || e.m.InFlight() != 0 {
			t.Fatalf("stream: proxied %v, meta %+v, in flight %d", s.Proxied(), s.Meta(), e.m.InFlight())
		}
		e.assertNoSpool()
		var got []byte
		if i == 0 {
			got, err = readAll(s.NewReader(0, -1))
		} else {
			got, err = readAll(s.NewReader(1000, 5000)) // a range, read by skipping
		}
		want := body
		if i == 1 {
			want = body[1000:6000]
		}
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("read %d: %d bytes, %v", i, len(got), err)
		}
		if _, err := readAll(s.NewReader(0, -1)); err == nil {
			t.Fatal("a second reader of a proxied stream")
		}
		if res, err := s.Wait(context.Background()); err != nil || res.Stored {
			t.Fatalf("wait: %+v %v", res, err)
		}
		_ = s.Close()
	}
	if _, err := e.m.Copy(context.Background(), req); !errors.Is(err, ErrProxyOnly) || !errors.Is(err, ErrNoRule) {
		t.Fatalf("copy: %v, want ErrProxyOnly", err)
	}
	if n := len(o.asked()); n != 2 {
		t.Fatalf("origin asked %d times, want 2 (one per Get, none for Copy)", n)
	}
	e.assertClean()
	if en := e.entries(); len(en) != 0 || obs.started.Load() != 0 || obs.proxied.Load() != 2 {
		t.Fatalf("journal %+v, fills %d, proxied %d", en, obs.started.Load(), obs.proxied.Load())
	}
}

// A store: false rule fails over and passes statuses as a fill does: its
// request goes down the origins, each asked once, and nothing is stored.
func TestStoreFalseFailover(t *testing.T) {
	leakCheck(t)
	body := payload(256<<10, 19)
	for _, c := range []struct {
		name   string
		second http.HandlerFunc
		pass   int // the status passed on, 0 = the second origin's body
	}{
		{"second answers", serveBody(body), 0},
		{"second passes 403", errorPage(403, "denied"), 403},
	} {
		t.Run(c.name, func(t *testing.T) {
			primary := newRecOrigin(t, status(http.StatusBadGateway))
			second := newRecOrigin(t, c.second)
			obs := &observer{}
			e := newEnv(t, targets[1].open(t), func(op *Options) { op.Observer = obs })
			req := failoverReq("api/x", nil, rules.Origin{URL: primary.URL + "/a/"}, rules.Origin{URL: second.URL + "/b/"})
			req.Rules.Rules[0].NoStore = true
			req.Rules.Rules[0].PassStatus = []int{403}
			s, err := e.m.Get(context.Background(), req)
			var pe *PassError
			switch {
			case c.pass != 0:
				if !errors.As(err, &pe) || pe.Status != c.pass || string(pe.Body) != "denied" {
					t.Fatalf("err %v, want the second origin's %d", err, c.pass)
				}
			case err != nil:
				t.Fatal(err)
			default:
				got, err := readAll(s.NewReader(0, -1))
				_ = s.Close()
				if !s.Proxied() || err != nil || !bytes.Equal(got, body) {
					t.Fatalf("proxied %v: %d bytes, %v", s.Proxied(), len(got), err)
				}
			}
			if p, q := primary.asked(), second.asked(); len(p) != 1 || len(q) != 1 || q[0].path != "/b/api/x" {
				t.Fatalf("origins asked %+v and %+v", p, q)
			}
			obs.mu.Lock()
			failovers, answered := obs.failovers, obs.answered
			obs.mu.Unlock()
			if !slices.Equal(failovers, []string{"1/status"}) || !slices.Equal(answered, []int{2}) {
				t.Errorf("observer: failovers %v, answered %v", failovers, answered)
			}
			e.assertClean()
			if en := e.entries(); len(en) != 0 || obs.started.Load() != 0 {
				t.Errorf("journal %+v, fills %d", en, obs.started.Load())
			}
		})
	}
}

// A proxied body that fails its MD5 never reaches a reader whole, and one
// that breaks off is an error, not a clean end.
func TestStoreFalseIntegrity(t *testing.T) {
	leakCheck(t)
	body := payload(100<<10, 2)
	sum := md5.Sum([]byte("something else"))
	o := newRecOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		if r.URL.Path == "/md5" {
			w.Header().Set("Content-MD5", base64.StdEncoding.EncodeToString(sum[:]))
			_, _ = w.Write(body)
			return
		}
		_, _ = w.Write(body[:len(body)/2])
	})
	e := newEnv(t, targets[0].open(t), nil)
	rule := httpRule(o.URL + "/")
	rule.NoStore = true
	for _, key := range []string{"md5", "short"} {
		s, err := e.m.Get(context.Background(), Request{Rules: ruleSet(rule), Key: key, Header: http.Header{}})
		if err != nil {
			t.Fatal(err)
		}
		got, err := readAll(s.NewReader(0, -1))
		_ = s.Close()
		if err == nil || len(got) >= len(body) {
			t.Fatalf("%s: %d bytes, err %v: want an error before the last byte", key, len(got), err)
		}
	}
	e.assertClean()
}

// holdLast gives every byte but keeps the last until the end was verified.
func TestHoldLast(t *testing.T) {
	for _, size := range []int{0, 1, 2, 100} {
		for _, buf := range []int{1, 2, 7} {
			src := payload(size, 1)
			h := &holdLast{r: bytes.NewReader(src)}
			var out []byte
			p := make([]byte, buf)
			for {
				n, err := h.Read(p)
				out = append(out, p[:n]...)
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(out, src) {
				t.Fatalf("size %d buf %d: got %d bytes", size, buf, len(out))
			}
		}
	}
	h := &holdLast{r: io.MultiReader(strings.NewReader("abc"), errReader{errors.New("bad")})}
	got, err := io.ReadAll(h)
	if string(got) != "ab" || err == nil {
		t.Fatalf("got %q, %v: want the last byte held back on an error", got, err)
	}
}

// when_headers: a request whose headers do not meet a rule's conditions
// takes the next rule whose conditions hold, or none (ErrNoRule, no origin
// request), for GET and HEAD alike.
func TestWhenHeaders(t *testing.T) {
	leakCheck(t)
	a := newRecOrigin(t, serveBody([]byte("from a")))
	b := newRecOrigin(t, serveBody([]byte("from b")))
	e := newEnv(t, targets[0].open(t), nil)
	onlyA := rules.Rule{KeyPrefix: "v/", Origin: a.URL + "/", FollowRedirects: true, MirrorHead: true,
		WhenHeaders: []rules.HeaderValue{{Name: "X-Client", Value: "app-a"}, {Name: "Host", Value: "old.example"}}}
	fallback := rules.Rule{KeyPrefix: "v/", Origin: b.URL + "/", FollowRedirects: true, MirrorHead: true}
	req := func(set *rules.Set, key string, kv ...string) Request {
		h := http.Header{}
		for i := 0; i+1 < len(kv); i += 2 {
			h.Add(kv[i], kv[i+1])
		}
		return Request{Rules: set, Key: key, Header: h}
	}
	one := &rules.Set{Rules: []rules.Rule{onlyA}}
	two := &rules.Set{Rules: []rules.Rule{onlyA, fallback}}

	if _, err := e.fill(context.Background(), req(one, "v/1", "x-client", "app-a", "Host", "old.example")); err != nil {
		t.Fatal(err)
	}
	if _, err := e.fill(context.Background(), req(one, "v/2", "X-Client", "app-b", "Host", "old.example")); !errors.Is(err, ErrNoRule) {
		t.Fatalf("unmet condition, no other rule: %v", err)
	}
	if _, err := e.m.Head(context.Background(), req(one, "v/3", "X-Client", "app-a")); !errors.Is(err, ErrNoRule) {
		t.Fatalf("HEAD with one condition unmet: %v", err)
	}
	if _, err := e.fill(context.Background(), req(two, "v/4", "X-Client", "APP-A", "Host", "old.example")); err != nil {
		t.Fatal(err)
	}
	if got := string(e.stored("v/1")) + "," + string(e.stored("v/4")); got != "from a,from b" {
		t.Fatalf("stored %q", got)
	}
	if len(a.asked()) != 1 || len(b.asked()) != 1 {
		t.Fatalf("origins asked %+v and %+v", a.asked(), b.asked())
	}
}
