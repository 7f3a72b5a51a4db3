package testpeer

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/acme"
)

func TestPebbleStopStart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := StartPebble(t, dir, PebbleOptions{
		Profiles: map[string]time.Duration{"default": 90 * 24 * time.Hour, "short": 30 * time.Second},
	})

	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if bin := Require(t, "pebble"); bin != filepath.Join(root, "bin", "pebble") {
		t.Errorf("Require(pebble) = %s, want the repository's bin/pebble", bin)
	}

	caPEM, err := os.ReadFile(p.APICAFile)
	if err != nil {
		t.Fatal(err)
	}
	fromFile := x509.NewCertPool()
	if !fromFile.AppendCertsFromPEM(caPEM) || !fromFile.Equal(p.APIRoots) {
		t.Errorf("APICAFile %s does not hold the APIRoots CA", p.APICAFile)
	}

	client := &http.Client{
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.APIRoots}, DisableKeepAlives: true},
		Timeout:   5 * time.Second,
	}
	checkDirectory := func() {
		t.Helper()
		resp, err := client.Get(p.Directory)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var d struct {
			NewOrder    string `json:"newOrder"`
			RenewalInfo string `json:"renewalInfo"`
			Meta        struct {
				Profiles map[string]string `json:"profiles"`
			} `json:"meta"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(d.NewOrder, "https://127.0.0.1:") || !strings.HasPrefix(d.RenewalInfo, "https://127.0.0.1:") {
			t.Errorf("directory newOrder = %q, renewalInfo = %q: want https://127.0.0.1 URLs", d.NewOrder, d.RenewalInfo)
		}
		if len(d.Meta.Profiles) != 2 || d.Meta.Profiles["short"] == "" {
			t.Errorf("directory profiles = %v, want default and short", d.Meta.Profiles)
		}
	}
	checkDirectory()
	before := p.IssuerRoots(t)

	directory := p.Directory
	p.Stop(t)
	if resp, err := client.Get(p.Directory); err == nil {
		resp.Body.Close()
		t.Fatal("the directory still answers after Stop")
	}
	p.Start(t)
	if p.Directory != directory {
		t.Errorf("Directory after Start = %s, want %s", p.Directory, directory)
	}
	checkDirectory()
	if after := p.IssuerRoots(t); after.Equal(before) {
		t.Error("the issuing root did not change across Stop and Start")
	}
}

// TestPebbleIssue checks the parts an ACME test relies on: challtestsrv's
// DNS sends Pebble to 127.0.0.1:HTTPPort, the chain verifies against
// IssuerRoots, the profile sets the validity, and SetRenewalInfo changes
// what ARI answers.
func TestPebbleIssue(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := StartPebble(t, t.TempDir(), PebbleOptions{
		HTTPPort:    ln.Addr().(*net.TCPAddr).Port,
		Profiles:    map[string]time.Duration{"short": time.Hour},
		NonceReject: -1,
	})

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	accountKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	client := &acme.Client{
		Key:          accountKey,
		DirectoryURL: p.Directory,
		HTTPClient:   &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.APIRoots}}},
	}
	if _, err := client.Register(ctx, &acme.Account{}, acme.AcceptTOS); err != nil {
		t.Fatal(err)
	}

	var challenges http.ServeMux
	srv := &http.Server{Handler: &challenges}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	const name = "app.tlsgate.test" // any name: challtestsrv answers 127.0.0.1
	order, err := client.AuthorizeOrder(ctx, acme.DomainIDs(name))
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range order.AuthzURLs {
		z, err := client.GetAuthorization(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		if z.Status == acme.StatusValid {
			t.Fatal("Pebble reused an authorization (PEBBLE_AUTHZREUSE is not 0)")
		}
		for _, c := range z.Challenges {
			if c.Type != "http-01" {
				continue
			}
			resp, err := client.HTTP01ChallengeResponse(c.Token)
			if err != nil {
				t.Fatal(err)
			}
			challenges.HandleFunc(client.HTTP01ChallengePath(c.Token), func(w http.ResponseWriter, r *http.Request) {
				w.Write([]byte(resp))
			})
			if _, err := client.Accept(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := client.WaitAuthorization(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	certKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{name}}, certKey)
	if err != nil {
		t.Fatal(err)
	}
	// x/crypto/acme takes an order's URL from the Location header, which
	// Pebble sends only for newOrder. Pebble finalizes asynchronously
	// ("processing"), so CreateOrderCert then polls the URL "" and fails:
	// poll the order's URL from newOrder instead.
	orderURL := order.URI
	if order, err = client.WaitOrder(ctx, orderURL); err != nil {
		t.Fatal(err)
	}
	_, _, finalizeErr := client.CreateOrderCert(ctx, order.FinalizeURL, csr, true)
	if order, err = client.WaitOrder(ctx, orderURL); err != nil || order.Status != acme.StatusValid {
		t.Fatalf("finalizing: %v (order %+v, CreateOrderCert: %v)", err, order, finalizeErr)
	}
	der, err := client.FetchCert(ctx, order.CertURL, true)
	if err != nil {
		t.Fatal(err)
	}
	var chain []*x509.Certificate
	for _, b := range der {
		c, err := x509.ParseCertificate(b)
		if err != nil {
			t.Fatal(err)
		}
		chain = append(chain, c)
	}
	leaf := chain[0]
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: p.IssuerRoots(t), Intermediates: inter}); err != nil {
		t.Errorf("the issued chain does not verify against IssuerRoots: %v", err)
	}
	if got := leaf.NotAfter.Sub(leaf.NotBefore); got != time.Hour-time.Second {
		t.Errorf("validity = %v, want the profile's hour less a second", got)
	}

	// ARI: the certificate's ID is base64url(AKI) "." base64url(serial).
	var raw map[string]any
	resp, err := client.HTTPClient.Get(p.Directory)
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&raw)
	resp.Body.Close()
	ariURL := raw["renewalInfo"].(string) + "/" +
		base64.RawURLEncoding.EncodeToString(leaf.AuthorityKeyId) + "." +
		base64.RawURLEncoding.EncodeToString(leaf.SerialNumber.Bytes())
	window := func() (start, end time.Time) {
		t.Helper()
		resp, err := client.HTTPClient.Get(ariURL)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var ri struct {
			SuggestedWindow struct{ Start, End time.Time } `json:"suggestedWindow"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&ri); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s (%v)", ariURL, resp.Status, err)
		}
		return ri.SuggestedWindow.Start, ri.SuggestedWindow.End
	}
	// Pebble's own window is 2/3 into the validity ±1 day, clamped to it:
	// for certificates shorter than a few days, the whole validity.
	if start, end := window(); start.Before(leaf.NotBefore.Add(-time.Second)) || end.After(leaf.NotAfter.Add(time.Second)) {
		t.Errorf("default ARI window [%v, %v) is not within the validity [%v, %v]", start, end, leaf.NotBefore, leaf.NotAfter)
	}
	wantStart := time.Now().Add(-time.Minute).Truncate(time.Second)
	wantEnd := wantStart.Add(time.Minute)
	p.SetRenewalInfo(t, leaf, wantStart, wantEnd)
	if start, end := window(); !start.Equal(wantStart) || !end.Equal(wantEnd) {
		t.Errorf("ARI window after SetRenewalInfo = [%v, %v), want [%v, %v)", start, end, wantStart, wantEnd)
	}
}
