module github.com/tlsgate/tlsgate

go 1.26.8

require (
	github.com/fsnotify/fsnotify v1.10.1
	go.yaml.in/yaml/v3 v3.0.6
	software.sslmate.com/src/go-pkcs12 v0.7.4
)

require (
	golang.org/x/crypto v0.11.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
)
