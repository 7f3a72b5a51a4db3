// Package adversarial is tlsgate's attack suite: a table of attacks run
// against a real gateway (server.New on loopback, built from a YAML config
// as 'tlsgate serve' builds it) in front of real upstreams of several
// kinds: nginx, Go net/http servers, and raw-socket upstreams that record
// every byte and misbehave on purpose (extra responses, bodies on HEAD and
// 204, endless headers).
//
// The package has no code of its own; everything is in its tests, which
// 'make test' runs with the rest ('go test -race ./...'). Each attack in
// the table (attacks_test.go) has a Name, a Class and an Invariant: one
// sentence saying what must hold whatever the attacker sends, such as "the
// route whose policy admitted a request is the route the upstream resolves
// it to". The attack's function checks that sentence by what the upstream
// observed (request lines, headers, trailers, which connection, how many
// requests) and by what the client received, not by a status code alone.
//
// To add an attack, append an entry to the table: pick the Class of the
// nearest entry, write the Invariant before the code, start the upstreams
// and gateway the attack needs with the helpers in harness_test.go (they
// are cheap; only nginx is shared), send the bytes by hand (rawH1, h2conn)
// so no client library normalises the attack away, and assert on the
// upstream's record. An attack that fails because the gateway is wrong is
// a finding: keep it failing until the gateway is fixed, never skip it.
//
// The files: attacks_test.go holds the table and TestAttacks; harness_test.go
// the gateway, the PKI, the recording Go upstream and the raw-socket
// upstream; h2_test.go the hand-driven HTTP/2 client; the others hold the
// attacks of one concern each (routing, framing, identity, pki, upstream,
// resources, admin). testdata/Upstream.java is the JDK's own HTTP server
// as an upstream. Run one attack with
//
//	go test -race ./internal/adversarial/ -run 'TestAttacks/request_smuggling'
//
// Any change to the request path (routing, header hygiene, the direct
// path, the upstream pool, TLS policy, reload) must keep this suite green.
// A real peer that is missing (nginx, java) skips its attacks, except under
// CI=true, where it fails them (see internal/testpeer).
package adversarial
