package config

import (
	"strings"
	"testing"
	"time"
)

// TestOnDemandValidate: on_demand is per site, needs an ask URL and sane
// numbers, and lets the site take "*" and "*.pattern" hosts.
func TestOnDemandValidate(t *testing.T) {
	t.Parallel()
	const head = "sites:\n  - hosts: %s\n    routes: [{upstreams: [http://127.0.0.1:9000]}]\n    tls: {certificate: {source: acme, acme: {on_demand: %s}}}\n"
	siteWith := func(hosts, od string) string {
		return strings.Replace(strings.Replace(head, "%s", hosts, 1), "%s", od, 1)
	}
	runValidateCases(t, []validateCase{
		{name: "catch-all", yaml: siteWith(`["*"]`, `{ask: "http://127.0.0.1:9/ok"}`)},
		{name: "pattern and names", yaml: siteWith(`["*.customers.example.com", shop.example.net]`, `{ask: "https://auth.example.com/ask?token=1"}`)},
		{
			name: "no ask",
			yaml: siteWith(`["*"]`, `{rate: {orders: 5, per: 1m}}`),
			want: []string{`tlsgate.yaml:4:57: sites[0].tls.certificate.acme.on_demand.ask: required: the URL the gateway asks (GET ?domain=NAME, 2xx allows) before ordering a certificate for a name; without it any client could make the gateway order certificates`},
		},
		{
			name: "ask not http",
			yaml: siteWith(`["*"]`, `{ask: "ftp://127.0.0.1/ok"}`),
			want: []string{`tlsgate.yaml:4:63: sites[0].tls.certificate.acme.on_demand.ask: "ftp://127.0.0.1/ok" is not an http:// or https:// URL, like http://127.0.0.1:9000/allowed`},
		},
		{
			name: "bad numbers",
			yaml: siteWith(`["*"]`, `{ask: "http://127.0.0.1:9/ok", rate: {orders: -1, per: 10ms}, max_concurrent: -2, ask_timeout: -1s, refusal_cache: -1s, backoff: {initial: 1h, max: 1m}}`),
			want: []string{
				`tlsgate.yaml:4:152: sites[0].tls.certificate.acme.on_demand.ask_timeout: must be positive (default 3s)`,
				`tlsgate.yaml:4:103: sites[0].tls.certificate.acme.on_demand.rate.orders: must be at least 1 (default 10)`,
				`tlsgate.yaml:4:112: sites[0].tls.certificate.acme.on_demand.rate.per: must be at least 1s (default 1m0s)`,
				`tlsgate.yaml:4:135: sites[0].tls.certificate.acme.on_demand.max_concurrent: must be at least 1 (default 4)`,
				`tlsgate.yaml:4:172: sites[0].tls.certificate.acme.on_demand.refusal_cache: must be positive (default 1m0s)`,
				`tlsgate.yaml:4:205: sites[0].tls.certificate.acme.on_demand.backoff.max: 1m0s is shorter than backoff.initial 1h0m0s`,
			},
		},
		{
			name: "catch-all without on_demand",
			yaml: "sites:\n  - hosts: [\"*\"]\n    routes: [{upstreams: [http://127.0.0.1:9000]}]\n",
			want: []string{`tlsgate.yaml:2:13: sites[0].hosts[0]: "*" (every name) needs on-demand certificates: add tls.certificate.acme.on_demand with an ask URL, or list the names`},
		},
		{
			name: "top-level on_demand",
			yaml: siteWith(`[a.example.com]`, `{ask: "http://127.0.0.1:9/ok"}`) + "acme: {on_demand: {ask: \"http://127.0.0.1:9/ok\"}}\n",
			want: []string{`tlsgate.yaml:5:19: acme.on_demand: on-demand TLS is set per site: move it to the site's tls.certificate.acme.on_demand`},
		},
		{
			name: "two catch-alls",
			yaml: siteWith(`["*"]`, `{ask: "http://127.0.0.1:9/ok"}`) + strings.TrimPrefix(siteWith(`["*"]`, `{ask: "http://127.0.0.1:9/ok"}`), "sites:\n"),
			want: []string{`tlsgate.yaml:5:13: sites[1].hosts[0]: "*" is already a host of sites[0]: only one site can take every unlisted name`},
		},
		{
			name: "default",
			yaml: siteWith(`["*"]`, `{ask: "http://127.0.0.1:9/ok"}`) + "    default: true\n",
			want: []string{`tlsgate.yaml:5:14: sites[0].default: an on-demand site cannot be the default: a client without SNI names no certificate to obtain`},
		},
	})
}

// TestOnDemandDefaults: unset fields take the documented defaults, and a
// site's on_demand is not inherited from the top level.
func TestOnDemandDefaults(t *testing.T) {
	t.Parallel()
	cfg, err := check("sites:\n  - hosts: [\"*\"]\n    routes: [{upstreams: [http://127.0.0.1:9000]}]\n    tls: {certificate: {acme: {on_demand: {ask: \"http://127.0.0.1:9/ok\"}}}}\n  - hosts: [b.example.com]\n    routes: [{upstreams: [http://127.0.0.1:9000]}]\n    tls: {certificate: {source: acme}}\n")
	if err != nil {
		t.Fatal(err)
	}
	if src := cfg.Sites[0].TLS.Certificate.Source; src != SourceACME {
		t.Errorf("a site with only on_demand set has source %q, want acme", src)
	}
	got := *cfg.Sites[0].TLS.Certificate.ACME.OnDemand
	want := OnDemand{Ask: "http://127.0.0.1:9/ok", AskTimeout: 3 * time.Second, Rate: OnDemandRate{10, time.Minute},
		MaxConcurrent: 4, RefusalCache: time.Minute, Backoff: OnDemandBackoff{time.Minute, time.Hour}}
	if got != want {
		t.Errorf("defaults: got %+v, want %+v", got, want)
	}
	if cfg.SiteACME(1).OnDemand != nil || cfg.SiteACME(0).OnDemand == nil {
		t.Error("SiteACME: on_demand must be the site's own")
	}
}
