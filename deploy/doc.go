// Package deploy holds no code: it is the home of rxpool's deployment files
// and of the tests that check them with the real tools.
//
//	systemd/    rxpool.service (every module in one process); rxpool.target
//	            with rxpool-stratum@.service, rxpool-api.service,
//	            rxpool-unlocker.service and rxpool-payments.service (one
//	            process per module); sysusers.d and tmpfiles.d snippets
//	nginx/      the web frontend and the API behind nginx, over HTTP
//	            (rxpool.conf) or HTTPS with certbot (rxpool-tls.conf), both
//	            including rxpool-locations.conf
//	logrotate/  rotation of log.file with SIGHUP
//	devnet/     the pool configuration `make devnet` (cmd/devnet) starts from
//	redis/      redis.conf (every Redis node of a production pool: password,
//	            AOF with appendfsync always, noeviction) and sentinel.conf
//	            (one of three sentinels, quorum 2, master name rxpool)
//	haproxy/    haproxy.cfg: HAProxy in front of stratum processes on
//	            several machines (send-proxy-v2, leastconn, health checks)
//
// The tests run systemd-analyze verify and security on every unit,
// systemd-sysusers and systemd-tmpfiles on a scratch root, `pool check` on
// the module configurations shown in docs/operations.md, and nginx -t on
// both sites, then run nginx in front of a stand-in API and request through
// it; they run redis-server on redis.conf as master and replica and a
// sentinel on a copy of sentinel.conf; haproxy -c checks haproxy.cfg, and
// haproxy runs it in front of stand-ins that require the PROXY header. A
// missing tool fails the test (install them with `make deps`).
//
// The operator's guide is docs/operations.md.
package deploy
