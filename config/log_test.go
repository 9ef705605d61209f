package config

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
)

func TestNewLoggerFileAndReopen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "pool.log")
	if err := os.WriteFile(path, []byte("earlier\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	logger, err := LogConfig{Level: "debug", Format: LogJSON, File: path}.NewLogger()
	if err != nil {
		t.Fatal(err)
	}
	if logger.GetLevel() != logrus.DebugLevel {
		t.Errorf("level = %v", logger.GetLevel())
	}
	logger.Debug("before rotation")

	// logrotate moves the file away, then signals the pool.
	rotated := path + ".1"
	if err := os.Rename(path, rotated); err != nil {
		t.Fatal(err)
	}
	logger.Info("still into the moved file")
	if err := ReopenLog(logger); err != nil {
		t.Fatal(err)
	}
	logger.Info("after rotation")
	logger.Trace("below the level")

	old, _ := os.ReadFile(rotated)
	if !strings.HasPrefix(string(old), "earlier\n") || !strings.Contains(string(old), "before rotation") ||
		!strings.Contains(string(old), "still into the moved file") {
		t.Errorf("rotated file (appended to) = %q", old)
	}
	cur, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(cur)), "\n")
	var entry map[string]any
	if len(lines) != 1 || json.Unmarshal([]byte(lines[0]), &entry) != nil || entry["msg"] != "after rotation" {
		t.Errorf("new file = %q", cur)
	}
	if err := logger.Out.(*LogFile).Close(); err != nil {
		t.Error(err)
	}
}

func TestNewLoggerStderrAndErrors(t *testing.T) {
	logger, err := LogConfig{Level: "warn", Format: LogText}.NewLogger()
	if err != nil {
		t.Fatal(err)
	}
	if logger.Out != os.Stderr || logger.GetLevel() != logrus.WarnLevel {
		t.Errorf("out = %v, level = %v", logger.Out, logger.GetLevel())
	}
	if _, ok := logger.Formatter.(*logrus.TextFormatter); !ok {
		t.Errorf("formatter = %T", logger.Formatter)
	}
	if err := ReopenLog(logger); err != nil {
		t.Errorf("reopen on stderr: %v", err)
	}
	if _, err := (LogConfig{Level: "loud"}).NewLogger(); err == nil || !strings.HasPrefix(err.Error(), "log.level: ") {
		t.Errorf("bad level: %v", err)
	}
	if _, err := (LogConfig{Level: "info", Format: "xml"}).NewLogger(); err == nil {
		t.Error("bad format accepted")
	}
	if _, err := (LogConfig{Level: "info", File: filepath.Join(t.TempDir(), "no", "such", "dir.log")}).NewLogger(); err == nil ||
		!strings.HasPrefix(err.Error(), "log.file: ") {
		t.Errorf("bad file: %v", err)
	}
}
