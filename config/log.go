package config

import (
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/sirupsen/logrus"
)

// Log formats for log.format.
const (
	LogText = "text"
	LogJSON = "json"
)

// NewLogger builds the logger the configuration asks for. When log.file is
// set, the logger's Out is a *LogFile, so that ReopenLog can reopen it after
// logrotate has moved it (on SIGHUP).
func (l LogConfig) NewLogger() (*logrus.Logger, error) {
	level, err := logrus.ParseLevel(l.Level)
	if err != nil {
		return nil, fmt.Errorf("log.level: %w", err)
	}
	logger := logrus.New()
	logger.SetLevel(level)
	switch l.Format {
	case LogText, "":
		// Colour codes are noise in a file; logrus decides for the terminal.
		logger.SetFormatter(&logrus.TextFormatter{FullTimestamp: true, DisableColors: l.File != ""})
	case LogJSON:
		logger.SetFormatter(&logrus.JSONFormatter{})
	default:
		return nil, fmt.Errorf("log.format: must be %q or %q, got %q", LogText, LogJSON, l.Format)
	}
	logger.SetOutput(os.Stderr)
	if l.File != "" {
		f, err := OpenLogFile(l.File)
		if err != nil {
			return nil, fmt.Errorf("log.file: %w", err)
		}
		logger.SetOutput(f)
	}
	return logger, nil
}

// LogFile is a log file opened for appending that can be reopened under the
// same path while other goroutines write to it.
type LogFile struct {
	path string
	mu   sync.Mutex
	f    *os.File
}

// OpenLogFile opens (creating if needed) path for appending.
func OpenLogFile(path string) (*LogFile, error) {
	f, err := openAppend(path)
	if err != nil {
		return nil, err
	}
	return &LogFile{path: path, f: f}, nil
}

func openAppend(path string) (*os.File, error) {
	// 0640: logs carry miner addresses and IPs, not for every local user.
	return os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
}

func (lf *LogFile) Write(p []byte) (int, error) {
	lf.mu.Lock()
	defer lf.mu.Unlock()
	if lf.f == nil {
		return 0, os.ErrClosed
	}
	return lf.f.Write(p)
}

// Reopen opens the path again and switches writes to the new file. If the
// open fails, logging continues to the old file and the error is returned.
func (lf *LogFile) Reopen() error {
	nf, err := openAppend(lf.path)
	if err != nil {
		return err
	}
	lf.mu.Lock()
	old := lf.f
	lf.f = nf
	lf.mu.Unlock()
	if old != nil {
		return old.Close()
	}
	return nil
}

// Close closes the file; later writes fail.
func (lf *LogFile) Close() error {
	lf.mu.Lock()
	defer lf.mu.Unlock()
	if lf.f == nil {
		return nil
	}
	err := lf.f.Close()
	lf.f = nil
	return err
}

// ReopenLog reopens the logger's file if it writes to one (see NewLogger);
// for stderr it does nothing. Call it on SIGHUP.
func ReopenLog(logger *logrus.Logger) error {
	if lf, ok := logger.Out.(*LogFile); ok {
		return lf.Reopen()
	}
	return nil
}

// logLevels lists the accepted log.level names for error messages.
func logLevels() string {
	names := make([]string, 0, len(logrus.AllLevels))
	for _, l := range logrus.AllLevels {
		names = append(names, l.String())
	}
	return strings.Join(names, ", ")
}
