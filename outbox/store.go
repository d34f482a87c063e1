package outbox

import "context"

// Store keeps an Outbox's jobs. MemoryStore is the default;
// redisstate.NewOutboxStore keeps them in Redis Streams, shared by every
// replica and kept across restarts. Implementations must be safe for
// concurrent use.
type Store interface {
	// Add keeps a new job (its ID set) as queued. When job.Unique and the
	// store keeps a job with the same Key (queued, sending, sent within the
	// retention, or a dead letter), it adds nothing and returns a
	// *DuplicateError naming that job.
	Add(ctx context.Context, job *Job) error
	// Claim renews the worker's claims and hands it the jobs it may now
	// deliver that it did not hold before, oldest first in each lane: new
	// ones, and those of a worker whose claim timed out (it crashed). The
	// jobs of one lane go to one worker at a time. At most max jobs are new
	// to the store's queue; the pending jobs of a worker whose claim timed
	// out come besides. Each copy carries its claim (Job.Claim).
	Claim(ctx context.Context, worker string, max int) ([]*Job, error)
	// Save writes the jobs, which the worker holds. Final ones leave the
	// queue; failed and maybe-delivered ones become dead letters. When
	// another worker took them over it writes nothing and returns
	// ErrClaimLost.
	Save(ctx context.Context, worker string, jobs []*Job) error
	// Release gives the worker's claims back, so that other workers take
	// its jobs without waiting for the claim timeout.
	Release(ctx context.Context, worker string) error
	// Job returns the job with the id, or ErrJobNotFound.
	Job(ctx context.Context, id string) (*Job, error)
	// DeadLetters returns up to max dead letters, oldest first; none when
	// max < 1.
	DeadLetters(ctx context.Context, max int) ([]*Job, error)
	// Requeue puts dead letter job, reset by the Inspector, back in its lane's
	// queue. It returns ErrJobNotFound if job.ID is not a dead letter.
	Requeue(ctx context.Context, job *Job) error
	// Drop forgets dead letter id, or returns ErrJobNotFound.
	Drop(ctx context.Context, id string) error
}
