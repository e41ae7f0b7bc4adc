package daemons

import (
	"fmt"
	"maps"
	"net"
	"strings"
	"sync"

	"teamtalk/appliance/config"
)

// AddressBook maps "instance.key" (e.g. "route.listen",
// "login.msgserver_listen") to the address that instance bound. Services
// publish into it before they report ready; the start order guarantees
// upstreams publish before their dependents resolve. The zero value is ready
// to use and it is safe for concurrent use.
type AddressBook struct {
	mu sync.Mutex
	m  map[string]string
}

// Publish records the bound address of a key.
func (b *AddressBook) Publish(key, addr string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.m == nil {
		b.m = map[string]string{}
	}
	b.m[key] = addr
}

// Lookup returns the bound address of a key.
func (b *AddressBook) Lookup(key string) (string, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	a, ok := b.m[key]
	return a, ok
}

// All returns a copy of every entry.
func (b *AddressBook) All() map[string]string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return maps.Clone(b.m)
}

// reuse implements Deps.ListenAddr.
func (b *AddressBook) reuse(key, configured string) string {
	if _, port, err := net.SplitHostPort(configured); err != nil || port != "0" {
		return configured
	}
	if a, ok := b.Lookup(key); ok {
		return a
	}
	return configured
}

// Resolve turns a peer list entry into an address: host:port unchanged, a
// service reference ("route", "login.http_listen") to the address published
// for it. An unpublished reference falls back to the configured listen
// address when its port is not 0, else it is an error (the peer is not up).
func (b *AddressBook) Resolve(cfg *config.Config, entry string) (string, error) {
	if strings.Contains(entry, ":") {
		return entry, nil
	}
	svc, key, ok := cfg.ParseRef(entry)
	if !ok {
		return "", fmt.Errorf("daemons: resolve %q: not host:port nor a service reference", entry)
	}
	if a, ok := b.Lookup(svc + "." + key); ok {
		return a, nil
	}
	for _, k := range cfg.ListenKeys(svc) {
		if k[0] == key {
			if _, port, err := net.SplitHostPort(k[1]); err == nil && port != "0" {
				return k[1], nil
			}
		}
	}
	return "", fmt.Errorf("daemons: resolve %q: %s has not published %s (not running here?)", entry, svc, key)
}
