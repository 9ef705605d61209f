package wallettest

// ReplyKind is how a faulty call is answered.
type ReplyKind int

const (
	// ReplyError: HTTP 400 {"errorCode","errorMessage"}, as the API's
	// handlers refuse.
	ReplyError ReplyKind = iota
	// ReplyStatus: an empty body with Fault.Status (401, 403, 500...).
	ReplyStatus
	// ReplyDrop: the connection is closed without a reply.
	ReplyDrop
	// ReplyHang: no reply at all until the client gives up (times out or
	// disconnects) or the fake is closed.
	ReplyHang
	// ReplyGarbage: the route's success status with a body that is not JSON.
	ReplyGarbage
)

// Fault replaces the reply to one call. With Act the call takes effect
// first (a relay really happens, a prepare is really stored) and only the
// reply is lost or wrong, which is what makes a failure ambiguous.
type Fault struct {
	Act     bool
	Reply   ReplyKind
	Status  int    // ReplyStatus
	Code    int    // ReplyError
	Message string // ReplyError; a default message when empty
}

// Refuse answers 400 {errorCode: code} without acting, as the API does for
// a bad address (12-15), not enough balance (11), an expired prepared
// transaction (57)...
func Refuse(code int) Fault { return Fault{Reply: ReplyError, Code: code} }

// Status answers status with an empty body without acting (401 bad key,
// 403 no wallet open, 500 exception before acting).
func Status(status int) Fault { return Fault{Reply: ReplyStatus, Status: status} }

// StatusAfterActing acts, then answers status with an empty body (a 500
// from an exception after the relay).
func StatusAfterActing(status int) Fault { return Fault{Act: true, Reply: ReplyStatus, Status: status} }

// DropBeforeActing closes the connection without acting.
func DropBeforeActing() Fault { return Fault{Reply: ReplyDrop} }

// DropAfterActing acts, then closes the connection without a reply.
func DropAfterActing() Fault { return Fault{Act: true, Reply: ReplyDrop} }

// TimeoutBeforeActing never answers and does nothing.
func TimeoutBeforeActing() Fault { return Fault{Reply: ReplyHang} }

// TimeoutAfterActing acts (the relay takes effect), then never answers.
func TimeoutAfterActing() Fault { return Fault{Act: true, Reply: ReplyHang} }

// Garbage answers the success status with a body that is not JSON,
// without acting.
func Garbage() Fault { return Fault{Reply: ReplyGarbage} }

// GarbageAfterActing acts, then answers garbage.
func GarbageAfterActing() Fault { return Fault{Act: true, Reply: ReplyGarbage} }
