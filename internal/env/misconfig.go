package env

// MisconfigError is a failure that no retry can get past: a setting has to change first (a
// certificate not trusted, credentials refused, a database or index template the server refuses).
// Its Reason says what is wrong and which variable to change; it holds no secret, so it may be
// logged and sent to clients. Functions answer readiness probes with it, so the platform stops
// routing events to an instance that can only fail them.
type MisconfigError struct {
	// Reason is the client-safe explanation, naming the variable to change.
	Reason string
	// Err is the cause.
	Err error
}

// Error returns the reason.
func (e *MisconfigError) Error() string { return e.Reason }

// Unwrap returns the cause.
func (e *MisconfigError) Unwrap() error { return e.Err }
