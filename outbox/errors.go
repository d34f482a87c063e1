package outbox

import "errors"

// ErrJobNotFound means no job has the id: never queued, or finished and
// forgotten after the store's retention.
var ErrJobNotFound = errors.New("outbox: no such job")

// ErrNotDeadLetter means a job was asked to be resent or dropped while it
// is not a dead letter: it is still queued or sending, or it was sent.
var ErrNotDeadLetter = errors.New("outbox: not a dead letter")

// ErrClaimLost means another worker took over the jobs a worker held (its
// claim timed out): the store wrote nothing, and the worker must let them
// go.
var ErrClaimLost = errors.New("outbox: claim lost to another worker")

// errRunning refuses a second Run of one Outbox at a time.
var errRunning = errors.New("outbox: Run is already running")

// DuplicateError is Store.Add's answer to a job whose caller-given key
// (Job.Unique) a job the store keeps already has: nothing was added, and
// ID names that job.
type DuplicateError struct {
	ID string
}

func (e *DuplicateError) Error() string {
	return "outbox: a job with this idempotency key is already kept: " + e.ID
}
