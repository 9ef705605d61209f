package client

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"time"

	"rxpool/stratum/proto"
)

// Login sends "login" and waits for the result. On success the session id
// and extensions are recorded and the login job is already on Jobs. A pool
// rejection is a *proto.Error, a result without a session id a
// *ProtocolError with Code 1, a bad job a *JobError (after which the
// connection is closed unless TolerateBadJobs).
func (c *Conn) Login(ctx context.Context, p LoginParams) (*proto.LoginResult, error) {
	r, err := c.roundTrip(ctx, proto.MethodLogin, p, c.loginReply)
	if err != nil {
		return nil, err
	}
	return r.val.(*proto.LoginResult), nil
}

func (c *Conn) loginReply(resp *proto.Response) (any, error) {
	if err := statusError(resp); err != nil {
		return nil, err
	}
	var f struct {
		ID         json.RawMessage `json:"id"`
		Job        json.RawMessage `json:"job"`
		Extensions json.RawMessage `json:"extensions"`
		Status     json.RawMessage `json:"status"`
	}
	_ = json.Unmarshal(resp.Result, &f) // statusError checked it is an object
	res := &proto.LoginResult{}
	if json.Unmarshal(f.ID, &res.ID) != nil || res.ID == "" {
		return nil, &ProtocolError{Code: CodeNoSessionID, Reason: "login result has no string id"}
	}
	// xmrig skips extensions that are not strings and a list that is not
	// an array (Client.cpp parseExtensions).
	var exts []any
	_ = json.Unmarshal(f.Extensions, &exts)
	for _, e := range exts {
		if s, ok := e.(string); ok {
			res.Extensions = append(res.Extensions, s)
		}
	}
	_ = json.Unmarshal(f.Status, &res.Status)
	c.mu.Lock()
	c.session, c.exts, c.job = res.ID, res.Extensions, nil // a new session: nothing to duplicate
	c.mu.Unlock()
	job, err := c.acceptJob(f.Job)
	if err != nil {
		return nil, err
	}
	res.Job = job
	return res, nil
}

// Submit sends a share: the nonce as the 4 bytes at blob offset 39 and the
// 32-byte hash, with the session id and, when the pool listed the "algo"
// extension, the algorithm. nil means accepted; a rejection is a
// *proto.Error. The submit→reply time goes to Latency.
func (c *Conn) Submit(ctx context.Context, jobID string, nonce [4]byte, result [32]byte) error {
	return c.SubmitHex(ctx, jobID, hex.EncodeToString(nonce[:]), hex.EncodeToString(result[:]))
}

// SubmitHex is Submit with nonce and result as given, unchecked, so tests
// can send malformed values.
func (c *Conn) SubmitHex(ctx context.Context, jobID, nonce, result string) error {
	p := proto.SubmitParams{ID: c.Session(), JobID: jobID, Nonce: nonce, Result: result}
	if c.HasExtension(proto.ExtAlgo) {
		p.Algo = proto.Algo
	}
	return c.SubmitParams(ctx, p)
}

// SubmitParams sends "submit" with p exactly as given (a wrong session id,
// no algo, …) and treats the reply as Submit does.
func (c *Conn) SubmitParams(ctx context.Context, p proto.SubmitParams) error {
	start := time.Now()
	r, err := c.roundTrip(ctx, proto.MethodSubmit, p, func(resp *proto.Response) (any, error) {
		return nil, statusError(resp)
	})
	if r.at.After(start) {
		c.opts.Latency.Record(r.at.Sub(start))
	}
	return err
}

// Keepalive sends "keepalived". xmrig ignores the reply's content, so only
// an error reply is an error.
func (c *Conn) Keepalive(ctx context.Context) error {
	_, err := c.Call(ctx, proto.MethodKeepalive, proto.SessionParams{ID: c.Session()})
	return err
}

// GetJob sends the legacy "getjob". If the result is a job it is checked,
// becomes the current job, goes to Jobs and is returned; a result without
// job_id (a pool that pushes the job instead) gives nil, nil.
func (c *Conn) GetJob(ctx context.Context) (*proto.Job, error) {
	r, err := c.roundTrip(ctx, proto.MethodGetJob, proto.SessionParams{ID: c.Session()}, func(resp *proto.Response) (any, error) {
		if err := statusError(resp); err != nil {
			return nil, err
		}
		var probe struct {
			JobID json.RawMessage `json:"job_id"`
		}
		if json.Unmarshal(resp.Result, &probe) != nil || len(probe.JobID) == 0 {
			return (*proto.Job)(nil), nil
		}
		return c.acceptJob(resp.Result)
	})
	if err != nil {
		return nil, err
	}
	return r.val.(*proto.Job), nil
}

// Call sends any method and returns the raw result; a pool error is a
// *proto.Error.
func (c *Conn) Call(ctx context.Context, method string, params any) (json.RawMessage, error) {
	r, err := c.roundTrip(ctx, method, params, nil)
	if err != nil {
		return nil, err
	}
	return r.resp.Result, nil
}

// SendLine writes b exactly as given (add the '\n' yourself), for sending
// malformed input on purpose. Replies to it arrive on Other unless they
// carry an id of a waiting request.
func (c *Conn) SendLine(b []byte) error { return c.write(b) }
