// Package ctest is the C code of the randomx tests and benchmarks: the plain
// C hash loop the binding is measured against, and a look into a dataset's
// memory for the known-answer test. It is a package of its own because cgo
// is not allowed in _test.go files; only randomx's tests import it, so none
// of it is in the pool's binary.
package ctest

/*
#cgo LDFLAGS: -lrandomx
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

// HashLoop hashes input n times with the C VM vm (a *randomx_vm) in a C
// loop, with the 4-byte little-endian nonce at nonceOffset set to first,
// first+1, ..., and returns the last hash.
func HashLoop(vm unsafe.Pointer, input []byte, nonceOffset int, first uint32, n int) (out [32]byte) {
	C.rxpool_hash_loop((*C.randomx_vm)(vm), unsafe.Pointer(unsafe.SliceData(input)), C.size_t(len(input)),
		C.size_t(nonceOffset), C.uint32_t(first), C.uint64_t(n), unsafe.Pointer(&out))
	return out
}

// DatasetItemWord returns the first 64-bit word of item i (little endian) of
// the dataset ds (a *randomx_dataset), for checking the initialisation
// against published values.
func DatasetItemWord(ds unsafe.Pointer, i uint64) uint64 {
	mem := C.randomx_get_dataset_memory((*C.randomx_dataset)(ds))
	return *(*uint64)(unsafe.Add(mem, i*C.RANDOMX_DATASET_ITEM_SIZE))
}
