package testenv

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// EnvTestCache names a directory that the test processes of one run share
// (`make unit` makes one and removes it after). The first process to need
// the funded Pastella chain builds it there once and leaves it stopped; every
// other process starts its own daemon and pool wallet on a copy, so tests
// stay independent while the run pays for the funding blocks once instead
// of once per package. Unset, every process builds its own chain.
const EnvTestCache = "RXPOOL_TEST_CACHE"

// snapshotDone marks a complete snapshot: a builder that died before writing
// it leaves a directory the next process throws away and builds again.
const snapshotDone = "complete"

// startSharedChain starts the process's chain in dir: from the run's
// snapshot when EnvTestCache is set, else from scratch.
func startSharedChain(ctx context.Context, dir string, logf func(string, ...any)) (*PastellaChain, error) {
	cache := os.Getenv(EnvTestCache)
	if cache == "" {
		return StartPastellaChain(ctx, dir, logf)
	}
	snap := filepath.Join(cache, "pastella-chain")
	err := withFileLock(filepath.Join(cache, "pastella-chain.lock"), func() error {
		if _, err := os.Stat(filepath.Join(snap, snapshotDone)); err == nil {
			return nil
		}
		if err := os.RemoveAll(snap); err != nil {
			return err
		}
		logf("testenv: building the run's Pastella chain snapshot in %s", snap)
		c, err := StartPastellaChain(ctx, snap, logf)
		if err != nil {
			return err
		}
		// Stop saves the chain and closes (saves) the wallet.
		c.Stop()
		return os.WriteFile(filepath.Join(snap, snapshotDone), nil, 0o644)
	})
	if err != nil {
		return nil, fmt.Errorf("snapshot in %s: %w", cache, err)
	}
	if err := copyTree(snap, dir); err != nil {
		return nil, fmt.Errorf("copying the snapshot %s: %w", snap, err)
	}
	logf("testenv: starting the shared Pastella chain from the run's snapshot")
	return openPastellaChain(ctx, dir)
}

// openPastellaChain starts the daemon and the pool wallet of a chain that
// StartPastellaChain made in dir and that was stopped since.
func openPastellaChain(ctx context.Context, dir string) (*PastellaChain, error) {
	c, err := startChainProcesses(dir)
	if err != nil {
		return nil, err
	}
	if err := c.Pool.Synced(ctx); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

// withFileLock runs f holding an exclusive flock on path, which processes
// of the run share; the kernel drops it if the holder dies.
func withFileLock(path string, f func() error) error {
	lock, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("flock %s: %w", path, err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) //nolint:errcheck // Close releases it too
	return f()
}

// copyTree copies the regular files and directories under src to dst.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		to := filepath.Join(dst, rel)
		if e.IsDir() {
			return os.MkdirAll(to, 0o755)
		}
		if !e.Type().IsRegular() {
			return fmt.Errorf("%s is not a regular file", path)
		}
		return copyFile(path, to)
	})
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	info, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, info.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
