package cluster

import (
	"context"
	"time"

	"go.etcd.io/etcd/client/v3/concurrency"
)

// lead campaigns, until ctx ends, for the role of the node that does a
// fleet-wide job (rotating the ticket keys, the ECH keys): an etcd
// election under the prefix. While this node holds it, run runs; it
// returns when the session ends (etcd unreachable longer than
// electionTTL) or when it gives the role up, and the node resigns and
// campaigns again. eligible, when set, keeps the node out of the
// election while it returns false.
func (c *Cluster) lead(ctx context.Context, role string, eligible func() bool, run func(ctx context.Context, sess *concurrency.Session)) {
	for ctx.Err() == nil {
		if eligible != nil && !eligible() {
			sleep(ctx, ineligibleCheck)
			continue
		}
		gctx, cancel := withDeadline(ctx)
		lease, err := c.cli.Grant(gctx, int64(electionTTL/time.Second))
		cancel()
		if err != nil {
			sleep(ctx, 2*time.Second)
			continue
		}
		sess, err := concurrency.NewSession(c.cli, concurrency.WithLease(lease.ID), concurrency.WithContext(ctx))
		if err != nil {
			sleep(ctx, 2*time.Second)
			continue
		}
		e := concurrency.NewElection(sess, c.key(role, "rotator"))
		if err := e.Campaign(ctx, c.node); err != nil {
			sess.Close()
			sleep(ctx, time.Second)
			continue
		}
		run(ctx, sess)
		rctx, cancel := withDeadline(context.WithoutCancel(ctx))
		e.Resign(rctx)
		cancel()
		sess.Close()
	}
}

// ineligibleCheck is how often a node kept out of an election looks
// whether a reload made it eligible again.
const ineligibleCheck = 5 * time.Second
