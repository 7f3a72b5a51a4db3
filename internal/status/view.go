package status

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Expiry thresholds for certificates from files, which only a person
// renews: under 30 days someone should be getting a new one; under 7 days
// it is urgent. Certificates the gateway renews itself (acme, internal)
// are coloured by whether renewal works, not by days left: the internal
// CA's 7-day certificates always have under 7 days, and need nobody.
const (
	criticalLeft = 7 * 24 * time.Hour
	warningLeft  = 30 * 24 * time.Hour
)

// renewalGrace is how long past its renewal point a self-renewing
// certificate may still be served before the page calls renewal overdue:
// renewal checks run every few minutes and a failed one is retried.
// deploy/prometheus/alerts.yml's TLSGateCertificateRenewalOverdue uses
// the same hour.
const renewalGrace = time.Hour

// maxFailures caps the client-certificate failure table, whatever the
// gateway passes, so that a flood of bad clients cannot make the page huge.
const maxFailures = 50

// Urgency is the colour of a certificate row, an upstream or a summary
// tile. The names are CSS classes.
const (
	red   = "red"
	amber = "amber"
	green = "green"
	grey  = "grey"
)

// view is what page.html renders. Everything the template shows is
// computed here, so the template has no logic beyond loops and ifs.
type view struct {
	Version   string
	Generated time.Time
	Refresh   int

	Certs      certSection
	Handshakes handshakeSection
	Failures   failureSection
	Upstreams  upstreamSection
}

// Each section has a one-line Summary under its heading, and a Tile, the
// shorter note on its tile in the overview at the top of the page.
type certSection struct {
	Summary string
	Tile    string
	Urgency string // the worst row's
	Rows    []certRow
}

type certRow struct {
	Certificate
	// Urgency is what the certificate needs from a person: red (act now),
	// amber (act soon, or look), green (nothing), grey (pending, nothing
	// to do yet).
	Urgency string
	Pending bool
	Expired bool
	Left    string // "12 days", "expired 3 days ago", "pending"
	// Action is the next thing that happens to the certificate, or that
	// a person must do: "Renews itself on ...", "Replace the files
	// before ...", "ACME renewal failing: ...".
	Action string

	// ElapsedPct is the share of the validity period gone at Generated,
	// "0%" to "100%", for the timeline bar. An SVG attribute and not a
	// style, because the Content-Security-Policy forbids inline styles.
	ElapsedPct string
	Timeline   string // the bar's tooltip
}

type handshakeSection struct {
	Total    uint64
	Summary  string
	Tile     string
	Charts   []chart
	Failures chart
}

type chart struct {
	Title string
	Mono  bool // labels are protocol identifiers (X25519, h2), set in monospace
	Total uint64
	Bars  []bar
	Empty string // shown when there are no bars
}

type bar struct {
	Label string
	Note  string // "post-quantum hybrid"
	Class string // CSS class of the bar: "pq", "red", or empty
	Count uint64
	Share string // "64%"
	Width string // SVG width, "64.2%"
}

type failureSection struct {
	Summary string
	Tile    string
	Urgency string
	Rows    []ClientCertFailure
}

type upstreamSection struct {
	Summary string
	Tile    string
	Healthy int
	Urgency string
	Rows    []upstreamRow
}

type upstreamRow struct {
	Upstream
	// State is "healthy" (last attempt ok, or none yet), "failing" (back
	// in rotation after its back-off, but its last attempt failed: the
	// next request tries it) or "down" (backed off).
	State   string
	Urgency string
	RetryIn string // "in 12 s", "" when healthy or unknown
	LastAgo string // "12 s ago", "" before the first attempt
}

// newView computes the page from s. now is used when s.Generated is zero.
func newView(s Snapshot, now time.Time) view {
	if !s.Generated.IsZero() {
		now = s.Generated
	}
	return view{
		Version:    s.Version,
		Generated:  now.UTC(),
		Refresh:    refreshSeconds,
		Certs:      newCertSection(s.Certificates, now),
		Handshakes: newHandshakeSection(s.Handshakes),
		Failures:   newFailureSection(s.ClientCertFailures),
		Upstreams:  newUpstreamSection(s.Upstreams, now),
	}
}

func newCertSection(certs []Certificate, now time.Time) certSection {
	rows := make([]certRow, 0, len(certs))
	for _, c := range certs {
		rows = append(rows, newCertRow(c, now))
	}
	// What needs a person first, then soonest expiry; pending ones, which
	// have no expiry, last.
	slices.SortStableFunc(rows, func(a, b certRow) int {
		if a.Pending != b.Pending {
			if a.Pending {
				return 1
			}
			return -1
		}
		return cmp.Or(cmp.Compare(urgencyRank[b.Urgency], urgencyRank[a.Urgency]),
			a.NotAfter.Compare(b.NotAfter), cmp.Compare(a.Name, b.Name), cmp.Compare(a.Site, b.Site))
	})

	sec := certSection{Rows: rows, Urgency: green}
	if len(rows) == 0 {
		sec.Summary, sec.Tile = "No certificates configured.", "none configured"
		sec.Urgency = grey
		return sec
	}
	var expired, pending []string
	var next *certRow
	for i, r := range rows {
		switch {
		case r.Pending:
			pending = append(pending, r.Name)
		case r.Expired:
			expired = append(expired, r.Name)
		case next == nil:
			next = &rows[i]
		}
		if !r.Pending {
			sec.Urgency = worse(sec.Urgency, r.Urgency)
		}
	}
	parts := []string{plural(len(rows), "certificate")}
	if len(expired) > 0 {
		parts = append(parts, fmt.Sprintf("%d expired (%s)", len(expired), firstAndMore(expired)))
	}
	if next != nil {
		what := "earliest expiry"
		if len(expired) > 0 {
			what = "next expiry"
		}
		parts = append(parts, fmt.Sprintf("%s in %s (%s)", what, humanDuration(next.NotAfter.Sub(now)), next.Name))
	}
	if len(pending) > 0 {
		parts = append(parts, fmt.Sprintf("%d pending (%s)", len(pending), firstAndMore(pending)))
	}
	sec.Summary = strings.Join(parts, ", ")
	var tile []string
	if len(expired) > 0 {
		tile = append(tile, fmt.Sprintf("%d expired", len(expired)))
	}
	if next != nil {
		tile = append(tile, "next in "+humanDuration(next.NotAfter.Sub(now)))
	}
	if len(pending) > 0 {
		tile = append(tile, fmt.Sprintf("%d pending", len(pending)))
	}
	sec.Tile = strings.Join(tile, " · ")
	if len(pending) > 0 {
		// A pending certificate is a site served without its own
		// certificate: worth a look, not yet an emergency.
		sec.Urgency = worse(sec.Urgency, amber)
	}
	return sec
}

func newCertRow(c Certificate, now time.Time) certRow {
	r := certRow{Certificate: c}
	failing := c.LastError != ""
	if c.NotAfter.IsZero() {
		r.Pending, r.Urgency, r.Left, r.ElapsedPct = true, grey, "pending", "0%"
		r.Timeline = "no certificate yet"
		r.Action = "Waiting for the first certificate."
		if failing {
			// Its handshakes are refused until someone fixes the cause.
			r.Urgency = amber
			r.Action = "ACME order failing: fix the error below; the gateway keeps retrying."
		}
		return r
	}
	left := c.NotAfter.Sub(now)
	r.Expired = left <= 0
	if r.Expired {
		r.Left = "expired " + humanDuration(-left) + " ago"
	} else {
		r.Left = humanDuration(left) + " left"
	}
	r.Urgency, r.Action = certAction(c, now, failing)
	elapsed := 1.0
	if total := c.NotAfter.Sub(c.NotBefore); total > 0 {
		elapsed = min(max(float64(now.Sub(c.NotBefore))/float64(total), 0), 1)
	}
	r.ElapsedPct = percent(elapsed, 1)
	r.Timeline = fmt.Sprintf("valid %s to %s, %s of its lifetime used",
		c.NotBefore.UTC().Format(dateLayout), c.NotAfter.UTC().Format(dateLayout), percent(elapsed, 0))
	return r
}

// certAction returns the colour of an issued certificate and its next
// action: by days left for files (and an unknown source), by whether
// renewal works for the sources the gateway renews itself.
func certAction(c Certificate, now time.Time, failing bool) (urgency, action string) {
	left := c.NotAfter.Sub(now)
	renewAt := c.RenewAt
	if renewAt.IsZero() {
		// A snapshot without it: the default, a third of the lifetime left.
		renewAt = c.NotAfter.Add(-c.NotAfter.Sub(c.NotBefore) / 3)
	}
	overdue := now.After(renewAt.Add(renewalGrace))
	switch c.Source {
	case "internal":
		switch {
		case left <= 0:
			return red, "Expired: the internal CA has not renewed it; the log says why."
		case overdue:
			return amber, "Renewal overdue since " + renewAt.UTC().Format(minuteLayout) + ": the log says why the internal CA cannot issue."
		}
		return green, "Renews itself on " + renewAt.UTC().Format(minuteLayout) + "."
	case "acme":
		// Half of the renewal window gone without a new certificate is as
		// long as is left: the point of the critical alert.
		late := left < c.NotAfter.Sub(renewAt)/2
		switch {
		case left <= 0:
			return red, "Expired: ACME renewal has failed; fix the error below, then run tlsgate certs renew."
		case failing && late:
			return red, "ACME renewal failing, " + humanDuration(left) + " left: fix the error below, then run tlsgate certs renew."
		case failing:
			return amber, "ACME renewal failing: fix the error below; the gateway keeps retrying."
		case overdue && late:
			return red, "Renewal overdue since " + renewAt.UTC().Format(minuteLayout) + " and " + humanDuration(left) + " left: check the log, then run tlsgate certs renew."
		case overdue:
			return amber, "Renewal overdue since " + renewAt.UTC().Format(minuteLayout) + ": check the log."
		}
		return green, "Renews itself by " + renewAt.UTC().Format(minuteLayout) + "."
	}
	switch {
	case left <= 0:
		return red, "Expired: replace the files now, then send SIGHUP."
	case left < criticalLeft:
		urgency = red
	case left < warningLeft:
		urgency = amber
	default:
		urgency = green
	}
	return urgency, "Replace the files before " + c.NotAfter.UTC().Format(minuteLayout) + "."
}

func newHandshakeSection(h Handshakes) handshakeSection {
	sec := handshakeSection{
		Charts: []chart{
			newChart("TLS versions", h.Versions, nil),
			newChart("Key exchange", h.Groups, pqNote),
			newChart("ALPN protocols", h.ALPN, nil),
			newChart("Session resumption", map[string]uint64{"resumed": h.Resumed, "full handshake": h.Full}, nil),
		},
		Failures: newChart("Handshake failures", h.Failures, func(string) (string, string) { return "", red }),
	}
	sec.Charts[1].Mono, sec.Charts[2].Mono = true, true
	sec.Failures.Empty = "No handshake failures."
	sec.Total = h.Resumed + h.Full
	if sec.Total == 0 {
		sec.Total = sum(h.Versions)
	}
	if sec.Total == 0 {
		sec.Summary, sec.Tile = "No handshakes yet.", "none yet"
		return sec
	}
	var pq uint64
	for g, n := range h.Groups {
		if note, _ := pqNote(g); note != "" {
			pq += n
		}
	}
	parts := []string{plural(int(sec.Total), "handshake")}
	var tile []string
	if groups := sum(h.Groups); groups > 0 {
		parts = append(parts, share(pq, groups)+" post-quantum key exchange")
		tile = append(tile, share(pq, groups)+" post-quantum")
	}
	if h.Resumed+h.Full > 0 {
		parts = append(parts, share(h.Resumed, h.Resumed+h.Full)+" resumed")
		tile = append(tile, share(h.Resumed, h.Resumed+h.Full)+" resumed")
	}
	sec.Tile = strings.Join(tile, " · ")
	if f := sum(h.Failures); f > 0 {
		parts = append(parts, plural(int(f), "failure"))
	}
	sec.Summary = strings.Join(parts, ", ")
	return sec
}

// pqNote labels key-exchange groups that resist a quantum computer. The
// hybrids (X25519MLKEM768, SecP256r1MLKEM768, ...) pair ML-KEM with a
// classical curve, so they are at least as strong as either.
func pqNote(group string) (note, class string) {
	switch {
	case strings.HasPrefix(group, "MLKEM"):
		return "post-quantum", "pq"
	case strings.Contains(group, "MLKEM"):
		return "post-quantum hybrid", "pq"
	}
	return "", ""
}

// newChart turns counts into bars, largest first. label returns a bar's
// note and CSS class; nil means none.
func newChart(title string, counts map[string]uint64, label func(string) (note, class string)) chart {
	c := chart{Title: title, Total: sum(counts), Empty: "None yet."}
	if c.Total == 0 {
		return c
	}
	for name, n := range counts {
		b := bar{Label: name, Count: n, Share: share(n, c.Total), Width: percent(float64(n)/float64(c.Total), 1)}
		if label != nil {
			b.Note, b.Class = label(name)
		}
		c.Bars = append(c.Bars, b)
	}
	slices.SortFunc(c.Bars, func(a, b bar) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Label, b.Label))
	})
	return c
}

func newFailureSection(failures []ClientCertFailure) failureSection {
	if len(failures) > maxFailures {
		failures = failures[:maxFailures]
	}
	sec := failureSection{Rows: failures, Urgency: green, Summary: "No client certificate was rejected recently.", Tile: "none recently"}
	if len(failures) > 0 {
		sec.Urgency = amber
		sec.Tile = "latest " + failures[0].Time.UTC().Format("Jan 2 15:04 UTC")
		sec.Summary = fmt.Sprintf("%s, the latest at %s.",
			plural(len(failures), "recent rejection"), failures[0].Time.UTC().Format(timeLayout))
		if len(failures) == maxFailures {
			sec.Summary = fmt.Sprintf("The latest %d rejections (older ones are not kept).", maxFailures)
		}
	}
	return sec
}

func newUpstreamSection(ups []Upstream, now time.Time) upstreamSection {
	rows := make([]upstreamRow, 0, len(ups))
	down, failing := 0, 0
	for _, u := range ups {
		r := upstreamRow{Upstream: u, State: "healthy", Urgency: green}
		switch {
		case !u.Healthy:
			down++
			r.State, r.Urgency = "down", red
			if !u.RetryAt.IsZero() {
				if d := u.RetryAt.Sub(now); d > 0 {
					r.RetryIn = "in " + shortDuration(d)
				} else {
					r.RetryIn = "now"
				}
			}
		case u.ConsecutiveFailures > 0 || u.LastResult == "failed":
			// Its back-off has passed, so it is in rotation again, but
			// nothing says it works: not "healthy".
			failing++
			r.State, r.Urgency, r.RetryIn = "failing", amber, "next request"
		}
		if !u.LastAttempt.IsZero() {
			r.LastAgo = shortDuration(max(now.Sub(u.LastAttempt), 0)) + " ago"
		}
		rows = append(rows, r)
	}
	// Down, then failing, first: they are what a reader is looking for.
	slices.SortStableFunc(rows, func(a, b upstreamRow) int {
		return cmp.Or(cmp.Compare(urgencyRank[b.Urgency], urgencyRank[a.Urgency]),
			cmp.Compare(a.Site, b.Site), cmp.Compare(a.Route, b.Route))
	})
	sec := upstreamSection{Rows: rows, Urgency: green, Healthy: len(rows) - down - failing}
	switch {
	case len(rows) == 0:
		sec.Summary, sec.Tile, sec.Urgency = "No upstreams configured.", "none configured", grey
	case down == 0 && failing == 0:
		sec.Summary, sec.Tile = fmt.Sprintf("All %s healthy.", plural(len(rows), "upstream")), "all healthy"
	case down == 0:
		sec.Summary, sec.Urgency = fmt.Sprintf("%d of %s failing: back in rotation, but the last attempt failed.", failing, plural(len(rows), "upstream")), amber
		sec.Tile = fmt.Sprintf("%d failing", failing)
	default:
		sec.Summary, sec.Urgency = fmt.Sprintf("%d of %s down.", down, plural(len(rows), "upstream")), red
		sec.Tile = fmt.Sprintf("%d down", down)
		if failing > 0 {
			sec.Summary = fmt.Sprintf("%d of %s down, %d failing.", down, plural(len(rows), "upstream"), failing)
			sec.Tile += fmt.Sprintf(" · %d failing", failing)
		}
	}
	return sec
}

const (
	dateLayout   = "2006-01-02"
	minuteLayout = "2006-01-02 15:04 UTC"
	timeLayout   = "2006-01-02 15:04:05 UTC"
)

// humanDuration says d in the largest whole unit: "12 days", "1 day",
// "5 hours", "less than an hour".
func humanDuration(d time.Duration) string {
	switch {
	case d >= 24*time.Hour:
		return plural(int(d/(24*time.Hour)), "day")
	case d >= time.Hour:
		return plural(int(d/time.Hour), "hour")
	}
	return "less than an hour"
}

// shortDuration is for retry delays, which are seconds to minutes.
func shortDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return strconv.Itoa(max(1, int(d.Seconds()))) + " s"
	case d < time.Hour:
		return strconv.Itoa(int(d.Minutes())) + " min"
	}
	return humanDuration(d)
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return formatCount(uint64(n)) + " " + noun + "s"
}

func firstAndMore(names []string) string {
	if len(names) == 1 {
		return names[0]
	}
	return fmt.Sprintf("%s and %d more", names[0], len(names)-1)
}

func sum(m map[string]uint64) uint64 {
	var t uint64
	for _, n := range m {
		t += n
	}
	return t
}

// share is n/total as a whole percentage, but never rounds a non-zero
// share to "0%" or a partial one to "100%": both would mislead.
func share(n, total uint64) string {
	if total == 0 {
		return "0%"
	}
	p := float64(n) / float64(total) * 100
	switch {
	case n > 0 && p < 1:
		return "<1%"
	case n < total && p > 99:
		return ">99%"
	}
	return strconv.FormatFloat(p, 'f', 0, 64) + "%"
}

// formatCount groups digits in threes, "1,234,567", to make large
// handshake counts readable at a glance.
func formatCount(n uint64) string {
	s := strconv.FormatUint(n, 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func percent(f float64, decimals int) string {
	return strconv.FormatFloat(f*100, 'f', decimals, 64) + "%"
}

var urgencyRank = map[string]int{grey: 0, green: 1, amber: 2, red: 3}

func worse(a, b string) string {
	if urgencyRank[b] > urgencyRank[a] {
		return b
	}
	return a
}
