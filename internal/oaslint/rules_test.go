package oaslint

import (
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// findingLines renders findings as "file:line:col rule path", files
// relative to dir, suppressed ones marked.
func findingLines(t *testing.T, dir string, fs []Finding) []string {
	t.Helper()
	var out []string
	for _, f := range fs {
		name, err := filepath.Rel(dir, f.File)
		if err != nil {
			t.Fatal(err)
		}
		s := fmt.Sprintf("%s:%d:%d %s %s", filepath.ToSlash(name), f.Line, f.Column, f.Rule, f.Path)
		if f.Suppressed != nil {
			s = "suppressed " + s
		}
		out = append(out, s)
	}
	return out
}

func lintFile(t *testing.T, l *Linter, path string) *Report {
	t.Helper()
	doc, err := Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return l.Lint(doc)
}

func diffLines(t *testing.T, got, want []string) {
	t.Helper()
	if slices.Equal(got, want) {
		return
	}
	var b strings.Builder
	for _, g := range got {
		if !slices.Contains(want, g) {
			fmt.Fprintf(&b, "\n  unexpected: %s", g)
		}
	}
	for _, w := range want {
		if !slices.Contains(got, w) {
			fmt.Fprintf(&b, "\n  missing:    %s", w)
		}
	}
	t.Errorf("findings differ (order counts):%s\ngot:\n  %s", b.String(), strings.Join(got, "\n  "))
}

// TestRules lints a fixture written for each rule and edge case and
// checks every finding's place, rule and path: nothing more, nothing less.
func TestRules(t *testing.T) {
	t.Parallel()
	cases := []struct {
		file string
		want []string
	}{
		{"servers.yaml", []string{
			"servers.yaml:5:10 server-https $.servers[1].url",
			"servers.yaml:6:10 server-https $.servers[2].url",
			"servers.yaml:7:10 server-https $.servers[3].url",
			"servers.yaml:9:10 http-localhost $.servers[5].url",
			"servers.yaml:10:10 http-localhost $.servers[6].url",
			"servers.yaml:11:10 http-localhost $.servers[7].url",
			"servers.yaml:12:10 url-relative $.servers[8].url",
			"servers.yaml:13:10 url-no-scheme $.servers[9].url",
			"servers.yaml:14:10 url-credentials $.servers[10].url",
			"servers.yaml:18:14 server-https $.paths['/pets'].servers[0].url",
			"servers.yaml:21:16 server-https $.paths['/pets'].get.servers[0].url",
			"servers.yaml:29:22 server-https $.paths['/pets'].get.responses['200'].links.next.server.url",
			"servers.yaml:36:24 server-https $.paths['/pets'].post.callbacks.onEvent['{$request.body#/callbackUrl}'].post.servers[0].url",
		}},
		{"variables.yaml", []string{
			"variables.yaml:8:23 server-variable-https $.servers[0].variables.scheme.enum[1]",
			"variables.yaml:12:18 server-variable-https $.servers[1].variables.scheme.default",
			"variables.yaml:13:10 server-https $.servers[2].url",
			"variables.yaml:18:10 http-localhost $.servers[3].url",
			"variables.yaml:26:18 server-variable-https $.servers[4].variables.server.default",
			"variables.yaml:30:18 url-credentials $.servers[5].variables.auth.default",
			"variables.yaml:33:25 http-localhost $.servers[6].variables.scheme.default",
		}},
		{"security.yaml", []string{
			"security.yaml:5:10 server-https $.servers[1].url",
			"security.yaml:11:17 security-removed $.paths['/health'].get.security",
			"security.yaml:17:9 security-removed $.paths['/maybe'].get.security",
			"security.yaml:24:18 credential-in-query $.paths['/search'].get.parameters[0].name",
			"security.yaml:26:18 credential-in-query $.paths['/search'].get.parameters[2].name",
			"security.yaml:33:20 credential-in-query $.components.parameters.Secret.name",
			"security.yaml:39:29 oauth-url-https $.components.securitySchemes.oauth.flows.authorizationCode.authorizationUrl",
			"security.yaml:41:23 oauth-url-https $.components.securitySchemes.oauth.flows.authorizationCode.refreshUrl",
			"security.yaml:44:21 http-localhost $.components.securitySchemes.oauth.flows.clientCredentials.tokenUrl",
			"security.yaml:48:25 oauth-url-https $.components.securitySchemes.oidc.openIdConnectUrl",
			"security.yaml:51:15 basic-auth-http $.components.securitySchemes.basic.scheme",
			"security.yaml:58:11 apikey-in-query $.components.securitySchemes.queryKey.in",
		}},
		{"mtls.yaml", []string{
			"mtls.yaml:6:5 mtls-https $.security[0].clientCert",
			"mtls.yaml:10:14 server-https $.paths['/internal'].servers[0].url",
			"mtls.yaml:17:16 server-https $.paths['/admin'].get.servers[0].url",
			"mtls.yaml:19:11 mtls-https $.paths['/admin'].get.security[0].clientCert",
			"mtls.yaml:26:16 server-https $.paths['/public'].get.servers[0].url",
			"mtls.yaml:35:16 server-https $.webhooks.newPet.post.servers[0].url",
		}},
		{"callbacks.yaml", []string{
			"callbacks.yaml:14:11 callback-https $.paths['/subscriptions'].post.callbacks.onEvent['http://partner.example/hook']",
			"callbacks.yaml:19:11 callback-https $.paths['/subscriptions'].post.callbacks.onEvent['HTTP://{$request.query.host}/notify']",
			"callbacks.yaml:20:11 http-localhost $.paths['/subscriptions'].post.callbacks.onEvent['http://localhost:9000/hook']",
			"callbacks.yaml:21:11 url-credentials $.paths['/subscriptions'].post.callbacks.onEvent['https://hook:s3cret@partner.example/signed']",
			"callbacks.yaml:28:7 callback-https $.components.callbacks.audit['ws://audit.example/stream']",
			"suppressed callbacks.yaml:31:7 callback-https $.components.callbacks.quiet['http://legacy.example/hook']",
		}},
		{"mtls30.yaml", []string{
			"mtls30.yaml:9:13 mtls-version $.components.securitySchemes.clientCert.type",
		}},
		{"swagger.yaml", []string{
			"swagger.yaml:7:5 server-https $.schemes[1]",
			"swagger.yaml:10:11 basic-auth-http $.securityDefinitions.basic.type",
			"swagger.yaml:14:9 apikey-in-query $.securityDefinitions.key.in",
			"swagger.yaml:18:23 oauth-url-https $.securityDefinitions.oauth.authorizationUrl",
			"swagger.yaml:26:22 server-https $.paths['/stream'].get.schemes[1]",
			"swagger.yaml:27:17 security-removed $.paths['/stream'].get.security",
			"swagger.yaml:29:18 credential-in-query $.paths['/stream'].get.parameters[0].name",
		}},
		{"swagger-local.yaml", []string{
			"swagger-local.yaml:4:11 http-localhost $.schemes[0]",
		}},
		{"swagger-noschemes.yaml", []string{
			"swagger-noschemes.yaml:1:1 url-relative $",
		}},
		{"noservers.yaml", []string{
			"noservers.yaml:1:1 url-relative $",
		}},
		{"anchors.yaml", []string{
			"anchors.yaml:9:10 server-https $.servers[0].url",
			"anchors.yaml:13:9 server-https $.paths['/a'].servers[0].url",
			"anchors.yaml:14:13 server-https $.paths['/a'].servers[1].url",
		}},
		{"ignore.yaml", []string{
			"suppressed ignore.yaml:5:10 http-localhost $.servers[1].url",
			"suppressed ignore.yaml:7:10 server-https $.servers[2].url",
			"ignore.yaml:9:10 server-https $.servers[3].url",
			"ignore.yaml:10:24 ignore-unknown $.servers[3]['x-tlsgate-ignore'][0]",
			"ignore.yaml:10:37 ignore-unknown $.servers[3]['x-tlsgate-ignore'][1]",
			"suppressed ignore.yaml:15:17 security-removed $.paths['/health'].get.security",
		}},
		{"servers.json", []string{
			"servers.json:1:110 server-https $.servers[1].url",
			"servers.json:2:54 server-https $.paths['/été'].get.servers[0].url",
		}},
		{"oas32.yaml", []string{
			"oas32.yaml:5:10 server-https $.servers[0].url",
			"oas32.yaml:10:16 server-https $.paths['/search'].query.servers[0].url",
			"oas32.yaml:16:18 server-https $.paths['/search'].additionalOperations.PURGE.servers[0].url",
			"oas32.yaml:23:26 oauth-url-https $.components.securitySchemes.oauth.oauth2MetadataUrl",
			"oas32.yaml:26:35 oauth-url-https $.components.securitySchemes.oauth.flows.deviceAuthorization.deviceAuthorizationUrl",
		}},
		{"remote-ref.yaml", []string{
			"remote-ref.yaml:14:23 ref-http $.paths['/pets'].get.responses['200'].content['application/json'].schema['$ref']",
			"remote-ref.yaml:16:17 url-credentials $.paths['/pets'].get.responses['404']['$ref']",
		}},
		{"multi/api.yaml", []string{
			"multi/api.yaml:15:18 server-https $.components.pathItems.Owners.get.servers[0].url",
			"multi/components/responses.yaml:7:14 server-https $.Ok.links.self.server.url",
			"multi/components/security.yaml:4:7 apikey-in-query $.key.in",
			"multi/paths/pets.yaml:3:12 server-https $.get.servers[0].url",
		}},
	}
	covered := map[string]bool{}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			rep := lintFile(t, &Linter{}, filepath.Join("testdata/rules", tc.file))
			diffLines(t, findingLines(t, "testdata/rules", rep.All()), tc.want)
			for _, f := range rep.All() {
				if f.Line < 1 || f.Column < 1 || f.Message == "" || f.Path == "" || f.Pointer == "" && f.Path != "$" {
					t.Errorf("incomplete finding %+v", f)
				}
			}
		})
		for _, w := range tc.want {
			covered[strings.Fields(w)[len(strings.Fields(w))-2]] = true
		}
	}
	for _, r := range Rules() {
		if !covered[r.ID] {
			t.Errorf("rule %s has no fixture", r.ID)
		}
	}
}

// TestBaseURL resolves relative URLs against the document's location.
func TestBaseURL(t *testing.T) {
	t.Parallel()
	cases := []struct {
		file, base string
		want       []string
	}{
		{"noservers.yaml", "https://api.example.com/openapi.yaml", nil},
		{"noservers.yaml", "http://api.example.com/openapi.yaml", []string{"noservers.yaml:1:1 server-https $"}},
		{"noservers.yaml", "http://localhost:8080/openapi.yaml", []string{"noservers.yaml:1:1 http-localhost $"}},
		{"swagger-noschemes.yaml", "https://docs.example.com/swagger.yaml", nil},
		{"swagger-noschemes.yaml", "HTTP://docs.example.com/swagger.yaml", []string{"swagger-noschemes.yaml:1:1 server-https $"}},
		// $self (3.2) is relative to the document's location.
		{"oas32.yaml", "https://docs.example.com/", []string{
			"oas32.yaml:5:10 server-https $.servers[0].url",
			"oas32.yaml:10:16 server-https $.paths['/search'].query.servers[0].url",
			"oas32.yaml:16:18 server-https $.paths['/search'].additionalOperations.PURGE.servers[0].url",
			"oas32.yaml:23:26 oauth-url-https $.components.securitySchemes.oauth.oauth2MetadataUrl",
			"oas32.yaml:26:35 oauth-url-https $.components.securitySchemes.oauth.flows.deviceAuthorization.deviceAuthorizationUrl",
		}},
	}
	for _, tc := range cases {
		t.Run(tc.file+" "+tc.base, func(t *testing.T) {
			t.Parallel()
			u, err := url.Parse(tc.base)
			if err != nil {
				t.Fatal(err)
			}
			rep := lintFile(t, &Linter{BaseURL: u}, filepath.Join("testdata/rules", tc.file))
			diffLines(t, findingLines(t, "testdata/rules", rep.All()), tc.want)
		})
	}
	// The relative server resolves against the base, and then is fine.
	u, _ := url.Parse("https://api.example.com/openapi.yaml")
	rep := lintFile(t, &Linter{BaseURL: u}, "testdata/rules/servers.yaml")
	for _, f := range rep.Findings {
		if f.Path == "$.servers[8].url" {
			t.Errorf("relative server /v1 resolves to https, yet: %+v", f)
		}
	}
}

// TestAliasPosition reports a value reached through a YAML alias at the
// alias, and says where the value is written.
func TestAliasPosition(t *testing.T) {
	t.Parallel()
	rep := lintFile(t, &Linter{}, "testdata/rules/anchors.yaml")
	var got []string
	for _, f := range rep.Findings {
		got = append(got, fmt.Sprintf("%d:%d defined %d:%d", f.Line, f.Column, f.Defined.Line, f.Defined.Column))
	}
	want := []string{"9:10 defined 5:12", "13:9 defined 7:10", "14:13 defined 7:10"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestMessages(t *testing.T) {
	t.Parallel()
	rep := lintFile(t, &Linter{}, "testdata/rules/servers.yaml")
	for _, f := range rep.Findings {
		if strings.Contains(f.Message, "s3cret") {
			t.Errorf("the password is in a message: %s", f.Message)
		}
	}
	msgs := map[string]string{}
	for _, f := range rep.Findings {
		msgs[f.Path] = f.Message
	}
	for path, want := range map[string]string{
		"$.servers[1].url":  `server URL "http://api.example.com/v1" is served over plain HTTP (http://); use https://`,
		"$.servers[3].url":  `server URL "ws://stream.example.com" is served over an unencrypted WebSocket (ws://); use wss://`,
		"$.servers[10].url": `server URL "https://deploy:***@api.example.com/v1" has credentials before the host`,
	} {
		if msgs[path] != want {
			t.Errorf("%s: message %q, want %q", path, msgs[path], want)
		}
	}
}

// TestNoSecretsInMessages: a password in a URL appears in no message.
func TestNoSecretsInMessages(t *testing.T) {
	t.Parallel()
	doc, err := Parse("secrets.yaml", []byte(`
openapi: 3.1.0
info: {title: secrets, version: "1", termsOfService: "https://u:hunter2@tos.example.com"}
servers:
  - url: http://deploy:hunter2@api.example.com
  - url: http://deploy:hunter2@localhost
  - url: deploy:hunter2@api.example.com/v1
  - url: "{server}/v1"
    variables:
      server: {default: "http://ci:hunter2@legacy.example.com", enum: ["http://ci:hunter2@localhost"]}
  - url: "https://{host}"
    variables:
      host: {default: "ci:hunter2@api.example.com"}
security: [{mtls: []}]
paths: {}
components:
  securitySchemes:
    mtls: {type: mutualTLS}
    basic: {type: http, scheme: basic}
    oidc: {type: openIdConnect, openIdConnectUrl: "http://u:hunter2@auth.example.com/.well-known/openid-configuration"}
    oauth:
      type: oauth2
      flows: {clientCredentials: {tokenUrl: "u:hunter2@auth.example.com/token", scopes: {}}}
x-ref: {$ref: "http://u:hunter2@schemas.example.com/x.yaml"}
`))
	if err != nil {
		t.Fatal(err)
	}
	rep := (&Linter{}).Lint(doc)
	if len(rep.Findings) < 10 {
		t.Errorf("%d findings, want the credentials and http ones", len(rep.Findings))
	}
	for _, f := range rep.Findings {
		if strings.Contains(f.Message, "hunter2") {
			t.Errorf("%s: the password is in the message: %s", f.Rule, f.Message)
		}
	}
}

// TestConfig turns a rule off and re-levels another.
func TestConfig(t *testing.T) {
	t.Parallel()
	cfg, err := ParseConfig("lint.yaml", []byte("rules:\n  http-localhost: off\n  url-relative: error\n"))
	if err != nil {
		t.Fatal(err)
	}
	rep := lintFile(t, &Linter{Config: cfg}, "testdata/rules/servers.yaml")
	for _, f := range rep.Findings {
		if f.Rule == RuleHTTPLocalhost {
			t.Errorf("rule off, yet counted: %+v", f)
		}
		if f.Rule == RuleURLRelative && f.Severity != Error {
			t.Errorf("url-relative is %s, want error", f.Severity)
		}
	}
	n := 0
	for _, f := range rep.Suppressed {
		if f.Rule != RuleHTTPLocalhost || f.Suppressed.Kind != SuppressedByConfig || f.Suppressed.File != "lint.yaml" || f.Suppressed.Line != 2 {
			t.Errorf("suppressed: %+v %+v", f, f.Suppressed)
		}
		n++
	}
	if n != 3 {
		t.Errorf("%d findings suppressed by the config, want 3", n)
	}
	s := Summarize([]*Report{rep})
	if s.ByConfig[RuleHTTPLocalhost] != 3 || s.Suppressed != 3 {
		t.Errorf("summary %+v", s)
	}
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	cases := []struct{ in, want string }{
		{"rules:\n  sever-https: off\n", `lint.yaml:2:3: rules.sever-https: unknown rule (did you mean "server-https"?)`},
		{"rules:\n  server-https: loud\n", `lint.yaml:2:17: rules.server-https: "loud": use off, error, warning or info`},
		{"rule:\n  server-https: off\n", `lint.yaml:1:1: unknown key "rule": the file has one key, rules`},
		{"rules: [server-https]\n", `lint.yaml:1:8: rules: want a mapping`},
		{"- rules\n", `lint.yaml:1:1: want a mapping with a rules key`},
		{"rules: {a: off, b: off}\n", "lint.yaml:1:9: rules.a: unknown rule"},
	}
	for _, tc := range cases {
		_, err := ParseConfig("lint.yaml", []byte(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.in, err, tc.want)
		}
	}
	cfg, err := ParseConfig("lint.yaml", []byte("rules:\n  server-https: warn\n  ref-http: false\n"))
	if err != nil || cfg.Rules["server-https"].Severity != Warning || !cfg.Rules["ref-http"].Off {
		t.Errorf("config %+v, %v", cfg, err)
	}
}

// TestIgnores counts what each x-tlsgate-ignore silenced.
func TestIgnores(t *testing.T) {
	t.Parallel()
	rep := lintFile(t, &Linter{}, "testdata/rules/ignore.yaml")
	var got []string
	for _, ig := range rep.Ignores {
		got = append(got, fmt.Sprintf("%d:%d %s %d", ig.Line, ig.Column, strings.Join(ig.Rules, ","), ig.Silenced))
	}
	want := []string{"6:5 http-localhost 1", "8:5 server-https 1", "10:5 sever-https 0", "13:5 security-removed,apikey-in-query 1"}
	if !slices.Equal(got, want) {
		t.Errorf("ignores %q, want %q", got, want)
	}
	if s := Summarize([]*Report{rep}); s.InSource != 3 || s.UnusedIgnores != 1 {
		t.Errorf("summary %+v", s)
	}
}

// TestIgnoreThroughRef: an object reached through a $ref is silenced by
// the x-tlsgate-ignore above it where it is written, whichever way the
// linter reaches it first.
func TestIgnoreThroughRef(t *testing.T) {
	t.Parallel()
	doc, err := Parse("ref.yaml", []byte(`
openapi: 3.1.0
info: {title: ignores through refs, version: "1"}
servers: [{url: https://api.example.com}]
paths:
  /a: {$ref: "#/components/pathItems/A"}
  /b:
    $ref: "#/components/pathItems/B"
    x-tlsgate-ignore: [server-https]
components:
  x-tlsgate-ignore: [http-localhost]
  pathItems:
    A:
      get:
        servers: [{url: "http://localhost:8080"}]
        responses: {"200": {description: ok}}
    B:
      get:
        servers: [{url: "http://b.example.com"}]
        responses: {"200": {description: ok}}
`))
	if err != nil {
		t.Fatal(err)
	}
	rep := (&Linter{}).Lint(doc)
	if len(rep.Findings) != 0 || len(rep.Suppressed) != 2 {
		t.Errorf("findings %+v\nsuppressed %+v", rep.Findings, rep.Suppressed)
	}
}

func TestRulesDocumented(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, r := range Rules() {
		if seen[r.ID] || r.Summary == "" || len(r.Rationale) < 80 || r.Severity < Info || r.Severity > Error {
			t.Errorf("rule %+v", r)
		}
		seen[r.ID] = true
		if _, ok := LookupRule(r.ID); !ok {
			t.Errorf("LookupRule(%q)", r.ID)
		}
	}
}

// TestNeedsBaseURL: the findings a base URL would decide say what is
// unknown in the linter's terms and name no command-line flag (the CLI
// adds its own hint); with the base URL given, the messages name it so.
func TestNeedsBaseURL(t *testing.T) {
	t.Parallel()
	n := 0
	for _, file := range []string{"noservers.yaml", "swagger-noschemes.yaml", "servers.yaml", "security.yaml"} {
		for _, f := range lintFile(t, &Linter{}, filepath.Join("testdata/rules", file)).All() {
			if f.NeedsBaseURL() != (f.Rule == RuleURLRelative) {
				t.Errorf("%s: NeedsBaseURL %v for rule %s", f.Path, f.NeedsBaseURL(), f.Rule)
			}
			if f.NeedsBaseURL() {
				n++
				if !strings.HasSuffix(f.Message, "unknown from a file") {
					t.Errorf("%s:%d: %q does not say what is unknown", file, f.Line, f.Message)
				}
			}
			if strings.Contains(f.Message, "--") {
				t.Errorf("%s:%d: %q names a flag", file, f.Line, f.Message)
			}
		}
	}
	if n < 3 {
		t.Errorf("%d url-relative findings, want no servers, no schemes and a relative server", n)
	}
	u, _ := url.Parse("http://api.example.com/openapi.yaml")
	for _, f := range lintFile(t, &Linter{BaseURL: u}, "testdata/rules/noservers.yaml").All() {
		if want := "no servers: the API is at the base URL http://api.example.com/openapi.yaml"; !strings.HasPrefix(f.Message, want) {
			t.Errorf("message %q, want it to begin %q", f.Message, want)
		}
	}
}
