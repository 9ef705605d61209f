package storage

import (
	"net"
	"strconv"

	"rxpool/internal/secret"
)

// Config selects the Redis server: TCP host/port, a unix socket, Sentinel or
// Cluster (at most one of the last three). It is the configuration file's
// "redis" section as it stands (config.RedisConfig is this type), so the
// JSON names are here and the section has one definition.
type Config struct {
	Host     string         `json:"host"`
	Port     int            `json:"port"`
	Socket   string         `json:"socket"`
	DB       int            `json:"db"`
	Password secret.Secret  `json:"password"`
	Prefix   string         `json:"prefix"` // "" = the coin's name
	Sentinel SentinelConfig `json:"sentinel"`
	Cluster  ClusterConfig  `json:"cluster"`
	PoolSize int            `json:"poolSize"` // 0 = client library default
	TLS      bool           `json:"tls"`
	// MaxWorkersPerAddress caps the workers whose statistics are kept per
	// address; beyond it the longest idle are dropped. 0 = DefaultMaxWorkers.
	MaxWorkersPerAddress int `json:"maxWorkersPerAddress"`
	// MinReplicaAcks is how many replicas must acknowledge a payout's
	// relaying step, a block candidate and a credit before what follows
	// them happens (durable.go). nil or -1 = the default: 1 with Sentinel
	// or when the master has a replica at start, else 0.
	MinReplicaAcks *int `json:"minReplicaAcks"`
}

// Addr is host:port for a TCP connection.
func (r Config) Addr() string { return net.JoinHostPort(r.Host, strconv.Itoa(r.Port)) }

// SentinelConfig names a Sentinel-managed master.
type SentinelConfig struct {
	MasterName string   `json:"masterName"`
	Addrs      []string `json:"addrs"`
}

// ClusterConfig lists Redis Cluster seed nodes.
type ClusterConfig struct {
	Addrs []string `json:"addrs"`
}
