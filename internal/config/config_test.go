package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

const testFile = "tlsgate.yaml"

// check parses data as tlsgate.yaml and, when that succeeds, validates it.
func check(data string) (*Config, error) {
	c, err := Parse(testFile, []byte(data))
	if err != nil {
		return nil, err
	}
	return c, c.Validate()
}

// flatten unwraps errors.Join trees into their leaves, in order.
func flatten(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

// messages returns the text of every leaf error, failing the test if one
// is not an *Error.
func messages(t *testing.T, err error) []string {
	t.Helper()
	var out []string
	for _, e := range flatten(err) {
		var ce *Error
		if !errors.As(e, &ce) {
			t.Errorf("error %q (%T) is not a *config.Error", e, e)
		}
		out = append(out, e.Error())
	}
	return out
}

// site is a valid site, for cases about other parts of the file (5 lines).
const site = `sites:
  - hosts: [a.example.com]
    routes:
      - path: /
        upstreams: [http://127.0.0.1:9000]
`

func TestParseValidate(t *testing.T) {
	t.Parallel()
	runValidateCases(t, []validateCase{
		{name: "valid minimal", yaml: site},
		{
			name: "valid uppercase host with trailing dot",
			yaml: `sites:
  - hosts: [API.Example.COM.]
    routes: [{upstreams: [http://127.0.0.1:9000]}]
`,
		},
		{name: "listen http off", yaml: site + "listen: {https: \"127.0.0.1:8443\", http: \"off\"}\n"},
		{name: "listen http3 off", yaml: site + "listen: {https: \"127.0.0.1:8443\", http3: off}\n"},
		{
			name: "listen http3 neither on nor off",
			yaml: site + "listen: {https: \"127.0.0.1:8443\", http3: quic}\n",
			want: []string{`tlsgate.yaml:6:42: listen.http3: "quic": use on or off`},
		},
		{name: "listen http3 advertised port", yaml: site + "listen: {https: \"127.0.0.1:8443\", http3_advertised_port: 443}\n"},
		{
			name: "listen http3 advertised port out of range",
			yaml: site + "listen: {https: \"127.0.0.1:8443\", http3_advertised_port: 70000}\n",
			want: []string{`tlsgate.yaml:6:58: listen.http3_advertised_port: 70000 is not a port: give the UDP port clients reach HTTP/3 on (1-65535), or 0 for listen.https's`},
		},
		{
			name: "listen http3 advertised port with http3 off",
			yaml: site + "listen: {https: \"127.0.0.1:8443\", http3: off, http3_advertised_port: 443}\n",
			want: []string{`tlsgate.yaml:6:70: listen.http3_advertised_port: is set but listen.http3 is off: nothing is advertised`},
		},

		// Identity header names: header names, distinct, not the gateway's own.
		{name: "identity headers renamed", yaml: site + "    identity_headers: {dn: X-SSL-Client-DN, cert: x-ssl-client-cert}\n"},
		{
			name: "identity header names refused",
			yaml: site + "    identity_headers: {dn: \"X Client\", san_uri: X-Client-SAN, san_dns: x-client-san, verify: X-Forwarded-For, cert: X_Cert}\n",
			want: []string{
				`tlsgate.yaml:6:94: sites[0].identity_headers.verify: X-Forwarded-For is set by the gateway itself: choose another name`,
				`tlsgate.yaml:6:28: sites[0].identity_headers.dn: "X Client" is not a header name: use letters, digits and '-' (such as X-Client-DN)`,
				`tlsgate.yaml:6:72: sites[0].identity_headers.san_dns: x-client-san is already the name of san_uri (header names ignore case): each identity header needs its own name`,
				`tlsgate.yaml:6:117: sites[0].identity_headers.cert: "X_Cert" is not a header name: use letters, digits and '-' (such as X-Client-DN)`,
			},
		},

		// Unknown keys: positioned at the key.
		{
			name: "unknown top-level key with suggestion",
			yaml: "listen: {https: \":443\"}\nsite:\n  - hosts: [a.example.com]\n",
			want: []string{`tlsgate.yaml:2:1: site: unknown key "site" (did you mean "sites"?)`},
		},
		{
			name: "unknown nested key with suggestion",
			yaml: `sites:
  - hosts: [a.example.com]
    tls:
      profle: modern
    routes: [{upstreams: [http://127.0.0.1:9000]}]
`,
			want: []string{`tlsgate.yaml:4:7: sites[0].tls.profle: unknown key "profle" (did you mean "profile"?)`},
		},
		{
			name: "unknown key transposed letters",
			yaml: "sites:\n  - hosts: [a.example.com]\n    tsl: {profile: modern}\n",
			want: []string{`tlsgate.yaml:3:5: sites[0].tsl: unknown key "tsl" (did you mean "tls"?)`},
		},
		{
			name: "unknown nested key lists known keys",
			yaml: `sites:
  - hosts: [a.example.com]
    routes:
      - path: /
        url: http://127.0.0.1:9000
`,
			want: []string{`tlsgate.yaml:5:9: sites[0].routes[0].url: unknown key "url" (known keys here: allow, client_auth, path, strip_prefix, upstream_tls, upstreams)`},
		},
		{
			name: "short unknown key gets no far-fetched suggestion",
			yaml: "foo: 1\n",
			want: []string{`tlsgate.yaml:1:1: foo: unknown key "foo" (known keys here: acme, admin, ca, data_dir, ech, limits, listen, log, sites, storage, timeouts, trusted_proxies)`},
		},
		{
			name: "repeated key",
			yaml: site + "log:\n  level: info\n  level: debug\n",
			want: []string{`tlsgate.yaml:8:3: log.level: "level" is already set on line 7`},
		},

		// Wrong types: positioned at the value.
		{
			name: "string for int",
			yaml: site + "limits: {max_header_bytes: lots}\n",
			want: []string{`tlsgate.yaml:6:28: limits.max_header_bytes: expected a whole number, got the text "lots"`},
		},
		{
			name: "fraction for int",
			yaml: site + "limits: {max_header_bytes: 65536.5}\n",
			want: []string{`tlsgate.yaml:6:28: limits.max_header_bytes: expected a whole number, got the number "65536.5"`},
		},
		{
			name: "list for string",
			yaml: site + "listen:\n  https: [\":443\"]\n",
			want: []string{`tlsgate.yaml:7:10: listen.https: expected a string, got a list`},
		},
		{
			name: "string for list",
			yaml: "sites: a.example.com\n",
			want: []string{`tlsgate.yaml:1:8: sites: expected a list, got the text "a.example.com"`},
		},
		{
			name: "mapping for bool",
			yaml: "sites:\n  - default: {yes: 1}\n",
			want: []string{`tlsgate.yaml:2:14: sites[0].default: expected true or false, got a mapping`},
		},
		{
			name: "bad duration",
			yaml: site + "timeouts:\n  idle: 10 parsecs\n",
			want: []string{`tlsgate.yaml:7:9: timeouts.idle: expected a duration such as 10s or 2m, got the text "10 parsecs"`},
		},
		{
			name: "number for duration",
			yaml: site + "timeouts:\n  shutdown: 30\n",
			want: []string{`tlsgate.yaml:7:13: timeouts.shutdown: expected a duration such as 10s or 2m, got the number "30" (30s for seconds?)`},
		},
		{
			name: "bad value among several on one line",
			yaml: site + "timeouts: {shutdown: 5s, idle: 1x, read_header: 2s}\n",
			want: []string{`tlsgate.yaml:6:32: timeouts.idle: expected a duration such as 10s or 2m, got the text "1x"`},
		},

		// The file as a whole.
		{
			name: "YAML syntax error",
			yaml: "listen:\n  https: \":443\"\n http: \":80\"\n",
			// yaml.v3 says line 2, where the mapping starts; the
			// misindented key is on line 3.
			want: []string{`tlsgate.yaml:3:2: invalid YAML: did not find expected key (is this line indented as far as the keys it belongs with? YAML nests by indentation)`},
		},
		{
			name: "tab indentation",
			yaml: "sites:\n\t- hosts: [a.example.com]\n",
			want: []string{`tlsgate.yaml:2:1: a tab in the indentation: YAML indents with spaces (replace the tab with spaces, as many as the lines around it use)`},
		},
		{
			name: "empty file",
			yaml: "",
			want: []string{`tlsgate.yaml: the file is empty: a config needs at least one site (see examples/ for a start)`},
		},
		{
			name: "only comments",
			yaml: "# nothing yet\n---\n",
			want: []string{`tlsgate.yaml: the file is empty: a config needs at least one site (see examples/ for a start)`},
		},
		{
			name: "top level a list",
			yaml: "- hosts: [a.example.com]\n",
			want: []string{`tlsgate.yaml:1:1: the top level must be a mapping of keys such as listen: and sites:`},
		},
		{
			name: "top level a string",
			yaml: "\n  sites\n",
			want: []string{`tlsgate.yaml:2:3: the top level must be a mapping of keys such as listen: and sites:`},
		},
		{
			name: "second document",
			yaml: site + "---\nlog: {level: debug}\n",
			want: []string{`tlsgate.yaml:6:1: a second YAML document: a config is one document (remove this ---, or merge the two)`},
		},
		{name: "trailing document marker", yaml: site + "---\n"},

		// Sites and hosts.
		{
			name: "no sites key",
			yaml: "listen: {https: \":443\"}\n",
			want: []string{`tlsgate.yaml: sites: no sites: add at least one site with hosts: and routes: (see examples/)`},
		},
		{
			name: "empty sites",
			yaml: "sites: []\n",
			want: []string{`tlsgate.yaml:1:8: sites: no sites: add at least one site with hosts: and routes: (see examples/)`},
		},
		{
			name: "site without hosts",
			yaml: "sites:\n  - routes:\n      - upstreams: [http://127.0.0.1:9000]\n",
			want: []string{`tlsgate.yaml:2:5: sites[0].hosts: a site needs at least one host name, such as api.example.com`},
		},
		{
			name: "bad hosts",
			yaml: `sites:
  - hosts:
      - https://a.example.com
      - b.example.com:8443
      - c.example.com/app
      - foo.*.example.com
      - "*"
      - d!.example.com
      - e..example.com
      - "*.ok.example.com"
      - 192.0.2.1
    routes: [{upstreams: [http://127.0.0.1:9000]}]
`,
			want: []string{
				`tlsgate.yaml:3:9: sites[0].hosts[0]: "https://a.example.com" is not a host name: give the name only, without scheme, port or path`,
				`tlsgate.yaml:4:9: sites[0].hosts[1]: "b.example.com:8443" is not a host name: give the name only, without scheme, port or path`,
				`tlsgate.yaml:5:9: sites[0].hosts[2]: "c.example.com/app" is not a host name: give the name only, without scheme, port or path`,
				`tlsgate.yaml:6:9: sites[0].hosts[3]: "foo.*.example.com" is not a valid host: a wildcard may only be the whole first label, as in *.example.com`,
				`tlsgate.yaml:7:9: sites[0].hosts[4]: "*" (every name) needs on-demand certificates: add tls.certificate.acme.on_demand with an ask URL, or list the names`,
				`tlsgate.yaml:8:9: sites[0].hosts[5]: "d!.example.com" has the character '!', not allowed in DNS names (use punycode for IDNs)`,
				`tlsgate.yaml:9:9: sites[0].hosts[6]: "e..example.com" is not a valid DNS name`,
			},
		},
		{
			name: "duplicate host across sites",
			yaml: site + `  - hosts: [b.example.com, A.Example.com.]
    routes: [{upstreams: [http://127.0.0.1:9001]}]
`,
			want: []string{`tlsgate.yaml:6:28: sites[1].hosts[1]: "A.Example.com." is already a host of sites[0]: a host belongs to one site`},
		},
		{
			name: "two default sites",
			yaml: `sites:
  - hosts: [a.example.com]
    default: true
    routes: [{upstreams: [http://127.0.0.1:9000]}]
  - hosts: [b.example.com]
    default: true
    routes: [{upstreams: [http://127.0.0.1:9001]}]
`,
			want: []string{`tlsgate.yaml:6:14: sites[1].default: only one site may be the default`},
		},

		// TLS profile and certificate.
		{
			name: "profile old",
			yaml: "sites:\n  - hosts: [a.example.com]\n    tls: {profile: old}\n    routes: [{upstreams: [http://127.0.0.1:9000]}]\n",
			want: []string{`tlsgate.yaml:3:20: sites[0].tls.profile: "old" is not offered: TLS 1.0 and 1.1 are broken and cannot be enabled; use intermediate (TLS 1.2+1.3) or modern (TLS 1.3)`},
		},
		{
			name: "profile tls1.0",
			yaml: "sites:\n  - hosts: [a.example.com]\n    tls: {profile: tls1.0}\n    routes: [{upstreams: [http://127.0.0.1:9000]}]\n",
			want: []string{`tlsgate.yaml:3:20: sites[0].tls.profile: "tls1.0" is not offered: TLS 1.0 and 1.1 are broken and cannot be enabled; use intermediate (TLS 1.2+1.3) or modern (TLS 1.3)`},
		},
		{
			name: "unknown profile",
			yaml: "sites:\n  - hosts: [a.example.com]\n    tls: {profile: strict}\n    routes: [{upstreams: [http://127.0.0.1:9000]}]\n",
			want: []string{`tlsgate.yaml:3:20: sites[0].tls.profile: "strict" is not a profile: use intermediate (TLS 1.2+1.3, the default) or modern (TLS 1.3 only)`},
		},
		{
			name: "source files without cert and key",
			yaml: `sites:
  - hosts: [a.example.com]
    tls:
      certificate:
        source: files
    routes: [{upstreams: [http://127.0.0.1:9000]}]
`,
			want: []string{
				`tlsgate.yaml:5:9: sites[0].tls.certificate.cert: source files needs cert: the PEM certificate chain (fullchain.pem)`,
				`tlsgate.yaml:5:9: sites[0].tls.certificate.key: source files needs key: the PEM private key`,
			},
		},
		{
			name: "cert without key",
			yaml: `sites:
  - hosts: [a.example.com]
    tls:
      certificate: {cert: /etc/ssl/a/fullchain.pem}
    routes: [{upstreams: [http://127.0.0.1:9000]}]
`,
			want: []string{`tlsgate.yaml:4:20: sites[0].tls.certificate.key: source files needs key: the PEM private key`},
		},
		{
			name: "internal with cert",
			yaml: `sites:
  - hosts: [a.example.com]
    tls:
      certificate:
        source: internal
        cert: /etc/ssl/a/fullchain.pem
    routes: [{upstreams: [http://127.0.0.1:9000]}]
`,
			want: []string{`tlsgate.yaml:5:17: sites[0].tls.certificate.source: source internal issues its own certificate: remove cert: and key:, or use source: files`},
		},
		{
			name: "unknown source",
			yaml: "sites:\n  - hosts: [a.example.com]\n    tls: {certificate: {source: vault}}\n    routes: [{upstreams: [http://127.0.0.1:9000]}]\n",
			want: []string{`tlsgate.yaml:3:33: sites[0].tls.certificate.source: "vault" is not a certificate source: use files, internal or acme`},
		},
		{
			name: "etcd storage valid",
			yaml: "storage: {etcd: {endpoints: ['https://10.0.0.1:2379', 'http://127.0.0.1:2379'], encryption_key_file: /etc/tlsgate/storage.key, ticket_rotation: 1h}}\nsites:\n  - hosts: [a.example.com]\n    routes: [{upstreams: [http://127.0.0.1:9000]}]\n",
		},
		{
			name: "etcd storage problems",
			yaml: "storage:\n  etcd:\n    endpoints: ['http://10.0.0.1:2379', 'etcd:2379']\n    tls: {cert: c.pem}\n    username: tlsgate\n    prefix: tlsgate\nsites:\n  - hosts: [a.example.com]\n    routes: [{upstreams: [http://127.0.0.1:9000]}]\n",
			want: []string{
				`tlsgate.yaml:3:17: storage.etcd.endpoints[0]: "http://10.0.0.1:2379" is plain HTTP to another machine: use https and storage.etcd.tls (values are encrypted, but locks and metadata are not)`,
				`tlsgate.yaml:3:41: storage.etcd.endpoints[1]: "etcd:2379" is not an etcd client URL: write it as https://HOST:2379`,
				`tlsgate.yaml:3:5: storage.etcd.encryption_key_file: required: a file with 32 random bytes in base64 (head -c 32 /dev/urandom | base64), the same on every gateway`,
				`tlsgate.yaml:4:10: storage.etcd.tls: a client certificate needs both cert and key`,
				`tlsgate.yaml:5:15: storage.etcd.username: etcd authentication needs both username and password_file`,
				`tlsgate.yaml:6:13: storage.etcd.prefix: "tlsgate": a prefix starts and ends with /, such as /tlsgate/`,
			},
		},
		{
			name: "admin on loopback",
			yaml: "admin: {listen: '127.0.0.1:9180'}\nsites:\n  - hosts: [a.example.com]\n    routes: [{upstreams: [http://127.0.0.1:9000]}]\n",
		},
		{
			name: "admin remote needs allow_remote",
			yaml: "admin: {listen: ':9180'}\nsites:\n  - hosts: [a.example.com]\n    routes: [{upstreams: [http://127.0.0.1:9000]}]\n",
			want: []string{`tlsgate.yaml:1:17: admin.listen: ":9180" is reachable from other machines and the admin listener has no authentication: use 127.0.0.1:9180, or set admin.allow_remote: true behind a firewall`},
		},
		{
			name: "admin remote allowed",
			yaml: "admin: {listen: '0.0.0.0:9180', allow_remote: true}\nsites:\n  - hosts: [a.example.com]\n    routes: [{upstreams: [http://127.0.0.1:9000]}]\n",
		},
		{
			name: "admin hosts",
			yaml: "admin:\n  listen: '0.0.0.0:9180'\n  allow_remote: true\n  hosts: [gw1.internal, GW2.Internal., localhost]\nsites:\n  - hosts: [a.example.com]\n    routes: [{upstreams: [http://127.0.0.1:9000]}]\n",
		},
		{
			name: "internal CA names",
			yaml: "sites:\n  - hosts: [a_b.example.com, ok.example.com]\n    tls: {certificate: {source: internal}}\n    routes:\n      - upstreams: [https://127.0.0.1:9000]\n        upstream_tls: {internal_client_cert: ../gw}\n",
			want: []string{
				`tlsgate.yaml:2:13: sites[0].hosts[0]: "a_b.example.com" is not a DNS name: labels may hold letters, digits and hyphens, and the internal CA certifies only such names: rename it, or use source files`,
				`tlsgate.yaml:6:46: sites[0].routes[0].upstream_tls.internal_client_cert: "../gw" is not a client name: it must begin with a letter or digit`,
			},
		},
		{
			name: "admin hosts are names",
			yaml: "admin:\n  listen: '127.0.0.1:9180'\n  hosts:\n    - gw1.internal:9180\n    - http://gw1.internal\n    - 10.0.0.5\n    - '[::1]'\n    - '*.internal'\n    - ''\n    - gw 1\nsites:\n  - hosts: [a.example.com]\n    routes: [{upstreams: [http://127.0.0.1:9000]}]\n",
			want: []string{
				`tlsgate.yaml:4:7: admin.hosts[0]: "gw1.internal:9180" is not a host name: give the name only, without scheme, port or path`,
				`tlsgate.yaml:5:7: admin.hosts[1]: "http://gw1.internal" is not a host name: give the name only, without scheme, port or path`,
				`tlsgate.yaml:6:7: admin.hosts[2]: "10.0.0.5" is an IP address, which the admin listener always accepts: list names only`,
				`tlsgate.yaml:7:7: admin.hosts[3]: "[::1]" is an IP address, which the admin listener always accepts: list names only`,
				`tlsgate.yaml:8:7: admin.hosts[4]: "*.internal" is a wildcard: list each name the admin listener is reached by`,
				`tlsgate.yaml:9:7: admin.hosts[5]: "" is empty: list DNS names, such as gw1.internal`,
				`tlsgate.yaml:10:7: admin.hosts[6]: "gw 1" is not a host name: give the name only, without scheme, port or path`,
			},
		},
		{
			name: "acme valid with top-level defaults",
			yaml: "acme: {email: ops@example.com, directory: 'https://ca.example.net/dir', key_type: ecdsa-p384}\nsites:\n  - hosts: [a.example.com, 192.0.2.7]\n    tls: {certificate: {source: acme}}\n    routes: [{upstreams: [http://127.0.0.1:9000]}]\n",
		},
		{
			name: "acme block implies source acme",
			yaml: "sites:\n  - hosts: [localhost]\n    tls: {certificate: {acme: {email: ops@example.com}}}\n    routes: [{upstreams: [http://127.0.0.1:9000]}]\n",
			want: []string{`tlsgate.yaml:2:13: sites[0].hosts[0]: "localhost" is not a public name, so no ACME CA can validate it: use source internal for it (a separate site)`},
		},
		{
			name: "acme names a CA cannot validate",
			yaml: "sites:\n  - hosts: ['*.example.com', printer.local, db.internal, intranet]\n    tls: {certificate: {source: acme}}\n    routes: [{upstreams: [http://127.0.0.1:9000]}]\n",
			want: []string{
				`tlsgate.yaml:2:13: sites[0].hosts[0]: "*.example.com": wildcard certificates need the dns-01 challenge (the CA checks a TXT record, not a server): add dns-01 with a dns provider to challenges, or list the names`,
				`tlsgate.yaml:2:30: sites[0].hosts[1]: "printer.local" is not a public name, so no ACME CA can validate it: use source internal for it (a separate site)`,
				`tlsgate.yaml:2:45: sites[0].hosts[2]: "db.internal" is not a public name, so no ACME CA can validate it: use source internal for it (a separate site)`,
				`tlsgate.yaml:2:58: sites[0].hosts[3]: "intranet" is not a public name, so no ACME CA can validate it: use source internal for it (a separate site)`,
			},
		},
		{
			name: "acme bad settings",
			yaml: "listen: {http: 'off'}\nacme:\n  directory: http://ca.example.net/dir\n  email: 'mailto:ops@example.com'\n  eab: {key_id: kid}\n  key_type: ed448\n  challenges: [http-01, dns-01, smtp-01]\nsites:\n  - hosts: [a.example.com]\n    tls: {certificate: {source: acme, acme: {directory: 'not a url'}}}\n    routes: [{upstreams: [http://127.0.0.1:9000]}]\n",
			want: []string{
				`tlsgate.yaml:3:14: acme.directory: "http://ca.example.net/dir": ACME directories are served over https (RFC 8555)`,
				`tlsgate.yaml:4:10: acme.email: "mailto:ops@example.com" is not an email address: write it plainly, as ops@example.com`,
				`tlsgate.yaml:5:8: acme.eab: External Account Binding needs both key_id and mac_key_file (the CA gives you both)`,
				`tlsgate.yaml:6:13: acme.key_type: "ed448" is not a key type: use ecdsa-p256, ecdsa-p384, rsa-2048, rsa-4096`,
				`tlsgate.yaml:7:16: acme.challenges[0]: http-01 is answered on listen.http, which is off: enable listen.http or use tls-alpn-01`,
				`tlsgate.yaml:7:33: acme.challenges[2]: "smtp-01" is not a challenge type: use http-01, tls-alpn-01 or dns-01`,
				`tlsgate.yaml:10:57: sites[0].tls.certificate.acme.directory: "not a url" is not a URL: give the CA's ACME directory, such as https://acme-v02.api.letsencrypt.org/directory`,
				`tlsgate.yaml:10:24: sites[0].tls.certificate: dns-01 (from acme.challenges) needs a DNS provider to publish its TXT records: add a dns: block (provider: rfc2136 or exec) to acme:`,
			},
		},
		{
			name: "acme dns-01 wildcard with rfc2136",
			yaml: "acme:\n  challenges: [dns-01]\n  dns: {provider: rfc2136, server: 'ns1.example.com', key_name: acme-update., key_algorithm: HMAC-SHA512, key_file: /etc/tlsgate/tsig.key, resolvers: ['10.0.0.53:53', '[2001:db8::53]:53'], propagation_timeout: 5m}\nsites:\n  - hosts: ['*.example.com', example.com]\n    tls: {certificate: {source: acme}}\n    routes: [{upstreams: [http://127.0.0.1:9000]}]\n",
		},
		{
			name: "acme dns-01 wildcard with exec on the site",
			yaml: "sites:\n  - hosts: ['*.example.com']\n    tls: {certificate: {acme: {challenges: [dns-01], dns: {provider: exec, command: [/usr/local/bin/dns-hook, --zone, example.com]}}}}\n    routes: [{upstreams: [http://127.0.0.1:9000]}]\n",
		},
		{
			name: "acme dns-01 without a provider",
			yaml: "sites:\n  - hosts: ['*.example.com']\n    tls: {certificate: {acme: {challenges: [dns-01]}}}\n    routes: [{upstreams: [http://127.0.0.1:9000]}]\n",
			want: []string{`tlsgate.yaml:3:44: sites[0].tls.certificate.acme.challenges: dns-01 needs a DNS provider to publish its TXT records: add a dns: block (provider: rfc2136 or exec) to this acme: block or the top-level one`},
		},
		{
			name: "acme wildcard with a dns provider but no dns-01",
			yaml: "acme:\n  challenges: [tls-alpn-01]\n  dns: {provider: exec, command: [/bin/hook]}\nsites:\n  - hosts: ['*.example.com']\n    tls: {certificate: {source: acme}}\n    routes: [{upstreams: [http://127.0.0.1:9000]}]\n",
			want: []string{`tlsgate.yaml:5:13: sites[0].hosts[0]: "*.example.com": wildcard certificates need the dns-01 challenge (the CA checks a TXT record, not a server): add dns-01 with a dns provider to challenges, or list the names`},
		},
		{
			name: "acme dns provider errors",
			yaml: "acme:\n  challenges: [dns-01]\n  dns: {provider: rfc2136, server: 'ns1:x', key_algorithm: hmac-md5, command: [x], resolvers: [10.0.0.53], propagation_timeout: -1s}\nsites:\n  - hosts: [a.example.com]\n    tls: {certificate: {acme: {dns: {provider: route53}}}}\n    routes: [{upstreams: [http://127.0.0.1:9000]}]\n  - hosts: [b.example.com]\n    tls: {certificate: {acme: {dns: {provider: exec, key_file: /k}}}}\n    routes: [{upstreams: [http://127.0.0.1:9000]}]\n",
			want: []string{
				`tlsgate.yaml:3:36: acme.dns.server: "ns1:x" is not host:port (e.g. ns1.example.com:53)`,
				`tlsgate.yaml:3:8: acme.dns.key_name: rfc2136 needs the TSIG key's name, as the server knows it (e.g. acme-update.)`,
				`tlsgate.yaml:3:8: acme.dns.key_file: rfc2136 needs the file holding the TSIG key's base64 secret`,
				`tlsgate.yaml:3:60: acme.dns.key_algorithm: "hmac-md5" is not a TSIG algorithm: use hmac-sha256, hmac-sha1, hmac-sha224, hmac-sha384, hmac-sha512`,
				`tlsgate.yaml:3:79: acme.dns.command: command is for provider exec: remove it, or set provider: exec`,
				`tlsgate.yaml:3:96: acme.dns.resolvers[0]: "10.0.0.53" is not host:port (e.g. 10.0.0.53:53)`,
				`tlsgate.yaml:3:129: acme.dns.propagation_timeout: must be a positive duration such as 2m`,
				`tlsgate.yaml:6:48: sites[0].tls.certificate.acme.dns.provider: "route53" is not a DNS provider: use rfc2136 or exec`,
				`tlsgate.yaml:9:37: sites[1].tls.certificate.acme.dns.command: exec needs the command to run, as a list: [/usr/local/bin/dns-hook] (run as COMMAND present|cleanup FQDN VALUE)`,
				`tlsgate.yaml:9:64: sites[1].tls.certificate.acme.dns.key_file: key_file is for provider rfc2136: remove it, or set provider: rfc2136`,
			},
		},
		{
			name: "acme IP addresses need http-01 or tls-alpn-01",
			yaml: "acme: {directory: 'https://ca.example.net/dir', dns: {provider: exec, command: [/bin/hook]}}\nsites:\n  - hosts: [a.example.com, 192.0.2.7, '2001:db8::7']\n    tls: {certificate: {source: acme, acme: {challenges: [dns-01]}}}\n    routes: [{upstreams: [http://127.0.0.1:9000]}]\n" +
				"  - hosts: [192.0.2.8]\n    tls: {certificate: {source: acme, acme: {challenges: [dns-01, tls-alpn-01]}}}\n    routes: [{upstreams: [http://127.0.0.1:9000]}]\n",
			want: []string{
				`tlsgate.yaml:3:28: sites[0].hosts[1]: "192.0.2.7" is an IP address, which dns-01 cannot validate (RFC 8738): use challenges http-01 and/or tls-alpn-01 without dns-01 for this site (a site of its own if other hosts need dns-01)`,
				`tlsgate.yaml:3:39: sites[0].hosts[2]: "2001:db8::7" is an IP address, which dns-01 cannot validate (RFC 8738): use challenges http-01 and/or tls-alpn-01 without dns-01 for this site (a site of its own if other hosts need dns-01)`,
				`tlsgate.yaml:6:13: sites[1].hosts[0]: "192.0.2.8" is an IP address, which dns-01 cannot validate (RFC 8738): use challenges http-01 and/or tls-alpn-01 without dns-01 for this site (a site of its own if other hosts need dns-01)`,
			},
		},
		{
			name: "acme IP addresses at Let's Encrypt",
			yaml: "sites:\n  - hosts: [203.0.113.9, 10.0.0.5, 127.0.0.1, '::1', 'fd00::1']\n    tls: {certificate: {source: acme}}\n    routes: [{upstreams: [http://127.0.0.1:9000]}]\n" +
				"  - hosts: [203.0.113.10, '2001:db8::10']\n    tls: {certificate: {source: acme, acme: {profile: shortlived, directory: 'https://acme-staging-v02.api.letsencrypt.org/directory'}}}\n    routes: [{upstreams: [http://127.0.0.1:9000]}]\n",
			want: []string{
				`tlsgate.yaml:2:13: sites[0].hosts[0]: "203.0.113.9" is an IP address: Let's Encrypt certifies addresses only under the shortlived profile (6-day certificates): set profile: shortlived in this site's acme: block`,
				`tlsgate.yaml:2:26: sites[0].hosts[1]: "10.0.0.5" is not a public address, so Let's Encrypt cannot validate it: use source internal for it (a separate site), or a private ACME CA`,
				`tlsgate.yaml:2:36: sites[0].hosts[2]: "127.0.0.1" is not a public address, so Let's Encrypt cannot validate it: use source internal for it (a separate site), or a private ACME CA`,
				`tlsgate.yaml:2:47: sites[0].hosts[3]: "::1" is not a public address, so Let's Encrypt cannot validate it: use source internal for it (a separate site), or a private ACME CA`,
				`tlsgate.yaml:2:54: sites[0].hosts[4]: "fd00::1" is not a public address, so Let's Encrypt cannot validate it: use source internal for it (a separate site), or a private ACME CA`,
			},
		},
		{
			name: "acme settings on another source",
			yaml: "sites:\n  - hosts: [a.example.com]\n    tls: {certificate: {source: internal, acme: {email: ops@example.com}}}\n    routes: [{upstreams: [http://127.0.0.1:9000]}]\n",
			want: []string{`tlsgate.yaml:3:49: sites[0].tls.certificate.acme: acme: settings are only used with source: acme (this site's source is internal)`},
		},

		// HSTS.
		{
			name: "hsts negative max_age",
			yaml: "sites:\n  - hosts: [a.example.com]\n    hsts: {max_age: -1}\n    routes: [{upstreams: [http://127.0.0.1:9000]}]\n",
			want: []string{`tlsgate.yaml:3:21: sites[0].hsts.max_age: must be 0 or more seconds`},
		},
		{
			name: "hsts preload with defaults",
			yaml: "sites:\n  - hosts: [a.example.com]\n    hsts: {preload: true}\n    routes: [{upstreams: [http://127.0.0.1:9000]}]\n",
		},
		{
			name: "hsts preload short max_age",
			yaml: "sites:\n  - hosts: [a.example.com]\n    hsts: {preload: true, max_age: 86400}\n    routes: [{upstreams: [http://127.0.0.1:9000]}]\n",
			want: []string{`tlsgate.yaml:3:36: sites[0].hsts.max_age: preload requires max_age of at least 31536000 (one year)`},
		},
		{
			name: "hsts preload without subdomains",
			yaml: "sites:\n  - hosts: [a.example.com]\n    hsts: {preload: true, include_subdomains: false}\n    routes: [{upstreams: [http://127.0.0.1:9000]}]\n",
			want: []string{`tlsgate.yaml:3:47: sites[0].hsts.include_subdomains: preload requires include_subdomains: true`},
		},

		// Routes and upstreams.
		{
			name: "site without routes",
			yaml: "sites:\n  - hosts: [a.example.com]\n",
			want: []string{`tlsgate.yaml:2:5: sites[0].routes: a site needs at least one route, such as {path: /, upstreams: [http://127.0.0.1:9000]}, or routes_from: an OpenAPI document`},
		},
		{
			name: "route path without slash",
			yaml: "sites:\n  - hosts: [a.example.com]\n    routes:\n      - path: api\n        upstreams: [http://127.0.0.1:9000]\n",
			want: []string{`tlsgate.yaml:4:15: sites[0].routes[0].path: "api" must start with /`},
		},
		{
			name: "duplicate route path",
			yaml: site + "      - path: /\n        upstreams: [http://127.0.0.1:9001]\n",
			want: []string{`tlsgate.yaml:6:15: sites[0].routes[1].path: "/" is also the path of routes[0]`},
		},
		{
			name: "duplicate default route path",
			yaml: "sites:\n  - hosts: [a.example.com]\n    routes:\n      - upstreams: [http://127.0.0.1:9000]\n      - upstreams: [http://127.0.0.1:9001]\n",
			want: []string{`tlsgate.yaml:5:9: sites[0].routes[1].path: "/" is also the path of routes[0]`},
		},
		{
			name: "upstream_tls valid on an https route",
			yaml: "sites:\n  - hosts: [a.example.com]\n    routes:\n      - upstreams: [https://10.0.0.5:8443]\n        upstream_tls: {ca: /etc/ca.pem, server_name: pay.internal, client_cert: /c.pem, client_key: /c.key}\n",
		},
		{
			name: "upstream_tls on an http-only route",
			yaml: "sites:\n  - hosts: [a.example.com]\n    routes:\n      - upstreams: [http://10.0.0.5:8080]\n        upstream_tls: {ca: /etc/ca.pem}\n",
			want: []string{`tlsgate.yaml:5:23: sites[0].routes[0].upstream_tls: applies only to https:// upstreams, and this route has none`},
		},
		{
			name: "upstream_tls client cert without key, and insecure with a CA",
			yaml: "sites:\n  - hosts: [a.example.com]\n    routes:\n      - upstreams: [https://10.0.0.5:8443]\n        upstream_tls: {client_cert: /c.pem, ca: /ca.pem, insecure_skip_verify: true}\n",
			want: []string{
				`tlsgate.yaml:5:23: sites[0].routes[0].upstream_tls: client_cert and client_key go together`,
				`tlsgate.yaml:5:80: sites[0].routes[0].upstream_tls.insecure_skip_verify: contradicts ca: with verification off the CA is not used; remove one of them`,
			},
		},
		{
			name: "route without upstreams",
			yaml: "sites:\n  - hosts: [a.example.com]\n    routes:\n      - path: /api/\n",
			want: []string{`tlsgate.yaml:4:9: sites[0].routes[0].upstreams: a route needs at least one upstream URL, such as http://127.0.0.1:9000`},
		},
		{
			name: "bad upstreams",
			yaml: `sites:
  - hosts: [a.example.com]
    routes:
      - upstreams:
          - 127.0.0.1:9000
          - ftp://files.example.com
          - http://b.example.com/?debug=1
          - http://user:secret@b.example.com
          - https://b.example.com/base#frag
          - https://b.example.com/base
`,
			want: []string{
				`tlsgate.yaml:5:13: sites[0].routes[0].upstreams[0]: "127.0.0.1:9000" must be an http:// or https:// URL with a host, like http://127.0.0.1:9000`,
				`tlsgate.yaml:6:13: sites[0].routes[0].upstreams[1]: "ftp://files.example.com" must be an http:// or https:// URL with a host, like http://127.0.0.1:9000`,
				`tlsgate.yaml:7:13: sites[0].routes[0].upstreams[2]: "http://b.example.com/?debug=1" must not carry a query, fragment or credentials`,
				`tlsgate.yaml:8:13: sites[0].routes[0].upstreams[3]: "http://user:secret@b.example.com" must not carry a query, fragment or credentials`,
				`tlsgate.yaml:9:13: sites[0].routes[0].upstreams[4]: "https://b.example.com/base#frag" must not carry a query, fragment or credentials`,
			},
		},

		// Everything else.
		{
			name: "trusted proxies",
			yaml: site + "trusted_proxies: [10.0.0.0/8, \"::1\", 10.0.0.0/33, lb.example.com, \"fe80::1%eth0\"]\n",
			want: []string{
				`tlsgate.yaml:6:38: trusted_proxies[2]: "10.0.0.0/33" is not an IP address or CIDR range such as 10.0.0.0/8`,
				`tlsgate.yaml:6:51: trusted_proxies[3]: "lb.example.com" is not an IP address or CIDR range such as 10.0.0.0/8`,
				`tlsgate.yaml:6:67: trusted_proxies[4]: "fe80::1%eth0" is not an IP address or CIDR range such as 10.0.0.0/8`,
			},
		},
		{
			name: "listen https not host:port",
			yaml: site + "listen:\n  https: 443\n",
			want: []string{`tlsgate.yaml:7:10: listen.https: "443" is not host:port (e.g. :443 or 127.0.0.1:8443)`},
		},
		{
			name: "listen https on a name",
			yaml: site + "listen:\n  https: a.example.com:443\n",
			want: []string{`tlsgate.yaml:7:10: listen.https: "a.example.com:443": listen on an IP address (or none, for all interfaces), not a name`},
		},
		{
			name: "listen https without port",
			yaml: site + "listen:\n  https: \"127.0.0.1:\"\n",
			want: []string{`tlsgate.yaml:7:10: listen.https: "127.0.0.1:" has no port (e.g. :443 or 127.0.0.1:8443)`},
		},
		{
			name: "listen https bad port",
			yaml: site + "listen:\n  https: \":99999\"\n",
			want: []string{`tlsgate.yaml:7:10: listen.https: ":99999": "99999" is not a port`},
		},
		{
			name: "listen http bad",
			yaml: site + "listen:\n  http: \"no\"\n",
			want: []string{`tlsgate.yaml:7:9: listen.http: "no" is not host:port (e.g. :443 or 127.0.0.1:8443) (or "off" to disable the redirect listener)`},
		},
		{
			name: "listen http same as https",
			yaml: site + "listen:\n  https: \":8443\"\n  http: \":8443\"\n",
			want: []string{`tlsgate.yaml:8:9: listen.http: the same address as listen.https: give each listener its own port`},
		},
		{
			name: "listen http same as default https",
			yaml: site + "listen:\n  http: \":443\"\n",
			want: []string{`tlsgate.yaml:7:9: listen.http: the same address as listen.https: give each listener its own port`},
		},
		{
			name: "log format and level",
			yaml: site + "log:\n  format: xml\n  level: verbose\n",
			want: []string{
				`tlsgate.yaml:7:11: log.format: "xml" is not a log format: use json, text or auto`,
				`tlsgate.yaml:8:10: log.level: "verbose" is not a log level: use debug, info, warn or error`,
			},
		},
		{
			name: "max_header_bytes too small",
			yaml: site + "limits:\n  max_header_bytes: 1024\n",
			want: []string{`tlsgate.yaml:7:21: limits.max_header_bytes: 1024 is too small for real clients: use at least 4096`},
		},
		{
			name: "max_upstream_header_bytes too small",
			yaml: site + "limits:\n  max_upstream_header_bytes: -1\n",
			want: []string{`tlsgate.yaml:7:30: limits.max_upstream_header_bytes: -1 is too small for real upstreams: use at least 4096`},
		},
		{
			name: "ca crl_url https",
			yaml: site + "ca:\n  crl_url: https://pki.example.com/c.crl\n",
			want: []string{`tlsgate.yaml:7:12: ca.crl_url: "https://pki.example.com/c.crl": a CRL distribution point is an http:// URL with a host, such as http://pki.example.com/tlsgate.crl (not https: a client would need the CRL to trust the server giving it)`},
		},
		{
			name: "ca serve_crl without url or http listener",
			yaml: site + "listen:\n  http: \"off\"\nca:\n  serve_crl: true\n",
			want: []string{
				`tlsgate.yaml:9:14: ca.serve_crl: needs ca.crl_url: the URL certificates name, whose path the HTTP listener answers`,
				`tlsgate.yaml:9:14: ca.serve_crl: the CRL is served on listen.http, which is off: give it an address (such as :80)`,
			},
		},
		{
			name: "ca serve_crl at the root path",
			yaml: site + "ca:\n  crl_url: http://pki.example.com/\n  serve_crl: true\n",
			want: []string{`tlsgate.yaml:7:12: ca.crl_url: "http://pki.example.com/": to serve the CRL, give it a path of its own, such as /tlsgate.crl (not / nor under /.well-known/)`},
		},
		{
			name: "negative timeouts",
			yaml: site + "timeouts:\n  read_header: -5s\n  upstream_response: -1m\n",
			want: []string{
				`tlsgate.yaml:7:16: timeouts.read_header: must be positive`,
				`tlsgate.yaml:8:22: timeouts.upstream_response: must be positive`,
			},
		},
	})
}

// validateCase is a config and the exact error texts check reports for
// it, in order; none for a valid config.
type validateCase struct {
	name string
	yaml string
	want []string
}

// runValidateCases checks each case in a parallel subtest.
func runValidateCases(t *testing.T, tests []validateCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := check(tt.yaml)
			got := messages(t, err)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("errors:\n got: %s\nwant: %s", strings.Join(got, "\n      "), strings.Join(tt.want, "\n      "))
			}
		})
	}
}

// TestAllProblemsReported checks that one run lists every problem, both
// at the decoding stage (keys and types) and at validation.
func TestAllProblemsReported(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		yaml string
		want int
	}{
		{
			name: "decoding",
			yaml: `listen:
  htps: ":443"
sites:
  - hosts: a.example.com
    routes:
      - upstream: [http://127.0.0.1:9000]
timeouts: {idle: forever, shutdown: 10}
limits: {max_header_bytes: big}
log: {acess: false}
`,
			want: 7, // htps, hosts type, upstream, idle, shutdown, max_header_bytes, acess
		},
		{
			name: "validation",
			yaml: `listen:
  https: "443"
  http: "localhost"
trusted_proxies: [lb]
sites:
  - hosts: ["http://a.example.com"]
    tls: {profile: tls1.1, certificate: {source: files}}
    hsts: {max_age: -1}
    routes:
      - path: api
        upstreams: [ftp://x.example.com]
  - hosts: []
    routes: []
timeouts: {idle: -1s}
limits: {max_header_bytes: 1}
log: {format: yaml, level: loud}
`,
			// https, http, trusted_proxies[0], hosts[0], profile, cert, key,
			// max_age, path, upstreams[0], sites[1].hosts, sites[1].routes,
			// idle, max_header_bytes, format, level
			want: 16,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := check(tt.yaml)
			got := messages(t, err)
			if len(got) != tt.want {
				t.Errorf("got %d errors, want %d:\n%s", len(got), tt.want, strings.Join(got, "\n"))
			}
		})
	}
}

// TestPositionsPointAtValue checks that an error's line and column are the
// 1-based position of the offending value (of the key, for unknown keys).
func TestPositionsPointAtValue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		yaml string
		path string
		at   string // the text at the error's position
	}{
		{"sites:\n  - hosts: [a.example.com]\n    bogus: 1\n", "sites[0].bogus", "bogus: 1"},
		{site + "timeouts:\n    idle:    \"1 fortnight\"\n", "timeouts.idle", `"1 fortnight"`},
		{site + "log: {level: info, format: html}\n", "log.format", "html}"},
		{site + "trusted_proxies:\n  - 10.0.0.1\n  -   nope\n", "trusted_proxies[1]", "nope"},
		{"sites:\n  - hosts:\n    - ok.example.com\n    -   bad/host\n    routes: [{upstreams: [http://127.0.0.1:1]}]\n", "sites[0].hosts[1]", "bad/host"},
		{"sites:\n  - hosts: [a.example.com]\n    routes: [{path: /x, upstreams: [\"gopher://x\"]}]\n", "sites[0].routes[0].upstreams[0]", `"gopher://x"]}]`},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			t.Parallel()
			_, err := check(tt.yaml)
			var found bool
			for _, e := range flatten(err) {
				var ce *Error
				if !errors.As(e, &ce) || ce.Path != tt.path {
					continue
				}
				found = true
				lines := strings.Split(tt.yaml, "\n")
				if ce.Line < 1 || ce.Line > len(lines) || ce.Column < 1 || ce.Column > len(lines[ce.Line-1]) {
					t.Fatalf("%v: position out of the file", ce)
				}
				if got := lines[ce.Line-1][ce.Column-1:]; got != tt.at {
					t.Errorf("%v: points at %q, want %q", ce, got, tt.at)
				}
			}
			if !found {
				t.Fatalf("no error for %s in %v", tt.path, err)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	c, err := check(`sites:
  - hosts: [a.example.com]
    routes:
      - upstreams: [http://127.0.0.1:9000]
  - hosts: [b.example.com]
    tls:
      certificate: {cert: /etc/ssl/b/fullchain.pem, key: /etc/ssl/b/privkey.pem}
    routes:
      - upstreams: [http://127.0.0.1:9001]
`)
	if err != nil {
		t.Fatal(err)
	}
	check := func(name string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	check("listen.https", c.Listen.HTTPS, ":443")
	check("listen.http", c.Listen.HTTP, ":80")
	check("data_dir", c.DataDir, "")
	check("trusted_proxies", len(c.TrustedProxies), 0)
	for i, s := range c.Sites {
		check("profile", s.TLS.Profile, "intermediate")
		check("default", s.Default, false)
		check("hsts.max_age", *s.HSTS.MaxAge, 31536000)
		check("hsts.include_subdomains", *s.HSTS.IncludeSubDomains, true)
		check("hsts.preload", s.HSTS.Preload, false)
		check("routes[0].path", s.Routes[0].Path, "/")
		check("routes[0].strip_prefix", s.Routes[0].StripPrefix, false)
		want := "internal"
		if i == 1 {
			want = "files"
		}
		check("certificate.source", s.TLS.Certificate.Source, want)
	}
	check("timeouts", c.Timeouts, Timeouts{
		ReadHeader:       10 * time.Second,
		BodyRead:         60 * time.Second,
		Idle:             120 * time.Second,
		UpstreamConnect:  5 * time.Second,
		UpstreamResponse: 60 * time.Second,
		Send:             60 * time.Second,
		Shutdown:         30 * time.Second,
	})
	check("limits.max_header_bytes", c.Limits.MaxHeaderBytes, 65536)
	check("limits.max_upstream_header_bytes", c.Limits.MaxUpstreamHeaderBytes, 1<<20)
	check("log.format", c.Log.Format, "auto")
	check("log.level", c.Log.Level, "info")
	check("log.access", *c.Log.Access, true)
	check("AccessLog", c.AccessLog(), true)
}

// TestDefaultsKeepSetValues checks that explicit values, including the
// zero values that mean something (max_age: 0, access: false), survive.
func TestDefaultsKeepSetValues(t *testing.T) {
	t.Parallel()
	c, err := check(`listen: {https: "127.0.0.1:8443", http: "off"}
sites:
  - hosts: [a.example.com]
    tls: {profile: modern, certificate: {source: files, cert: c.pem, key: k.pem}}
    hsts: {max_age: 0, include_subdomains: false}
    routes:
      - path: /api/
        strip_prefix: true
        upstreams: [http://127.0.0.1:9000]
timeouts: {read_header: 1s, body_read: 2s, idle: 3s, upstream_connect: 4s, upstream_response: 5s, send: 7s, shutdown: 6s}
limits: {max_header_bytes: 8192}
log: {format: text, level: debug, access: false}
`)
	if err != nil {
		t.Fatal(err)
	}
	s := c.Sites[0]
	if c.Listen.HTTPS != "127.0.0.1:8443" || c.Listen.HTTP != ListenOff {
		t.Errorf("listen = %+v", c.Listen)
	}
	if s.TLS.Profile != ProfileModern || s.TLS.Certificate.Source != SourceFiles {
		t.Errorf("tls = %+v", s.TLS)
	}
	if *s.HSTS.MaxAge != 0 || *s.HSTS.IncludeSubDomains {
		t.Errorf("hsts = %d, %v", *s.HSTS.MaxAge, *s.HSTS.IncludeSubDomains)
	}
	if r := s.Routes[0]; r.Path != "/api/" || !r.StripPrefix {
		t.Errorf("route = %+v", r)
	}
	want := Timeouts{ReadHeader: time.Second, BodyRead: 2 * time.Second, Idle: 3 * time.Second, UpstreamConnect: 4 * time.Second, UpstreamResponse: 5 * time.Second, Send: 7 * time.Second, Shutdown: 6 * time.Second}
	if c.Timeouts != want {
		t.Errorf("timeouts = %+v, want %+v", c.Timeouts, want)
	}
	if c.Limits.MaxHeaderBytes != 8192 || c.Log.Format != "text" || c.Log.Level != "debug" || c.AccessLog() {
		t.Errorf("limits/log = %+v %+v access=%v", c.Limits, c.Log, c.AccessLog())
	}
}

func TestAnchorsAndMergeKeys(t *testing.T) {
	t.Parallel()
	data := `sites:
  - hosts: [a.example.com]
    hsts: &strict
      max_age: 63072000
      preload: true
    routes:
      - &defaults
        path: /
        upstreams: [http://127.0.0.1:9000, http://127.0.0.1:9001]
  - hosts: [b.example.com]
    hsts: *strict
    routes:
      - <<: *defaults
        path: /api/
        strip_prefix: true
      - path: /v2/
        <<: [*defaults]
      - *defaults
`
	c, err := check(data)
	if err != nil {
		t.Fatalf("anchors gave errors:\n%v", err)
	}
	b := c.Sites[1]
	if *b.HSTS.MaxAge != 63072000 || !b.HSTS.Preload {
		t.Errorf("aliased hsts = %d preload=%v", *b.HSTS.MaxAge, b.HSTS.Preload)
	}
	want := []Route{
		{Path: "/api/", StripPrefix: true, Upstreams: []string{"http://127.0.0.1:9000", "http://127.0.0.1:9001"}, ClientAuth: "none"},
		{Path: "/v2/", Upstreams: []string{"http://127.0.0.1:9000", "http://127.0.0.1:9001"}, ClientAuth: "none"},
		{Path: "/", Upstreams: []string{"http://127.0.0.1:9000", "http://127.0.0.1:9001"}, ClientAuth: "none"},
	}
	if !reflect.DeepEqual(b.Routes, want) {
		t.Errorf("routes = %+v, want %+v", b.Routes, want)
	}

	// A key written next to a merge wins over the merged one, in the value
	// and in the position errors point to, whichever comes first.
	for path, line := range map[string]int{
		"sites[1].routes[0].path":         14,
		"sites[1].routes[1].path":         16,
		"sites[1].routes[0].upstreams[1]": 9,
		"sites[1].hsts.max_age":           4,
	} {
		if e := c.Errorf(path, "x"); e.Line != line {
			t.Errorf("Errorf(%q) at line %d, want %d", path, e.Line, line)
		}
	}

	// Problems inside merged and aliased values are still found.
	bad := `sites:
  - hosts: [a.example.com]
    routes:
      - &defaults
        path: /
        upstreams: [gopher://x]
  - hosts: [b.example.com]
    routes:
      - <<: *defaults
        path: /api/
        colour: blue
`
	_, err = check(bad)
	got := messages(t, err)
	wantErrs := []string{`tlsgate.yaml:11:9: sites[1].routes[0].colour: unknown key "colour" (known keys here: allow, client_auth, path, strip_prefix, upstream_tls, upstreams)`}
	if !reflect.DeepEqual(got, wantErrs) {
		t.Errorf("errors:\n got: %q\nwant: %q", got, wantErrs)
	}
}

func TestMergeErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{
			name: "merge of a scalar",
			yaml: site + "log:\n  <<: 5\n",
			want: []string{`tlsgate.yaml:7:7: log.<<: a merge (<<) takes a mapping, such as *defaults, or a list of them`},
		},
		{
			name: "mapping merging itself",
			yaml: "sites:\n  - &s\n    <<: *s\n    hosts: [a.example.com]\n",
			want: []string{`tlsgate.yaml:3:9: sites[0].<<: *s merges a mapping that contains it`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := check(tt.yaml)
			if got := messages(t, err); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("errors:\n got: %q\nwant: %q", got, tt.want)
			}
		})
	}
}

// TestAliasBomb checks that a small file whose aliases expand to millions
// of values is refused quickly ("billion laughs").
func TestAliasBomb(t *testing.T) {
	t.Parallel()
	const n = 128
	list := func(item string) string {
		return "[" + strings.TrimSuffix(strings.Repeat(item+", ", n), ", ") + "]"
	}
	// n sites of n routes of n upstreams: 2 million values from 3 KB.
	data := "trusted_proxies: &u " + list("10.0.0.1") + "\n" +
		"sites: [{hosts: [a.example.com], routes: &r " + list("{upstreams: *u}") + "}, " +
		strings.TrimPrefix(strings.Repeat(", {routes: *r}", n-1), ", ") + "]\n"
	_, err := check(data)
	got := messages(t, err)
	if len(got) != 1 || !strings.Contains(got[0], "aliases (*name) expand to too many values") {
		t.Errorf("errors = %q, want one about aliases", got)
	}
}

func TestErrorf(t *testing.T) {
	t.Parallel()
	c, err := Parse(testFile, []byte(`sites:
  - hosts: [a.example.com]
    routes:
      - upstreams:
          - http://127.0.0.1:9000
`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path string
		want string
	}{
		{"sites[0].hosts[0]", "tlsgate.yaml:2:13: sites[0].hosts[0]: boom"},
		{"sites[0].routes[0].upstreams[0]", "tlsgate.yaml:5:13: sites[0].routes[0].upstreams[0]: boom"},
		// No tls: key: the nearest enclosing value with a position is the site.
		{"sites[0].tls.certificate.cert", "tlsgate.yaml:2:5: sites[0].tls.certificate.cert: boom"},
		{"sites[0].routes[0].upstreams[3]", "tlsgate.yaml:5:11: sites[0].routes[0].upstreams[3]: boom"},
		{"sites[0].routes[0].path", "tlsgate.yaml:4:9: sites[0].routes[0].path: boom"},
		{"timeouts.idle", "tlsgate.yaml: timeouts.idle: boom"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			t.Parallel()
			if got := c.Errorf(tt.path, "%s", "boom").Error(); got != tt.want {
				t.Errorf("Errorf(%q) = %q, want %q", tt.path, got, tt.want)
			}
		})
	}
	if c.File() != testFile {
		t.Errorf("File() = %q, want %q", c.File(), testFile)
	}
}

func TestConfigBuiltInCode(t *testing.T) {
	t.Parallel()
	c := &Config{Sites: []Site{{
		Hosts:  []string{"a.example.com", "https://b.example.com"},
		Routes: []Route{{Upstreams: []string{"http://127.0.0.1:9000"}}},
	}}}
	c.Defaults()
	if c.File() != "" {
		t.Errorf("File() = %q, want empty", c.File())
	}
	if got, want := c.Errorf("sites[0].hosts[0]", "bad %d", 1).Error(), "sites[0].hosts[0]: bad 1"; got != want {
		t.Errorf("Errorf = %q, want %q", got, want)
	}
	got := messages(t, c.Validate())
	want := []string{`sites[0].hosts[1]: "https://b.example.com" is not a host name: give the name only, without scheme, port or path`}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Validate:\n got: %q\nwant: %q", got, want)
	}
	if !c.AccessLog() {
		t.Error("AccessLog() = false after Defaults")
	}
	var zero Config
	if !zero.AccessLog() {
		t.Error("AccessLog() = false for a zero Config; nil means the default, true")
	}
}

func TestErrorString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  Error
		want string
	}{
		{Error{File: "a.yaml", Line: 14, Column: 7, Path: "sites[0]", Msg: "m"}, "a.yaml:14:7: sites[0]: m"},
		{Error{File: "a.yaml", Line: 14, Path: "sites[0]", Msg: "m"}, "a.yaml:14: sites[0]: m"},
		{Error{File: "a.yaml", Column: 7, Path: "sites[0]", Msg: "m"}, "a.yaml: sites[0]: m"},
		{Error{File: "a.yaml", Msg: "m"}, "a.yaml: m"},
		{Error{Path: "sites[0]", Msg: "m"}, "sites[0]: m"},
		{Error{Msg: "m"}, "m"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			t.Parallel()
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(good, []byte(site), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte(site+"log: {level: loud}\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	c, err := Load(good)
	if err != nil {
		t.Fatalf("Load(good): %v", err)
	}
	if c.File() != good || len(c.Sites) != 1 {
		t.Errorf("Load(good) = file %q, %d sites", c.File(), len(c.Sites))
	}

	_, err = Load(bad)
	var ce *Error
	if !errors.As(err, &ce) || ce.File != bad || ce.Line != 6 || ce.Path != "log.level" {
		t.Errorf("Load(bad) = %v, want an *Error at %s:6 for log.level", err, bad)
	}

	_, err = Load(filepath.Join(dir, "missing.yaml"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load(missing) = %v, want fs.ErrNotExist", err)
	}
}

func TestParsePrefix(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string // want "" for an error
	}{
		{"10.0.0.0/8", "10.0.0.0/8"},
		{"10.1.2.3/8", "10.0.0.0/8"},
		{"192.0.2.1", "192.0.2.1/32"},
		{"::ffff:192.0.2.1", "192.0.2.1/32"},
		{"2001:db8::/32", "2001:db8::/32"},
		{"::1", "::1/128"},
		{"fe80::1%eth0", ""},
		{"10.0.0.0/33", ""},
		{"lb.example.com", ""},
		{"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			p, err := ParsePrefix(tt.in)
			switch {
			case tt.want == "" && err == nil:
				t.Errorf("ParsePrefix(%q) = %v, want an error", tt.in, p)
			case tt.want != "" && (err != nil || p.String() != tt.want):
				t.Errorf("ParsePrefix(%q) = %v, %v, want %s", tt.in, p, err, tt.want)
			}
		})
	}
}

// TestParseAllReportsBothStages checks that decoding problems (unknown
// keys, wrong types) do not hide Validate's problems in the rest of the
// file, and that Validate does not repeat them ("required" for a value
// left out for its type, or set under a misspelt key).
func TestParseAllReportsBothStages(t *testing.T) {
	t.Parallel()
	data := `sites:
  - hots: [a.example.com]
    routes: [{upstreams: [http://127.0.0.1:1]}]
  - hosts: {a: b}
    routes: [{upstreams: [http://127.0.0.1:1]}]
  - hosts: [c.example.com]
    routes: [{path: api, upstreams: [http://127.0.0.1:1]}]
log: {format: xml}
timeouts: {idle: 5}
`
	c, err := ParseAll(testFile, []byte(data))
	if c == nil {
		t.Fatalf("ParseAll returned no config; errors:\n%v", err)
	}
	got := messages(t, err)
	want := []string{
		`tlsgate.yaml:2:5: sites[0].hots: unknown key "hots" (did you mean "hosts"?)`,
		`tlsgate.yaml:4:12: sites[1].hosts: expected a list, got a mapping`,
		`tlsgate.yaml:9:18: timeouts.idle: expected a duration such as 10s or 2m, got the number "5" (5s for seconds?)`,
	}
	if len(got) < len(want) || !reflect.DeepEqual(got[:len(want)], want) {
		t.Fatalf("decoding errors:\n got: %s\nwant: %s", strings.Join(got, "\n      "), strings.Join(want, "\n      "))
	}
	rest := strings.Join(got[len(want):], "\n")
	for _, w := range []string{"sites[2].routes[0].path", "log.format"} {
		if !strings.Contains(rest, w) {
			t.Errorf("no validation error for %s in:\n%s", w, rest)
		}
	}
	for _, w := range []string{"sites[0].hosts", "sites[1].hosts", "timeouts.idle"} {
		if strings.Contains(rest, w+":") {
			t.Errorf("validation repeats a decoding problem at %s:\n%s", w, rest)
		}
	}
	// Parse and Load keep their contract: no config with problems.
	if c, err := Parse(testFile, []byte(data)); c != nil || err == nil {
		t.Errorf("Parse = %v, %v; want nil and errors", c, err)
	}
}

// TestTabsAndIndentation checks that YAML syntax errors name the line at
// fault with a column, and every tab in the indentation at once.
func TestTabsAndIndentation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"misindented list item", "listen:\n  https: ':443'\nsites:\n  - hosts: [a.example.com]\n    routes:\n   - upstreams: [x]\n",
			[]string{`tlsgate.yaml:6:4: invalid YAML: did not find expected '-' indicator (is this line indented as far as the keys it belongs with? YAML nests by indentation)`}},
		{"misindented key", "listen:\n  https: ':443'\nsites:\n  - hosts: [a.example.com]\n    tls:\n      profile: modern\n     certificate: {}\n",
			[]string{`tlsgate.yaml:7:6: invalid YAML: did not find expected key (is this line indented as far as the keys it belongs with? YAML nests by indentation)`}},
		{"two tabs", "sites:\n  - hosts: [a.example.com]\n    tls:\n\tprofile: modern\n    routes:\n  \t- upstreams: [x]\n",
			[]string{
				`tlsgate.yaml:4:1: a tab in the indentation: YAML indents with spaces (replace the tab with spaces, as many as the lines around it use)`,
				`tlsgate.yaml:6:3: a tab in the indentation: YAML indents with spaces (replace the tab with spaces, as many as the lines around it use)`,
			}},
		{"flow list across lines is not the fault", "sites:\n  - hosts: [a.example.com,\n      b.example.com]\n    tls:\n      profile: modern\n     certificate: {}\n",
			[]string{`tlsgate.yaml:6:6: invalid YAML: did not find expected key (is this line indented as far as the keys it belongs with? YAML nests by indentation)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseAll(testFile, []byte(tt.yaml))
			if got := messages(t, err); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("errors:\n got: %s\nwant: %s", strings.Join(got, "\n      "), strings.Join(tt.want, "\n      "))
			}
		})
	}
}
