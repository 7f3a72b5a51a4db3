// Command tlsgate is the gateway and its tools: serve, proxy and demo run
// the gateway (through the Go API at the module root, the same code a Go
// program embeds), and config, certs, ca, cluster, lint, scan and probe
// each call one package and format its result.
//
// The command owns flags, usage text, exit codes (0 success, 1 failure, 2
// usage) and output formatting: text, JSON, SARIF and colours, with one
// flag vocabulary across subcommands (--format, --color, --jobs; older
// spellings kept as aliases) in flags.go and one error voice in main.go's
// report ("tlsgate: error: ...", then "tlsgate: hint: ..."). Policy lives
// in the packages; nothing imports this one.
package main
