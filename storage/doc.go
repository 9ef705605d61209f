// Package storage is the only package that talks to Redis. It records shares
// (batched, pipelined), miner statistics, block candidates with their frozen
// PPLNS/PROP/SOLO weights, credits and orphans blocks, and audits the ledger.
//
// Money is never computed with Lua numbers (doubles, exact only below 2^53):
// amounts travel as decimal strings and are added with HINCRBY, and every
// multi-key money update is one Lua script, so it is atomic and, guarded by
// the block status, idempotent. Nothing that holds money has a TTL.
//
// # Key schema
//
// p is the configured prefix (redis.prefix, default the coin name). Every key
// that a script touches carries the hash tag {p}, so on Redis Cluster they all
// live in one slot and the scripts run there. Statistics keys are written by
// pipelines only and carry per-address tags to spread the load.
//
// Rounds and shares (hash tag {p}):
//
//	{p}:pplns:log           LIST    newest first, "address:weight"; consecutive shares
//	                                of one address are merged into the head entry;
//	                                trimmed from the tail to keepFactor × window × netDiff
//	{p}:pplns:total         STRING  Σ weights in the log (INCRBY/DECRBY)
//	{p}:round:prop          HASH    address → Σ job difficulty since the last PROP block
//	{p}:effort              HASH    pplns|prop → Σ share difficulty since that scheme's last block
//	{p}:effort:solo         HASH    address → Σ SOLO share difficulty since its last SOLO block
//	{p}:seq:<instance>      STRING  last share batch applied by one Store (TTL 7 d); makes
//	                                a retried batch a no-op
//
// Blocks and money (hash tag {p}; no TTL on any of them):
//
//	{p}:block:<hash>          HASH  height, hash, prevHash, scheme, address, worker,
//	                                netDiff, shareDiff, reward, time (unix ms), submitError,
//	                                status (pending|confirmed|orphaned), totalWeight,
//	                                weightEntries, effortHashes; when confirmed: fee,
//	                                feeAddress, finderReward, credited, settledAt;
//	                                when orphaned: settledAt, returnedToRound
//	{p}:block:<hash>:weights  HASH  address → weight, frozen with the candidate
//	{p}:block:<hash>:credits  HASH  address → atomic units credited to participants
//	                                (finder reward and fee are fields of the block)
//	{p}:blocks                ZSET  hash by height: every candidate ever recorded
//	{p}:blocks:pending        ZSET  hash by height: candidates not yet confirmed/orphaned
//	{p}:balances              HASH  address → payable atomic units
//	{p}:paid                  HASH  address → atomic units debited by payouts (payments issue)
//	{p}:payments:pending      HASH  address → atomic units reserved by an in-flight payout
//	                                (payments issue; empty until then)
//	{p}:ledger                STREAM one entry per credit: kind (credit|finder|fee),
//	                                block, address ("" for a fee the pool keeps), amount;
//	                                never trimmed
//	{p}:totals                HASH  rewards, credited, fees, feesCredited, finder,
//	                                confirmed, orphaned (operator totals)
//
// Audit invariants: for a confirmed block Σcredits + fee + finderReward =
// reward; per address, Σ credited to it = balance + pending payment + paid,
// and so in total; no negative balance.
//
// Statistics (may expire; written by pipelines only):
//
//	<p>:miner:{<addr>}            HASH hashes, accepted, stale, invalid, rejected, lastShare
//	                                   (unix s); TTL 30 d after the last activity
//	<p>:workers:{<addr>}          HASH "<worker>:<field>" with the fields above; TTL 30 d
//	<p>:hr:{<addr>}:<hour>        HASH "<minute>" → hashes (unix minute); TTL 26 h
//	<p>:hrw:{<addr>}:<hour>       HASH "<worker>:<minute>" → hashes; TTL 26 h
//	<p>:hr:pool:<hour>            HASH "<minute>" and "<scheme>:<minute>" → hashes; TTL 26 h
//	<p>:pool                      HASH pool counters as in <p>:miner
//	<p>:miners:seen               ZSET address by last share time (unix s); >30 d trimmed
//	{<p>:online}:<instance>       HASH "<addr>:<worker>" → sessions of one Store; TTL 35 s,
//	                                   rewritten by its heartbeat
//	{<p>:online}:instances        ZSET instance by last heartbeat (unix s)
package storage
