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
// that a round, block or money script touches carries the hash tag {p}, so on
// Redis Cluster they all live in one slot and the scripts run there.
// Statistics keys carry per-address tags to spread the load; their scripts
// each touch one address's keys or one pool key (with its applied marker).
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
//	                                when orphaned: settledAt, returnedToRound; imported
//	                                from another pool (never pending, no credits, no
//	                                ledger lines, not in totals): imported (source tag),
//	                                importedAt; credited, then reorged off the main chain
//	                                (the unlocker's check): lostAt (unix ms), lostReason;
//	                                settled by the operator: lostSettled ("RFC 3339 note")
//	{p}:block:<hash>:weights  HASH  address → weight, frozen with the candidate
//	{p}:block:<hash>:credits  HASH  address → atomic units credited to participants
//	                                (finder reward and fee are fields of the block)
//	{p}:blocks                ZSET  hash by height: every candidate ever recorded
//	{p}:blocks:pending        ZSET  hash by height: candidates not yet confirmed/orphaned
//	{p}:balances              HASH  address → payable atomic units
//	{p}:paid                  HASH  address → atomic units debited by sent payouts
//	{p}:paid:fees             HASH  address → the part of paid that went to network fees
//	{p}:payments:pending      HASH  address → atomic units debited into open payment records
//	{p}:ledger                STREAM one entry per credit: kind (credit|finder|fee),
//	                                block, address ("" for a fee the pool keeps), amount;
//	                                and one per paid destination: kind payment, payment
//	                                (id), address, amount (debited), fee, sent, tx; when
//	                                a sent payout is dropped, one per destination with
//	                                those fields and kind dropped, which reverses it;
//	                                and one per imported miner: kind import, source
//	                                (import:nodepool), address, amount (= balance + paid),
//	                                balance, paid; never trimmed
//	{p}:imports               HASH  "<source>:miner:<address>" → what was imported
//	                                ("balance=… paid=… threshold=… payments=… at=<ms>");
//	                                source is e.g. nodepool:Pastella. A miner is imported
//	                                once per source (import.go)
//	{p}:totals                HASH  rewards, credited, fees, feesCredited, finder,
//	                                confirmed, orphaned (operator totals)
//
// Payments (hash tag {p}; payments.go writes, paymentreads.go reads, lease.go; no TTL except the lease):
//
//	{p}:payment:<id>          HASH  id, state (preparing|prepared|relaying|sent|failed,
//	                                then sent → confirmed|dropped: confirm.go),
//	                                created, updated, token (lease token of its writer),
//	                                destinations, debited; from prepared on: txHash, fee
//	                                (network), minerFees, sent, handle (to relay it; dropped
//	                                when settled); relayedAt; when settled: settledAt,
//	                                settledBy (relay|lookup|refusal|unsent|recovery|operator),
//	                                error; while sent: missingSince, missing (the
//	                                transaction is not seen since then, why); confirmed:
//	                                confirmedAt, height; dropped: droppedAt, error;
//	                                resendOf: the dropped payments it pays again (ids)
//	{p}:payment:<id>:dests    HASH  address → "debit" (preparing), then "debit:fee:sent"
//	                                with debit = fee + sent
//	{p}:payments:seq          STRING last payment id
//	{p}:payments:records      ZSET  id by creation time (unix ms): every record
//	{p}:payments:open         ZSET  id by creation time: records not sent or failed yet
//	{p}:payments:unconfirmed  ZSET  id by sent time (unix ms): sent records waiting for
//	                                their confirmations (not confirmed or dropped yet)
//	{p}:payments:resend       HASH  address → "id,id": dropped payments whose debit went
//	                                back to its balance; taken by the next record paying it
//	{p}:payments:<address>    ZSET  the miner's sent payments, by time (unix ms):
//	                                "txHash:sent:fee:debit:id" (removed when dropped)
//	{p}:payments:all          ZSET  every sent payment, by time (unix ms):
//	                                "txHash:sent:networkFee:minerFees:destinations:id"
//	                                In both, id 0 = imported from another pool: no record,
//	                                nothing payments could send again
//	{p}:payments:blocked      HASH  address → why payments skip it
//	{p}:payments:halted       HASH  id → "since(unix ms) reason": relayed records whose
//	                                outcome is unknown; payments halt while any is listed
//	{p}:payments:stats        HASH  sent, failed, halts, confirmed, dropped (counters)
//	{p}:payments:paused       STRING "since(unix ms) reason": payments paused because too few
//	                                replicas acknowledge the journal (durable.go), for /health;
//	                                rewritten every paused run, TTL 3 runs + 1 min
//	{p}:payments:operator     HASH  txHash → "<RFC 3339 time> <note>": the pool wallet's
//	                                transfers an operator made and recorded (`pool payments
//	                                record`), which the wallet reconciliation accepts
//	{p}:payments:lease        STRING the lease holder's fencing token, with a TTL (PX)
//	{p}:payments:fence        STRING last fencing token handed out (only grows)
//	{p}:payments:released     STRING the last token given up by its holder; a lease
//	                                taken when the last token handed out is another
//	                                was taken over from a holder that stalled or died
//	{p}:thresholds            HASH  address → the miner's own minimum payout
//	{p}:unlocker:lease        STRING the unlocker lease holder's token, with a TTL (PX)
//	{p}:unlocker:fence        STRING last unlocker token handed out
//	{p}:unlocker:released     STRING the last unlocker token given up by its holder
//	{p}:stratum:instances     STRING last stratum instance id handed out (INCR)
//	{p}:durable               STRING unix ms of the last replica wait (durable.go): written
//	                                before each WAIT, so the wait covers every earlier write;
//	                                also after share flushes while batches are kept (unacked.go)
//
// With redis.minReplicaAcks > 0, the relaying step, a block candidate and a
// credit are followed by WAIT (WAITAOF on Redis ≥ 7.2) on the connection
// that wrote them, and fail with ErrNotDurable when too few replicas
// acknowledge them (durable.go).
//
// A share Store.Share answered OK (nil) is buffered for at most the flush
// interval, then written in a batch that counts once however often it is
// sent (the batch seq in {p}:seq:<instance> and the statistics' applied
// markers: a seq ≤ the last applied is skipped). While Redis is down, Share
// refuses (ErrUnavailable) rather than answering OK. With
// redis.minReplicaAcks > 0 the Store keeps every written batch until a short
// WAIT after a flush ({p}:durable) shows the replicas have it, and writes the
// kept ones again, oldest first, when storage recovers from an outage or a
// flush finds {p}:seq:<instance> on the master older than the newest kept
// batch (a switch no write showed), so a failover to a replica that had not
// received them counts them once on the promoted replica (unacked.go). What
// an OK share can still be lost to: the process dying before its flush (up
// to the flush interval of shares), a switch within the round trip between
// that check and the write, kept batches beyond the share buffer's size
// while replicas stay behind (logged), on a Cluster the statistics on other
// masters than the {p} slot's (only that master's replicas are asked), and,
// with minReplicaAcks 0, any failover.
//
// Every journal script checks the caller's token is the current lease, so a
// payments process that lost its lease cannot write; the operator's
// `pool payments resolve` settles without it, guarded by the record's state.
//
// Audit invariants: for a confirmed block Σcredits + fee + finderReward =
// reward; per address, Σ credited to it = balance + pending payment + paid,
// and so in total; no negative balance; the pending payments are the debits
// of the open payment records, paid is the debits of the sent and confirmed
// ones and the ledger's payment lines less its dropped lines, each record
// adds up, and the unconfirmed index lists only sent records. Imports: an
// import line counts its amount (balance + paid at import) as credited to
// its address and its paid as paid, so per address Σ credited (blocks + imports) =
// balance + pending + paid, and paid = sent records' debits + imported paid.
//
// Statistics (may expire). A share batch's statistics are one script per slot
// (statsbatch.go): per address, over its {<addr>} keys, and per untagged pool
// key; each first checks and records the batch in that slot's applied marker,
// so a batch retried after a partial failure (one cluster node down) or resent
// by the client counts once:
//
//	<p>:miner:{<addr>}            HASH hashes, accepted, stale, invalid, rejected, lastShare
//	                                   (unix s); TTL 30 d after the last activity
//	<p>:workers:{<addr>}          HASH "<worker>:<field>" with the fields above; TTL 30 d
//	<p>:workers:seen:{<addr>}     ZSET worker by rank: its last accepted share (unix s), or
//	                                   without one its last rejection − 2^32; TTL 30 d. At most
//	                                   redis.maxWorkersPerAddress (default 256): the share
//	                                   batch's worker script (workers.go) drops the lowest
//	                                   ranked with their fields in the hash above, so names
//	                                   made up under someone's address cannot grow it
//	<p>:ips:{<addr>}              ZSET IP by its last accepted share (unix s); TTL 7 d
//	<p>:hr:{<addr>}:<hour>        HASH "<minute>" → hashes (unix minute); TTL 26 h
//	<p>:hrw:{<addr>}:<hour>       HASH "<worker>:<minute>" → hashes; TTL 26 h (read only for
//	                                   the workers kept in workers:seen)
//	<p>:hr:pool:<hour>            HASH "<minute>" and "<scheme>:<minute>" → hashes; TTL 26 h
//	<p>:pool                      HASH pool counters as in <p>:miner
//	<p>:charts                    ZSET "<slot>:<miners>:<workers>:<difficulty>" by slot
//	                                   (unix s), written by the API, trimmed to 48 h
//	<p>:miners:seen               ZSET address by last share time (unix s); >30 d trimmed
//	<p>:applied:{<tag>}:<instance> STRING the last share batch (seq) whose statistics one Store
//	                                   applied in the slot of <tag>: an address, or the name
//	                                   of an untagged pool key above (<p>:pool, <p>:hr:pool:<hour>,
//	                                   <p>:miners:seen); TTL 7 d, as {p}:seq:<instance>
//	{<p>:online}:<instance>       HASH "<addr>:<worker>" → sessions of one Store; TTL 35 s,
//	                                   rewritten by its heartbeat
//	{<p>:online}:instances        ZSET instance by last heartbeat (unix s)
package storage
