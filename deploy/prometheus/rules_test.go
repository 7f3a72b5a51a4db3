// Tests of the deployment files: the alert rules (promtool check and unit
// tests) and the Grafana dashboard (valid JSON, panels, PromQL that parses).
package prometheus_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/tlsgate/tlsgate/internal/testpeer"
)

// knownMetrics are the metrics the rules and the dashboard may use: those
// of tlsgate probe (blackbox's names) and of the gateway (docs/metrics.md).
// A misspelt name would make an alert that never fires.
var knownMetrics = []string{
	"probe_success", "probe_duration_seconds", "probe_dns_lookup_time_seconds",
	"probe_ip_protocol", "probe_ip_addr_hash",
	"probe_ssl_earliest_cert_expiry", "probe_ssl_last_chain_expiry_timestamp_seconds",
	"probe_ssl_last_chain_info", "probe_tls_version_info", "probe_tls_cipher_info",
	"probe_http_status_code", "probe_http_ssl", "probe_http_version", "probe_http_redirects",
	"probe_http_content_length", "probe_http_uncompressed_body_length",
	"probe_http_duration_seconds", "probe_http_last_modified_timestamp_seconds",
	"tlsgate_certificate_not_after_timestamp_seconds", "tlsgate_certificate_not_before_timestamp_seconds",
	"tlsgate_certificate_renewal_due_timestamp_seconds", "tlsgate_acme_renewal_attempts_total",
	"tlsgate_probes_total", "tlsgate_probe_duration_seconds", "tlsgate_ech_publish_total",
}

var metricName = regexp.MustCompile(`\b(?:probe|tlsgate)_[a-z0-9_]+\b`)

// checkMetricNames fails for any probe_* or tlsgate_* name in expr that is
// not a known metric.
func checkMetricNames(t *testing.T, where, expr string) {
	t.Helper()
	for _, name := range metricName.FindAllString(expr, -1) {
		if !slices.Contains(knownMetrics, name) {
			t.Errorf("%s: unknown metric %s in %q", where, name, expr)
		}
	}
}

func promtool(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(testpeer.Require(t, "promtool"), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

type ruleFile struct {
	Groups []struct {
		Name  string
		Rules []struct {
			Alert       string
			Record      string
			Expr        string
			For         string
			Labels      map[string]string
			Annotations map[string]string
		}
	}
}

func TestAlertRules(t *testing.T) {
	t.Parallel()
	out := promtool(t, "check", "rules", "alerts.yml")
	if !strings.Contains(out, "SUCCESS: 10 rules found") {
		t.Errorf("promtool check rules:\n%s", out)
	}

	data, err := os.ReadFile("alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	var rf ruleFile
	if err := yaml.Unmarshal(data, &rf); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"TLSCertificateExpiresIn30Days":     "warning",
		"TLSCertificateExpiresIn7Days":      "critical",
		"TLSWeakProtocol":                   "warning",
		"ProbeFailing":                      "critical",
		"TLSGateCertificateExpiresIn30Days": "warning",
		"TLSGateCertificateExpiresIn7Days":  "critical",
		"TLSGateCertificateRenewalOverdue":  "warning",
		"TLSGateACMERenewalFailing":         "warning",
		"TLSGateECHPublishFailing":          "warning",

		"TLSGateACMECertificateRenewalWindowHalfGone": "critical",
	}
	got := map[string]string{}
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			got[r.Alert] = r.Labels["severity"]
			checkMetricNames(t, r.Alert, r.Expr)
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("%s: needs a summary and a description", r.Alert)
			}
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("alerts and severities:\n got %v\nwant %v", got, want)
	}
}

// rulesTest is a promtool rules unit test: each alert is seen firing for
// some series and not for others, with its annotations rendered. Times
// are from 0, so time() at eval_time 20m is 1200 and an expiry of
// 1728000 is 20 days away.
const rulesTest = `
rule_files:
  - %s
evaluation_interval: 1m
tests:
  # Probed certificate expiry: 20 days, 3 days, expired, 90 days.
  - interval: 1m
    input_series:
      - series: 'probe_ssl_earliest_cert_expiry{instance="soon.example:443",job="tls"}'
        values: '1728000x30'
      - series: 'probe_ssl_earliest_cert_expiry{instance="urgent.example:443",job="tls"}'
        values: '259200x30'
      - series: 'probe_ssl_earliest_cert_expiry{instance="expired.example:443",job="tls"}'
        values: '0x30'
      - series: 'probe_ssl_earliest_cert_expiry{instance="fine.example:443",job="tls"}'
        values: '7776000x30'
    alert_rule_test:
      # Pending, not firing, until 15 minutes have passed.
      - eval_time: 10m
        alertname: TLSCertificateExpiresIn30Days
        exp_alerts: []
      - eval_time: 20m
        alertname: TLSCertificateExpiresIn30Days
        exp_alerts:
          - exp_labels: {severity: warning, instance: "soon.example:443", job: tls}
            exp_annotations:
              summary: "TLS certificate of soon.example:443 expires in 19d 23h 40m 0s"
              description: "The certificate chain served by soon.example:443 (job tls) expires in 19d 23h 40m 0s: renew it, or find out why automatic renewal has not happened."
          - exp_labels: {severity: warning, instance: "urgent.example:443", job: tls}
            exp_annotations:
              summary: "TLS certificate of urgent.example:443 expires in 2d 23h 40m 0s"
              description: "The certificate chain served by urgent.example:443 (job tls) expires in 2d 23h 40m 0s: renew it, or find out why automatic renewal has not happened."
          - exp_labels: {severity: warning, instance: "expired.example:443", job: tls}
            exp_annotations:
              summary: "TLS certificate of expired.example:443 has expired"
              description: "The certificate chain served by expired.example:443 (job tls) has expired: renew it, or find out why automatic renewal has not happened."
      - eval_time: 20m
        alertname: TLSCertificateExpiresIn7Days
        exp_alerts:
          - exp_labels: {severity: critical, instance: "urgent.example:443", job: tls}
            exp_annotations:
              summary: "TLS certificate of urgent.example:443 expires in 2d 23h 40m 0s"
              description: "The certificate chain served by urgent.example:443 (job tls) expires in 2d 23h 40m 0s, when clients will refuse it. Renew it now."
          - exp_labels: {severity: critical, instance: "expired.example:443", job: tls}
            exp_annotations:
              summary: "TLS certificate of expired.example:443 has expired"
              description: "The certificate chain served by expired.example:443 (job tls) has expired: clients refuse it. Renew it now."

  # The gateway's certificates. files: 20 days and 3 days left. acme
  # (90 days, renewed with 30 left): 20 days left (10 days past its
  # renewal point), 10 days left (past half of the renewal window), 90
  # days left. internal (7 days, renewed at 4 d 16 h): one issued a day
  # ago, with 6 days left, which must not alert at all, and one stuck
  # a day past its renewal point, which warns and never pages.
  - interval: 1m
    input_series:
      - series: 'tlsgate_certificate_not_before_timestamp_seconds{instance="gw:9443",job="tlsgate",site="shop",name="shop.example.com",issuer="DigiCert G2",source="files",serial="0a"}'
        values: '-30326400x30'
      - series: 'tlsgate_certificate_not_after_timestamp_seconds{instance="gw:9443",job="tlsgate",site="shop",name="shop.example.com",issuer="DigiCert G2",source="files",serial="0a"}'
        values: '1728000x30'
      - series: 'tlsgate_certificate_not_before_timestamp_seconds{instance="gw:9443",job="tlsgate",site="old",name="old.example.com",issuer="Corp CA",source="files",serial="ff"}'
        values: '-31276800x30'
      - series: 'tlsgate_certificate_not_after_timestamp_seconds{instance="gw:9443",job="tlsgate",site="old",name="old.example.com",issuer="Corp CA",source="files",serial="ff"}'
        values: '259200x30'
      - series: 'tlsgate_certificate_not_before_timestamp_seconds{instance="gw:9443",job="tlsgate",site="api",name="api.example.com",issuer="R11",source="acme",serial="0a1b"}'
        values: '-6048000x30'
      - series: 'tlsgate_certificate_not_after_timestamp_seconds{instance="gw:9443",job="tlsgate",site="api",name="api.example.com",issuer="R11",source="acme",serial="0a1b"}'
        values: '1728000x30'
      - series: 'tlsgate_certificate_renewal_due_timestamp_seconds{instance="gw:9443",job="tlsgate",site="api",name="api.example.com",issuer="R11",source="acme",serial="0a1b"}'
        values: '-864000x30'
      - series: 'tlsgate_certificate_not_before_timestamp_seconds{instance="gw:9443",job="tlsgate",site="late",name="late.example.com",issuer="R11",source="acme",serial="0c"}'
        values: '-6912000x30'
      - series: 'tlsgate_certificate_not_after_timestamp_seconds{instance="gw:9443",job="tlsgate",site="late",name="late.example.com",issuer="R11",source="acme",serial="0c"}'
        values: '864000x30'
      - series: 'tlsgate_certificate_renewal_due_timestamp_seconds{instance="gw:9443",job="tlsgate",site="late",name="late.example.com",issuer="R11",source="acme",serial="0c"}'
        values: '-1728000x30'
      - series: 'tlsgate_certificate_not_before_timestamp_seconds{instance="gw:9443",job="tlsgate",site="new",name="new.example.com",issuer="R11",source="acme",serial="01"}'
        values: '0x30'
      - series: 'tlsgate_certificate_not_after_timestamp_seconds{instance="gw:9443",job="tlsgate",site="new",name="new.example.com",issuer="R11",source="acme",serial="01"}'
        values: '7776000x30'
      - series: 'tlsgate_certificate_renewal_due_timestamp_seconds{instance="gw:9443",job="tlsgate",site="new",name="new.example.com",issuer="R11",source="acme",serial="01"}'
        values: '5184000x30'
      - series: 'tlsgate_certificate_not_before_timestamp_seconds{instance="gw:9443",job="tlsgate",site="partners",name="partners.example.com",issuer="tlsgate internal CA",source="internal",serial="7e"}'
        values: '-86400x30'
      - series: 'tlsgate_certificate_not_after_timestamp_seconds{instance="gw:9443",job="tlsgate",site="partners",name="partners.example.com",issuer="tlsgate internal CA",source="internal",serial="7e"}'
        values: '518400x30'
      - series: 'tlsgate_certificate_renewal_due_timestamp_seconds{instance="gw:9443",job="tlsgate",site="partners",name="partners.example.com",issuer="tlsgate internal CA",source="internal",serial="7e"}'
        values: '316800x30'
      - series: 'tlsgate_certificate_not_before_timestamp_seconds{instance="gw:9443",job="tlsgate",site="stuck",name="stuck.example.com",issuer="tlsgate internal CA",source="internal",serial="7f"}'
        values: '-518400x30'
      - series: 'tlsgate_certificate_not_after_timestamp_seconds{instance="gw:9443",job="tlsgate",site="stuck",name="stuck.example.com",issuer="tlsgate internal CA",source="internal",serial="7f"}'
        values: '86400x30'
      - series: 'tlsgate_certificate_renewal_due_timestamp_seconds{instance="gw:9443",job="tlsgate",site="stuck",name="stuck.example.com",issuer="tlsgate internal CA",source="internal",serial="7f"}'
        values: '-115200x30'
    alert_rule_test:
      - eval_time: 10m
        alertname: TLSGateCertificateExpiresIn7Days
        exp_alerts: []
      - eval_time: 20m
        alertname: TLSGateCertificateExpiresIn30Days
        exp_alerts:
          - exp_labels: {severity: warning, instance: "gw:9443", job: tlsgate, site: shop, name: shop.example.com, issuer: DigiCert G2, source: files, serial: "0a"}
            exp_annotations:
              summary: "tlsgate certificate shop.example.com expires in 19d 23h 40m 0s"
              description: "Site shop on gw:9443 serves certificate shop.example.com from files (issuer DigiCert G2, serial 0a), which expires in 19d 23h 40m 0s. The gateway does not renew files certificates: obtain a new one, replace the files and send SIGHUP (the files are also reloaded when they change)."
          - exp_labels: {severity: warning, instance: "gw:9443", job: tlsgate, site: old, name: old.example.com, issuer: Corp CA, source: files, serial: "ff"}
            exp_annotations:
              summary: "tlsgate certificate old.example.com expires in 2d 23h 40m 0s"
              description: "Site old on gw:9443 serves certificate old.example.com from files (issuer Corp CA, serial ff), which expires in 2d 23h 40m 0s. The gateway does not renew files certificates: obtain a new one, replace the files and send SIGHUP (the files are also reloaded when they change)."
      - eval_time: 20m
        alertname: TLSGateCertificateExpiresIn7Days
        exp_alerts:
          - exp_labels: {severity: critical, instance: "gw:9443", job: tlsgate, site: old, name: old.example.com, issuer: Corp CA, source: files, serial: "ff"}
            exp_annotations:
              summary: "tlsgate certificate old.example.com expires in 2d 23h 40m 0s"
              description: "Site old on gw:9443 serves certificate old.example.com from files (issuer Corp CA, serial ff), which expires in 2d 23h 40m 0s, when clients will refuse it. Replace the files now and send SIGHUP."
      - eval_time: 20m
        alertname: TLSGateCertificateRenewalOverdue
        exp_alerts:
          - exp_labels: {severity: warning, instance: "gw:9443", job: tlsgate, site: api, name: api.example.com, issuer: R11, source: acme, serial: "0a1b"}
            exp_annotations:
              summary: "tlsgate certificate api.example.com not renewed 10d 0h 20m 0s after its renewal point"
              description: "Site api on gw:9443 still serves acme certificate api.example.com (issuer R11, serial 0a1b), which the gateway should have renewed 10d 0h 20m 0s ago. The gateway keeps retrying; its log says why renewal fails (` + "`" + `tlsgate certs list` + "`" + ` shows the last ACME error)."
          - exp_labels: {severity: warning, instance: "gw:9443", job: tlsgate, site: late, name: late.example.com, issuer: R11, source: acme, serial: "0c"}
            exp_annotations:
              summary: "tlsgate certificate late.example.com not renewed 20d 0h 20m 0s after its renewal point"
              description: "Site late on gw:9443 still serves acme certificate late.example.com (issuer R11, serial 0c), which the gateway should have renewed 20d 0h 20m 0s ago. The gateway keeps retrying; its log says why renewal fails (` + "`" + `tlsgate certs list` + "`" + ` shows the last ACME error)."
          - exp_labels: {severity: warning, instance: "gw:9443", job: tlsgate, site: stuck, name: stuck.example.com, issuer: tlsgate internal CA, source: internal, serial: "7f"}
            exp_annotations:
              summary: "tlsgate certificate stuck.example.com not renewed 1d 8h 20m 0s after its renewal point"
              description: "Site stuck on gw:9443 still serves internal certificate stuck.example.com (issuer tlsgate internal CA, serial 7f), which the gateway should have renewed 1d 8h 20m 0s ago. The gateway keeps retrying; its log says why renewal fails (` + "`" + `tlsgate certs list` + "`" + ` shows the last ACME error)."
      - eval_time: 20m
        alertname: TLSGateACMECertificateRenewalWindowHalfGone
        exp_alerts:
          - exp_labels: {severity: critical, instance: "gw:9443", job: tlsgate, site: late, name: late.example.com, issuer: R11, source: acme, serial: "0c"}
            exp_annotations:
              summary: "ACME certificate late.example.com expires in 9d 23h 40m 0s and is not renewed"
              description: "Site late on gw:9443 serves ACME certificate late.example.com (issuer R11, serial 0c), which expires in 9d 23h 40m 0s: renewal has been failing for half of its renewal window. Read the CA's problem document in the log or ` + "`" + `tlsgate certs list` + "`" + `, fix the cause (DNS, ports 80/443, rate limits) and run ` + "`" + `tlsgate certs renew` + "`" + `."

  # Protocol versions, and probes that fail steadily or now and then.
  - interval: 1m
    input_series:
      - series: 'probe_tls_version_info{instance="legacy.example:443",job="tls",version="TLS 1.0"}'
        values: '1x30'
      - series: 'probe_tls_version_info{instance="modern.example:443",job="tls",version="TLS 1.3"}'
        values: '1x30'
      - series: 'probe_tls_version_info{instance="tls12.example:443",job="tls",version="TLS 1.2"}'
        values: '1x30'
      - series: 'probe_success{instance="down.example:443",job="tls"}'
        values: '0x30'
      - series: 'probe_success{instance="flaky.example:443",job="tls"}'
        values: '1 0 0 0 1 0 0 0 1 0 0 0 1 0 0 0 1 0 0 0 1'
      - series: 'probe_success{instance="up.example:443",job="tls"}'
        values: '1x30'
    alert_rule_test:
      - eval_time: 20m
        alertname: TLSWeakProtocol
        exp_alerts:
          - exp_labels: {severity: warning, instance: "legacy.example:443", job: tls, version: TLS 1.0}
            exp_annotations:
              summary: "legacy.example:443 negotiates TLS 1.0"
              description: "legacy.example:443 (job tls) agreed to TLS 1.0, deprecated by RFC 8996. Allow only TLS 1.2 and 1.3 on that endpoint."
      - eval_time: 4m
        alertname: ProbeFailing
        exp_alerts: []
      - eval_time: 20m
        alertname: ProbeFailing
        exp_alerts:
          - exp_labels: {severity: critical, instance: "down.example:443", job: tls}
            exp_annotations:
              summary: "Probe of down.example:443 failing"
              description: "Probing down.example:443 (job tls) has failed for 5 minutes: unreachable, a TLS handshake or certificate verification failure, or a non-2xx answer. GET /probe?target=...&debug=true on the exporter says which."

  # ACME: failing; failed then succeeded; failed long ago.
  - interval: 1m
    input_series:
      - series: 'tlsgate_acme_renewal_attempts_total{instance="gw:9443",job="tlsgate",name="failing.example.com",result="failure"}'
        values: '0 0 0 0 0 1 2 3 3 3 3'
      - series: 'tlsgate_acme_renewal_attempts_total{instance="gw:9443",job="tlsgate",name="failing.example.com",result="success"}'
        values: '0x10'
      - series: 'tlsgate_acme_renewal_attempts_total{instance="gw:9443",job="tlsgate",name="recovered.example.com",result="failure"}'
        values: '0 0 0 0 0 1 2 2 2 2 2'
      - series: 'tlsgate_acme_renewal_attempts_total{instance="gw:9443",job="tlsgate",name="recovered.example.com",result="success"}'
        values: '0 0 0 0 0 0 0 1 1 1 1'
      - series: 'tlsgate_acme_renewal_attempts_total{instance="gw:9443",job="tlsgate",name="old.example.com",result="failure"}'
        values: '5+0x200'
    alert_rule_test:
      - eval_time: 10m
        alertname: TLSGateACMERenewalFailing
        exp_alerts:
          - exp_labels: {severity: warning, instance: "gw:9443", job: tlsgate, name: failing.example.com, result: failure}
            exp_annotations:
              summary: "ACME renewal of failing.example.com failing on gw:9443"
              description: "3 ACME orders for failing.example.com failed in the last hour and none succeeded. The gateway keeps retrying and logs the CA's problem document with each failure; ` + "`tlsgate certs list`" + ` shows the certificate's expiry."
      - eval_time: 190m
        alertname: TLSGateACMERenewalFailing
        exp_alerts: []
  # ECH publication: failing every 30 s for 40 minutes (two per minute),
  # then working; a gateway whose one failure was followed by a success.
  - interval: 1m
    input_series:
      - series: 'tlsgate_ech_publish_total{instance="gw:9443",job="tlsgate",result="failure"}'
        values: '0+2x40 80x40'
      - series: 'tlsgate_ech_publish_total{instance="gw:9443",job="tlsgate",result="success"}'
        values: '0x40 1x40'
      - series: 'tlsgate_ech_publish_total{instance="ok:9443",job="tlsgate",result="failure"}'
        values: '0 1x80'
      - series: 'tlsgate_ech_publish_total{instance="ok:9443",job="tlsgate",result="success"}'
        values: '0 0 1x79'
    alert_rule_test:
      - eval_time: 10m
        alertname: TLSGateECHPublishFailing
        exp_alerts: []
      - eval_time: 35m
        alertname: TLSGateECHPublishFailing
        exp_alerts:
          - exp_labels: {severity: warning, instance: "gw:9443", job: tlsgate, result: failure}
            exp_annotations:
              summary: "ECH config not published in DNS by gw:9443"
              description: "The gateway could not update the DNS HTTPS records of ech.publish for 15 minutes (30 failed updates). Clients keep the previous ECH config: they get the current one as retry configs, one extra round trip per new connection. The log line \"publishing the ECH config in DNS failed\" has the DNS server's answer; check acme.dns (server, TSIG key) and ech.publish.zone."
      - eval_time: 60m
        alertname: TLSGateECHPublishFailing
        exp_alerts: []
`

func TestAlertRulesUnit(t *testing.T) {
	t.Parallel()
	rules, err := filepath.Abs("alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	test := filepath.Join(t.TempDir(), "alerts_test.yml")
	if err := os.WriteFile(test, []byte(fmt.Sprintf(rulesTest, rules)), 0o644); err != nil {
		t.Fatal(err)
	}
	out := promtool(t, "test", "rules", test)
	if !strings.Contains(out, "SUCCESS") {
		t.Errorf("promtool test rules:\n%s", out)
	}
}

// dashboard is the part of a Grafana dashboard the test reads.
type dashboard struct {
	Title         string
	UID           string
	SchemaVersion int
	Panels        []panel
	Templating    struct {
		List []struct {
			Name, Type string
		}
	}
}

type panel struct {
	Title      string
	Type       string
	Datasource struct{ Type, UID string }
	Targets    []struct{ Expr, RefID string }
	Panels     []panel // a collapsed row's
}

// grafanaVar is a dashboard variable reference in an expression.
var grafanaVar = regexp.MustCompile(`\$\{?(\w+)\}?`)

func TestGrafanaDashboard(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("../grafana/tlsgate.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("tlsgate.json is not valid JSON: %v", err)
	}
	if d.SchemaVersion != 39 || d.UID == "" || d.Title == "" {
		t.Errorf("schemaVersion %d, uid %q, title %q: want 39 and both set", d.SchemaVersion, d.UID, d.Title)
	}
	var all []panel
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			all = append(all, p)
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	var titles []string
	for _, p := range all {
		titles = append(titles, p.Title)
	}
	for _, want := range []string{
		"Probe success",
		"Certificate days left (probed endpoints)",
		"Certificate days left (tlsgate)",
		"TLS versions negotiated",
		"Endpoints on TLS 1.0 or 1.1",
		"TLS cipher suites negotiated",
		"Probe duration",
		"ACME renewals",
	} {
		if !slices.Contains(titles, want) {
			t.Errorf("no panel %q (panels: %q)", want, titles)
		}
	}
	vars := map[string]bool{}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
	}

	// Every expression, as a recording rule, through promtool: Grafana's
	// variables replaced by what they expand to.
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	n := 0
	for _, p := range all {
		if p.Type != "row" && len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, target := range p.Targets {
			if p.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q: datasource %q, want the ${datasource} variable", p.Title, p.Datasource.UID)
			}
			checkMetricNames(t, "panel "+p.Title, target.Expr)
			expr := grafanaVar.ReplaceAllStringFunc(target.Expr, func(v string) string {
				name := grafanaVar.FindStringSubmatch(v)[1]
				switch {
				case strings.HasPrefix(name, "__"): // $__rate_interval, $__interval, $__range
					return "5m"
				case vars[name]:
					return ".*"
				}
				t.Errorf("panel %q: undefined variable %s", p.Title, v)
				return v
			})
			n++
			quoted, _ := json.Marshal(expr) // a JSON string is a YAML string
			fmt.Fprintf(&rules, "      - record: dashboard:panel_%d\n        expr: %s\n", n, quoted)
		}
	}
	file := filepath.Join(t.TempDir(), "dashboard_rules.yml")
	if err := os.WriteFile(file, []byte(rules.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out := promtool(t, "check", "rules", file)
	if !strings.Contains(out, fmt.Sprintf("SUCCESS: %d rules found", n)) {
		t.Errorf("promtool check rules on the dashboard's queries:\n%s\n%s", out, rules.String())
	}
}
