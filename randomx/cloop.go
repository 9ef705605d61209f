package randomx

/*
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <randomx.h>

// rxpool_hash_loop is the reference for the binding benchmarks: the library
// call in a plain C loop on a C copy of the input. Like a miner, and like
// shares reaching a pool, every hash gets another nonce (4 bytes little
// endian at nonce_off): hashing one input over and over would find the same
// dataset lines in the CPU cache and look faster than real work.
static void rxpool_hash_loop(randomx_vm *vm, const void *input, size_t len, size_t nonce_off,
                             uint32_t first, uint64_t n, void *out) {
	unsigned char *in = malloc(len ? len : 1);
	char hash[RANDOMX_HASH_SIZE];
	memcpy(in, input, len);
	for (uint64_t i = 0; i < n; i++) {
		uint32_t nonce = first + (uint32_t)i;
		if (nonce_off + 4 <= len)
			for (int b = 0; b < 4; b++)
				in[nonce_off + b] = (unsigned char)(nonce >> (8 * b));
		randomx_calculate_hash(vm, in, len, hash);
	}
	memcpy(out, hash, RANDOMX_HASH_SIZE);
	free(in);
}
*/
import "C"

import "unsafe"

// nonceOffset is where Monero hashing blobs keep the nonce.
const nonceOffset = 39

// cHashLoop hashes input n times with vm's C machine in a C loop, with the
// nonce at nonceOffset set to first, first+1, ..., and returns the last
// hash. It exists only so benchmarks can compare VM.Hash and the Verifier
// with the library used directly from C (cgo is not allowed in _test.go).
func cHashLoop(vm *VM, input []byte, first uint32, n int) (out [HashSize]byte) {
	C.rxpool_hash_loop(vm.ptr, unsafe.Pointer(unsafe.SliceData(input)), C.size_t(len(input)),
		nonceOffset, C.uint32_t(first), C.uint64_t(n), unsafe.Pointer(&out))
	return out
}
