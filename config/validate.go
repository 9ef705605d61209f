package config

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/sirupsen/logrus"

	"rxpool/cryptonote"
	"rxpool/randomx"
	"rxpool/stratum"
)

// Validate checks every rule of the configuration and returns all problems
// together, one per line. It also resolves Coin from CoinName when Coin is
// nil and sets PoolAddr. Messages never contain a Secret's value.
func (c *Config) Validate() error { return errors.Join(c.problems()...) }

func (c *Config) problems() []error {
	ch := &checks{}
	c.checkCoin(ch)
	c.checkLog(ch)
	c.checkDaemons(ch)
	c.checkWallet(ch)
	c.checkStratum(ch)
	c.checkPorts(ch)
	c.checkDifficulty(ch)
	c.checkRandomX(ch)
	c.checkPayments(ch)
	c.checkUnlocker(ch)
	c.checkRedis(ch)
	c.checkAPI(ch)
	if m := c.Metrics; m.Enabled {
		ch.bindIP("metrics.bindIp", m.BindIP)
		ch.port("metrics.port", m.Port)
		if c.API.Enabled && m.Port == c.API.Port {
			ch.add("metrics.port", "same port as api.port (the API serves /metrics already; turn metrics off or pick another port)")
		}
		if _, clash := c.Ports[strconv.Itoa(m.Port)]; clash && c.Stratum.Enabled {
			ch.add("metrics.port", "same port as a stratum port")
		}
	}
	if len(c.Modules()) == 0 {
		ch.add("", "no module is enabled: set stratum.enabled, api.enabled, blockUnlocker.enabled or payments.enabled to true")
	}
	return ch.errs
}

func (c *Config) checkCoin(ch *checks) {
	c.PoolAddr = nil
	if c.Coin == nil {
		coin, err := cryptonote.CoinByName(c.CoinName)
		if err != nil {
			ch.add("coin", "%v", err)
		}
		c.Coin = coin
	} else if c.CoinName != "" && !strings.EqualFold(c.CoinName, c.Coin.Name) {
		ch.add("coin", "%q does not match the coin profile %q", c.CoinName, c.Coin.Name)
	}
	if c.Symbol == "" {
		ch.add("symbol", "must not be empty")
	}
	if strings.IndexFunc(c.PoolHost, unicode.IsSpace) >= 0 {
		ch.add("poolHost", "must not contain spaces, got %q", c.PoolHost)
	}

	const rx = "rxpool only mines RandomX"
	mustEqual(ch, "cnAlgorithm", c.CNAlgorithm, "randomx", rx)
	mustEqual(ch, "isRandomX", c.IsRandomX, true, rx)
	mustEqual(ch, "cnVariant", c.CNVariant, 0, "RandomX rx/0")
	mustEqual(ch, "cnHalfVariant", c.CNHalfVariant, 0, "not used by RandomX")
	mustEqual(ch, "cnBlobType", c.CNBlobType, 0, "the plain CryptoNote block format")

	coin := c.Coin
	if coin == nil {
		return // nothing below can be checked without the profile
	}
	of := "set by the " + coin.Name + " profile"
	mustEqual(ch, "coinUnits", c.CoinUnits, coin.Units, of)
	mustEqual(ch, "coinDecimalPlaces", c.CoinDecimalPlaces, coin.DecimalPlaces, of)
	mustEqual(ch, "coinDifficultyTarget", c.CoinDifficultyTarget, int(coin.BlockTime.Seconds()), of)

	if c.PoolAddress == "" {
		ch.add("poolAddress", "required (the pool wallet's address, to which block rewards are paid)")
		return
	}
	addr, err := coin.ParseAddress(c.PoolAddress)
	var ae *cryptonote.AddressError
	switch {
	case errors.As(err, &ae):
		ch.add("poolAddress", "%s", ae.Reason)
	case err != nil:
		ch.add("poolAddress", "%v", err)
	case addr.Kind == cryptonote.AddressIntegrated:
		ch.add("poolAddress", "must be a standard address (the daemon cannot mine to an integrated address)")
	case addr.Kind != cryptonote.AddressStandard:
		ch.add("poolAddress", "must be a standard address (the daemon cannot mine to a %s)", addr.Kind)
	default:
		c.PoolAddr = addr
	}
}

func (c *Config) checkLog(ch *checks) {
	if _, err := logrus.ParseLevel(c.Log.Level); err != nil {
		ch.add("log.level", "unknown level %q (use one of: %s)", c.Log.Level, logLevels())
	}
	ch.oneOf("log.format", c.Log.Format, LogText, LogJSON)
}

func (c *Config) checkDaemons(ch *checks) {
	both := c.Daemon != nil && len(c.Daemons) > 0
	switch {
	case both:
		ch.add("daemons", `use either "daemon" or "daemons", not both`)
	case c.Daemon == nil && len(c.Daemons) == 0 && (c.Stratum.Enabled || c.BlockUnlocker.Enabled):
		ch.add("daemon", `required when stratum or blockUnlocker is enabled (or "daemons" for a failover list)`)
	}
	paths := map[*DaemonConfig]string{c.Daemon: "daemon"}
	for i := range c.Daemons {
		paths[&c.Daemons[i]] = fmt.Sprintf("daemons[%d]", i)
	}
	names, endpoints := map[string]string{}, map[string]string{}
	for _, d := range c.daemonRefs() {
		p := paths[d]
		ch.host(p+".host", d.Host)
		ch.port(p+".port", d.Port)
		positive(ch, p+".timeout", d.Timeout)
		if both {
			continue // comparing entries of two different lists is only noise
		}
		if prev, ok := names[d.Name]; ok && d.Name != "" {
			ch.add(p+".name", "%q is already the name of %s", d.Name, prev)
		}
		names[d.Name] = p
		if prev, ok := endpoints[d.URL()]; ok {
			ch.add(p, "same host and port as %s", prev)
		}
		endpoints[d.URL()] = p
	}
}

// checkWallet applies only with payments on: nothing else uses the wallet.
func (c *Config) checkWallet(ch *checks) {
	w := c.WalletAPI
	if !c.Payments.Enabled {
		return
	}
	ch.host("walletApi.host", w.Host)
	ch.port("walletApi.port", w.Port)
	positive(ch, "walletApi.timeout", w.Timeout)
	if strings.ContainsAny(w.APIKey.Reveal(), "\r\n") {
		ch.add("walletApi.apiKey", "must not contain line breaks")
	}
	if c.Coin == nil {
		return
	}
	// Pastella-Wallet-API authenticates every request with X-API-KEY and
	// starts without a wallet; monero-wallet-rpc uses HTTP digest auth.
	if c.Coin.Name == cryptonote.Pastella.Name {
		if !w.APIKey.IsSet() {
			ch.add("walletApi.apiKey", "required for pastella (the Wallet-API's --rpc-password, sent as X-API-KEY)")
		}
		if w.WalletFile == "" {
			ch.add("walletApi.walletFile", "required for pastella (the pool opens the wallet through the Wallet-API)")
		}
		if w.RPCUser != "" || w.RPCPassword.IsSet() {
			ch.add("walletApi.rpcUser", "rpcUser and rpcPassword are not used by pastella (the Wallet-API uses apiKey)")
		}
		return
	}
	if w.APIKey.IsSet() {
		ch.add("walletApi.apiKey", "not used by %s (wallet RPC uses rpcUser and rpcPassword)", c.Coin.Name)
	}
	if w.RPCUser != "" && !w.RPCPassword.IsSet() {
		ch.add("walletApi.rpcPassword", "required when rpcUser is set")
	}
	if w.RPCUser == "" && w.RPCPassword.IsSet() {
		ch.add("walletApi.rpcUser", "required when rpcPassword is set")
	}
}

func (c *Config) checkStratum(ch *checks) {
	s := c.Stratum
	ch.bindIP("stratum.bindIp", s.BindIP)
	between(ch, "stratum.blockRefreshInterval", s.BlockRefreshInterval, 100, 60_000)
	positive(ch, "stratum.templateRefreshInterval", s.TemplateRefreshInterval)
	positive(ch, "stratum.minerTimeout", s.MinerTimeout)
	positive(ch, "stratum.loginTimeout", s.LoginTimeout)
	if s.MinerTimeout > 0 && s.LoginTimeout > s.MinerTimeout {
		ch.add("stratum.loginTimeout", "must not exceed stratum.minerTimeout (%d), got %d", s.MinerTimeout, s.LoginTimeout)
	}
	between(ch, "stratum.maxLineLength", s.MaxLineLength, 1024, 1<<20)
	nonNegative(ch, "stratum.maxConnectionsPerIP", s.MaxConnectionsPerIP, "unlimited")
	nonNegative(ch, "stratum.maxConnections", s.MaxConnections, "the file limit less headroom")
	nonNegative(ch, "stratum.connectionRate", s.ConnectionRate, "unlimited")
	nonNegative(ch, "stratum.connectionBurst", s.ConnectionBurst, "connectionRate × 10")
	if c.Coin != nil {
		between(ch, "stratum.shareGraceWindow", s.ShareGraceWindow, 0, Seconds(c.Coin.BlockTime.Seconds()))
	}
}

func (c *Config) checkPorts(ch *checks) {
	if c.Stratum.Enabled && len(c.Ports) == 0 {
		ch.add("ports", "at least one port is required when stratum is enabled")
	}
	vd := c.VarDiff
	seen := map[int]string{}
	for _, key := range c.sortedPortKeys() {
		p, path := c.Ports[key], "ports."+key
		n, ok := portNumber(key)
		if !ok {
			ch.add(path, "port must be 1..65535")
			continue
		}
		if prev, dup := seen[n]; dup {
			ch.add(path, "duplicate of ports.%s", prev)
		}
		seen[n] = key
		if c.API.Enabled && c.Stratum.Enabled && n == c.API.Port {
			ch.add(path, "same port as api.port")
		}
		positive(ch, path+".diff", p.Diff)
		if vd.Enabled && p.Diff > 0 && vd.MinDiff <= vd.MaxDiff && (p.Diff < vd.MinDiff || p.Diff > vd.MaxDiff) {
			ch.add(path+".diff", "must be within varDiff.minDiff..varDiff.maxDiff (%d..%d), got %d", vd.MinDiff, vd.MaxDiff, p.Diff)
		}
		switch {
		case p.TLS && p.TLSCert == "":
			ch.add(path+".tlsCert", "required when tls is true")
		case p.TLS && p.TLSKey == "":
			ch.add(path+".tlsKey", "required when tls is true")
		case !p.TLS && (p.TLSCert != "" || p.TLSKey != ""):
			ch.add(path+".tls", "is false but tlsCert or tlsKey is set (set tls to true, or remove them)")
		}
		checkProxyPort(ch, path, p)
	}
}

// checkProxyPort: a PROXY protocol port must say whose headers it trusts;
// trusting everyone would let any client forge its address, dodging
// bans and per-IP limits or getting someone else banned.
func checkProxyPort(ch *checks, path string, p PortConfig) {
	path += ".trustedProxies"
	switch {
	case p.ProxyProtocol && len(p.TrustedProxies) == 0:
		ch.add(path, `required when proxyProtocol is true: the addresses or CIDR ranges of the load balancers that send the PROXY header, e.g. ["127.0.0.1"] for HAProxy on this host (the port refuses every other client)`)
	case !p.ProxyProtocol && len(p.TrustedProxies) > 0:
		ch.add(path, "is set but proxyProtocol is false (set proxyProtocol to true, or remove trustedProxies)")
	}
	ch.ipRanges(path, p.TrustedProxies)
	for i, s := range p.TrustedProxies {
		if r, err := ParseIPRange(s); err == nil && r.Bits() == 0 {
			ch.add(fmt.Sprintf("%s[%d]", path, i), "%q trusts every address, so any client could forge its own; list the load balancers only", s)
		}
	}
}

func (c *Config) checkDifficulty(ch *checks) {
	v := c.VarDiff
	positive(ch, "varDiff.minDiff", v.MinDiff)
	if v.MaxDiff < v.MinDiff {
		ch.add("varDiff.maxDiff", "must be ≥ varDiff.minDiff (%d), got %d", v.MinDiff, v.MaxDiff)
	}
	positive(ch, "varDiff.targetTime", v.TargetTime)
	positive(ch, "varDiff.retargetTime", v.RetargetTime)
	ch.openPercent("varDiff.variancePercent", v.VariancePercent)
	ch.openPercent("varDiff.maxJump", v.MaxJump)

	// The separator splits "ADDRESS.DIFF"; a character that can occur in an
	// address would cut addresses apart.
	if sep := c.FixedDiff.AddressSeparator; utf8.RuneCountInString(sep) != 1 ||
		strings.IndexFunc(sep, func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsSpace(r) }) >= 0 {
		ch.add("fixedDiff.addressSeparator", "must be one character that cannot occur in an address (not a letter, digit or space), got %q", sep)
	}

	b := c.Banning
	positive(ch, "banning.time", b.Time)
	if b.InvalidPercent <= 0 || b.InvalidPercent > 100 {
		ch.add("banning.invalidPercent", "must be > 0 and ≤ 100, got %v", b.InvalidPercent)
	}
	positive(ch, "banning.checkThreshold", b.CheckThreshold)
}

func (c *Config) checkRandomX(ch *checks) {
	r := c.RandomX
	ch.oneOf("randomx.mode", r.Mode, string(randomx.ModeAuto), string(randomx.ModeFast), string(randomx.ModeLight))
	nonNegative(ch, "randomx.workers", r.Workers, "one per CPU core")
	positive(ch, "randomx.queueSize", r.QueueSize)
	nonNegative(ch, "randomx.datasetThreads", r.DatasetThreads, "one per CPU core")
}

func (c *Config) checkPayments(ch *checks) {
	p := c.Payments
	positive(ch, "payments.interval", p.Interval)
	positive(ch, "payments.denomination", p.Denomination)
	if p.MinPayment < p.Denomination {
		ch.add("payments.minPayment", "must be ≥ payments.denomination (%d), got %d", p.Denomination, p.MinPayment)
	}
	if p.MaxPayment != 0 && p.MaxPayment < p.MinPayment {
		ch.add("payments.maxPayment", "must be 0 (no cap) or ≥ payments.minPayment (%d), got %d", p.MinPayment, p.MaxPayment)
	}
	if p.MaxTransactionAmount != 0 && p.MaxTransactionAmount < p.MinPayment {
		ch.add("payments.maxTransactionAmount", "must be 0 (no cap) or ≥ payments.minPayment (%d), got %d", p.MinPayment, p.MaxTransactionAmount)
	}
	// Otherwise a miner at the threshold would be paid nothing or less.
	if p.MinerPayFee && p.TransferFee >= p.MinPayment {
		ch.add("payments.transferFee", "must be below payments.minPayment (%d) when minerPayFee is true, got %d", p.MinPayment, p.TransferFee)
	}
	ch.oneOf("payments.scheme", p.Scheme, stratum.SchemePPLNS, stratum.SchemeProp, stratum.SchemeSolo)
	positive(ch, "payments.confirmations", p.Confirmations)
	positive(ch, "payments.dropGrace", p.DropGrace)
	if c.Coin == nil {
		return
	}
	if c.Coin.Name == cryptonote.Pastella.Name {
		mustEqual(ch, "payments.priority", p.Priority, 0, "the Wallet-API has no priorities")
	} else {
		between(ch, "payments.priority", p.Priority, 0, 4)
	}
	// One output of every payout transaction is the change.
	if limit := c.Coin.MaxTxOutputs - 1; p.MaxAddresses < 1 || p.MaxAddresses > limit {
		ch.add("payments.maxAddresses", "must be 1..%d (%s allows %d outputs per transaction, one is the change), got %d",
			limit, c.Coin.Name, c.Coin.MaxTxOutputs, p.MaxAddresses)
	}
}

func (c *Config) checkUnlocker(ch *checks) {
	u := c.BlockUnlocker
	positive(ch, "blockUnlocker.interval", u.Interval)
	if c.Coin != nil && u.Depth < c.Coin.UnlockDepth {
		ch.add("blockUnlocker.depth", "must be ≥ %d (the %s coinbase maturity), got %d", c.Coin.UnlockDepth, c.Coin.Name, u.Depth)
	}
	poolOK := ch.percent("blockUnlocker.poolFee", u.PoolFee)
	ch.percent("blockUnlocker.soloFee", u.SoloFee)
	finderOK := ch.percent("blockUnlocker.finderReward", u.FinderReward)
	if poolOK && finderOK && u.PoolFeeBP()+u.FinderRewardBP() >= 10_000 {
		ch.add("blockUnlocker.finderReward", "poolFee + finderReward must be below 100, got %v", u.PoolFee+u.FinderReward)
	}
	if u.FeeAddress != "" && c.Coin != nil {
		if _, err := c.Coin.ParseAddress(u.FeeAddress); err != nil {
			ch.add("blockUnlocker.feeAddress", "%v", err)
		}
	}
	positive(ch, "pplns.window", c.PPLNS.Window)
}

// sentinelUsed tells whether any Sentinel setting was given (an incomplete
// one is reported, not ignored).
func sentinelUsed(s RedisSentinelConfig) bool { return s.MasterName != "" || len(s.Addrs) > 0 }

func (c *Config) checkRedis(ch *checks) {
	r := c.Redis
	var modes []string
	if r.Socket != "" {
		modes = append(modes, "socket")
	}
	if sentinelUsed(r.Sentinel) {
		modes = append(modes, "sentinel")
	}
	if len(r.Cluster.Addrs) > 0 {
		modes = append(modes, "cluster")
	}
	if len(modes) > 1 {
		ch.add("redis", "socket, sentinel and cluster exclude each other, got %s", strings.Join(modes, " and "))
	}
	if len(modes) == 0 { // plain TCP
		ch.host("redis.host", r.Host)
		ch.port("redis.port", r.Port)
	}
	if r.Socket != "" && !filepath.IsAbs(r.Socket) {
		ch.add("redis.socket", "must be an absolute path, got %q", r.Socket)
	}
	nonNegative(ch, "redis.db", r.DB, "the default database")
	if len(r.Cluster.Addrs) > 0 && r.DB != 0 {
		ch.add("redis.db", "must be 0 with cluster (Redis Cluster has only database 0), got %d", r.DB)
	}
	if sentinelUsed(r.Sentinel) {
		if r.Sentinel.MasterName == "" {
			ch.add("redis.sentinel.masterName", "required when sentinel addrs are set")
		}
		if len(r.Sentinel.Addrs) == 0 {
			ch.add("redis.sentinel.addrs", "required when masterName is set")
		}
	}
	for i, a := range r.Sentinel.Addrs {
		ch.hostPort(fmt.Sprintf("redis.sentinel.addrs[%d]", i), a)
	}
	for i, a := range r.Cluster.Addrs {
		ch.hostPort(fmt.Sprintf("redis.cluster.addrs[%d]", i), a)
	}
	switch {
	case r.Prefix == "":
		ch.add("redis.prefix", "must not be empty")
	case strings.IndexFunc(r.Prefix, unicode.IsSpace) >= 0:
		ch.add("redis.prefix", "must not contain spaces, got %q", r.Prefix)
	}
	nonNegative(ch, "redis.poolSize", r.PoolSize, "the client library's default")
	between(ch, "redis.maxWorkersPerAddress", r.MaxWorkersPerAddress, 1, 100_000)
}

func (c *Config) checkAPI(ch *checks) {
	a := c.API
	ch.bindIP("api.bindIp", a.BindIP)
	ch.port("api.port", a.Port)
	positive(ch, "api.updateInterval", a.UpdateInterval)
	for i, o := range a.CORSOrigins {
		if o == "*" {
			continue
		}
		if u, err := url.Parse(o); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			(u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			ch.add(fmt.Sprintf("api.corsOrigins[%d]", i), `must be "*" or an origin such as "https://pool.example.com", got %q`, o)
		}
	}
	// A short token can be guessed over the network.
	if a.AdminToken.IsSet() && len(a.AdminToken.Reveal()) < 16 {
		ch.add("api.adminToken", "must be at least 16 characters (generate one with: openssl rand -hex 32)")
	}
	nonNegative(ch, "api.rateLimit", a.RateLimit, "unlimited")
	positive(ch, "api.offlineAfter", a.OfflineAfter)
	ch.ipRanges("api.trustedProxies", a.TrustedProxies)
}
