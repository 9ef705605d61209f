package storage

import "strconv"

// keys builds every key name (see the schema in doc.go).
type keys struct {
	prefix string
	tag    string // "{prefix}": the slot of everything scripts touch

	pplnsLog, pplnsTotal, propRound, effort, effortSolo    string
	blocks, pending, balances, paid, payPending, ledger    string
	totals, pool, minersSeen, onlineIndex, onlineTagPrefix string
	charts, bans                                           string

	// Payments (payments.go): the lease, the journal and its indexes.
	payLease, payFence, paySeq, payRecords, payOpen, payAll string
	payBlocked, payHalted, payStats, thresholds, paidFees   string
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
		payLease: t + ":payments:lease", payFence: t + ":payments:fence", paySeq: t + ":payments:seq",
		payRecords: t + ":payments:records", payOpen: t + ":payments:open", payAll: t + ":payments:all",
		payBlocked: t + ":payments:blocked", payHalted: t + ":payments:halted", payStats: t + ":payments:stats",
		thresholds: t + ":thresholds", paidFees: t + ":paid:fees",

		pool: prefix + ":pool", minersSeen: prefix + ":miners:seen", charts: prefix + ":charts", bans: prefix + ":bans",
		onlineIndex: "{" + prefix + ":online}:instances", onlineTagPrefix: "{" + prefix + ":online}:",
	}
}

func (k keys) seq(instance string) string    { return k.tag + ":seq:" + instance }
func (k keys) block(hash string) string      { return k.tag + ":block:" + hash }
func (k keys) weights(hash string) string    { return k.tag + ":block:" + hash + ":weights" }
func (k keys) credits(hash string) string    { return k.tag + ":block:" + hash + ":credits" }
func (k keys) online(instance string) string { return k.onlineTagPrefix + instance }

// A payment record, its destinations, and one miner's payment history. The
// history key shares "{p}:payments:" with the fixed payment keys above; no
// address is spelled "pending", "all", "lease"...
func (k keys) payment(id string) string      { return k.tag + ":payment:" + id }
func (k keys) paymentDests(id string) string { return k.tag + ":payment:" + id + ":dests" }
func (k keys) historyPrefix() string         { return k.tag + ":payments:" }
func (k keys) history(addr string) string    { return k.historyPrefix() + addr }

// Statistics keys are tagged by address, so one miner's keys share a slot
// and different miners spread over the cluster.
func (k keys) miner(addr string) string   { return k.prefix + ":miner:{" + addr + "}" }
func (k keys) workers(addr string) string { return k.prefix + ":workers:{" + addr + "}" }
func (k keys) workersSeen(addr string) string {
	return k.prefix + ":workers:seen:{" + addr + "}"
}
func (k keys) minerIPs(addr string) string { return k.prefix + ":ips:{" + addr + "}" }
func (k keys) minerHR(addr string, hour int64) string {
	return k.prefix + ":hr:{" + addr + "}:" + strconv.FormatInt(hour, 10)
}
func (k keys) workerHR(addr string, hour int64) string {
	return k.prefix + ":hrw:{" + addr + "}:" + strconv.FormatInt(hour, 10)
}

// applied is the marker of the last share batch whose statistics one Store
// applied in the slot of tag: an address, or an untagged pool key's name
// (statsbatch.go).
func (k keys) applied(tag, instance string) string {
	return k.prefix + ":applied:{" + tag + "}:" + instance
}

func (k keys) poolHR(hour int64) string { return k.prefix + ":hr:pool:" + strconv.FormatInt(hour, 10) }
