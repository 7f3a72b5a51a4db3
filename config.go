package tlsgate

import (
	"github.com/tlsgate/tlsgate/internal/config"
)

// A Config is a tlsgate YAML configuration: sites with their hosts,
// certificates and routes to upstreams, client-certificate policy per
// route, routes derived from OpenAPI documents, timeouts, limits, the
// admin listener and fleet storage. The README's configuration reference
// and examples/ describe the format; `tlsgate config validate` checks a
// file.
//
// A Server with a Config serves what it describes, as `tlsgate serve`
// does (which is built on it). A Config is read-only once made and may be
// shared.
type Config struct {
	cfg  *config.Config
	path string // re-read by Reload; empty for ParseConfig
}

// LoadConfig reads and checks a config file. Every problem is reported at
// once, each as file:line:column, the key, and what to do. A Server's
// Reload re-reads the file.
func LoadConfig(path string) (*Config, error) {
	c, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	return &Config{cfg: c, path: path}, nil
}

// ParseConfig checks a config given as YAML text; name stands for its file
// in errors. Relative paths in it are relative to the working directory.
// A Server's Reload re-reads only the certificates it names.
func ParseConfig(name string, yaml []byte) (*Config, error) {
	c, err := config.ParseAll(name, yaml)
	if err != nil {
		return nil, err
	}
	return &Config{cfg: c}, nil
}

// Log returns the config's log settings: format ("json", "text" or
// "auto") and level ("debug", "info", "warn" or "error"), for the caller
// to build Server.Logger as the config asks.
func (c *Config) Log() (format, level string) { return c.cfg.Log.Format, c.cfg.Log.Level }
