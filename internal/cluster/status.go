package cluster

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"path"
	"sort"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Status is what `tlsgate cluster status` shows.
type Status struct {
	Members      []Member          `json:"members"`
	Rotator      string            `json:"ticket_key_rotator"` // node name, "" when none
	TicketKeys   int               `json:"ticket_keys"`
	Rotated      time.Time         `json:"ticket_keys_rotated,omitzero"`
	Certificates []StoredCert      `json:"certificates"`
	Errors       []string          `json:"errors,omitempty"` // what could not be read
	Locks        map[string]string `json:"-"`
}

// Member is one etcd member.
type Member struct {
	Name      string `json:"name"`
	Endpoint  string `json:"endpoint"`
	Healthy   bool   `json:"healthy"`
	Leader    bool   `json:"leader"`
	Version   string `json:"version,omitempty"`
	RaftTerm  uint64 `json:"raft_term,omitempty"`
	DBSize    int64  `json:"db_size_bytes,omitempty"`
	Error     string `json:"error,omitempty"`
	ClientURL string `json:"-"`
}

// StoredCert is a certificate in the shared storage.
type StoredCert struct {
	Name     string    `json:"name"`
	Issuer   string    `json:"issuer"` // the ACME CA's storage key
	NotAfter time.Time `json:"not_after"`
	Serial   string    `json:"serial"`
}

// Status reads the cluster's state; parts that cannot be read are listed
// in Errors rather than failing the whole report.
func (c *Cluster) Status(ctx context.Context) Status {
	var st Status
	// Members that do not accept a connection are reported as such, at
	// once, and not asked anything; when none does, nothing else can be
	// read.
	down := unreachable(ctx, c.cfg.Endpoints)
	if len(down) == len(c.cfg.Endpoints) {
		for _, ep := range c.cfg.Endpoints {
			st.Members = append(st.Members, Member{Endpoint: ep, Error: down[ep]})
		}
		st.Errors = append(st.Errors, "no etcd endpoint accepts connections")
		return st
	}
	downAt := map[string]string{}
	for ep, why := range down {
		downAt[hostPort(ep)] = why
	}
	cctx, cancel := withDeadline(ctx)
	members, err := c.cli.MemberList(cctx)
	cancel()
	if err != nil {
		st.Errors = append(st.Errors, "listing members: "+err.Error())
		for _, ep := range c.cfg.Endpoints {
			st.Members = append(st.Members, Member{Endpoint: ep})
		}
	} else {
		for _, m := range members.Members {
			mem := Member{Name: m.Name}
			if len(m.ClientURLs) > 0 {
				mem.Endpoint = m.ClientURLs[0]
			}
			st.Members = append(st.Members, mem)
		}
	}
	// A configured endpoint that is down and no member's: say so, or it
	// would go unmentioned.
	for _, ep := range c.cfg.Endpoints {
		why, isDown := down[ep]
		if !isDown {
			continue
		}
		member := false
		for _, m := range st.Members {
			member = member || (m.Endpoint != "" && hostPort(m.Endpoint) == hostPort(ep))
		}
		if !member {
			st.Errors = append(st.Errors, fmt.Sprintf("endpoint %s (storage.etcd.endpoints) is no member's client URL: %s", ep, why))
		}
	}
	for i := range st.Members {
		m := &st.Members[i]
		if m.Endpoint == "" {
			m.Error = "no client URL (not started?)"
			continue
		}
		if why, ok := downAt[hostPort(m.Endpoint)]; ok {
			m.Error = why
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		s, err := c.cli.Status(cctx, m.Endpoint)
		cancel()
		if err != nil {
			m.Error = err.Error()
			continue
		}
		m.Healthy = len(s.Errors) == 0
		m.Leader = s.Header.MemberId == s.Leader
		m.Version, m.RaftTerm, m.DBSize = s.Version, s.RaftTerm, s.DbSize
	}

	// The rotator: the election's leader, read without campaigning.
	cctx, cancel = withDeadline(ctx)
	// The election's leader is its campaign key created first.
	resp, err := c.cli.Get(cctx, c.key("tickets", "rotator")+"/", clientv3.WithFirstCreate()...)
	cancel()
	if err != nil {
		st.Errors = append(st.Errors, "reading the ticket-key rotator: "+err.Error())
	} else if len(resp.Kvs) > 0 {
		st.Rotator = string(resp.Kvs[0].Value)
	}
	if ts, _, err := c.loadTickets(ctx); err != nil {
		st.Errors = append(st.Errors, "reading ticket keys: "+err.Error())
	} else if ts != nil {
		st.TicketKeys, st.Rotated = len(ts.Keys), ts.Rotated
	}

	store := c.Storage()
	keys, err := store.List(ctx, "certificates", true)
	if err != nil && !strings.Contains(err.Error(), "not exist") {
		st.Errors = append(st.Errors, "listing certificates: "+err.Error())
	}
	for _, k := range keys {
		if !strings.HasSuffix(k, ".crt") {
			continue
		}
		data, err := store.Load(ctx, k)
		if err != nil {
			st.Errors = append(st.Errors, err.Error())
			continue
		}
		b, _ := pem.Decode(data)
		if b == nil {
			continue
		}
		leaf, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			continue
		}
		// certificates/<issuer>/<name>/<name>.crt
		parts := strings.Split(k, "/")
		issuer := ""
		if len(parts) >= 4 {
			issuer = parts[1]
		}
		st.Certificates = append(st.Certificates, StoredCert{Name: strings.TrimSuffix(path.Base(k), ".crt"),
			Issuer: issuer, NotAfter: leaf.NotAfter, Serial: leaf.SerialNumber.Text(16)})
	}
	sort.Slice(st.Certificates, func(i, j int) bool { return st.Certificates[i].Name < st.Certificates[j].Name })
	return st
}

// String renders a short human summary line of a member.
func (m Member) String() string {
	if m.Error != "" {
		return strings.TrimSpace(fmt.Sprintf("%s %s: unreachable: %s", m.Name, m.Endpoint, m.Error))
	}
	role := "follower"
	if m.Leader {
		role = "leader"
	}
	return fmt.Sprintf("%s %s: %s, etcd %s, term %d", m.Name, m.Endpoint, role, m.Version, m.RaftTerm)
}
