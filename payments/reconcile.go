package payments

import (
	"context"
	"fmt"

	"rxpool/storage"
	"rxpool/wallet"
)

// Reconcile lists the wallet's outgoing transfers from minHeight on and
// adds storage's reconciliation of them with the payment records to rep
// (`pool audit`): every payout in the wallet as recorded, every transfer a
// payout or an operator's recorded one. It returns how many transfers the
// wallet listed; a wallet that does not answer is ErrWalletUnavailable.
func Reconcile(ctx context.Context, store *storage.Store, w wallet.OutgoingLister, rep *storage.AuditReport, minHeight uint64) (int, error) {
	txs, err := w.Outgoing(ctx, minHeight)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrWalletUnavailable, err)
	}
	list := make([]storage.WalletTx, 0, len(txs))
	for _, tx := range txs {
		list = append(list, walletTx(tx))
	}
	return len(txs), store.Reconcile(ctx, rep, list, minHeight)
}

// walletTx is the storage form of a wallet's outgoing transaction.
func walletTx(tx wallet.OutgoingTx) storage.WalletTx {
	out := storage.WalletTx{TxHash: tx.TxHash, Height: tx.Height, Amount: tx.Amount, State: storage.TxStatePending}
	switch tx.State {
	case wallet.TxConfirmed:
		out.State = storage.TxStateConfirmed
	case wallet.TxFailed:
		out.State = storage.TxStateFailed
	}
	if len(tx.Dests) > 0 {
		out.Dests = map[string]uint64{}
		for _, d := range tx.Dests {
			out.Dests[d.Address] += d.Amount
		}
	}
	return out
}
