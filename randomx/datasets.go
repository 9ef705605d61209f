// Fast mode: building, publishing and freeing the 2 GiB datasets, and the
// memory check (/proc/meminfo) that decides whether auto mode builds one.

package randomx

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
)

// maxDatasets bounds the datasets a Verifier holds: the current seed's and
// the prepared next seed's. A previous seed is verified in light mode.
const maxDatasets = 2

// datasetHeadroom is the memory ModeAuto wants to remain free after
// allocating a dataset, so fast mode does not push the host into swapping.
const datasetHeadroom = 512 << 20

type dsBuild struct {
	ctx    context.Context
	cancel context.CancelFunc
}

// startDatasetLocked starts building s's dataset if the mode wants one and s
// is the current or the prepared seed.
func (v *Verifier) startDatasetLocked(s *seedState) {
	if v.closed || v.cfg.Mode == ModeLight || (s.role != roleCurrent && s.role != roleNext) ||
		s.ds != nil || s.build != nil || s.dsErr != nil || !s.cacheDone() || s.err != nil {
		return
	}
	s.progress.Store(0)
	ctx, cancel := context.WithCancel(v.ctx)
	b := &dsBuild{ctx: ctx, cancel: cancel}
	s.build = b
	s.builders.Add(1)
	v.bg.Add(1)
	go v.buildDataset(s, b)
}

func (v *Verifier) buildDataset(s *seedState, b *dsBuild) {
	defer v.bg.Done()
	defer s.builders.Done()
	log := v.log.WithField("seed", s.short())
	start := time.Now()
	ds, err := v.makeDataset(b.ctx, s, log)

	v.mu.Lock()
	cancelled := b.ctx.Err() != nil
	if s.build == b {
		s.build = nil
	}
	b.cancel()
	switch {
	case cancelled:
		// The seed was demoted or retired, or we are closing; the dataset
		// was never visible to workers.
	case err != nil:
		s.dsErr = err
	default:
		s.ds = ds
		s.active.Store(ds)
		ds = nil
	}
	v.mu.Unlock()
	v.freeDataset(ds)

	switch {
	case cancelled:
		log.Debug("dataset build abandoned")
	case err != nil && v.cfg.Mode == ModeFast:
		log.WithError(err).Error("FAST MODE UNAVAILABLE: cannot build the RandomX dataset; " +
			"verifying in light mode, about 8x more CPU per share")
	case err != nil:
		log.WithError(err).Warn("staying in light mode")
	default:
		log.WithField("took", time.Since(start).Round(time.Millisecond)).Info("dataset ready: fast mode")
	}
}

var errLowMemory = errors.New("not enough free memory for a dataset")

// makeDataset allocates and initialises s's dataset, taking a dataset slot
// (released by freeDataset) and the build semaphore.
func (v *Verifier) makeDataset(ctx context.Context, s *seedState, log logrus.FieldLogger) (*Dataset, error) {
	select {
	case v.buildSem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-v.buildSem }()
	select {
	case v.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if v.cfg.Mode == ModeAuto {
		if avail, ok := memAvailable(); ok && avail < DatasetSize()+datasetHeadroom {
			<-v.slots
			return nil, fmt.Errorf("%w (%d MiB available, %d MiB needed)", errLowMemory,
				avail>>20, (DatasetSize()+datasetHeadroom)>>20)
		}
	}
	log.WithField("threads", v.cfg.DatasetThreads).Info("building dataset")
	lastPct := uint64(0)
	ds, err := NewDatasetContext(ctx, v.flags, s.cache, v.cfg.DatasetThreads, func(done, total uint64) {
		s.progress.Store(done)
		if pct := done * 100 / total; pct >= lastPct+10 || pct == 100 {
			lastPct = pct - pct%10
			log.Infof("dataset init %d%%", pct)
		}
	})
	if err != nil {
		<-v.slots
		return nil, err
	}
	if ds.LargePagesFallback() {
		log.Warn("large pages unavailable for the dataset; using normal pages")
	}
	return ds, nil
}

func (v *Verifier) freeDataset(ds *Dataset) {
	if ds != nil {
		ds.Close()
		<-v.slots
	}
}

// dropDataset frees a demoted seed's dataset once no worker uses it.
func (v *Verifier) dropDataset(s *seedState, ds *Dataset) {
	defer v.bg.Done()
	v.syncWorkers(s, false)
	v.freeDataset(ds)
	v.log.WithField("seed", s.short()).Info("dataset freed; seed verified in light mode")
}

// memAvailable is how ModeAuto learns the free memory (a variable so tests
// can simulate a small machine).
var memAvailable = readMemAvailable

// readMemAvailable reads MemAvailable from /proc/meminfo (Linux only).
func readMemAvailable() (uint64, bool) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemAvailable:" {
			kb, err := strconv.ParseUint(fields[1], 10, 64)
			return kb << 10, err == nil
		}
	}
	return 0, false
}
