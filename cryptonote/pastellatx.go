package cryptonote

import "fmt"

// Pastella is transparent: amounts are in the clear, an output's key is its
// owner's address key itself, and an input names the output it spends by
// transaction hash and index. So a transaction's prefix alone says who paid
// whom; `pool audit` reads the pool wallet's payouts from the chain this
// way, since the Wallet-API does not list destinations (pastella.md §3.1):
//
//	prefix:  varint version ‖ varint unlock_time ‖ inputs ‖ outputs ‖ extra
//	input:   0xff varint height (coinbase)
//	       | 0x02 varint amount ‖ varint count ‖ count × varint key offset ‖ prev tx hash (32) ‖ varint output index
//	output:  varint amount ‖ 0x02 ‖ key (32)
//
// The signatures after the prefix are not read.

const txInKey = 0x02

// TxInput is one input of a Pastella transaction.
type TxInput struct {
	Coinbase  bool
	Height    uint64 // coinbase only
	Amount    uint64
	PrevTx    Hash // the transaction whose output this spends
	PrevIndex uint64
}

// Tx is a parsed Pastella transaction prefix.
type Tx struct {
	Version    uint64
	UnlockTime uint64
	Inputs     []TxInput
	Outputs    []TxOutput
	Extra      []byte
}

// InputSum and OutputSum add the amounts; ok is false on overflow.
func (tx *Tx) InputSum() (sum uint64, ok bool) {
	return sumAmounts(tx.Inputs, func(in TxInput) uint64 { return in.Amount })
}

// OutputSum: see InputSum.
func (tx *Tx) OutputSum() (sum uint64, ok bool) {
	return sumAmounts(tx.Outputs, func(o TxOutput) uint64 { return o.Amount })
}

func sumAmounts[T any](xs []T, amount func(T) uint64) (sum uint64, ok bool) {
	for _, x := range xs {
		a := amount(x)
		if sum+a < sum {
			return 0, false
		}
		sum += a
	}
	return sum, true
}

// ParsePastellaTx parses the prefix of a serialised Pastella transaction
// (what the daemon's /getrawtransaction returns). Malformed input gives a
// *BlockError; the result does not alias raw.
func ParsePastellaTx(raw []byte) (*Tx, error) {
	r := &reader{b: raw}
	tx := &Tx{}
	var err error
	if tx.Version, err = r.varint("tx version"); err != nil {
		return nil, err
	}
	if tx.UnlockTime, err = r.varint("tx unlock time"); err != nil {
		return nil, err
	}
	nIn, err := r.count("tx input count", 2)
	if err != nil {
		return nil, err
	}
	tx.Inputs = make([]TxInput, nIn)
	for i := range tx.Inputs {
		if err := r.txInput(&tx.Inputs[i], i); err != nil {
			return nil, err
		}
	}
	nOut, err := r.count("tx output count", minOutputSize)
	if err != nil {
		return nil, err
	}
	tx.Outputs = make([]TxOutput, nOut)
	for i := range tx.Outputs {
		if err := r.output(&tx.Outputs[i], i); err != nil {
			return nil, err
		}
	}
	extraLen, err := r.count("tx extra length", 1)
	if err != nil {
		return nil, err
	}
	extra, err := r.take(extraLen, "tx extra")
	if err != nil {
		return nil, err
	}
	tx.Extra = append([]byte(nil), extra...)
	return tx, nil
}

func (r *reader) txInput(in *TxInput, i int) error {
	field := fmt.Sprintf("input %d", i)
	tag, err := r.byte(field + " tag")
	if err != nil {
		return err
	}
	switch tag {
	case txInGen:
		in.Coinbase = true
		in.Height, err = r.varint(field + " height")
		return err
	case txInKey:
	default:
		r.pos--
		return r.fail(field+" tag", "unknown input tag 0x%02x (want 0xff or 0x02)", tag)
	}
	if in.Amount, err = r.varint(field + " amount"); err != nil {
		return err
	}
	n, err := r.count(field+" key offsets", 1)
	if err != nil {
		return err
	}
	for j := 0; j < n; j++ {
		if _, err := r.varint(field + " key offset"); err != nil {
			return err
		}
	}
	prev, err := r.take(32, field+" previous transaction")
	if err != nil {
		return err
	}
	copy(in.PrevTx[:], prev)
	in.PrevIndex, err = r.varint(field + " output index")
	return err
}
