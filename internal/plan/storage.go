package plan

import (
	"log/slog"

	"github.com/tlsgate/tlsgate/internal/cluster"
	"github.com/tlsgate/tlsgate/internal/config"
	"github.com/tlsgate/tlsgate/internal/datadir"
	"github.com/tlsgate/tlsgate/internal/storage"
)

// Storage is the plan's choice of where shared state lives: an etcd
// cluster (a fleet) or files under the data dir (one gateway). Everything
// that reads or writes ACME certificates — the gateway, `tlsgate certs
// list` and `certs renew` — opens it through Open, so they all see the
// same store.
type Storage struct {
	// Etcd, when set, is the fleet's etcd.
	Etcd *config.Etcd
	// Dir is the ACME storage directory when Etcd is nil.
	Dir string
}

// StorageOf is cfg's storage choice: etcd when storage.etcd is set, else
// the data dir's acme/ directory. Resolve uses it; so do commands that
// need only the store (certs list), without resolving every site.
func StorageOf(cfg *config.Config) Storage {
	return Storage{Etcd: cfg.Storage.Etcd, Dir: datadir.ACME(datadir.Resolve(cfg.DataDir))}
}

// Check reads the files the storage settings name (encryption key, TLS
// files, password) without making a client: nothing is dialled, no
// credential sent. Errors are positioned config errors of cfg.
func (s Storage) Check(cfg *config.Config) error {
	if s.Etcd == nil {
		return nil
	}
	if err := cluster.Check(*s.Etcd); err != nil {
		return cfg.Errorf("storage.etcd", "%v", err)
	}
	return nil
}

// Open opens the store. With etcd it also returns the cluster (shared
// ticket keys, status), which the caller must Close; node names this
// process in the cluster. cfg positions the errors.
func (s Storage) Open(cfg *config.Config, node string, log *slog.Logger) (storage.Storage, *cluster.Cluster, error) {
	if s.Etcd == nil {
		return storage.NewFile(s.Dir, log), nil, nil
	}
	c, err := cluster.Open(*s.Etcd, node, log)
	if err != nil {
		return nil, nil, cfg.Errorf("storage.etcd", "%v", err)
	}
	return c.Storage(), c, nil
}
