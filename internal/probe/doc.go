// Package probe is a TLS probe exporter compatible with Prometheus's
// blackbox_exporter: GET /probe?target=...&module=... runs one probe and
// answers its result as Prometheus metrics, with the metric names, types,
// help texts and labels of blackbox_exporter's http and tcp probers, so
// alert rules and dashboards written for blackbox work unchanged.
//
// Three modules exist, the first two blackbox's:
//
//   - http_2xx (the default): an HTTPS GET of the target (host:port, or
//     an https:// or http:// URL), following up to 10 redirects; success
//     is a 2xx status over a verified connection.
//   - tcp_tls: a TCP connection and a TLS handshake, nothing more; success
//     is a handshake with a verified certificate chain.
//   - tls_grade: a full scan (package scan) of the target, its grade and
//     findings as metrics.
//
// Differences from blackbox_exporter, each on purpose:
//
//   - The TLS client offers TLS 1.0 to 1.3 and every cipher suite Go
//     knows, including insecure ones, so that an endpoint stuck on an old
//     protocol is reported (probe_tls_version_info{version="TLS 1.0"}) and
//     alerted on, rather than merely failing.
//   - When the certificate chain does not verify (expired, untrusted,
//     wrong name) the probe still fails, but the presented chain is
//     reported: probe_ssl_earliest_cert_expiry shows an expired
//     certificate instead of vanishing.
//   - probe_ssl_last_chain_expiry_timestamp_seconds is reported only when
//     a chain verified; blackbox reports year 1 (-62135596800) otherwise.
//   - A bare host:port target of http_2xx means https://host:port/.
//   - IPv4 is preferred over IPv6 (blackbox's preferred_ip_protocol: ip4
//     with fallback), so a name with an unreachable AAAA record still
//     probes.
//
// The probe endpoint makes network requests for whoever can reach it (a
// server-side request forgery tool), so cmd/tlsgate serves it on loopback
// unless told otherwise.
//
// It imports internal/scan (the suite table and version names) and must
// not import the gateway's packages (server, proxy, plan, config): a probe
// is a client.
package probe
