package main

import (
	"errors"
	"regexp"
	"strings"
)

// vocabulary is how a command that builds its config from flags (demo,
// proxy) names that config's parts in messages: by its flags, not by the
// config keys the user never wrote. A nil vocabulary is config mode
// (serve): keys, as in the file.
type vocabulary struct {
	// source is the name the built config is parsed under; the
	// file:line:col positions in it point into YAML nobody wrote, and are
	// dropped.
	source string
	// keys renames config keys (and phrases about the config) to flags.
	keys *strings.Replacer
	// listen says where other addresses are picked, for the busy-port hint.
	listen string
}

var demoVocabulary = &vocabulary{
	source: "the demo's config",
	keys: strings.NewReplacer(
		"listen.https", "--https",
		"listen.http3: off", "--http3=false",
		"listen.http3", "--http3",
		"listen.http", "--http",
		"admin.listen", "--admin",
		"data_dir", "--data-dir",
		"log.format", "--log-format",
	),
	listen: "pick other addresses with --https, --http and --admin (or off)",
}

var proxyVocabulary = &vocabulary{
	source: "the proxy's flags",
	keys: strings.NewReplacer(
		"sites[0].tls.certificate.cert", "--cert",
		"sites[0].tls.certificate.key", "--key",
		"sites[0].tls.certificate", "--cert/--key",
		"sites[0].tls.profile", "--profile",
		"sites[0].routes[0].upstream_tls.ca", "--upstream-ca",
		"sites[0].routes[0].upstream_tls.server_name", "--upstream-server-name",
		"sites[0].routes[0].upstream_tls.client_cert", "--client-cert",
		"sites[0].routes[0].upstream_tls.client_key", "--client-key",
		"sites[0].routes[0].upstream_tls", "--upstream-ca/--client-cert",
		"sites[0].routes[0].upstreams", "--to",
		"sites[0].hosts", "the --from host",
		"remove them from the site's hosts", "change the --from host",
		"the site's hosts", "the --from host",
		"listen.https", "--from",
		"listen.http3: off", "--http3=false",
		"listen.http3", "--http3",
		"listen.http", "--redirect-from",
		"data_dir", "--data-dir",
		"log.format", "--log-format",
		"log.level", "--log-level",
	),
	listen: "pick another port with --from (and --redirect-from), or stop it",
}

// rename returns err in v's words, keeping its shape: the problems of a
// joined error, hints, usage and exit codes, and what errors.Is and
// errors.As find in it.
func (v *vocabulary) rename(err error) error {
	if v == nil || err == nil {
		return err
	}
	var ue usageError
	var he hintError
	var ee exitError
	switch {
	case errors.As(err, &he) && he.Error() == err.Error():
		return hintError{v.rename(he.err), v.words(he.hint)}
	case errors.As(err, &ee) && ee.Error() == err.Error():
		return exitError{v.rename(ee.err), ee.code}
	case errors.As(err, &ue) && ue.Error() == err.Error():
		return usageError{v.words(ue.msg)}
	}
	if m, ok := err.(interface{ Unwrap() []error }); ok {
		var list []error
		for _, e := range m.Unwrap() {
			list = append(list, v.rename(e))
		}
		return errors.Join(list...)
	}
	if msg := v.words(err.Error()); msg != err.Error() {
		return renamedError{msg, err}
	}
	return err
}

// words is s with v's flags for config keys and without positions in
// the built config.
func (v *vocabulary) words(s string) string {
	s = regexp.MustCompile(regexp.QuoteMeta(v.source)+`(:\d+)*: `).ReplaceAllString(s, "")
	return v.keys.Replace(s)
}

// renamedError is an error reworded for the user, whose cause is still
// there for errors.Is and errors.As.
type renamedError struct {
	msg string
	err error
}

func (e renamedError) Error() string { return e.msg }
func (e renamedError) Unwrap() error { return e.err }
