// Package proxy forwards a site's requests to its upstreams. It owns what
// happens to a request between the listener and an upstream: normalising
// the request target, matching routes, the routes' client-certificate
// policy, header hygiene (forwarding headers from trusted peers only,
// identity headers, security response headers, request IDs), the upstream
// transports and their connection pools, choosing an upstream with passive
// health checks, the timeouts between reads and writes, JSON errors and
// the access log.
//
// A request's flow, in Site.ServeHTTP:
//
//  1. normalise: the method must be a token, and not CONNECT or TRACE; the
//     path is put in normal form or refused (path.go);
//  2. route: on a site with an operation table (routes_from), the
//     operation whose template and method match, else 404 or 405 with
//     Allow (operations.go); paths no template matches, and sites without
//     a table, take the longest route prefix that matches (route.go);
//  3. policy: the route's (or operation's) client-certificate mode and allow-list
//     (policy.go);
//  4. headers: what the client's headers become for the upstream, and the
//     upstream's for the client (headers.go);
//  5. transport: the direct path (direct.go) for the common request
//     without a body to plain-HTTP upstreams, httputil.ReverseProxy
//     (reverseproxy.go) for everything else. Both send through the route's
//     upstream pool (upstream.go) and h1Transport (transport.go), which
//     leaves https upstreams and upgrades to an http.Transport. A route of
//     the Go API has an in-process handler instead of upstreams
//     (local.go): it gets the request after the same steps, with the
//     gateway's identity headers and the verification in its context.
//
// Each request's state is one info in its context (request.go). Failures
// are answered in errors.go, the timeouts nginx would apply are in
// timeouts.go, and accesslog.go writes a line per request.
//
// The two hand-written paths are held to the standard library:
// TestDirectMatchesReverseProxy and FuzzDirect compare the direct path with
// ReverseProxy byte for byte, TestTransportMatchesHTTPTransport and
// FuzzTransportDiff compare h1Transport with http.Transport.
//
// The package imports the standard library, golang.org/x/net/http/httpguts,
// internal/mtls (client identities) and internal/inventory (the shape of
// upstream health it reports), and nothing else of this module. It must
// not import internal/server, which builds Sites and owns the listeners,
// nor internal/config or internal/plan: server translates the plan into
// SiteConfig and Options. It must not import Prometheus (metrics leave
// through the Observer interface, which server wires to its registry) or
// etcd. TestLayout (in the module root) holds it to that.
package proxy
