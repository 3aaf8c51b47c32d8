package server

import "errors"

// newRedisBackend builds the cluster-mode backend on Redis.
func newRedisBackend(cfg Config) (backend, error) {
	return backend{}, errors.New("cluster mode (-redis) is not available in this build yet")
}
