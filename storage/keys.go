package storage

import "strconv"

// keys builds every key name (see the schema in doc.go).
type keys struct {
	prefix string
	tag    string // "{prefix}": the slot of everything scripts touch

	pplnsLog, pplnsTotal, propRound, effort, effortSolo    string
	blocks, pending, balances, paid, payPending, ledger    string
	totals, pool, minersSeen, onlineIndex, onlineTagPrefix string
}

func newKeys(prefix string) keys {
	t := "{" + prefix + "}"
	return keys{
		prefix: prefix, tag: t,
		pplnsLog: t + ":pplns:log", pplnsTotal: t + ":pplns:total", propRound: t + ":round:prop",
		effort: t + ":effort", effortSolo: t + ":effort:solo",
		blocks: t + ":blocks", pending: t + ":blocks:pending",
		balances: t + ":balances", paid: t + ":paid", payPending: t + ":payments:pending",
		ledger: t + ":ledger", totals: t + ":totals",
		pool: prefix + ":pool", minersSeen: prefix + ":miners:seen",
		onlineIndex: "{" + prefix + ":online}:instances", onlineTagPrefix: "{" + prefix + ":online}:",
	}
}

func (k keys) seq(instance string) string    { return k.tag + ":seq:" + instance }
func (k keys) block(hash string) string      { return k.tag + ":block:" + hash }
func (k keys) weights(hash string) string    { return k.tag + ":block:" + hash + ":weights" }
func (k keys) credits(hash string) string    { return k.tag + ":block:" + hash + ":credits" }
func (k keys) online(instance string) string { return k.onlineTagPrefix + instance }

// Statistics keys are tagged by address, so one miner's keys share a slot
// and different miners spread over the cluster.
func (k keys) miner(addr string) string   { return k.prefix + ":miner:{" + addr + "}" }
func (k keys) workers(addr string) string { return k.prefix + ":workers:{" + addr + "}" }
func (k keys) minerHR(addr string, hour int64) string {
	return k.prefix + ":hr:{" + addr + "}:" + strconv.FormatInt(hour, 10)
}
func (k keys) workerHR(addr string, hour int64) string {
	return k.prefix + ":hrw:{" + addr + "}:" + strconv.FormatInt(hour, 10)
}
func (k keys) poolHR(hour int64) string { return k.prefix + ":hr:pool:" + strconv.FormatInt(hour, 10) }
