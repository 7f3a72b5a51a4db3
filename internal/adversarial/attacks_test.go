package adversarial

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/tlsgate/tlsgate/internal/testpeer"
)

// attack is one entry of the suite: what is tried, which class of flaw it
// belongs to, and the sentence that must stay true.
type attack struct {
	Name      string
	Class     string
	Invariant string
	// Run performs the attack against gateways and upstreams it starts
	// (or shares through e) and checks Invariant by what the upstream
	// observed and what the client received.
	Run func(t *testing.T, e *env)
	// Serial attacks measure time or load and run alone.
	Serial bool
}

// Classes of attack.
const (
	classRouting   = "routing and access policy"
	classFraming   = "HTTP framing and smuggling"
	classIdentity  = "client identity headers"
	classPKI       = "client certificates and TLS sessions"
	classResources = "resource exhaustion"
	classUpstream  = "hostile upstream"
	classAdmin     = "local listeners"
)

// attacks is the suite. Append to it; see doc.go.
var attacks = []attack{
	{
		Name: "dot segments past per-route mTLS (nginx upstream)", Class: classRouting,
		Invariant: "no request without a client certificate ever reaches the upstream's /internal/ handler, however its path is spelled",
		Run:       dotSegmentsNginx,
	},
	{
		Name: "dot segments past per-route mTLS (Go upstream cleaning paths)", Class: classRouting,
		Invariant: "no request without a client certificate ever reaches the upstream's /internal/ handler, however its path is spelled",
		Run:       dotSegmentsGo,
	},
	{
		Name: "encoded slashes past per-route mTLS through a catch-all route (nginx upstream)", Class: classRouting,
		Invariant: "no request without a client certificate ever reaches the upstream's /internal/ handler, however its path is spelled",
		Run:       catchAllNginx,
	},
	{
		Name: "normalised path is the forwarded path", Class: classRouting,
		Invariant: "the route whose policy admitted a request is the route the upstream resolves it to: the upstream gets the path the gateway matched",
		Run:       normalisedForwarded,
	},
	{
		Name: "request-line injection through h2 :method", Class: classRouting,
		Invariant: "the upstream's request line is the one the route check saw: method, target and version exactly",
		Run:       h2MethodInjection,
	},
	{
		Name: "request-line injection through h2 :method (JDK upstream)", Class: classRouting,
		Invariant: "the upstream's request line is the one the route check saw: the JDK's server never routes an injected target",
		Run:       h2MethodInjectionJDK,
	},
	{
		Name: "every method on a require route", Class: classRouting,
		Invariant: "a route's client-auth policy holds for every method, in any case, known or not",
		Run:       methodsOnRequireRoute,
	},
	{
		Name: "WebSocket smuggling", Class: classRouting,
		Invariant: "an upgrade switches the client's connection to a tunnel only when the upstream answered 101 on a route the client was admitted to",
		Run:       websocketSmuggling,
	},
	{
		Name: "CONNECT and TRACE", Class: classRouting,
		Invariant: "CONNECT and TRACE are answered 405 by the gateway and never forwarded",
		Run:       connectTrace,
	},
	{
		Name: "SNI differs from Host over h1", Class: classRouting,
		Invariant: "a connection set up for one site never reaches another site's routes or policy: 421, nothing forwarded",
		Run:       sniHostH1,
	},
	{
		Name: "h2 connection coalescing onto another site", Class: classRouting,
		Invariant: "a connection set up for one site never reaches another site's routes or policy: 421, nothing forwarded",
		Run:       sniHostH2,
	},
	{
		Name: "h2c upgrade and WebSocket", Class: classRouting,
		Invariant: "no upstream ever sees Upgrade: h2c or switches protocols for it; WebSocket upgrades still work end to end",
		Run:       upgrades,
	},
	{
		Name: "request smuggling over raw h1", Class: classFraming,
		Invariant: "the upstream sees at most one well-framed request per client request, and the client's answer is the answer to its own request",
		Run:       smuggling,
	},
	{
		Name: "h2 to h1 downgrade smuggling", Class: classFraming,
		Invariant: "one HTTP/2 stream becomes at most one upstream HTTP/1.1 request, framed by what the gateway read",
		Run:       h2Downgrade,
	},
	{
		Name: "request bodies cut short", Class: classFraming,
		Invariant: "an upstream connection that carried part of a body is never reused: the next client's request is parsed as a request, and answered to that client",
		Run:       abortedBodies,
	},
	{
		Name: "oversized request headers", Class: classFraming,
		Invariant: "a request whose headers exceed limits.max_header_bytes is answered 431 and nothing of it is forwarded",
		Run:       oversizedHeaders,
	},
	{
		Name: "client trailers", Class: classIdentity,
		Invariant: "ordinary trailers reach the upstream; identity and forwarding headers sent as trailers never do",
		Run:       trailers,
	},
	{
		Name: "forged identity headers in every spelling", Class: classIdentity,
		Invariant: "the only identity header values an upstream receives are the ones the gateway set from the verified connection",
		Run:       forgedSpellings,
	},
	{
		Name: "renamed identity headers forged on another site", Class: classIdentity,
		Invariant: "every identity header name configured anywhere is stripped on every site and route",
		Run:       renamedIdentity,
	},
	{
		Name: "identity lists from odd certificate names", Class: classIdentity,
		Invariant: "every identity an upstream can read from the identity headers is one the verified certificate holds: separators never hide inside a listed name",
		Run:       identityListInjection,
	},
	{
		Name: "forged forwarding headers", Class: classIdentity,
		Invariant: "X-Forwarded-*, Forwarded and X-Request-ID from an untrusted client never reach the upstream as sent",
		Run:       forgedForwarding,
	},
	{
		Name: "revocation after resumption", Class: classPKI,
		Invariant: "a certificate revoked after its session began is refused on the next request, resumed session or not",
		Run:       revocationAfterResumption,
	},
	{
		Name: "root CRL revoking an intermediate", Class: classPKI,
		Invariant: "a certificate chaining through a revoked intermediate is refused on require routes and reported FAILED:revoked elsewhere",
		Run:       crlIntermediate,
	},
	{
		Name: "CRL signed by an intermediate with root-only trust", Class: classPKI,
		Invariant: "a CRL issued by an intermediate of a trusted root is accepted and applied to the leaves it covers",
		Run:       crlByIntermediate,
	},
	{
		Name: "TLS resumption across a client CA swap", Class: classPKI,
		Invariant: "a session established under one client trust configuration never resumes under another, even when the new CA has the same name",
		Run:       resumptionCASwap,
	},
	{
		Name: "TLS resumption across client-auth policies", Class: classPKI,
		Invariant: "a session ticket from one site never resumes on a site with a different client-auth policy",
		Run:       resumptionAcrossSites,
	},
	{
		Name: "bad client CA file at start", Class: classPKI,
		Invariant: "a client CA that cannot be read or parsed stops start-up: the gateway never serves with less client authentication than configured",
		Run:       badCAStart,
	},
	{
		Name: "bad client CA file at reload", Class: classPKI,
		Invariant: "a reload with a bad client CA is refused and the old policy keeps being enforced",
		Run:       badCAReload,
	},
	{
		Name: "upstream response-queue poisoning", Class: classUpstream,
		Invariant: "every client gets the answer to its own request: bytes an upstream sends unasked are never delivered to anyone",
		Run:       responseQueuePoisoning,
	},
	{
		Name: "non-idempotent requests on a failing connection", Class: classUpstream,
		Invariant: "a request that is not idempotent reaches the upstream at most once, even when the pooled connection it went out on fails",
		Run:       noRepeats,
	},
	{
		Name: "responses abandoned by the client", Class: classUpstream,
		Invariant: "an upstream connection whose response was not read to its end is never reused: the next client gets its own answer",
		Run:       abandonedResponses,
	},
	{
		Name: "clients that leave before the answer", Class: classResources,
		Invariant: "a client that closes its connection while the upstream has not answered frees the upstream connection at once, not at timeouts.upstream_response, and is answered to no one",
		Run:       clientsLeaving,
	},
	{
		Name: "odd upstream status lines", Class: classUpstream,
		Invariant: "whatever status line an upstream sends, the client gets a well-formed final answer (502 for a bad one) and the gateway keeps serving",
		Run:       oddStatusLines,
	},
	{
		Name: "informational-response flood", Class: classUpstream,
		Invariant: "an upstream cannot make the gateway relay an unbounded number of 1xx answers to one request",
		Run:       informationalFlood,
	},
	{
		Name: "upstream trickling its response headers", Class: classUpstream,
		Invariant: "an upstream cannot hold a request past timeouts.upstream_response by sending its headers slowly",
		Run:       trickledResponse,
	},
	{
		Name: "endless upstream response headers", Class: classUpstream,
		Invariant: "an upstream's response headers are bounded: the client gets 502 promptly and the gateway keeps serving",
		Run:       hugeUpstreamHeaders,
	},
	{
		Name: "clients that stop reading (send timeout)", Class: classResources, Serial: true,
		Invariant: "a client that stops reading releases its upstream connection and its own connection within timeouts.send",
		Run:       sendTimeout,
	},
	{
		Name: "h2 rapid reset", Class: classResources, Serial: true,
		Invariant: "streams opened and reset in bulk neither starve other clients nor fan out unbounded to the upstream",
		Run:       rapidReset,
	},
	{
		Name: "h2 CONTINUATION, HPACK and PING floods", Class: classResources,
		Invariant: "no HTTP/2 frame sequence makes the gateway buffer without bound: it refuses or hangs up, and keeps serving others",
		Run:       h2Floods,
	},
	{
		Name: "request body stalled", Class: classResources,
		Invariant: "a client that stops sending its request body is answered 408 (or cut off) within timeouts.body_read, and its connection is released",
		Run:       stalledBody,
	},
	{
		Name: "headers trickled a byte at a time", Class: classResources,
		Invariant: "a client cannot hold a connection open longer than timeouts.read_header by trickling its request headers",
		Run:       slowHeaders,
	},
	{
		Name: "admin listener DNS rebinding", Class: classAdmin,
		Invariant: "the admin listener answers only Host names that are IP literals, localhost or *.localhost",
		Run:       adminRebinding,
	},
	{
		Name: "open redirect on the HTTP listener", Class: classAdmin,
		Invariant: "the plain-HTTP listener redirects only to https on a configured site's host, and forwards nothing",
		Run:       openRedirect,
	},
	{
		Name: "sidecar DNS rebinding", Class: classAdmin,
		Invariant: "the sidecar forwards, with its client identity, only requests whose Host is an IP literal, localhost or a configured name",
		Run:       sidecarRebinding,
	},
}

// env holds what attacks share: the PKI, and nginx (started once, by the
// first attack that needs it).
type env struct {
	root *testing.T
	pki  *pki

	nginxOnce sync.Once
	nginxURL  string
}

// nginx returns the URL of an nginx whose /internal/ location answers
// "internal" and whose other locations echo the request target and the
// upgrade headers. It ends t (skip, or fail under CI=true) when nginx is
// missing.
func (e *env) nginx(t *testing.T) string {
	t.Helper()
	testpeer.Require(t, "nginx")
	e.nginxOnce.Do(func() {
		port := testpeer.FreePort(e.root)
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		testpeer.StartNginx(e.root, e.root.TempDir(), fmt.Sprintf(`
  server {
    listen %s;
    location /internal/ { return 200 "internal uri=$request_uri verify=$http_x_client_verify\n"; }
    location / {
      add_header X-Up-Target $request_uri;
      return 200 "target=$request_uri upgrade=$http_upgrade connection=$http_connection settings=$http_http2_settings\n";
    }
  }`, addr), addr)
		e.nginxURL = "http://" + addr
	})
	if e.nginxURL == "" {
		t.Fatal("nginx did not start")
	}
	return e.nginxURL
}

func TestAttacks(t *testing.T) {
	e := &env{root: t, pki: newPKI(t)}
	names := map[string]bool{}
	for _, a := range attacks {
		if names[a.Name] || a.Invariant == "" || a.Class == "" || strings.Contains(a.Name, "/") {
			t.Fatalf("attack %q: names must be unique and free of '/' (so -run can select them), and every attack needs a class and an invariant", a.Name)
		}
		names[a.Name] = true
	}
	// Serial attacks first, while nothing else loads the two cores.
	for _, a := range attacks {
		if a.Serial {
			t.Run(a.Name, func(t *testing.T) {
				t.Logf("invariant: %s", a.Invariant)
				a.Run(t, e)
			})
		}
	}
	for _, a := range attacks {
		if !a.Serial {
			t.Run(a.Name, func(t *testing.T) {
				t.Parallel()
				a.Run(t, e)
				if t.Failed() {
					t.Logf("invariant broken: %s", a.Invariant)
				}
			})
		}
	}
}

// site renders one site of a config.
func (p *pki) site(host, extra string, routes ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "  - hosts: [%s]\n    tls: {certificate: {cert: %q, key: %q}}\n", host, p.certFile, p.keyFile)
	if extra != "" {
		for _, l := range strings.Split(strings.TrimSpace(extra), "\n") {
			b.WriteString("    " + l + "\n")
		}
	}
	b.WriteString("    routes:\n")
	for _, r := range routes {
		b.WriteString("      - " + r + "\n")
	}
	return b.String()
}

// config renders a whole config: loopback, no redirect listener.
func gwConfig(top string, sites ...string) string {
	return "listen: {https: \"127.0.0.1:0\", http: off}\n" + top + "\nsites:\n" + strings.Join(sites, "")
}

// publicInternal is a site on host with /public/ (no client certificate)
// and /internal/ (certificate required) to up, trusting the client CA.
func (p *pki) publicInternal(host, up string, extraRoutes ...string) string {
	return p.site(host, "client_auth: {ca: ["+q(p.clientCAFile)+"]}", append([]string{
		fmt.Sprintf("{path: /public/, upstreams: [%s]}", up),
		fmt.Sprintf("{path: /internal/, upstreams: [%s], client_auth: require}", up),
	}, extraRoutes...)...)
}

// q quotes a file path for YAML (temp dirs are named after tests, whose
// names may hold ',' or ':').
func q(path string) string { return strconv.Quote(path) }
