package client

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"rxpool/stratum/proto"
)

// readLoop owns the read side and is the only sender on the queues, which
// it closes when the connection ends.
func (c *Conn) readLoop() {
	defer func() {
		close(c.jobs)
		close(c.jobErrs)
		close(c.other)
	}()
	r := bufio.NewReaderSize(c.nc, c.opts.MaxLine)
	for {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			c.shutdown(fmt.Errorf("%w (%d bytes)", ErrLineTooLong, c.opts.MaxLine))
			return
		}
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				err = nil // our own Close: its cause is already set
			}
			c.shutdown(err)
			return
		}
		if err := c.handleLine(line, time.Now()); err != nil {
			c.shutdown(err)
			return
		}
	}
}

// message is any line from the pool, members kept raw so types can be
// checked as xmrig checks them.
type message struct {
	ID     json.RawMessage `json:"id"`
	Method json.RawMessage `json:"method"`
	Params json.RawMessage `json:"params"`
	Result json.RawMessage `json:"result"`
	Error  json.RawMessage `json:"error"`
}

// handleLine dispatches one line like xmrig's Client::parse. A non-nil
// return closes the connection.
func (c *Conn) handleLine(line []byte, at time.Time) error {
	line = trimEOL(line)
	var m message
	// xmrig drops lines shorter than 22 bytes or not starting with '{'.
	if len(line) < 22 || line[0] != '{' || json.Unmarshal(line, &m) != nil {
		c.undecodable.Add(1)
		c.pushOther(line)
		return nil
	}
	if id, err := strconv.ParseInt(string(m.ID), 10, 64); err == nil {
		return c.handleReply(id, &m, line, at)
	}
	// No integer id: a notification. xmrig ignores those with an error.
	var method string
	if isObject(m.Error) || json.Unmarshal(m.Method, &method) != nil || method != proto.MethodJob {
		c.ignored.Add(1)
		c.pushOther(line)
		return nil
	}
	_, err := c.acceptJob(m.Params)
	if err != nil && !c.opts.TolerateBadJobs {
		return err
	}
	return nil
}

func (c *Conn) handleReply(id int64, m *message, line []byte, at time.Time) error {
	c.mu.Lock()
	cl := c.pending[id]
	delete(c.pending, id)
	c.mu.Unlock()
	if cl == nil {
		c.unmatched.Add(1)
		c.pushOther(line)
		return nil
	}
	c.replies.Add(1)
	resp := &proto.Response{ID: m.ID, Result: m.Result}
	r := reply{resp: resp, at: at}
	if err := decodeError(m.Error, resp); err != nil {
		r.err = err
	} else if cl.hook != nil {
		r.val, r.err = cl.hook(resp)
	} else if resp.Error != nil {
		r.err = resp.Error
	}
	cl.ch <- r
	var je *JobError
	if errors.As(r.err, &je) && !c.opts.TolerateBadJobs {
		return je
	}
	return nil
}

// decodeError fills resp.Error from a reply's raw error member. null or
// absent is no error; an object must carry a string message (xmrig reads
// it unchecked); code is read with a default, as xmrig does.
func decodeError(raw json.RawMessage, resp *proto.Response) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var f struct {
		Code    json.RawMessage `json:"code"`
		Message json.RawMessage `json:"message"`
	}
	if !isObject(raw) || json.Unmarshal(raw, &f) != nil {
		return &ProtocolError{Reason: fmt.Sprintf("error is not an object: %.80s", raw)}
	}
	e := &proto.Error{}
	if json.Unmarshal(f.Message, &e.Message) != nil {
		return &ProtocolError{Reason: fmt.Sprintf("error has no string message: %.80s", raw)}
	}
	_ = json.Unmarshal(f.Code, &e.Code)
	resp.Error = e
	return nil
}

// statusError is the error of a login or submit reply: the pool's error,
// or a *ProtocolError when the result is not an object (xmrig would count
// nothing and wait forever).
func statusError(resp *proto.Response) error {
	if resp.Error != nil {
		return resp.Error
	}
	if !isObject(resp.Result) {
		return &ProtocolError{Reason: fmt.Sprintf("result is not an object: %.80s", resp.Result)}
	}
	return nil
}

// acceptJob checks a job from the wire, compares it with the current one
// and, if good, makes it current and queues it on Jobs. Bad jobs go to
// JobErrors and are returned. Called on the reader goroutine only.
func (c *Conn) acceptJob(raw json.RawMessage) (*proto.Job, error) {
	job, jerr := parseJob(raw)
	c.mu.Lock()
	if jerr == nil && c.job != nil && sameJob(c.job, job) {
		jerr = &JobError{Duplicate: true, Reason: "same job_id, blob and target as the current job", Job: job}
	}
	if jerr == nil {
		c.job = job
	}
	c.mu.Unlock()
	if jerr != nil {
		c.jobErrCount.Add(1)
		pushDropOldest(c.jobErrs, jerr, nil)
		return nil, jerr
	}
	c.jobCount.Add(1)
	pushDropOldest(c.jobs, job, &c.droppedJobs)
	return job, nil
}

func (c *Conn) pushOther(line []byte) {
	pushDropOldest(c.other, slices.Clone(line), &c.droppedOthers)
}

// pushDropOldest queues v, discarding the oldest entry when ch is full.
// Only the reader goroutine sends, so after one discard there is room.
func pushDropOldest[T any](ch chan T, v T, dropped *atomic.Uint64) {
	for {
		select {
		case ch <- v:
			return
		default:
		}
		select {
		case <-ch:
			if dropped != nil {
				dropped.Add(1)
			}
		default:
		}
	}
}

func trimEOL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}
