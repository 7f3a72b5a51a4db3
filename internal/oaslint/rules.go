package oaslint

import (
	"fmt"
	"strings"
)

// Severity is how much a finding matters. The zero value is not a
// severity: a Rule always has one.
type Severity int8

const (
	Info Severity = iota + 1
	Warning
	Error
)

func (s Severity) String() string {
	switch s {
	case Info:
		return "info"
	case Warning:
		return "warning"
	case Error:
		return "error"
	}
	return fmt.Sprintf("Severity(%d)", int8(s))
}

// ParseSeverity reads "error", "warning" (or "warn") and "info".
func ParseSeverity(s string) (Severity, error) {
	switch strings.ToLower(s) {
	case "error":
		return Error, nil
	case "warning", "warn":
		return Warning, nil
	case "info":
		return Info, nil
	}
	return 0, fmt.Errorf("severity %q: use error, warning or info", s)
}

// MarshalText makes a Severity a JSON string.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// A Rule is one check. Its ID is stable: configuration files and
// x-tlsgate-ignore name it, and CI systems track findings by it.
type Rule struct {
	ID       string
	Severity Severity // by default; a Config may change it
	// Summary is one line: what is found.
	Summary string
	// Rationale says why it matters and what to do.
	Rationale string
}

// Rule IDs.
const (
	RuleServerHTTPS         = "server-https"
	RuleServerVariableHTTPS = "server-variable-https"
	RuleCallbackHTTPS       = "callback-https"
	RuleHTTPLocalhost       = "http-localhost"
	RuleURLRelative         = "url-relative"
	RuleURLNoScheme         = "url-no-scheme"
	RuleOAuthURLHTTPS       = "oauth-url-https"
	RuleBasicAuthHTTP       = "basic-auth-http"
	RuleAPIKeyInQuery       = "apikey-in-query"
	RuleCredentialInQuery   = "credential-in-query"
	RuleURLCredentials      = "url-credentials"
	RuleSecurityRemoved     = "security-removed"
	RuleMTLSHTTPS           = "mtls-https"
	RuleMTLSVersion         = "mtls-version"
	RuleRefHTTP             = "ref-http"
	RuleIgnoreUnknown       = "ignore-unknown"
)

var rules = []Rule{
	{RuleServerHTTPS, Error, "server URL is not https",
		"Clients, and the SDKs generated from the document, send requests, API keys and tokens to the servers it lists. " +
			"Over http:// (or ws://) anyone on the path can read and change them, and the gateway's HTTPS is bypassed. " +
			"Checked: servers at the top, of path items, of operations, of webhooks and callbacks, of links; Swagger 2.0 schemes " +
			"(and, when they are missing, the scheme of --base-url). The scheme is compared without regard to case: HTTP:// is http. " +
			"Use https:// (wss:// for WebSockets)."},
	{RuleServerVariableHTTPS, Error, "server variable allows an http URL",
		"A server URL such as {scheme}://api.example.com is as insecure as its worst value: a default or enum value of http " +
			"puts clients on plain HTTP, often without anyone noticing. Remove http from the variable's enum and default."},
	{RuleCallbackHTTPS, Error, "callback URL is not https",
		"A callback's key is the URL the API provider calls: a runtime expression such as {$request.body#/callbackUrl}, " +
			"or a URL written out, such as http://partner.example/hook. Written out with http:// (or ws://), it is a cleartext hop " +
			"the provider itself makes: the event, and any token or signature sent with it, can be read and changed on the way, " +
			"whatever the API's own servers use. Checked: callbacks of operations and components.callbacks, keys whose scheme " +
			"is written (also around an expression: http://{$request.query.host}/hook). Use https://."},
	{RuleHTTPLocalhost, Warning, "http:// URL on a loopback host",
		"http://localhost, 127.0.0.1 and [::1] never leave the machine, so plain HTTP there is a development set-up rather than " +
			"an exposure; it still should not reach a published document, where clients pick the first server. " +
			"Move development servers out of the published document, or re-level this rule in the --rules file."},
	{RuleURLRelative, Info, "relative URL: its scheme is wherever the document is served from",
		"A relative server URL (\"/v1\", or no servers at all, which means \"/\"; in Swagger 2.0 a missing host or schemes) " +
			"takes its scheme and host from the URL the document itself is fetched from (OpenAPI 3.2: from $self). " +
			"From a file that URL is unknown, so the check cannot be made; give it with --base-url, or write absolute https:// URLs."},
	{RuleURLNoScheme, Warning, "URL without a scheme",
		"\"api.example.com/v1\" is by the URL rules a relative path, not a host: clients resolve it against the document's URL " +
			"and end up at https://docs.example.com/api.example.com/v1, or worse, at http://. Write the scheme: https://api.example.com/v1."},
	{RuleOAuthURLHTTPS, Error, "OAuth 2 or OpenID Connect URL is not https",
		"Authorization, token, refresh and device URLs and the OpenID Connect discovery URL carry credentials and codes; " +
			"OAuth 2 (RFC 6749 section 3.1) requires TLS for them. Over http:// a token or authorization code can be stolen or the " +
			"discovery document replaced. Use https://."},
	{RuleBasicAuthHTTP, Warning, "HTTP Basic authentication with an http server",
		"Basic sends the password with every request, only base64-encoded: acceptable over TLS, readable by anyone over plain HTTP. " +
			"Reported when any server of the document is http (not loopback). Serve the API over https only, or use a token scheme."},
	{RuleAPIKeyInQuery, Warning, "API key sent in the query string",
		"URLs end up in access logs, proxy logs, browser history and Referer headers, so an API key in the query string leaks " +
			"even over TLS. Send it in a header (in: header)."},
	{RuleCredentialInQuery, Warning, "query parameter named like a credential",
		"A query parameter called access_token, api_key, password, secret (and the like) leaks through logs and Referer headers " +
			"as an API key in the URL does. Send it in a header or the body. Names are matched whole, without regard to case and " +
			"to - and _: page_token or next_token are not credentials."},
	{RuleURLCredentials, Error, "credentials in a URL",
		"A URL with user:password@ (or token@) before the host publishes a credential to everyone who reads the document, " +
			"and clients send it in clear in logs. Remove it; document the security scheme instead. Findings show the password as ***."},
	{RuleSecurityRemoved, Info, "operation removes the global security requirement",
		"security: [] (or [{}]) on an operation lifts the document's global requirement: the operation is public. " +
			"Often right (a health check, a login endpoint) but worth seeing in review; silence it with x-tlsgate-ignore on the operation."},
	{RuleMTLSHTTPS, Error, "mutual TLS required, but a server is not https",
		"A mutualTLS security scheme (OpenAPI 3.1) means clients authenticate with a certificate during the TLS handshake; " +
			"over http:// there is no handshake, so the requirement cannot be met, or is silently not enforced. " +
			"Serve operations that require mutual TLS over https only."},
	{RuleMTLSVersion, Warning, "mutualTLS security scheme before OpenAPI 3.1",
		"type: mutualTLS exists from OpenAPI 3.1 on; tools reading a 3.0 document reject or ignore it, so the requirement " +
			"is not enforced by them. Declare openapi: 3.1.0."},
	{RuleRefHTTP, Warning, "$ref fetched over http",
		"Tools resolve a $ref to an http:// URL over plain HTTP: whoever is on the path can change the definitions they read " +
			"(a server URL, a security scheme). tlsgate lint does not fetch remote $refs. Use https://, or a local file."},
	{RuleIgnoreUnknown, Warning, "x-tlsgate-ignore is malformed or names an unknown rule",
		"An x-tlsgate-ignore with a misspelt rule id silences nothing, and the finding it was meant for fails the build " +
			"elsewhere, or worse, the intended rule is not the one silenced. Use rule ids from 'tlsgate lint --list-rules'."},
}

var ruleIndex = func() map[string]int {
	m := map[string]int{}
	for i, r := range rules {
		m[r.ID] = i
	}
	return m
}()

// Rules returns every rule, in a stable order.
func Rules() []Rule { return append([]Rule(nil), rules...) }

// LookupRule returns the rule with the given ID.
func LookupRule(id string) (Rule, bool) {
	i, ok := ruleIndex[id]
	if !ok {
		return Rule{}, false
	}
	return rules[i], true
}

// ruleIDs lists the IDs, for messages.
func ruleIDs() string {
	ids := make([]string, len(rules))
	for i, r := range rules {
		ids[i] = r.ID
	}
	return strings.Join(ids, ", ")
}
