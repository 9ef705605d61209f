package deploy

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"rxpool/internal/testenv"
)

// The unit files, each checked by every systemd test. A unit added to
// systemd/ must be added here (TestUnitFileList fails otherwise).
var units = []string{
	"rxpool.service",
	"rxpool.target",
	"rxpool-stratum@.service",
	"rxpool-api.service",
	"rxpool-unlocker.service",
	"rxpool-payments.service",
}

// configOf is the configuration file each service reads.
var configOf = map[string]string{
	"rxpool.service":          "/etc/rxpool/config.json",
	"rxpool-stratum@.service": "/etc/rxpool/stratum-%i.json",
	"rxpool-api.service":      "/etc/rxpool/api.json",
	"rxpool-unlocker.service": "/etc/rxpool/unlocker.json",
	"rxpool-payments.service": "/etc/rxpool/payments.json",
}

// verifyName is the name systemd-analyze is given for a unit: a template
// is verified through an instance.
func verifyName(unit string) string {
	if strings.HasSuffix(unit, "@.service") {
		return strings.TrimSuffix(unit, "@.service") + "@main.service"
	}
	return unit
}

// maxExposure is the highest `systemd-analyze security` exposure a unit may
// have. What keeps the units at 1.2-1.3 is what a pool cannot give up: the
// host's network with Internet and unix sockets (miners, daemons, Redis),
// no IP allow list (miners come from anywhere), W+X memory for the RandomX
// JIT (stratum), full /proc for /proc/meminfo, no PrivateUsers (the redis
// and ssl-cert groups). The score moves only 0.1 for most single options,
// so TestUnitSettings checks each required option by name; this threshold
// catches the coarse losses (CapabilityBoundingSet, SystemCallFilter,
// RestrictNamespaces or RestrictAddressFamilies gone raise it to 1.7-3.0).
const maxExposure = 1.5

// --- tools ---

var debPackage = map[string]string{
	"systemd-analyze": "systemd", "systemd-sysusers": "systemd", "systemd-tmpfiles": "systemd",
	"nginx": "nginx", "go": "golang",
}

// tool finds a program the tests need, or fails: the deployment files are
// checked with the real tools, never skipped.
func tool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not installed (Debian package %s): run `make deps`: %v", name, debPackage[name], err)
	}
	return p
}

// run runs a command with a timeout and returns its combined output and
// exit code (-1 when it could not run or timed out).
func run(t *testing.T, timeout time.Duration, env []string, name string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	code := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ctx.Err() != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		code = ee.ExitCode()
	}
	return string(out), code
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// mustReplace replaces every old in s and fails if there is none: a test
// that rewrites a deployment file for a scratch directory must notice when
// the file no longer says what it rewrites.
func mustReplace(t *testing.T, what, s, old, new string) string {
	t.Helper()
	if !strings.Contains(s, old) {
		t.Fatalf("%s: expected %q in it", what, old)
	}
	return strings.ReplaceAll(s, old, new)
}

// --- the pool binary ---

var pool struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if pool.dir != "" {
		os.RemoveAll(pool.dir)
	}
	os.Exit(code)
}

// poolBinary builds cmd/pool once for the package's tests.
func poolBinary(t *testing.T) string {
	t.Helper()
	goTool := tool(t, "go")
	pool.once.Do(func() {
		pool.dir, pool.err = os.MkdirTemp("", "rxpool-deploy-")
		if pool.err != nil {
			return
		}
		pool.path = filepath.Join(pool.dir, "pool")
		cmd := exec.Command(goTool, "build", "-o", pool.path, "rxpool/cmd/pool")
		if out, err := cmd.CombinedOutput(); err != nil {
			pool.err = fmt.Errorf("go build rxpool/cmd/pool: %v\n%s(librandomx-dev missing? run `make deps`)", err, out)
		}
	})
	if pool.err != nil {
		t.Fatal(pool.err)
	}
	return pool.path
}

// --- systemd ---

func TestUnitFileList(t *testing.T) {
	var found []string
	for _, pat := range []string{"*.service", "*.target", "*.socket", "*.timer", "*.path"} {
		m, err := filepath.Glob(filepath.Join("systemd", pat))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range m {
			found = append(found, filepath.Base(p))
		}
	}
	want := slices.Clone(units)
	slices.Sort(found)
	slices.Sort(want)
	if !slices.Equal(found, want) {
		t.Fatalf("systemd/ has units %v; the tests know %v: add new units to `units`", found, want)
	}
}

// stageUnits copies the units into a scratch directory with ExecStart
// pointing at bin (systemd-analyze verify checks that it is executable).
func stageUnits(t *testing.T, bin string) string {
	t.Helper()
	dir := t.TempDir()
	for _, u := range units {
		s := readFile(t, filepath.Join("systemd", u))
		if strings.HasSuffix(u, ".service") {
			s = mustReplace(t, u, s, "ExecStart=/usr/local/bin/pool -config ", "ExecStart="+bin+" -config ")
		}
		writeFile(t, filepath.Join(dir, u), s)
	}
	return dir
}

var systemdEnv = []string{"SYSTEMD_COLORS=0", "SYSTEMD_PAGER=cat", "SYSTEMD_LOG_LEVEL=info"}

// verify runs systemd-analyze verify on one unit file (or instance name)
// in dir and returns the output lines that concern rxpool's units.
func verify(t *testing.T, dir, name string) (ours []string, out string, code int) {
	t.Helper()
	sa := tool(t, "systemd-analyze")
	out, code = run(t, time.Minute, systemdEnv, sa, "verify", "--man=no", "--recursive-errors=no", filepath.Join(dir, name))
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "rxpool") || strings.Contains(line, dir) {
			ours = append(ours, line)
		}
	}
	return ours, out, code
}

func TestSystemdVerify(t *testing.T) {
	dir := stageUnits(t, poolBinary(t))
	names := []string{}
	for _, u := range units {
		names = append(names, u)
		if v := verifyName(u); v != u {
			names = append(names, v)
		}
	}
	for _, name := range names {
		ours, out, code := verify(t, dir, name)
		if out != "" {
			t.Logf("systemd-analyze verify %s:\n%s", name, out)
		}
		if code != 0 || len(ours) > 0 {
			t.Errorf("systemd-analyze verify %s: exit %d, about our units:\n%s", name, code, strings.Join(ours, "\n"))
		}
	}

	// The check must be able to fail: a misspelt setting is reported.
	bad := readFile(t, filepath.Join(dir, "rxpool.service"))
	bad = mustReplace(t, "rxpool.service", bad, "\nLockPersonality=yes\n", "\nLockPersonalty=yes\n")
	badDir := t.TempDir()
	writeFile(t, filepath.Join(badDir, "rxpool.service"), bad)
	if ours, out, _ := verify(t, badDir, "rxpool.service"); len(ours) == 0 {
		t.Errorf("systemd-analyze verify did not report a misspelt key; its output:\n%s", out)
	}
}

var exposureRe = regexp.MustCompile(`Overall exposure level for (\S+): ([0-9]+\.[0-9]+) (\S+)`)

func TestSystemdSecurity(t *testing.T) {
	sa := tool(t, "systemd-analyze")
	dir := stageUnits(t, "/usr/local/bin/pool")
	for _, u := range units {
		if !strings.HasSuffix(u, ".service") {
			continue
		}
		name := verifyName(u)
		// --threshold is on systemd's 0..100 scale (10 × the printed score).
		out, code := run(t, time.Minute, systemdEnv, sa, "security", "--offline=yes", "--no-pager",
			fmt.Sprintf("--threshold=%d", int(maxExposure*10)), filepath.Join(dir, name))
		m := exposureRe.FindStringSubmatch(out)
		if m == nil {
			t.Errorf("systemd-analyze security %s: no overall exposure line (exit %d):\n%s", name, code, out)
			continue
		}
		score, _ := strconv.ParseFloat(m[2], 64)
		t.Logf("%s: exposure %.1f %s", name, score, m[3])
		if score > maxExposure || code != 0 {
			t.Errorf("%s: exposure %.1f %s (exit %d), want <= %.1f:\n%s", name, score, m[3], code, maxExposure, out)
		}
	}
}

// unitFile is a parsed unit: section -> key -> values in order.
type unitFile map[string]map[string][]string

func parseUnit(t *testing.T, path string) unitFile {
	t.Helper()
	u := unitFile{}
	section := ""
	sc := bufio.NewScanner(strings.NewReader(readFile(t, path)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "["):
			section = strings.Trim(line, "[]")
			u[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s: cannot parse %q", path, line)
			}
			u[section][k] = append(u[section][k], v)
		}
	}
	return u
}

func (u unitFile) get(section, key string) string {
	v := u[section][key]
	if len(v) == 0 {
		return ""
	}
	return v[len(v)-1]
}

// serviceLines are a unit's [Service] settings as "key=value" lines, in order.
func serviceLines(t *testing.T, path string) []string {
	t.Helper()
	var lines []string
	in := false
	for _, line := range strings.Split(readFile(t, path), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "[") {
			in = line == "[Service]"
			continue
		}
		if in && line != "" && !strings.HasPrefix(line, "#") {
			lines = append(lines, line)
		}
	}
	return lines
}

// TestUnitSettings checks the settings the operator relies on, by name:
// the security score alone would not notice most of them going.
func TestUnitSettings(t *testing.T) {
	required := map[string]string{
		"Type":                    "exec",
		"User":                    "rxpool",
		"Group":                   "rxpool",
		"ExecReload":              "/bin/kill -HUP $MAINPID",
		"KillSignal":              "SIGTERM",
		"Restart":                 "always",
		"LimitNOFILE":             "1048576",
		"StateDirectory":          "rxpool",
		"LogsDirectory":           "rxpool",
		"NoNewPrivileges":         "yes",
		"ProtectSystem":           "strict",
		"ReadWritePaths":          "/var/log/rxpool /var/lib/rxpool",
		"PrivateTmp":              "yes",
		"PrivateDevices":          "yes",
		"ProtectHome":             "yes",
		"ProtectKernelTunables":   "yes",
		"ProtectKernelModules":    "yes",
		"ProtectKernelLogs":       "yes",
		"ProtectControlGroups":    "yes",
		"RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
		"RestrictNamespaces":      "yes",
		"LockPersonality":         "yes",
		"RestrictRealtime":        "yes",
		"SystemCallArchitectures": "native",
		"CapabilityBoundingSet":   "",
		"AmbientCapabilities":     "",
	}
	reference := serviceLines(t, filepath.Join("systemd", "rxpool.service"))
	// The lines that may differ between the services; the rest of [Service]
	// (restart policy, limits, sandbox) must be the same in every unit.
	differs := func(line string) bool {
		for _, k := range []string{"ExecStart=", "SyslogIdentifier=", "MemoryDenyWriteExecute="} {
			if strings.HasPrefix(line, k) {
				return true
			}
		}
		return false
	}
	common := slices.DeleteFunc(slices.Clone(reference), differs)
	for _, name := range units {
		path := filepath.Join("systemd", name)
		u := parseUnit(t, path)
		if strings.HasSuffix(name, ".target") {
			if !slices.Contains(u["Install"]["WantedBy"], "multi-user.target") {
				t.Errorf("%s: not WantedBy multi-user.target", name)
			}
			if !slices.Contains(u["Unit"]["Conflicts"], "rxpool.service") {
				t.Errorf("%s: must conflict with rxpool.service", name)
			}
			continue
		}
		for k, want := range required {
			vals, ok := u["Service"][k]
			if !ok || vals[len(vals)-1] != want {
				t.Errorf("%s: %s=%q, want %q", name, k, vals, want)
			}
		}
		if want := "/usr/local/bin/pool -config " + configOf[name]; u.get("Service", "ExecStart") != want {
			t.Errorf("%s: ExecStart=%q, want %q", name, u.get("Service", "ExecStart"), want)
		}
		if s, err := time.ParseDuration(u.get("Service", "TimeoutStopSec") + "s"); err != nil || s < 60*time.Second {
			t.Errorf("%s: TimeoutStopSec=%q: the final share flush may take 30 s, want >= 60", name, u.get("Service", "TimeoutStopSec"))
		}
		if u.get("Service", "RestartSec") == "" || u.get("Unit", "StartLimitIntervalSec") != "0" {
			t.Errorf("%s: want RestartSec= and StartLimitIntervalSec=0 (restart until Redis is back)", name)
		}
		for _, dep := range []string{"network-online.target", "redis-server.service"} {
			if !strings.Contains(strings.Join(u["Unit"]["After"], " "), dep) || !strings.Contains(strings.Join(u["Unit"]["Wants"], " "), dep) {
				t.Errorf("%s: want After= and Wants= %s", name, dep)
			}
		}
		// The RandomX JIT needs W+X pages: only processes that verify no
		// share may deny them.
		mdwe := u.get("Service", "MemoryDenyWriteExecute")
		jit := name == "rxpool.service" || name == "rxpool-stratum@.service"
		if jit && mdwe != "" {
			t.Errorf("%s: MemoryDenyWriteExecute=%s breaks the RandomX JIT", name, mdwe)
		}
		if !jit && mdwe != "yes" {
			t.Errorf("%s: verifies no share, so MemoryDenyWriteExecute=yes; got %q", name, mdwe)
		}
		if name == "rxpool.service" {
			if !slices.Contains(u["Unit"]["Conflicts"], "rxpool.target") {
				t.Errorf("rxpool.service: must conflict with rxpool.target")
			}
			if !slices.Contains(u["Install"]["WantedBy"], "multi-user.target") {
				t.Errorf("rxpool.service: not WantedBy multi-user.target")
			}
		} else {
			if !slices.Contains(u["Unit"]["PartOf"], "rxpool.target") || !slices.Contains(u["Install"]["WantedBy"], "rxpool.target") {
				t.Errorf("%s: want PartOf= and WantedBy= rxpool.target", name)
			}
			got := slices.DeleteFunc(serviceLines(t, path), differs)
			if !slices.Equal(got, common) {
				t.Errorf("%s: [Service] differs from rxpool.service's beyond ExecStart, SyslogIdentifier and MemoryDenyWriteExecute:\n got %q\nwant %q", name, got, common)
			}
		}
	}
}

// TestSysusersTmpfiles creates the user and the directories in a scratch
// root with systemd's own tools.
func TestSysusersTmpfiles(t *testing.T) {
	sysusers, tmpfiles := tool(t, "systemd-sysusers"), tool(t, "systemd-tmpfiles")
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n")
	writeFile(t, filepath.Join(root, "etc/group"), "root:x:0:\n")
	usersConf, _ := filepath.Abs(filepath.Join("systemd", "rxpool.sysusers.conf"))
	dirsConf, _ := filepath.Abs(filepath.Join("systemd", "rxpool.tmpfiles.conf"))

	out, code := run(t, time.Minute, systemdEnv, sysusers, "--root="+root, usersConf)
	if code != 0 {
		t.Fatalf("systemd-sysusers: exit %d\n%s", code, out)
	}
	passwd := readFile(t, filepath.Join(root, "etc/passwd"))
	m := regexp.MustCompile(`(?m)^rxpool:x:(\d+):(\d+):[^:]*:/var/lib/rxpool:/usr/sbin/nologin$`).FindStringSubmatch(passwd)
	if m == nil {
		t.Fatalf("no rxpool system user in passwd:\n%s", passwd)
	}
	uid, _ := strconv.Atoi(m[1])
	gid, _ := strconv.Atoi(m[2])
	if uid >= 1000 || uid == 0 {
		t.Errorf("rxpool has uid %d, want a system uid", uid)
	}

	out, code = run(t, time.Minute, systemdEnv, tmpfiles, "--root="+root, "--create", dirsConf)
	asRoot := os.Geteuid() == 0
	if code != 0 {
		// Without root, tmpfiles creates the directories but cannot chown them.
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if asRoot || !strings.Contains(line, "Operation not permitted") {
				t.Fatalf("systemd-tmpfiles --create: exit %d\n%s", code, out)
			}
		}
	}
	for _, d := range []struct {
		path     string
		mode     os.FileMode
		uid, gid int
	}{
		{"etc/rxpool", 0o750, 0, gid},
		{"var/lib/rxpool", 0o750, uid, gid},
		{"var/log/rxpool", 0o750, uid, gid},
	} {
		fi, err := os.Stat(filepath.Join(root, d.path))
		if err != nil {
			t.Errorf("tmpfiles did not create /%s: %v", d.path, err)
			continue
		}
		if !fi.IsDir() || fi.Mode().Perm() != d.mode {
			t.Errorf("/%s: mode %v, want a directory %v", d.path, fi.Mode(), d.mode)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if asRoot && (int(st.Uid) != d.uid || int(st.Gid) != d.gid) {
			t.Errorf("/%s: owner %d:%d, want %d:%d", d.path, st.Uid, st.Gid, d.uid, d.gid)
		}
	}
}

// --- module configurations in docs/operations.md ---

var fragmentRe = regexp.MustCompile("(?s)<!-- rxpool-config: (\\w+) -->\\s*```json\n(.*?)```")

// merge overlays src on dst, object by object.
func merge(dst, src map[string]any) {
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				merge(dm, sm)
				continue
			}
		}
		dst[k] = v
	}
}

func decodeJSON(t *testing.T, what string, b []byte) map[string]any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return m
}

// TestModuleConfigs: each module configuration the guide shows for a split
// deployment, put over config.json.example, passes `pool check` and enables
// exactly its module (`pool check -offline`: the file only, no services).
func TestModuleConfigs(t *testing.T) {
	bin := poolBinary(t)
	doc := readFile(t, filepath.Join("..", "docs", "operations.md"))
	example, err := os.ReadFile(filepath.Join("..", "config.json.example"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, m := range fragmentRe.FindAllStringSubmatch(doc, -1) {
		module, fragment := m[1], m[2]
		seen[module] = true
		cfg := decodeJSON(t, "config.json.example", example)
		merge(cfg, decodeJSON(t, "docs/operations.md "+module+" configuration", []byte(fragment)))
		b, err := json.MarshalIndent(cfg, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), module+".json")
		writeFile(t, path, string(b))
		out, code := run(t, time.Minute, nil, bin, "-config", path, "check", "-offline")
		if code != 0 || !strings.Contains(out, "modules: ["+module+"]\n") {
			t.Errorf("%s configuration from docs/operations.md: pool check exit %d, want modules: [%s]:\n%s", module, code, module, out)
		} else {
			t.Logf("%s: %s", module, strings.SplitN(out, "\n", 3)[1])
		}
	}
	for _, module := range []string{"stratum", "api", "blockUnlocker", "payments"} {
		if !seen[module] {
			t.Errorf("docs/operations.md shows no configuration for the %s module (<!-- rxpool-config: %s --> before a json block)", module, module)
		}
	}
}

// TestDocsConfigKeys: every configuration key the guide names is one that
// docs/configuration.md documents.
func TestDocsConfigKeys(t *testing.T) {
	ops := readFile(t, filepath.Join("..", "docs", "operations.md"))
	ref := readFile(t, filepath.Join("..", "docs", "configuration.md"))
	keyRe := regexp.MustCompile("`((?:log|daemon|daemons|walletApi|stratum|ports|varDiff|fixedDiff|banning|randomx|payments|blockUnlocker|pplns|redis|api)\\.[A-Za-z<>.]+)`")
	keys := map[string]bool{}
	for _, m := range keyRe.FindAllStringSubmatch(ops, -1) {
		keys[m[1]] = true
	}
	if len(keys) < 10 {
		t.Fatalf("found only %d configuration keys in docs/operations.md", len(keys))
	}
	for k := range keys {
		if !strings.Contains(ref, "`"+k+"`") {
			t.Errorf("docs/operations.md names `%s`, which docs/configuration.md does not document", k)
		}
	}
}

// --- logrotate ---

func TestLogrotateConfig(t *testing.T) {
	s := readFile(t, filepath.Join("logrotate", "rxpool"))
	for _, want := range []string{
		"/var/log/rxpool/*.log {", // LogsDirectory=rxpool
		"create 0640 rxpool rxpool",
		"su rxpool rxpool",
		"sharedscripts",
		"postrotate",
		"systemctl kill --kill-who=main --signal=SIGHUP 'rxpool*.service'",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("logrotate/rxpool: missing %q", want)
		}
	}
	if regexp.MustCompile(`(?m)^\s*copytruncate`).MatchString(s) {
		t.Errorf("logrotate/rxpool: copytruncate loses lines; the pool reopens its log on SIGHUP")
	}
}

// --- nginx ---

// freePort is a port for nginx, reserved by testenv against other test
// processes and outside the range client sockets take.
func freePort(t *testing.T) int {
	t.Helper()
	p, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// site is one of deploy/nginx's sites staged in a scratch directory.
type site struct {
	dir        string
	conf       string // the main nginx.conf
	www        string // stands in for /var/www/rxpool
	acme       string // stands in for /var/www/letsencrypt
	httpPort   int
	httpsPort  int
	assetName  string
	indexMark  string
	acmeToken  string
	acmeAnswer string
}

// stageSite copies rxpool-locations.conf and the site file (rxpool.conf or
// rxpool-tls.conf) into a scratch directory with the paths and ports of
// this test: listen on loopback ports, the API at backend, the web root a
// scratch directory, a self-signed certificate instead of certbot's.
func stageSite(t *testing.T, siteFile, backend string) *site {
	t.Helper()
	s := &site{dir: t.TempDir(), httpPort: freePort(t), httpsPort: freePort(t),
		assetName: "index-3f9a1c7e.js", indexMark: "rxpool deploy test page",
		acmeToken: "tok-123", acmeAnswer: "acme-answer-123"}
	s.www = filepath.Join(s.dir, "www")
	s.acme = filepath.Join(s.dir, "acme")
	writeFile(t, filepath.Join(s.www, "index.html"), "<!doctype html><title>"+s.indexMark+"</title>\n")
	writeFile(t, filepath.Join(s.www, "assets", s.assetName), "console.log('rxpool');\n")
	writeFile(t, filepath.Join(s.acme, ".well-known/acme-challenge", s.acmeToken), s.acmeAnswer)

	loc := readFile(t, filepath.Join("nginx", "rxpool-locations.conf"))
	loc = mustReplace(t, "rxpool-locations.conf", loc, "root /var/www/rxpool;", "root "+s.www+";")
	loc = mustReplace(t, "rxpool-locations.conf", loc, "proxy_pass http://127.0.0.1:8117", "proxy_pass http://"+backend)
	writeFile(t, filepath.Join(s.dir, "rxpool-locations.conf"), loc)

	conf := readFile(t, filepath.Join("nginx", siteFile))
	conf = mustReplace(t, siteFile, conf, "include /etc/nginx/snippets/rxpool-locations.conf;", "include "+filepath.Join(s.dir, "rxpool-locations.conf")+";")
	conf = mustReplace(t, siteFile, conf, "listen 80;", fmt.Sprintf("listen 127.0.0.1:%d;", s.httpPort))
	// IPv6 may be missing in a container; the IPv4 listen stands for both.
	conf = mustReplace(t, siteFile, conf, "listen [::]:80;", "")
	conf = mustReplace(t, siteFile, conf, "root /var/www/letsencrypt;", "root "+s.acme+";")
	if strings.Contains(siteFile, "tls") {
		cert, key := selfSigned(t, s.dir)
		conf = mustReplace(t, siteFile, conf, "listen 443 ssl;", fmt.Sprintf("listen 127.0.0.1:%d ssl;", s.httpsPort))
		conf = mustReplace(t, siteFile, conf, "listen [::]:443 ssl;", "")
		conf = mustReplace(t, siteFile, conf, "/etc/letsencrypt/live/pool.example.com/fullchain.pem", cert)
		conf = mustReplace(t, siteFile, conf, "/etc/letsencrypt/live/pool.example.com/privkey.pem", key)
	}
	writeFile(t, filepath.Join(s.dir, "site.conf"), conf)

	// The main file, as Debian's nginx.conf has it, with every path in the
	// scratch directory.
	userLine := ""
	if os.Geteuid() == 0 {
		// Workers would run as nobody, who cannot read the scratch directory.
		u, err := user.Current()
		if err != nil {
			t.Fatal(err)
		}
		userLine = "user " + u.Username + ";"
	}
	d := s.dir
	s.conf = filepath.Join(d, "nginx.conf")
	writeFile(t, s.conf, fmt.Sprintf(`%s
worker_processes 1;
pid %s/nginx.pid;
error_log %s/error.log info;
events { worker_connections 64; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log %s/access.log;
    client_body_temp_path %s/tmp-body;
    proxy_temp_path %s/tmp-proxy;
    fastcgi_temp_path %s/tmp-fastcgi;
    uwsgi_temp_path %s/tmp-uwsgi;
    scgi_temp_path %s/tmp-scgi;
    gzip on;
    include %s/site.conf;
}
`, userLine, d, d, d, d, d, d, d, d, d))
	return s
}

// nginxArgs are the arguments that keep nginx inside the scratch directory.
func (s *site) nginxArgs(extra ...string) []string {
	return append([]string{"-c", s.conf, "-p", s.dir + "/", "-e", filepath.Join(s.dir, "error.log")}, extra...)
}

// selfSigned writes a certificate for 127.0.0.1 and its key.
func selfSigned(t *testing.T, dir string) (certPath, keyPath string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "pool.example.com"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames: []string{"pool.example.com"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath = filepath.Join(dir, "fullchain.pem"), filepath.Join(dir, "privkey.pem")
	writeFile(t, certPath, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	writeFile(t, keyPath, string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})))
	return certPath, keyPath
}

// nginxTest runs nginx -t on the staged site and fails on any error or
// warning.
func nginxTest(t *testing.T, s *site) {
	t.Helper()
	out, code := run(t, time.Minute, nil, tool(t, "nginx"), s.nginxArgs("-t")...)
	t.Logf("nginx -t:\n%s", out)
	if code != 0 || strings.Contains(out, "[warn]") || strings.Contains(out, "[emerg]") {
		t.Fatalf("nginx -t: exit %d\n%s", code, out)
	}
}

// startNginx runs nginx in the foreground until the test ends.
func startNginx(t *testing.T, s *site) {
	t.Helper()
	cmd := exec.Command(tool(t, "nginx"), s.nginxArgs("-g", "daemon off;")...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if b, err := os.ReadFile(filepath.Join(s.dir, "error.log")); err == nil && t.Failed() {
			t.Logf("nginx error.log:\n%s", b)
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", s.httpPort), time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case err := <-done:
			t.Fatalf("nginx exited: %v\n%s%s", err, out.String(), readFile(t, filepath.Join(s.dir, "error.log")))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx did not listen on %d within 15 s\n%s", s.httpPort, out.String())
		}
	}
}

// seen is one request the stand-in API received.
type seen struct {
	Method, Path, Query, Host, RealIP, ForwardedFor, Proto string
}

// fakeAPI stands in for the pool's API: it records what reaches it.
type fakeAPI struct {
	mu   sync.Mutex
	reqs []seen
	srv  *httptest.Server
}

// bigJSON is large enough for gzip_min_length.
var bigJSON = func() string {
	var b strings.Builder
	b.WriteString(`{"blocks":[`)
	for i := range 200 {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"height":%d,"status":"confirmed","reward":600000000000}`, i)
	}
	b.WriteString("]}")
	return b.String()
}()

func newFakeAPI(t *testing.T) *fakeAPI {
	f := &fakeAPI{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		f.mu.Lock()
		f.reqs = append(f.reqs, seen{r.Method, r.URL.Path, r.URL.RawQuery, r.Host,
			r.Header.Get("X-Real-IP"), r.Header.Get("X-Forwarded-For"), r.Header.Get("X-Forwarded-Proto")})
		f.mu.Unlock()
		switch r.URL.Path {
		case "/metrics":
			w.Header().Set("Content-Type", "text/plain; version=0.0.4")
			io.WriteString(w, "rxpool_payments_halted 0\n")
		case "/health", "/api/health":
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"status":"ok"}`)
		default:
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			io.WriteString(w, bigJSON)
		}
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAPI) addr() string { return strings.TrimPrefix(f.srv.URL, "http://") }

// last returns the last request the API saw, or fails when none did.
func (f *fakeAPI) last(t *testing.T) seen {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.reqs) == 0 {
		t.Fatal("the request did not reach the API")
	}
	return f.reqs[len(f.reqs)-1]
}

func (f *fakeAPI) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.reqs)
}

// client makes requests from the given loopback source address; it shows
// responses as they come (no transparent gzip, no redirects).
func client(from string) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			DialContext: d.DialContext, DisableCompression: true,
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, // our own self-signed certificate
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

type response struct {
	code   int
	header http.Header
	body   string
}

func do(t *testing.T, c *http.Client, method, url string, header map[string]string, body io.Reader) response {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		if k == "Host" {
			req.Host = v
		} else {
			req.Header.Set(k, v)
		}
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{res.StatusCode, res.Header, string(b)}
}

func TestNginxConfigSyntax(t *testing.T) {
	for _, f := range []string{"rxpool.conf", "rxpool-tls.conf"} {
		t.Run(f, func(t *testing.T) {
			nginxTest(t, stageSite(t, f, "127.0.0.1:8117"))
		})
	}
}

// TestNginxServes runs nginx with rxpool.conf in front of a stand-in API.
func TestNginxServes(t *testing.T) {
	api := newFakeAPI(t)
	s := stageSite(t, "rxpool.conf", api.addr())
	nginxTest(t, s)
	startNginx(t, s)
	base := fmt.Sprintf("http://127.0.0.1:%d", s.httpPort)
	local, other := client("127.0.0.1"), client("127.0.0.2")

	t.Run("index", func(t *testing.T) {
		for _, path := range []string{"/", "/index.html"} {
			r := do(t, local, "GET", base+path, nil, nil)
			if r.code != 200 || !strings.Contains(r.body, s.indexMark) {
				t.Fatalf("GET %s: %d %q, want index.html", path, r.code, r.body)
			}
			if cc := r.header.Get("Cache-Control"); cc != "no-cache" {
				t.Errorf("GET %s: Cache-Control %q, want no-cache", path, cc)
			}
			if r.header.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("GET %s: no X-Content-Type-Options: nosniff", path)
			}
			if h := r.header.Get("Strict-Transport-Security"); h != "" {
				t.Errorf("GET %s over HTTP: Strict-Transport-Security %q", path, h)
			}
		}
		// Hash routing: no fallback to index.html for unknown files.
		if r := do(t, local, "GET", base+"/no-such-page", nil, nil); r.code != 404 {
			t.Errorf("GET /no-such-page: %d, want 404", r.code)
		}
		// certbot's challenge, for the first certificate.
		if r := do(t, other, "GET", base+"/.well-known/acme-challenge/"+s.acmeToken, nil, nil); r.code != 200 || r.body != s.acmeAnswer {
			t.Errorf("ACME challenge: %d %q", r.code, r.body)
		}
	})

	t.Run("assets", func(t *testing.T) {
		r := do(t, local, "GET", base+"/assets/"+s.assetName, nil, nil)
		if r.code != 200 || !strings.Contains(r.body, "rxpool") {
			t.Fatalf("GET asset: %d %q", r.code, r.body)
		}
		if cc := r.header.Get("Cache-Control"); !strings.Contains(cc, "immutable") || !strings.Contains(cc, "max-age=31536000") {
			t.Errorf("asset Cache-Control %q, want a year, immutable", cc)
		}
		if ct := r.header.Get("Content-Type"); !strings.Contains(ct, "javascript") {
			t.Errorf("asset Content-Type %q", ct)
		}
		if r := do(t, local, "GET", base+"/assets/missing.js", nil, nil); r.code != 404 {
			t.Errorf("GET missing asset: %d, want 404", r.code)
		}
	})

	t.Run("api", func(t *testing.T) {
		n := api.count()
		r := do(t, local, "GET", base+"/api/stats", map[string]string{
			"X-Forwarded-For": "203.0.113.9", // a client's own claim
			"Accept-Encoding": "gzip",
			"Host":            "pool.example.com",
		}, nil)
		if r.code != 200 || api.count() != n+1 {
			t.Fatalf("GET /api/stats: %d, API saw %d requests", r.code, api.count()-n)
		}
		got := api.last(t)
		if got.Path != "/api/stats" || got.Method != "GET" {
			t.Errorf("API saw %s %s, want GET /api/stats", got.Method, got.Path)
		}
		if got.RealIP != "127.0.0.1" {
			t.Errorf("X-Real-IP %q, want 127.0.0.1", got.RealIP)
		}
		// nginx appends the address it saw; the pool reads the list from the
		// right and stops at the first untrusted hop, so the claim is harmless.
		if got.ForwardedFor != "203.0.113.9, 127.0.0.1" {
			t.Errorf("X-Forwarded-For %q, want the claim then 127.0.0.1", got.ForwardedFor)
		}
		if got.Host != "pool.example.com" || got.Proto != "http" {
			t.Errorf("Host %q, X-Forwarded-Proto %q", got.Host, got.Proto)
		}
		if r.header.Get("Content-Encoding") != "gzip" {
			t.Fatalf("JSON not compressed: Content-Encoding %q", r.header.Get("Content-Encoding"))
		}
		zr, err := gzip.NewReader(strings.NewReader(r.body))
		if err != nil {
			t.Fatal(err)
		}
		plain, err := io.ReadAll(zr)
		if err != nil || string(plain) != bigJSON {
			t.Errorf("gunzipped body differs from the API's (%v)", err)
		}

		do(t, local, "GET", base+"/api/workers?address=PAS1abc&page=2", nil, nil)
		if got := api.last(t); got.Path != "/api/workers" || got.Query != "address=PAS1abc&page=2" {
			t.Errorf("API saw %s?%s", got.Path, got.Query)
		}
		r = do(t, local, "POST", base+"/api/miner/threshold", map[string]string{"Content-Type": "application/json"},
			strings.NewReader(`{"address":"PAS1abc","threshold":100000}`))
		if got := api.last(t); r.code != 200 || got.Method != "POST" || got.Path != "/api/miner/threshold" {
			t.Errorf("POST /api/miner/threshold: %d, API saw %s %s", r.code, got.Method, got.Path)
		}
		n = api.count()
		r = do(t, local, "POST", base+"/api/miner/threshold", nil, strings.NewReader(strings.Repeat("x", 64<<10)))
		if r.code != 413 || api.count() != n {
			t.Errorf("64 KiB body: %d (API saw %d), want 413 from nginx", r.code, api.count()-n)
		}
	})

	t.Run("private", func(t *testing.T) {
		for _, path := range []string{"/metrics", "/health", "/api/health"} {
			n := api.count()
			r := do(t, local, "GET", base+path, nil, nil)
			if r.code != 200 || api.count() != n+1 || api.last(t).Path != path {
				t.Errorf("GET %s from 127.0.0.1: %d, want 200 from the API at %s", path, r.code, path)
			}
			r = do(t, other, "GET", base+path, nil, nil)
			if r.code != 403 || api.count() != n+1 {
				t.Errorf("GET %s from 127.0.0.2: %d (API saw %d), want 403 from nginx", path, r.code, api.count()-n-1)
			}
		}
		if r := do(t, local, "GET", base+"/metrics", nil, nil); !strings.Contains(r.body, "rxpool_payments_halted") {
			t.Errorf("/metrics body %q", r.body)
		}
		// The public pages stay public.
		if r := do(t, other, "GET", base+"/api/stats", nil, nil); r.code != 200 {
			t.Errorf("GET /api/stats from 127.0.0.2: %d", r.code)
		}
	})
}

// TestNginxServesTLS runs nginx with rxpool-tls.conf: HTTPS with HSTS, and
// port 80 redirecting except for certbot's challenges.
func TestNginxServesTLS(t *testing.T) {
	api := newFakeAPI(t)
	s := stageSite(t, "rxpool-tls.conf", api.addr())
	nginxTest(t, s)
	startNginx(t, s)
	c := client("127.0.0.1")
	https := fmt.Sprintf("https://127.0.0.1:%d", s.httpsPort)
	http80 := fmt.Sprintf("http://127.0.0.1:%d", s.httpPort)

	r := do(t, c, "GET", https+"/", nil, nil)
	if r.code != 200 || !strings.Contains(r.body, s.indexMark) {
		t.Fatalf("GET / over TLS: %d %q", r.code, r.body)
	}
	for _, path := range []string{"/", "/assets/" + s.assetName, "/api/stats"} {
		r := do(t, c, "GET", https+path, nil, nil)
		if h := r.header.Get("Strict-Transport-Security"); !strings.HasPrefix(h, "max-age=") {
			t.Errorf("GET %s over TLS: Strict-Transport-Security %q", path, h)
		}
	}
	if got := api.last(t); got.Path != "/api/stats" || got.Proto != "https" || got.RealIP != "127.0.0.1" {
		t.Errorf("API saw %+v", got)
	}
	r = do(t, c, "GET", http80+"/api/stats?x=1", nil, nil)
	if loc := r.header.Get("Location"); r.code != 301 || loc != "https://127.0.0.1/api/stats?x=1" {
		t.Errorf("HTTP GET: %d Location %q, want 301 to https", r.code, loc)
	}
	r = do(t, c, "GET", http80+"/.well-known/acme-challenge/"+s.acmeToken, nil, nil)
	if r.code != 200 || r.body != s.acmeAnswer {
		t.Errorf("ACME challenge over HTTP: %d %q", r.code, r.body)
	}
	for _, path := range []string{"/metrics", "/health"} {
		if r := do(t, client("127.0.0.2"), "GET", https+path, nil, nil); r.code != 403 {
			t.Errorf("GET %s over TLS from 127.0.0.2: %d, want 403", path, r.code)
		}
	}
}
