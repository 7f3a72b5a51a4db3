package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/tlsgate/tlsgate/internal/ech"
)

// The fleet's Encrypted Client Hello keys are kept as the session-ticket
// keys are: one sealed value (ech/ring), watched and applied by every
// node, changed by one node elected through etcd (ech/rotator). Every
// gateway therefore decrypts the hello of any client, whichever gateway's
// config it holds.

func (c *Cluster) echKey() string { return c.key("ech", "ring") }

func (c *Cluster) loadECH(ctx context.Context) (ech.Ring, int64, error) {
	cctx, cancel := withDeadline(ctx)
	defer cancel()
	resp, err := c.cli.Get(cctx, c.echKey())
	if err != nil {
		return ech.Ring{}, 0, err
	}
	if len(resp.Kvs) == 0 {
		return ech.Ring{}, 0, nil
	}
	r, err := c.decodeECH(resp.Kvs[0].Value)
	return r, resp.Kvs[0].ModRevision, err
}

func (c *Cluster) decodeECH(v []byte) (ech.Ring, error) {
	plain, _, err := c.sealer.open(c.echKey(), v)
	if err != nil {
		return ech.Ring{}, err
	}
	var r ech.Ring
	if err := json.Unmarshal(plain, &r); err != nil {
		return ech.Ring{}, fmt.Errorf("ECH keys in etcd: %w", err)
	}
	if err := r.Check(); err != nil {
		return ech.Ring{}, fmt.Errorf("ECH keys in etcd: %w", err)
	}
	return r, nil
}

// errECHRace: another node changed the ring between our read and write.
var errECHRace = errors.New("the ECH keys changed meanwhile")

// putECH writes r if the stored ring is still at rev (0: absent) and
// returns its new revision.
func (c *Cluster) putECH(ctx context.Context, r ech.Ring, rev int64) (int64, error) {
	plain, err := json.Marshal(r)
	if err != nil {
		return 0, err
	}
	sealed := c.sealer.seal(c.echKey(), plain, time.Now())
	var written int64
	err = retry(ctx, func(ctx context.Context) error {
		resp, err := c.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(c.echKey()), "=", rev)).
			Then(clientv3.OpPut(c.echKey(), string(sealed))).
			Commit()
		if err != nil {
			return err
		}
		if !resp.Succeeded {
			return errECHRace
		}
		written = resp.Header.Revision
		return nil
	})
	return written, err
}

// LoadECH returns the fleet's ECH keys and their etcd revision (rings of
// higher revisions are newer). The first gateway of a fleet (none stored
// yet) makes them for s. 'tlsgate ech show' and a starting gateway read
// them with it.
func (c *Cluster) LoadECH(ctx context.Context, s ech.Settings) (ech.Ring, int64, error) {
	for range 3 {
		r, rev, err := c.loadECH(ctx)
		if err != nil {
			return ech.Ring{}, 0, fmt.Errorf("reading the fleet's ECH keys from etcd: %w", err)
		}
		if len(r.Keys) > 0 {
			return r, rev, nil
		}
		if r, _, err = r.Update(s, time.Now()); err != nil {
			return ech.Ring{}, 0, err
		}
		if written, err := c.putECH(ctx, r, rev); err == nil {
			return r, written, nil
		} else if !errors.Is(err, errECHRace) {
			return ech.Ring{}, 0, fmt.Errorf("storing the fleet's ECH keys in etcd: %w", err)
		}
	}
	return ech.Ring{}, 0, errors.New("storing the fleet's ECH keys in etcd: other gateways keep changing them; try again")
}

// RotateECH makes a new current ECH key for the fleet now (the others
// stay for their grace period) and returns the new ring and its
// revision. Every gateway applies it through its watch.
func (c *Cluster) RotateECH(ctx context.Context, s ech.Settings) (ech.Ring, int64, error) {
	for range 3 {
		r, rev, err := c.loadECH(ctx)
		if err != nil {
			return ech.Ring{}, 0, fmt.Errorf("reading the fleet's ECH keys from etcd: %w", err)
		}
		if r, err = r.Rotated(s, time.Now()); err != nil {
			return ech.Ring{}, 0, err
		}
		if r, _, err = r.Update(s, time.Now()); err != nil {
			return ech.Ring{}, 0, err
		}
		if written, err := c.putECH(ctx, r, rev); err == nil {
			return r, written, nil
		} else if !errors.Is(err, errECHRace) {
			return ech.Ring{}, 0, fmt.Errorf("storing the fleet's ECH keys in etcd: %w", err)
		}
	}
	return ech.Ring{}, 0, errors.New("rotating the fleet's ECH keys: other gateways keep changing them; try again")
}

// ShareECH keeps the fleet's ECH keys applied (set is called with every
// ring read, and its revision: a caller that also applies rings of its
// own (LoadECH, RotateECH) must skip older ones) until ctx ends; one elected node brings the ring up to date
// (settings() says how: it is read at each check, so a reload applies).
// When etcd is unreachable the last ring stays in use.
func (c *Cluster) ShareECH(ctx context.Context, settings func() ech.Settings, set func(ech.Ring, int64)) {
	// A node with ECH off leaves the role to one that uses it, or the
	// fleet's keys would never rotate nor expire.
	on := func() bool { return settings().PublicName != "" }
	go c.lead(ctx, "ech", on, func(ctx context.Context, sess *concurrency.Session) {
		c.log.Info("this node rotates the fleet's ECH keys", "node", c.node)
		c.updateECHWhileLeader(ctx, sess, settings)
	})
	for ctx.Err() == nil {
		r, rev, err := c.loadECH(ctx)
		if err != nil {
			c.log.Warn("cannot read the fleet's ECH keys from etcd; keeping the current ones", "err", err)
			sleep(ctx, 2*time.Second)
			continue
		}
		if len(r.Keys) > 0 {
			set(r, rev)
		}
		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		for resp := range c.cli.Watch(wctx, c.echKey(), clientv3.WithRev(rev+1)) {
			if resp.Err() != nil {
				break
			}
			for _, ev := range resp.Events {
				if ev.Type != clientv3.EventTypePut {
					continue
				}
				r, err := c.decodeECH(ev.Kv.Value)
				if err != nil {
					c.log.Warn("unreadable ECH keys in etcd; keeping the current ones", "err", err)
					continue
				}
				set(r, ev.Kv.ModRevision)
				c.log.Debug("ECH keys updated", "keys", len(r.Keys))
			}
		}
		cancel()
		sleep(ctx, 500*time.Millisecond)
	}
}

// echMaxWait bounds the leader's sleep, so that a reload's new settings
// (a new public name) apply within it.
const echMaxWait = time.Minute

func (c *Cluster) updateECHWhileLeader(ctx context.Context, sess *concurrency.Session, settings func() ech.Settings) {
	for {
		s := settings()
		wait := 2 * time.Second
		if s.PublicName == "" {
			c.log.Info("ECH is off on this node: leaving the ECH-key rotator role to another")
			return // resign (lead waits while ECH is off)
		}
		if r, rev, err := c.loadECH(ctx); err == nil {
			next, changed, err := r.Update(s, time.Now())
			if err == nil && changed {
				_, err = c.putECH(ctx, next, rev)
			}
			if err != nil {
				c.log.Warn("rotating the fleet's ECH keys failed; retrying", "err", err)
			} else {
				wait = min(time.Until(next.NextChange(s)), echMaxWait)
				wait = max(wait, time.Second)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-sess.Done():
			c.log.Warn("lost the ECH-key rotator role (etcd session expired); campaigning again")
			return
		case <-time.After(wait):
		}
	}
}
