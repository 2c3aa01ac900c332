// Package metrics owns Tessera's Prometheus metrics: requests and latencies per route, and
// logins by result. Labels are bounded (known routes only) so a scan of random paths cannot
// grow the series without limit.
package metrics

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds the collectors of one server.
type Metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	logins   *prometheus.CounterVec
	delivery *prometheus.CounterVec
}

// New registers Tessera's collectors plus the Go runtime and process collectors.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tessera_http_requests_total", Help: "HTTP requests by route, method and status code.",
		}, []string{"route", "method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "tessera_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tessera_logins_total", Help: "Sign-in attempts by result (ok, failed, login_required).",
		}, []string{"result"}),
		delivery: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tessera_delivery_status_total",
			Help: "Final statuses the phone provider reported for texts and calls, by channel and status.",
		}, []string{"channel", "status"}),
	}
	m.reg.MustRegister(m.requests, m.latency, m.logins, m.delivery,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Login counts one sign-in attempt by result.
func (m *Metrics) Login(result string) { m.logins.WithLabelValues(result).Inc() }

// deliveryStatuses are the statuses counted; anything else counts as "other", so a provider
// cannot grow the series.
var deliveryStatuses = map[string]bool{"delivered": true, "completed": true, "failed": true, "undelivered": true,
	"busy": true, "no-answer": true, "canceled": true}

// DeliveryStatus counts one final status of a text (channel sms) or a call (voice).
func (m *Metrics) DeliveryStatus(channel, status string) {
	if channel != "sms" && channel != "voice" {
		channel = "other"
	}
	if !deliveryStatuses[status] {
		status = "other"
	}
	m.delivery.WithLabelValues(channel, status).Inc()
}

// Handler serves /metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

var routes = []string{"/.well-known/openid-configuration", "/keys", "/authorize/callback", "/authorize",
	"/oauth/token", "/oauth/introspect", "/userinfo", "/revoke", "/end_session", "/login", "/logged-out",
	"/healthz", "/readyz", "/metrics", "/static/", "/demo", "/dev/outbox", "/hooks/twilio/status", "/hooks/twilio/confirm"}

func route(path string) string {
	for _, r := range routes {
		if path == r || (strings.HasSuffix(r, "/") && strings.HasPrefix(path, r)) || strings.HasPrefix(path, r+"/") {
			return r
		}
	}
	return "other"
}

// Middleware measures every request.
func (m *Metrics) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		rt := route(r.URL.Path)
		m.requests.WithLabelValues(rt, r.Method, strconv.Itoa(sw.status)).Inc()
		m.latency.WithLabelValues(rt).Observe(time.Since(start).Seconds())
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
