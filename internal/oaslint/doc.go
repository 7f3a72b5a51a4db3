// Package oaslint checks OpenAPI documents for transport security: the
// linter behind 'tlsgate lint', and the reader of the routes a gateway
// derives from a document.
//
// Load (or Parse) reads OpenAPI 2.0, 3.0, 3.1 or 3.2, YAML or JSON, with
// YAML anchors, aliases and merge keys, and every local and relative-file
// $ref resolved; every problem with the input is a *LoadError with the
// file, line and column, never a panic. A Linter checks a Document
// against the Rules, each with a stable ID and a default Severity, and
// returns a Report of Findings: rule, severity, one-line message, file,
// line and column of the offending value (1-based, columns in characters;
// a value reached through a YAML alias is reported at the alias), and its
// JSON path. A Config (a YAML file) turns rules off or re-levels them; an
// x-tlsgate-ignore extension silences rules at and below the object that
// carries it. Suppressed findings are kept in the Report, so that a tool
// can show what was silenced and by what.
//
// LintFiles lints many files in parallel, with Expand turning
// directories and glob patterns into inputs. Operations lists the
// operations of a document (method, path template under its servers' base
// path) and the client-certificate mode of each (mutualTLS).
//
// The package never prints: cmd/tlsgate formats Reports as text, JSON,
// SARIF 2.1.0 and GitHub annotations. docs/lint.md documents the rules and
// the reasons for the design (a JSON parser of its own, yaml.Node for
// YAML, rather than a full OpenAPI model).
//
// It imports internal/loopback and internal/sarif of this module and must
// not import the gateway (server, plan, proxy, config): package plan reads
// the routes it derives, not the other way round.
package oaslint
