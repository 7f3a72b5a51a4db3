package acme

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/tlsgate/tlsgate/internal/certs"
	"github.com/tlsgate/tlsgate/internal/storage"
)

// Status is the latest certificate request outcome for one name. The
// gateway keeps it in storage so `tlsgate certs list` can show it from
// another process.
type Status struct {
	Name        string    `json:"name"`
	CA          string    `json:"ca"`
	LastAttempt time.Time `json:"last_attempt,omitzero"`
	// LastResult is "in progress", "obtained", "renewed" or "failed".
	LastResult  string    `json:"last_result,omitempty"`
	LastError   string    `json:"last_error,omitempty"`
	LastSuccess time.Time `json:"last_success,omitzero"`
	// Failures counts failed attempts since the last success.
	Failures int `json:"consecutive_failures"`
}

// Request outcomes.
const (
	ResultInProgress = "in progress"
	ResultObtained   = "obtained"
	ResultRenewed    = "renewed"
	ResultFailed     = "failed"
)

type statusBook struct {
	store storage.Storage
	log   *slog.Logger
	mu    sync.Mutex
	m     map[string]Status
}

func newStatusBook(store storage.Storage, log *slog.Logger) *statusBook {
	return &statusBook{store: store, log: log, m: map[string]Status{}}
}

// touch makes sure name has a record, loading an earlier process's.
func (b *statusBook) touch(name, ca string) {
	b.mu.Lock()
	_, ok := b.m[name]
	b.mu.Unlock()
	if ok {
		return
	}
	st, err := LoadStatus(context.Background(), b.store, name)
	if err != nil {
		st = Status{Name: name}
	}
	st.CA = ca
	b.mu.Lock()
	if _, ok := b.m[name]; !ok {
		b.m[name] = st
	}
	b.mu.Unlock()
}

func (b *statusBook) get(name string) Status {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.m[name]
}

// update changes name's record with f and stores it.
func (b *statusBook) update(name string, f func(*Status)) {
	b.mu.Lock()
	st := b.m[name]
	st.Name = name
	f(&st)
	b.m[name] = st
	b.mu.Unlock()
	data, _ := json.Marshal(st)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.store.Store(ctx, storage.Status(name), data); err != nil {
		b.log.Warn("cannot record certificate status (tlsgate certs list will show an older one)", "name", name, "err", err)
	}
}

// LoadStatus reads name's recorded status from store.
func LoadStatus(ctx context.Context, store storage.Storage, name string) (Status, error) {
	data, err := store.Load(ctx, storage.Status(name))
	if err != nil {
		return Status{}, err
	}
	var st Status
	if err := json.Unmarshal(data, &st); err != nil {
		return Status{}, errors.New("unreadable status record: " + err.Error())
	}
	return st, nil
}

// onEvent turns certmagic's events into one log line per request outcome
// and the status record.
func (m *Manager) onEvent(ctx context.Context, ic *issuerConfig, event string, data map[string]any) {
	name, _ := data["identifier"].(string)
	if name == "" {
		return
	}
	renewal, _ := data["renewal"].(bool)
	ca := ic.settings.Directory
	switch event {
	case "cert_obtaining":
		args := []any{"name", name, "ca", ca, "challenges", ic.challenges(), "renewal", renewal}
		if rem, ok := data["remaining"].(time.Duration); ok {
			args = append(args, "remaining", rem.Round(time.Second).String())
		}
		m.log.Info("requesting certificate", args...)
		m.status.update(name, func(st *Status) {
			st.CA, st.LastAttempt, st.LastResult, st.LastError = ca, time.Now(), ResultInProgress, ""
		})
	case "cert_obtained":
		result := ResultObtained
		if renewal {
			result = ResultRenewed
		}
		args := []any{"name", name, "ca", ca}
		if path, _ := data["certificate_path"].(string); path != "" {
			args = append(args, m.describeStored(ctx, path)...)
		}
		m.log.Info("certificate "+result, args...)
		if ic.gate != nil {
			// On demand: counted by site, names are unbounded.
			if ic.obs != nil {
				ic.obs.Order(true)
			}
		} else if m.opts.OnResult != nil {
			m.opts.OnResult(name, true)
		}
		m.status.update(name, func(st *Status) {
			st.CA, st.LastResult, st.LastError, st.LastSuccess, st.Failures = ca, result, "", time.Now(), 0
		})
	case "cert_failed":
		err, _ := data["error"].(error)
		msg := "unknown error"
		if err != nil {
			msg = err.Error()
		}
		args := []any{"name", name, "ca", ca, "challenges", ic.challenges(), "renewal", renewal, "err", msg}
		switch {
		case ic.gate != nil && !renewal:
			m.log.Warn("on-demand certificate request failed; the name is refused until its back-off ends", append(args, "site", ic.site)...)
		case m.opts.OneShot:
			m.log.Debug("certificate request failed", args...)
		case renewal:
			m.log.Error("certificate renewal failed; the current certificate keeps serving and renewal is retried with back-off", args...)
		default:
			m.log.Error("certificate request failed; retrying with back-off (1 min, 2 min, ... up to 6 h)", args...)
		}
		if ic.gate != nil {
			if ic.obs != nil {
				ic.obs.Order(false)
			}
			if !renewal {
				ic.onOrderFailed(ctx, name)
			}
		} else if m.opts.OnResult != nil {
			m.opts.OnResult(name, false)
		}
		m.status.update(name, func(st *Status) {
			st.CA, st.LastResult, st.LastError = ca, ResultFailed, msg
			st.Failures++
		})
	}
}

func (ic *issuerConfig) challenges() string {
	if ic.issuer.DNS01Solver != nil {
		return DNS01 // certmagic offers the CA nothing else then
	}
	var c []string
	if !ic.issuer.DisableHTTPChallenge {
		c = append(c, HTTP01)
	}
	if !ic.issuer.DisableTLSALPNChallenge {
		c = append(c, TLSALPN01)
	}
	if len(c) == 0 {
		return "none"
	}
	s := c[0]
	for _, x := range c[1:] {
		s += "," + x
	}
	return s
}

// describeStored returns log attributes of the certificate just stored
// at path: its serial, validity and lifetime (what the CA's profile
// chose). Nothing when it cannot be read: the outcome is logged anyway.
func (m *Manager) describeStored(ctx context.Context, path string) []any {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	b, err := m.opts.Storage.Load(ctx, path)
	if err != nil {
		return nil
	}
	chain, err := certs.ParsePEMCertificates(b)
	if err != nil || len(chain) == 0 {
		return nil
	}
	leaf := chain[0]
	return []any{
		"serial", leaf.SerialNumber.Text(16),
		"not_before", leaf.NotBefore.UTC().Format(time.RFC3339),
		"not_after", leaf.NotAfter.UTC().Format(time.RFC3339),
		// NotAfter is inclusive (RFC 5280): a certificate valid for 90
		// days has NotAfter 1 s before NotBefore + 90 days.
		"lifetime", leaf.NotAfter.Add(time.Second).Sub(leaf.NotBefore).String(),
	}
}
