package ca

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	pkcs12 "software.sslmate.com/src/go-pkcs12"

	"github.com/tlsgate/tlsgate/internal/atomicfile"
)

// File modes of what is written for an issued certificate. A private key,
// and the PKCS#12 bundle that holds one with the password that opens it,
// are for the owner only; certificates are public.
const (
	privateMode = 0o600
	publicMode  = 0o644
	// outDirMode is that of an output directory created for the files: it
	// holds private keys, and nobody else needs to list the certificates.
	outDirMode = 0o700
)

// An OutputFile is one file written for an issued certificate.
type OutputFile struct {
	Name string // base name, NAME.pem, NAME.key, ...
	Data []byte
	Mode os.FileMode
}

// OutputNames lists the names of the files Output makes for base (see
// FileName): NAME.pem, NAME.key and NAME.chain.pem, and with p12
// NAME.p12 and NAME.p12.pass.
func OutputNames(base string, p12 bool) []string {
	names := []string{base + ".pem", base + ".key", base + ".chain.pem"}
	if p12 {
		names = append(names, base+".p12", base+".p12.pass")
	}
	return names
}

// Output encodes cert as the files a client or server uses, named for
// base: the private key (NAME.key, mode 0600), the certificate (NAME.pem)
// and certificate + intermediates (NAME.chain.pem, for servers and curl
// --cert), and with p12 a PKCS#12 bundle (NAME.p12, 0600) and its random
// password (NAME.p12.pass, 0600). The key comes first, so that an
// interrupted write leaves no certificate without its key.
func Output(base string, cert *tls.Certificate, p12 bool) ([]OutputFile, error) {
	chainPEM, keyPEM, err := EncodePEM(cert)
	if err != nil {
		return nil, err
	}
	files := []OutputFile{
		{base + ".key", keyPEM, privateMode},
		{base + ".pem", pemCert(cert.Certificate[0]), publicMode},
		{base + ".chain.pem", chainPEM, publicMode},
	}
	if p12 {
		pass, bundle, err := EncodePKCS12(cert)
		if err != nil {
			return nil, err
		}
		files = append(files,
			OutputFile{base + ".p12.pass", []byte(pass + "\n"), privateMode},
			OutputFile{base + ".p12", bundle, privateMode})
	}
	return files, nil
}

// EncodePKCS12 bundles the key, certificate and intermediates of cert
// with a random password (144 bits, URL-safe base64), using modern
// algorithms (AES-256, PBKDF2, SHA-256) that OpenSSL 3, current Java and
// browsers read; the legacy RC2 and 3DES encodings are not offered.
func EncodePKCS12(cert *tls.Certificate) (password string, bundle []byte, err error) {
	raw := make([]byte, 18)
	rand.Read(raw)
	password = base64.RawURLEncoding.EncodeToString(raw)
	var cas []*x509.Certificate
	for _, der := range cert.Certificate[1:] {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return "", nil, err
		}
		cas = append(cas, c)
	}
	leaf := cert.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return "", nil, err
		}
	}
	bundle, err = pkcs12.Modern2023.Encode(cert.PrivateKey, leaf, cas, password)
	if err != nil {
		return "", nil, fmt.Errorf("encoding PKCS#12: %w", err)
	}
	return password, bundle, nil
}

// An OutDir is a directory the files of issued certificates are written
// to. Every write goes through an os.Root of it: neither a ".." nor a
// symlink can take one outside. Its methods are not for concurrent use.
type OutDir struct {
	path string
	root *os.Root
}

// CreateOutDir opens dir for writing, creating it (mode 0700) when
// missing; an existing directory keeps its mode.
func CreateOutDir(dir string) (*OutDir, error) {
	if fi, err := os.Stat(dir); err == nil && !fi.IsDir() {
		return nil, fmt.Errorf("%s is not a directory", dir)
	}
	if err := os.MkdirAll(dir, outDirMode); err != nil {
		return nil, fmt.Errorf("creating directory %s: %w", dir, err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("opening directory %s: %w", dir, err)
	}
	return &OutDir{path: dir, root: root}, nil
}

// Close releases the directory.
func (d *OutDir) Close() error { return d.root.Close() }

// An ExistsError says that a file to be written is already there.
type ExistsError struct{ Path string }

func (e *ExistsError) Error() string { return e.Path + " already exists" }
func (e *ExistsError) Unwrap() error { return fs.ErrExist }

// CheckFree returns an *ExistsError for the first of names that exists in
// the directory: a symlink, even a dangling one, counts as a file.
func (d *OutDir) CheckFree(names []string) error {
	for _, n := range names {
		if _, err := d.root.Lstat(n); err == nil {
			return &ExistsError{filepath.Join(d.path, n)}
		}
	}
	return nil
}

// Write writes files in order, each atomically and durably (see
// atomicfile.WriteIn) with exactly its mode. With replace, existing files
// are replaced, and a symlink at a name is replaced, never followed;
// without, a file that appeared since CheckFree is an *ExistsError.
func (d *OutDir) Write(files []OutputFile, replace bool) error {
	for _, f := range files {
		err := atomicfile.WriteIn(d.root, f.Name, f.Data, f.Mode, replace)
		if errors.Is(err, fs.ErrExist) && !replace {
			return &ExistsError{filepath.Join(d.path, f.Name)}
		}
		if err != nil {
			return fmt.Errorf("writing %s: %w", filepath.Join(d.path, f.Name), err)
		}
	}
	return nil
}

// Path returns the path of name in the directory.
func (d *OutDir) Path(name string) string { return filepath.Join(d.path, name) }
