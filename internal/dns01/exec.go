package dns01

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/libdns/libdns"
	"github.com/miekg/dns"
)

// DefaultExecTimeout bounds one run of an Exec command when Exec.Timeout
// is zero.
const DefaultExecTimeout = time.Minute

// Exec runs a command of the operator's to add and remove TXT records, for
// a DNS host no built-in provider speaks to. The calling convention is
// lego's exec provider's, so hooks written for lego work unchanged:
//
//	COMMAND... present _acme-challenge.example.com. VALUE
//	COMMAND... cleanup _acme-challenge.example.com. VALUE
//
// The name is absolute, with its trailing dot. The command is run without
// a shell, with the gateway's environment; exit status 0 means done. Past
// its timeout it is killed with the processes it started (its process
// group, on Unix). Its
// standard error (the last 1 KiB) goes into the error when it fails.
// Exec implements libdns.RecordAppender and libdns.RecordDeleter for TXT
// records; its methods may be called concurrently, and so the command must
// cope with concurrent runs for one name (a wildcard and its base name
// share _acme-challenge).
type Exec struct {
	// Command is the program and its first arguments.
	Command []string
	// Timeout bounds each run; 0 means DefaultExecTimeout. The command is
	// killed when it passes.
	Timeout time.Duration
}

var (
	_ libdns.RecordAppender = (*Exec)(nil)
	_ libdns.RecordDeleter  = (*Exec)(nil)
)

// AppendRecords runs "COMMAND present FQDN VALUE" for each record.
func (e *Exec) AppendRecords(ctx context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	return e.each(ctx, "present", zone, recs)
}

// DeleteRecords runs "COMMAND cleanup FQDN VALUE" for each record.
func (e *Exec) DeleteRecords(ctx context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	return e.each(ctx, "cleanup", zone, recs)
}

func (e *Exec) each(ctx context.Context, action, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	if len(e.Command) == 0 || e.Command[0] == "" {
		return nil, errors.New("exec DNS provider: no command")
	}
	for i, rec := range recs {
		rr := rec.RR()
		if !strings.EqualFold(rr.Type, "TXT") {
			return recs[:i], fmt.Errorf("exec DNS provider: %s records are not supported, only TXT", rr.Type)
		}
		fqdn := dns.Fqdn(libdns.AbsoluteName(rr.Name, dns.Fqdn(zone)))
		if err := e.run(ctx, action, fqdn, rr.Data); err != nil {
			return recs[:i], err
		}
	}
	return recs, nil
}

func (e *Exec) run(ctx context.Context, action, fqdn, value string) error {
	timeout := e.Timeout
	if timeout <= 0 {
		timeout = DefaultExecTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	args := append(append([]string{}, e.Command[1:]...), action, fqdn, value)
	cmd := exec.CommandContext(ctx, e.Command[0], args...)
	killGroup(cmd)
	var stderr tailBuffer
	cmd.Stderr = &stderr
	// A hook that leaves a child holding stderr open must not hold us
	// past the timeout.
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	if err == nil {
		return nil
	}
	msg := strings.TrimSpace(stderr.String())
	if ctx.Err() == context.DeadlineExceeded {
		err = fmt.Errorf("killed after %v", timeout)
	}
	if msg != "" {
		return fmt.Errorf("exec DNS provider: %s %s %s: %w: %s", e.Command[0], action, fqdn, err, msg)
	}
	return fmt.Errorf("exec DNS provider: %s %s %s: %w (it wrote nothing to stderr)", e.Command[0], action, fqdn, err)
}

// tailBuffer keeps the last 1 KiB written to it.
type tailBuffer struct{ bytes.Buffer }

func (b *tailBuffer) Write(p []byte) (int, error) {
	n := len(p)
	b.Buffer.Write(p)
	if over := b.Len() - 1024; over > 0 {
		b.Next(over)
	}
	return n, nil
}
