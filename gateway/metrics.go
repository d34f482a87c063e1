package gateway

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the gateway's counters, per route, on a registry of their
// own (never the global one: two gateways in one process, as in tests,
// keep their counts apart).
type metrics struct {
	reg          *prometheus.Registry
	received     *prometheus.CounterVec
	queued       *prometheus.CounterVec
	deduplicated *prometheus.CounterVec
	skipped      *prometheus.CounterVec
	rejected     *prometheus.CounterVec
	delivered    *prometheus.CounterVec
	dead         *prometheus.CounterVec
	pending      *prometheus.GaugeVec
}

func newMetrics() *metrics {
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "imbridge", Subsystem: "gateway", Name: name, Help: help}, labels)
	}
	m := &metrics{
		reg:          prometheus.NewRegistry(),
		received:     counter("received_total", "Notifications received, by route and source.", "route", "source"),
		queued:       counter("queued_total", "Notifications durably queued (answered 200).", "route"),
		deduplicated: counter("deduplicated_total", "Copies of a notification already taken (HA peers, retries), answered 200 and not sent again.", "route"),
		skipped:      counter("skipped_total", "Resolved notifications of routes with resolved: false.", "route"),
		rejected:     counter("rejected_total", "Requests refused, by HTTP status.", "route", "code"),
		delivered:    counter("delivered_total", "Notifications this replica queued that the platform took.", "route"),
		dead:         counter("dead_lettered_total", "Notifications this replica queued that became dead letters, by error class.", "route", "class"),
		pending: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "imbridge", Subsystem: "gateway", Name: "pending",
			Help: "Notifications this replica queued that are not delivered yet."}, []string{"route"}),
	}
	m.reg.MustRegister(m.received, m.queued, m.deduplicated, m.skipped, m.rejected, m.delivered, m.dead, m.pending)
	return m
}

// handler serves the counters in Prometheus' text format.
func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}
