package wallet

import (
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"rxpool/internal/secret"
)

// digestTransport does HTTP digest authentication (RFC 7616, MD5 and
// MD5-sess, qop "auth"), which monero-wallet-rpc --rpc-login requires and
// net/http does not provide. It answers a 401 challenge once per request
// and then reuses the challenge for later requests, counting nc up, so
// that most calls take one round trip. Retrying after a 401 is safe: the
// server refused before doing anything.
type digestTransport struct {
	user     string
	password secret.Secret
	next     http.RoundTripper

	mu   sync.Mutex
	chal *digestChallenge
	nc   uint32
}

type digestChallenge struct {
	realm, nonce, opaque, algorithm string
	qopAuth                         bool
}

func (d *digestTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	first := req
	if auth := d.authorization(req); auth != "" {
		first = req.Clone(req.Context())
		first.Header.Set("Authorization", auth)
	}
	resp, err := d.next.RoundTrip(first)
	if err != nil || resp.StatusCode != http.StatusUnauthorized || req.GetBody == nil && req.Body != nil && req.Body != http.NoBody {
		return resp, err
	}
	chal := pickDigest(resp.Header.Values("WWW-Authenticate"))
	if chal == nil {
		return resp, nil
	}
	d.mu.Lock()
	d.chal, d.nc = chal, 0
	d.mu.Unlock()
	retry := req.Clone(req.Context())
	if req.GetBody != nil {
		if retry.Body, err = req.GetBody(); err != nil {
			return resp, nil
		}
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	retry.Header.Set("Authorization", d.authorization(req))
	return d.next.RoundTrip(retry)
}

// authorization builds the header for req from the last challenge, or ""
// before the first one.
func (d *digestTransport) authorization(req *http.Request) string {
	d.mu.Lock()
	c := d.chal
	d.nc++
	nc := d.nc
	d.mu.Unlock()
	if c == nil {
		return ""
	}
	uri := req.URL.RequestURI()
	var b [8]byte
	_, _ = rand.Read(b[:])
	cnonce := hex.EncodeToString(b[:])
	ncs := fmt.Sprintf("%08x", nc)
	ha1 := md5hex(d.user + ":" + c.realm + ":" + d.password.Reveal())
	if strings.EqualFold(c.algorithm, "MD5-sess") {
		ha1 = md5hex(ha1 + ":" + c.nonce + ":" + cnonce)
	}
	ha2 := md5hex(req.Method + ":" + uri)
	var resp string
	if c.qopAuth {
		resp = md5hex(ha1 + ":" + c.nonce + ":" + ncs + ":" + cnonce + ":auth:" + ha2)
	} else {
		resp = md5hex(ha1 + ":" + c.nonce + ":" + ha2)
	}
	h := fmt.Sprintf(`Digest username="%s", realm="%s", nonce="%s", uri="%s", response="%s"`,
		d.user, c.realm, c.nonce, uri, resp)
	if c.algorithm != "" {
		h += ", algorithm=" + c.algorithm
	}
	if c.qopAuth {
		h += fmt.Sprintf(`, qop=auth, nc=%s, cnonce="%s"`, ncs, cnonce)
	}
	if c.opaque != "" {
		h += fmt.Sprintf(`, opaque="%s"`, c.opaque)
	}
	return h
}

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// pickDigest chooses among the server's challenges (monero-wallet-rpc
// offers MD5-sess and MD5) one we can answer, MD5 first.
func pickDigest(headers []string) *digestChallenge {
	var best *digestChallenge
	for _, h := range headers {
		scheme, rest, _ := strings.Cut(strings.TrimSpace(h), " ")
		if !strings.EqualFold(scheme, "Digest") {
			continue
		}
		p := parseAuthParams(rest)
		c := &digestChallenge{realm: p["realm"], nonce: p["nonce"], opaque: p["opaque"], algorithm: p["algorithm"]}
		alg := strings.ToUpper(c.algorithm)
		if c.nonce == "" || alg != "" && alg != "MD5" && alg != "MD5-SESS" {
			continue
		}
		for _, q := range strings.Split(p["qop"], ",") {
			if strings.TrimSpace(q) == "auth" {
				c.qopAuth = true
			}
		}
		if best == nil || alg != "MD5-SESS" {
			best = c
		}
	}
	return best
}

// parseAuthParams reads `k=v, k="v, with comma"` pairs.
func parseAuthParams(s string) map[string]string {
	out := map[string]string{}
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimLeft(s, ", \t") {
		k, rest, ok := strings.Cut(s, "=")
		if !ok {
			break
		}
		k = strings.ToLower(strings.TrimSpace(k))
		rest = strings.TrimLeft(rest, " \t")
		var v string
		if strings.HasPrefix(rest, `"`) {
			end := strings.IndexByte(rest[1:], '"')
			if end < 0 {
				v, s = rest[1:], ""
			} else {
				v, s = rest[1:1+end], rest[2+end:]
			}
		} else {
			v, s, _ = strings.Cut(rest, ",")
			v = strings.TrimSpace(v)
		}
		out[k] = v
	}
	return out
}
