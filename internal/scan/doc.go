// Package scan grades a TLS endpoint the way SSL Labs' Server Rating Guide
// does, from probes it makes itself: protocol versions and cipher suites
// with hand-built ClientHellos over raw sockets (SSL 2.0 to TLS 1.3, weak
// suites crypto/tls cannot speak), key-exchange groups including the
// post-quantum hybrid X25519MLKEM768, the certificate chain, HSTS and the
// plain-HTTP redirect, ALPN, session resumption, secure renegotiation,
// compression, TLS_FALLBACK_SCSV and Heartbleed.
//
// The flow is probes -> facts (Result) -> findings (Findings) -> grade
// (Rate). Rate reads only a Result, so a saved JSON result can be
// re-graded. docs/grading.md states every grading rule and its source;
// docs/scan.md documents the JSON form of Result.
//
// The package never prints. The dialer and the clock are injectable
// (Options.Dial, Options.Now). A scan is polite: at most
// Options.Parallel connections to the target at once (4), each bounded by
// Options.Timeout, and about 30 to 60 connections in all; the Heartbleed
// probe never reads the memory a vulnerable server leaks.
//
// It owns the table of cipher suites (every suite it can offer, those Go
// refuses included; the probe's labels come from it) and the severity of
// each fact, which the CLI only colours. It imports nothing of this
// module and must not import tlspolicy: it speaks broken TLS on purpose.
package scan
