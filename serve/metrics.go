package serve

import (
	"net/http"
	"runtime"
	"time"

	"github.com/ferry-migrate/ferry/mirror"
	"github.com/ferry-migrate/ferry/rules"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are serve's Prometheus metrics, on a private registry (never the
// global one, so several servers can live in one process, as in tests).
type Metrics struct {
	reg *prometheus.Registry

	requests     *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	clientBytes  *prometheus.CounterVec
	fills        *prometheus.CounterVec
	fillDuration *prometheus.HistogramVec
	coalesced    prometheus.Counter
	originBytes  prometheus.Counter
	inFlight     prometheus.Gauge
	answers      *prometheus.CounterVec
	failovers    *prometheus.CounterVec
	proxied      prometheus.Counter
	ranged       *prometheus.CounterVec
	orphans      prometheus.Counter
	sweepFails   prometheus.Counter
	reloads      *prometheus.CounterVec
	rules        prometheus.Gauge
	build        *prometheus.GaugeVec
}

// BuildInfo names the running binary (cmd passes its ldflags values).
type BuildInfo struct {
	Version string // "" is reported as "unknown"
	Commit  string // "" is reported as "unknown"
}

// Known label values, pre-set to 0 by NewMetrics so that every series an
// alert selects exists from the first scrape: rate() and increase() then see
// the first event instead of a series that starts at 1.
var (
	requestMethods = []string{"GET", "HEAD"} // plus "other", which is always refused with 405
	// outcomeCodes are the status codes each outcome can answer with.
	outcomeCodes = map[string][]int{
		outcomeHit:       {200, 206, 304, 412, 416},
		outcomeFill:      {200, 206, 304, 412, 416},
		outcomeCoalesced: {200, 206, 304, 412, 416},
		outcomeOrigin:    {200, 206, 301, 302, 303, 304, 307, 308, 412, 416},
		outcomeNotFound:  {404},
		outcomeNoRule:    {404},
		outcomeRefused:   {400, 404, 405, 501, 508},
		outcomeError:     {400, 424, 499, 500, 503},
	}
	// fillResults are mirror's fill outcomes; fillFailReasons the reasons of
	// a failed one (TestPresetCoversMirrorReasons checks it has them all).
	fillResults = []mirror.Outcome{
		mirror.OutcomeStored, mirror.OutcomeExists, mirror.OutcomeNotFound, mirror.OutcomeRedirect, mirror.OutcomePassed,
		mirror.OutcomeFailed,
	}
	// failoverReasons are the reasons of ferry_mirror_failovers_total.
	failoverReasons = []mirror.Reason{mirror.ReasonNetwork, mirror.ReasonTimeout, mirror.ReasonStatus}
	rangedResults   = []string{"served", "fallback"}
	fillFailReasons = []mirror.Reason{
		mirror.ReasonStatus, mirror.ReasonNetwork, mirror.ReasonTimeout, mirror.ReasonLength, mirror.ReasonMD5,
		mirror.ReasonTooLarge, mirror.ReasonRedirectLoop, mirror.ReasonRedirectBlocked, mirror.ReasonRefusedKey,
		mirror.ReasonRule, mirror.ReasonOrigin, mirror.ReasonOriginOpen, mirror.ReasonSpool, mirror.ReasonStore,
		mirror.ReasonTargetRefusedKey, mirror.ReasonCanceled, mirror.ReasonInternal,
	}
	reloadResults = []string{"ok", "refused"}
)

// NewMetrics registers serve's metrics (and the Go and process collectors)
// on a new registry.
func NewMetrics() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	latency := []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ferry_serve_requests_total",
		Help: "Requests answered, by method, mirror outcome (hit, fill, coalesced, origin, not_found, no_rule, refused, error) and status code.",
	}, []string{"method", "outcome", "code"})
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "ferry_serve_request_duration_seconds",
		Help:    "Time from request to the last byte sent, by mirror outcome.",
		Buckets: latency,
	}, []string{"outcome"})
	m.clientBytes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ferry_serve_client_bytes_total",
		Help: "Body bytes sent to clients, by mirror outcome.",
	}, []string{"outcome"})
	m.fills = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ferry_mirror_fills_total",
		Help: "Completed fills by result (stored, exists, not_found, redirect, failed) and reason.",
	}, []string{"result", "reason"})
	m.fillDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "ferry_mirror_fill_duration_seconds",
		Help:    "Duration of fills from the origin request to commit, by result.",
		Buckets: latency,
	}, []string{"result"})
	m.coalesced = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "ferry_mirror_coalesced_readers_total",
		Help: "Requests that joined a fill already in flight instead of starting one.",
	})
	m.originBytes = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "ferry_mirror_origin_bytes_total",
		Help: "Bytes read from origins.",
	})
	m.inFlight = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "ferry_mirror_fills_in_flight",
		Help: "Fills currently running.",
	})
	m.answers = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ferry_mirror_origin_answers_total",
		Help: "Origin answers that fills, copies, proxied requests and origin HEADs went on with, by origin (its 1-based position in the rule's origins).",
	}, []string{"origin"})
	m.failovers = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ferry_mirror_failovers_total",
		Help: "Origin attempts that failed as failover_on names, so the next origin was tried, by origin (1-based) and reason (network, timeout, status).",
	}, []string{"origin", "reason"})
	m.proxied = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "ferry_mirror_proxied_total",
		Help: "GETs under store: false rules that streamed the origin's object without storing it.",
	})
	m.ranged = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ferry_mirror_range_requests_total",
		Help: "Ranged origin requests for a Range GET far beyond a fill's bytes, by result (served; fallback: the answer could not be used and the fill served the range).",
	}, []string{"result"})
	m.orphans = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "ferry_mirror_orphaned_uploads_aborted_total",
		Help: "Multipart uploads of failed or interrupted fills and copies that the SDK could not abort (lost upload ID, failed abort, a serve that died) and ferry aborted.",
	})
	m.sweepFails = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "ferry_mirror_upload_sweep_failures_total",
		Help: "Sweeps for orphaned multipart uploads of one key that could not list or abort them (they may stay pending until a lifecycle rule removes them).",
	})
	m.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ferry_serve_config_reloads_total",
		Help: "Configuration reloads by result (ok, refused).",
	}, []string{"result"})
	m.rules = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "ferry_serve_rules",
		Help: "Back-to-origin rules currently loaded.",
	})
	m.build = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "ferry_build_info",
		Help: "Always 1; the labels name the running ferry build.",
	}, []string{"version", "commit", "go_version"})
	m.reg.MustRegister(m.requests, m.duration, m.clientBytes, m.fills, m.fillDuration,
		m.coalesced, m.originBytes, m.inFlight, m.answers, m.failovers, m.proxied, m.ranged, m.orphans, m.sweepFails, m.reloads, m.rules, m.build,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.preset()
	m.setBuild(BuildInfo{})
	return m
}

// preset creates every known label combination at 0.
func (m *Metrics) preset() {
	for outcome, codes := range outcomeCodes {
		for _, method := range requestMethods {
			for _, code := range codes {
				m.requests.WithLabelValues(method, outcome, statusText(code))
			}
		}
		m.duration.WithLabelValues(outcome)
		m.clientBytes.WithLabelValues(outcome)
	}
	m.requests.WithLabelValues("other", outcomeRefused, statusText(http.StatusMethodNotAllowed))
	for _, result := range fillResults {
		m.fillDuration.WithLabelValues(string(result))
		if result != mirror.OutcomeFailed {
			m.fills.WithLabelValues(string(result), "")
		}
	}
	for _, reason := range fillFailReasons {
		m.fills.WithLabelValues(string(mirror.OutcomeFailed), string(reason))
	}
	for _, result := range reloadResults {
		m.reloads.WithLabelValues(result)
	}
	for n := 1; n <= rules.MaxOrigins; n++ {
		m.answers.WithLabelValues(itoa(n))
		for _, r := range failoverReasons {
			if n < rules.MaxOrigins { // the last origin has no next one
				m.failovers.WithLabelValues(itoa(n), string(r))
			}
		}
	}
	for _, result := range rangedResults {
		m.ranged.WithLabelValues(result)
	}
}

// setBuild sets ferry_build_info to 1 for b (and drops an earlier build).
func (m *Metrics) setBuild(b BuildInfo) {
	v, c := b.Version, b.Commit
	if v == "" {
		v = "unknown"
	}
	if c == "" {
		c = "unknown"
	}
	m.build.Reset()
	m.build.WithLabelValues(v, c, runtime.Version()).Set(1)
}

// Registry returns the private registry, to add more collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// MirrorObserver returns the mirror.Observer that feeds the fill metrics;
// pass it in mirror.Options.Observer.
func (m *Metrics) MirrorObserver() mirror.Observer { return fillMetrics{m} }

// fillMetrics is the mirror.Observer of Metrics.
type fillMetrics struct{ m *Metrics }

func (f fillMetrics) FillStarted() {}
func (f fillMetrics) FillDone(o mirror.Outcome, r mirror.Reason, _ int64, d time.Duration) {
	f.m.fills.WithLabelValues(string(o), string(r)).Inc()
	f.m.fillDuration.WithLabelValues(string(o)).Observe(d.Seconds())
}
func (f fillMetrics) Coalesced()           { f.m.coalesced.Inc() }
func (f fillMetrics) OriginBytes(n int64)  { f.m.originBytes.Add(float64(n)) }
func (f fillMetrics) InFlight(delta int)   { f.m.inFlight.Add(float64(delta)) }
func (f fillMetrics) OriginAnswered(n int) { f.m.answers.WithLabelValues(itoa(n)).Inc() }
func (f fillMetrics) Failover(n int, r mirror.Reason) {
	f.m.failovers.WithLabelValues(itoa(n), string(r)).Inc()
}
func (f fillMetrics) Proxied() { f.m.proxied.Inc() }
func (f fillMetrics) UploadsSwept(aborted int, err error) {
	f.m.orphans.Add(float64(aborted))
	if err != nil {
		f.m.sweepFails.Inc()
	}
}
func (f fillMetrics) Ranged(served bool) {
	result := rangedResults[1]
	if served {
		result = rangedResults[0]
	}
	f.m.ranged.WithLabelValues(result).Inc()
}

func (m *Metrics) observe(method, outcome string, code int, bytes int64, d time.Duration) {
	m.requests.WithLabelValues(method, outcome, statusText(code)).Inc()
	m.duration.WithLabelValues(outcome).Observe(d.Seconds())
	if bytes > 0 {
		m.clientBytes.WithLabelValues(outcome).Add(float64(bytes))
	}
}

// statusText avoids an allocation for the common codes.
func statusText(code int) string {
	switch code {
	case 200:
		return "200"
	case 206:
		return "206"
	case 304:
		return "304"
	case 404:
		return "404"
	}
	return itoa(code)
}
