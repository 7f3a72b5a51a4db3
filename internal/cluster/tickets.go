package cluster

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/tlsgate/tlsgate/internal/tlspolicy"
)

// ticketState is the fleet's session-ticket key ring as stored (sealed).
type ticketState struct {
	Keys    [][32]byte `json:"keys"` // newest first
	Rotated time.Time  `json:"rotated"`
	By      string     `json:"by"` // the node that rotated
}

// electionTTL is how long the rotator's leadership outlives it.
const electionTTL = 10 * time.Second

// ShareTicketKeys keeps tk equal to the fleet's ticket keys until ctx
// ends: every node watches the shared ring and applies it; one node,
// elected through etcd, adds a new key every interval and keeps the
// newest keep. Until the ring is read, tk keeps its own keys; when etcd is
// unreachable, the last ring stays in use (resumption across nodes may
// fail for new tickets, nothing else does).
func (c *Cluster) ShareTicketKeys(ctx context.Context, tk *tlspolicy.TicketKeys, interval time.Duration, keep int) {
	go c.lead(ctx, "tickets", nil, func(ctx context.Context, sess *concurrency.Session) {
		c.log.Info("this node rotates the fleet's session-ticket keys", "node", c.node, "every", interval.String())
		c.rotateWhileLeader(ctx, sess, interval, keep)
	})
	c.watchTickets(ctx, tk)
}

func (c *Cluster) ticketsKey() string { return c.key("tickets", "ring") }

func (c *Cluster) loadTickets(ctx context.Context) (*ticketState, int64, error) {
	cctx, cancel := withDeadline(ctx)
	defer cancel()
	resp, err := c.cli.Get(cctx, c.ticketsKey())
	if err != nil {
		return nil, 0, err
	}
	if len(resp.Kvs) == 0 {
		return nil, 0, nil
	}
	return c.decodeTickets(resp.Kvs[0].Value, resp.Kvs[0].ModRevision)
}

func (c *Cluster) decodeTickets(v []byte, rev int64) (*ticketState, int64, error) {
	plain, _, err := c.sealer.open(c.ticketsKey(), v)
	if err != nil {
		return nil, 0, err
	}
	var st ticketState
	if err := json.Unmarshal(plain, &st); err != nil {
		return nil, 0, fmt.Errorf("ticket keys in etcd: %w", err)
	}
	return &st, rev, nil
}

// watchTickets applies the ring now and at every change.
func (c *Cluster) watchTickets(ctx context.Context, tk *tlspolicy.TicketKeys) {
	for ctx.Err() == nil {
		st, rev, err := c.loadTickets(ctx)
		if err != nil {
			c.log.Warn("cannot read the fleet's session-ticket keys from etcd; keeping the current ones", "err", err)
			sleep(ctx, 2*time.Second)
			continue
		}
		if st != nil {
			tk.Set(st.Keys)
		}
		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		for resp := range c.cli.Watch(wctx, c.ticketsKey(), clientv3.WithRev(rev+1)) {
			if resp.Err() != nil {
				break
			}
			for _, ev := range resp.Events {
				if ev.Type != clientv3.EventTypePut {
					continue
				}
				st, _, err := c.decodeTickets(ev.Kv.Value, ev.Kv.ModRevision)
				if err != nil {
					c.log.Warn("unreadable session-ticket keys in etcd; keeping the current ones", "err", err)
					continue
				}
				tk.Set(st.Keys)
				c.log.Debug("session-ticket keys updated", "rotated_by", st.By, "keys", len(st.Keys))
			}
		}
		cancel()
		sleep(ctx, 500*time.Millisecond)
	}
}

func (c *Cluster) rotateWhileLeader(ctx context.Context, sess *concurrency.Session, interval time.Duration, keep int) {
	for {
		st, _, err := c.loadTickets(ctx)
		wait := interval
		if err == nil {
			if st == nil || time.Since(st.Rotated) >= interval {
				if err := c.rotate(ctx, st, keep); err != nil {
					c.log.Warn("rotating session-ticket keys failed; retrying", "err", err)
					wait = 2 * time.Second
				}
			} else {
				wait = interval - time.Since(st.Rotated)
			}
		} else {
			wait = 2 * time.Second
		}
		select {
		case <-ctx.Done():
			return
		case <-sess.Done():
			c.log.Warn("lost the ticket-key rotator role (etcd session expired); campaigning again")
			return
		case <-time.After(wait):
		}
	}
}

// rotate puts a new key first in the ring, keeping keep keys.
func (c *Cluster) rotate(ctx context.Context, cur *ticketState, keep int) error {
	var k [32]byte
	rand.Read(k[:])
	next := ticketState{Keys: [][32]byte{k}, Rotated: time.Now(), By: c.node}
	if cur != nil {
		next.Keys = append(next.Keys, cur.Keys...)
	}
	if len(next.Keys) > keep {
		next.Keys = next.Keys[:keep]
	}
	plain, _ := json.Marshal(next)
	sealed := c.sealer.seal(c.ticketsKey(), plain, next.Rotated)
	return retry(ctx, func(ctx context.Context) error {
		_, err := c.cli.Put(ctx, c.ticketsKey(), string(sealed))
		return err
	})
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
