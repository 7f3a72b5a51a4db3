package probe

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tlsgate/tlsgate/internal/scan"
)

// TLSGrade runs a full `tlsgate scan` of the target and reports its grade.
// It makes some 30-40 connections (0.1 s on loopback, more across a network): scrape it
// every few minutes, not every 15 s.
const TLSGrade Module = "tls_grade"

// gradeValues orders the letters for alerting: higher is better; T and M
// (a certificate problem) rank with F.
var gradeValues = map[string]float64{"A+": 7, "A": 6, "A-": 5, "B": 4, "C": 3, "D": 2, "E": 1, "F": 0, "T": 0, "M": 0}

// probeGrade scans target and reports tlsgate_probe_grade{grade} 1 and
// tlsgate_probe_grade_value (A+ = 7 ... F, T, M = 0).
func (p *Prober) probeGrade(ctx context.Context, target string, reg prometheus.Registerer) error {
	opts := scan.Options{Roots: p.roots, Parallel: 4}
	if dl, ok := ctx.Deadline(); ok {
		opts.Timeout = min(time.Until(dl), 5*time.Second)
	}
	res, err := scan.Scan(ctx, target, opts)
	if err != nil {
		return err
	}
	info := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "tlsgate_probe_grade",
		Help: "The target's grade by tlsgate scan (SSL Labs rating guide): 1 for the grade given.",
	}, []string{"grade"})
	value := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "tlsgate_probe_grade_value",
		Help: "The grade as a number for alert thresholds: A+ 7, A 6, A- 5, B 4, C 3, D 2, E 1, F/T/M 0.",
	})
	score := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "tlsgate_probe_grade_score",
		Help: "The numeric score (0-100) before the rating guide's caps.",
	})
	reg.MustRegister(info, value, score)
	info.WithLabelValues(res.Grade.Letter).Set(1)
	value.Set(gradeValues[res.Grade.Letter])
	score.Set(float64(res.Grade.Score))
	return nil
}
