package redisstate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/imbridge/middleware/outbox"
)

var _ outbox.Store = (*OutboxStore)(nil)

// group is the consumer group of every shard's stream.
const group = "workers"

// What leaseScript answers for each shard.
const (
	leaseHeldByOther = 0 // another worker holds the lease
	leaseRenewed     = 1 // the worker held it, and holds it longer now
	leaseTaken       = 2 // the lease was free, and the worker took it under a new tenure
	leaseLeft        = 3 // the lease is free, and the worker holds its share already
)

// leaseScript renews a worker's leases and takes free ones up to its
// share, in one round trip on the server's clock. KEYS: the shards'
// leases, then the tenure counter and the worker set. ARGV: the worker,
// the claim timeout (ms), and the shard to look at first when taking. The
// worker's heartbeat goes in the worker set; a worker not heard from for
// a claim timeout is dropped from it. With W live workers and S shards a
// worker takes leases while it holds fewer than ceil(S/W). A lease holds
// "worker|tenure": every acquisition gets a new tenure from the counter,
// and saveScript writes only under the current one. It answers, per
// shard, {leaseHeldByOther|leaseRenewed|leaseTaken|leaseLeft, tenure}, then
// the worker's share.
var leaseScript = redis.NewScript(`
local n = #KEYS - 2
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[n + 2], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[n + 2], '-inf', now - tonumber(ARGV[2]))
local share = math.ceil(n / math.max(redis.call('ZCARD', KEYS[n + 2]), 1))
local out, held = {}, 0
for i = 1, n do
  local v = redis.call('GET', KEYS[i])
  if v then
    local owner, tenure = string.match(v, '^(.*)|(%d+)$')
    if owner == ARGV[1] then
      redis.call('PEXPIRE', KEYS[i], ARGV[2])
      out[i] = {1, tenure}
      held = held + 1
    else
      out[i] = {0, ''}
    end
  else
    out[i] = {3, ''}
  end
end
for k = 0, n - 1 do
  local i = (tonumber(ARGV[3]) + k) % n + 1
  if out[i][1] == 3 and held < share then
    local e = redis.call('INCR', KEYS[n + 1])
    redis.call('SET', KEYS[i], ARGV[1] .. '|' .. e, 'PX', ARGV[2])
    out[i] = {2, tostring(e)}
    held = held + 1
  end
end
out[n + 1] = share
return out
`)

// unleaseScript gives a lease back if the worker (ARGV[1]) holds it,
// under any tenure.
var unleaseScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v and string.match(v, '^(.*)|%d+$') == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
`)

// saveScript writes jobs of one shard, fenced by its lease and tenure.
// KEYS: the lease, the stream, the dead-letter set, then one key per job.
// ARGV: the lease's value the jobs were claimed under, the retention of
// finished jobs (ms), now (ms), the claim timeout (ms), the consumer
// group, then per job its id, JSON, what to do ("keep", "done" or "dead")
// and its stream entry. It answers 0, writing nothing, if the lease is not
// that value any more: lost, or lost and taken again under a new tenure.
var saveScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local n = (#ARGV - 5) / 4
for i = 1, n do
  local id, doc, mode, ref = ARGV[2 + 4 * i], ARGV[3 + 4 * i], ARGV[4 + 4 * i], ARGV[5 + 4 * i]
  local key = KEYS[3 + i]
  redis.call('SET', key, doc)
  if mode ~= 'keep' then
    redis.call('XACK', KEYS[2], ARGV[5], ref)
    redis.call('XDEL', KEYS[2], ref)
    if mode == 'done' then
      redis.call('PEXPIRE', key, ARGV[2])
    else
      redis.call('ZADD', KEYS[3], ARGV[3], id)
    end
  end
end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
`)

// requeueScript puts a dead letter back: KEYS the dead-letter set, the
// job's key and its shard's stream; ARGV the id and the reset JSON.
var requeueScript = redis.NewScript(`
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('SET', KEYS[2], ARGV[2])
redis.call('PERSIST', KEYS[2])
redis.call('XADD', KEYS[3], '*', 'id', ARGV[1])
return 1
`)

// dropScript forgets a dead letter: KEYS the dead-letter set and the job's
// key; ARGV the id.
var dropScript = redis.NewScript(`
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('DEL', KEYS[2])
return 1
`)

// OutboxStore is an outbox.Store in Redis Streams, shared by every
// replica and kept across restarts (as far as the Redis server keeps its
// data: turn on its persistence for that). Lanes are spread over shards;
// each shard is a stream with a consumer group and a lease, held by one
// worker at a time and renewed as it works. A worker that stops renewing
// (it crashed) loses the lease after the claim timeout, and the next
// worker to take it claims the jobs it left pending (XAUTOCLAIM). Every
// write of a job is fenced by the lease, so a worker that lost it writes
// nothing and sends nothing more.
type OutboxStore struct {
	rdb  redis.UniversalClient
	cfg  config
	base string
	// swept is, per shard, when this store last looked for entries a
	// stale owner left (unix nanos): every poll would cost a round trip a
	// shard for what a claim timeout makes rare.
	swept []atomic.Int64
}

// NewOutboxStore returns an outbox store on rdb. Options: WithPrefix (one
// outbox per prefix), WithShards, WithClaimTimeout, WithRetention.
func NewOutboxStore(ctx context.Context, rdb redis.UniversalClient, opts ...Option) (*OutboxStore, error) {
	cfg, err := newConfig(rdb, opts)
	if err != nil {
		return nil, err
	}
	s := &OutboxStore{rdb: rdb, cfg: cfg, base: cfg.prefix + ":outbox:{" + cfg.prefix + "}", swept: make([]atomic.Int64, cfg.shards)}
	for i := range cfg.shards {
		if err := s.ensureGroup(ctx, i); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (s *OutboxStore) ensureGroup(ctx context.Context, shard int) error {
	err := s.rdb.XGroupCreateMkStream(ctx, s.stream(shard), group, "0").Err()
	if err != nil && !strings.Contains(err.Error(), "BUSYGROUP") {
		return fmt.Errorf("redisstate: outbox: creating the consumer group: %w", err)
	}
	return nil
}

func (s *OutboxStore) stream(shard int) string { return s.base + ":s:" + strconv.Itoa(shard) }
func (s *OutboxStore) lease(shard int) string  { return s.base + ":lease:" + strconv.Itoa(shard) }
func (s *OutboxStore) job(id string) string    { return s.base + ":j:" + id }
func (s *OutboxStore) dead() string            { return s.base + ":dead" }

// shard is where a lane's jobs go: one lane, one stream, in order.
func (s *OutboxStore) shard(lane string) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(lane))
	return int(h.Sum32() % uint32(s.cfg.shards))
}

// addScript keeps a new job and appends it to its lane's stream: KEYS the
// job's key, the stream and, for a job with a caller-given key, the key's
// index (else the job's key again); ARGV the id, the JSON, whether the key
// is unique ("1"), the prefix of job keys and the index's lifetime (ms).
// It answers the id of the job the index names, if that job is still
// kept, adding nothing; else "".
var addScript = redis.NewScript(`
if ARGV[3] == '1' then
  local old = redis.call('GET', KEYS[3])
  if old and redis.call('EXISTS', ARGV[4] .. old) == 1 then return old end
  redis.call('SET', KEYS[3], ARGV[1], 'PX', ARGV[5])
end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('XADD', KEYS[2], '*', 'id', ARGV[1])
return ''
`)

// Add keeps a new job and appends it to its lane's stream, in one script;
// a job with a caller-given key that a kept job has is a
// *outbox.DuplicateError.
func (s *OutboxStore) Add(ctx context.Context, job *outbox.Job) error {
	doc, err := json.Marshal(job)
	if err != nil {
		return err
	}
	unique, index := "0", s.job(job.ID)
	if job.Unique {
		unique, index = "1", s.base+":key:"+strconv.FormatUint(job.Key, 16)
	}
	// The index lasts as long as a sent job's status (WithRetention), plus
	// a claim timeout; past it the same key queues a new job.
	ttl := s.cfg.retention + s.cfg.claimTimeout
	old, err := addScript.Run(ctx, s.rdb, []string{s.job(job.ID), s.stream(s.shard(job.Lane)), index},
		job.ID, doc, unique, s.base+":j:", ttl.Milliseconds()).Text()
	if err != nil {
		return fmt.Errorf("redisstate: outbox: adding a job: %w", err)
	}
	if old != "" {
		return &outbox.DuplicateError{ID: old}
	}
	return nil
}

// Claim beats the worker's heartbeat, renews its leases, takes free ones
// up to its share, and returns the jobs it did not hold: new ones, those a
// worker whose lease ran out left pending, and, under a lease it just
// took, every pending one of the shard. Each job carries the lease's
// tenure (Job.Claim).
func (s *OutboxStore) Claim(ctx context.Context, worker string, limit int) ([]*outbox.Job, error) {
	leases, share, err := s.leases(ctx, worker)
	if err != nil {
		return nil, err
	}
	var out []*outbox.Job
	var first error
	held := 0
	for shard, l := range leases {
		if l.status != leaseRenewed && l.status != leaseTaken {
			continue
		}
		held++
		if held > share && l.status == leaseRenewed && s.shed(ctx, worker, shard) {
			held--
			continue
		}
		jobs, err := s.claimShard(ctx, worker, shard, l, max(limit-len(out), 0))
		if err != nil && first == nil {
			first = err
		}
		out = append(out, jobs...)
	}
	return out, first
}

// lease is what leaseScript said of one shard.
type lease struct {
	status int
	claim  string // "worker|tenure" while the worker holds it
}

// leases runs leaseScript over every shard.
func (s *OutboxStore) leases(ctx context.Context, worker string) ([]lease, int, error) {
	keys := make([]string, 0, s.cfg.shards+2)
	for shard := range s.cfg.shards {
		keys = append(keys, s.lease(shard))
	}
	keys = append(keys, s.base+":tenure", s.base+":workers")
	h := fnv.New32a()
	_, _ = h.Write([]byte(worker))
	res, err := leaseScript.Run(ctx, s.rdb, keys, worker, s.cfg.claimTimeout.Milliseconds(), h.Sum32()%uint32(s.cfg.shards)).Slice()
	if err != nil {
		return nil, 0, fmt.Errorf("redisstate: outbox: renewing leases: %w", err)
	}
	if len(res) != s.cfg.shards+1 {
		return nil, 0, fmt.Errorf("redisstate: outbox: renewing leases: %d answers for %d shards", len(res), s.cfg.shards)
	}
	out := make([]lease, s.cfg.shards)
	for i := range out {
		pair, _ := res[i].([]any)
		if len(pair) != 2 {
			return nil, 0, fmt.Errorf("redisstate: outbox: renewing leases: shard %d: unreadable answer", i)
		}
		st, _ := pair[0].(int64)
		tenure, _ := pair[1].(string)
		out[i] = lease{status: int(st)}
		if st == leaseRenewed || st == leaseTaken {
			out[i].claim = worker + "|" + tenure
		}
	}
	share, _ := res[s.cfg.shards].(int64)
	return out, int(share), nil
}

// shed gives back a lease the worker holds beyond its share (more workers
// came), if it holds no job of that shard: nothing of it is under way.
func (s *OutboxStore) shed(ctx context.Context, worker string, shard int) bool {
	pending, err := s.rdb.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: s.stream(shard), Group: group,
		Start: "-", End: "+", Count: 1, Consumer: worker}).Result()
	if err != nil || len(pending) > 0 {
		return false
	}
	return unleaseScript.Run(ctx, s.rdb, []string{s.lease(shard)}, worker).Err() == nil
}

func (s *OutboxStore) claimShard(ctx context.Context, worker string, shard int, l lease, max int) ([]*outbox.Job, error) {
	// What others left pending: all of it when the lease is new, else
	// what a stale owner read after its lease ran out.
	minIdle := s.cfg.claimTimeout
	if l.status == leaseTaken {
		minIdle = 0
		s.cleanConsumers(ctx, shard)
	}
	var entries []redis.XMessage
	now := time.Now().UnixNano()
	if l.status == leaseRenewed && now-s.swept[shard].Load() < int64(s.cfg.claimTimeout/2) {
		// A held lease: entries go stale only after a claim timeout, so
		// looking twice per claim timeout finds them soon enough.
		return s.readNew(ctx, worker, shard, l, max, entries)
	}
	s.swept[shard].Store(now)
	for start := "0-0"; ; {
		msgs, next, err := s.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{Stream: s.stream(shard), Group: group, Consumer: worker,
			MinIdle: minIdle, Start: start, Count: 500}).Result()
		if err != nil {
			return nil, s.noGroup(ctx, shard, err)
		}
		entries = append(entries, msgs...)
		if next == "0-0" || next == "" {
			break
		}
		start = next
	}
	return s.readNew(ctx, worker, shard, l, max, entries)
}

// readNew reads up to max entries new to the shard's group, and loads
// them with entries.
func (s *OutboxStore) readNew(ctx context.Context, worker string, shard int, l lease, max int, entries []redis.XMessage) ([]*outbox.Job, error) {
	if max > 0 {
		streams, err := s.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: group, Consumer: worker, Streams: []string{s.stream(shard), ">"},
			Count: int64(max), Block: -1}).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return nil, s.noGroup(ctx, shard, err)
		}
		for _, st := range streams {
			entries = append(entries, st.Messages...)
		}
	}
	return s.load(ctx, shard, l.claim, entries)
}

// cleanConsumers deletes the shard's consumers that hold nothing, so that
// one more per restart does not pile up. A consumer with pending entries
// is kept: deleting it would strand them.
func (s *OutboxStore) cleanConsumers(ctx context.Context, shard int) {
	cs, err := s.rdb.XInfoConsumers(ctx, s.stream(shard), group).Result()
	if err != nil {
		return
	}
	for _, c := range cs {
		if c.Pending == 0 && c.Idle > s.cfg.claimTimeout {
			s.rdb.XGroupDelConsumer(ctx, s.stream(shard), group, c.Name)
		}
	}
}

// noGroup recreates a shard's group when the stream was deleted under it.
func (s *OutboxStore) noGroup(ctx context.Context, shard int, err error) error {
	if strings.Contains(err.Error(), "NOGROUP") {
		if e := s.ensureGroup(ctx, shard); e != nil {
			return e
		}
	}
	return fmt.Errorf("redisstate: outbox: claiming: %w", err)
}

// load reads the jobs of stream entries; entries whose job is gone are
// acknowledged away.
func (s *OutboxStore) load(ctx context.Context, shard int, claim string, entries []redis.XMessage) ([]*outbox.Job, error) {
	if len(entries) == 0 {
		return nil, nil
	}
	keys := make([]string, len(entries))
	for i, e := range entries {
		id, _ := e.Values["id"].(string)
		keys[i] = s.job(id)
	}
	docs, err := s.rdb.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, fmt.Errorf("redisstate: outbox: reading jobs: %w", err)
	}
	var out []*outbox.Job
	var gone []string
	for i, d := range docs {
		doc, ok := d.(string)
		var j outbox.Job
		if !ok || json.Unmarshal([]byte(doc), &j) != nil || j.State.Final() {
			gone = append(gone, entries[i].ID)
			continue
		}
		j.Ref, j.Claim = entries[i].ID, claim
		out = append(out, &j)
	}
	if len(gone) > 0 {
		s.rdb.XAck(ctx, s.stream(shard), group, gone...)
		s.rdb.XDel(ctx, s.stream(shard), gone...)
	}
	return out, nil
}

// Save writes the jobs, shard by shard, each fenced by its lease.
func (s *OutboxStore) Save(ctx context.Context, worker string, jobs []*outbox.Job) error {
	byShard := map[int][]*outbox.Job{}
	for _, j := range jobs {
		sh := s.shard(j.Lane)
		byShard[sh] = append(byShard[sh], j)
	}
	now := time.Now().UnixMilli()
	for sh, js := range byShard {
		claim := js[0].Claim
		if !strings.HasPrefix(claim, worker+"|") {
			return outbox.ErrClaimLost // not claimed by this worker at all
		}
		keys := []string{s.lease(sh), s.stream(sh), s.dead()}
		args := []any{claim, s.cfg.retention.Milliseconds(), now, s.cfg.claimTimeout.Milliseconds(), group}
		for _, j := range js {
			if j.Claim != claim {
				return outbox.ErrClaimLost // copies of two tenures: the older is stale
			}
			doc, err := json.Marshal(j)
			if err != nil {
				return err
			}
			mode := "keep"
			switch {
			case j.State == outbox.JobSent:
				mode = "done"
			case j.State.Final():
				mode = "dead"
			}
			keys = append(keys, s.job(j.ID))
			args = append(args, j.ID, doc, mode, j.Ref)
		}
		ok, err := saveScript.Run(ctx, s.rdb, keys, args...).Int()
		if err != nil {
			return fmt.Errorf("redisstate: outbox: saving jobs: %w", err)
		}
		if ok == 0 {
			return outbox.ErrClaimLost
		}
	}
	return nil
}

// Release gives the worker's leases back; the jobs it left pending go to
// the next worker that takes each lease.
func (s *OutboxStore) Release(ctx context.Context, worker string) error {
	for shard := range s.cfg.shards {
		if err := unleaseScript.Run(ctx, s.rdb, []string{s.lease(shard)}, worker).Err(); err != nil {
			return fmt.Errorf("redisstate: outbox: releasing: %w", err)
		}
		// Its consumer goes too, unless it holds entries: they would be
		// stranded.
		pending, err := s.rdb.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: s.stream(shard), Group: group,
			Start: "-", End: "+", Count: 1, Consumer: worker}).Result()
		if err == nil && len(pending) == 0 {
			s.rdb.XGroupDelConsumer(ctx, s.stream(shard), group, worker)
		}
	}
	return s.rdb.ZRem(ctx, s.base+":workers", worker).Err()
}

// Job returns the job with the id.
func (s *OutboxStore) Job(ctx context.Context, id string) (*outbox.Job, error) {
	doc, err := s.rdb.Get(ctx, s.job(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, outbox.ErrJobNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("redisstate: outbox: reading a job: %w", err)
	}
	var j outbox.Job
	if err := json.Unmarshal(doc, &j); err != nil {
		return nil, fmt.Errorf("redisstate: outbox: unreadable job %s: %w", id, err)
	}
	return &j, nil
}

// DeadLetters returns up to max dead letters, oldest first, in two round
// trips whatever max is.
func (s *OutboxStore) DeadLetters(ctx context.Context, max int) ([]*outbox.Job, error) {
	if max <= 0 {
		return nil, nil
	}
	ids, err := s.rdb.ZRange(ctx, s.dead(), 0, int64(max-1)).Result()
	if err != nil || len(ids) == 0 {
		return nil, wrapErr("listing dead letters", err)
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = s.job(id)
	}
	docs, err := s.rdb.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, wrapErr("reading dead letters", err)
	}
	out := make([]*outbox.Job, 0, len(docs))
	for i, d := range docs {
		doc, ok := d.(string)
		if !ok {
			continue // dropped since the listing
		}
		var j outbox.Job
		if err := json.Unmarshal([]byte(doc), &j); err != nil {
			return nil, fmt.Errorf("redisstate: outbox: unreadable job %s: %w", ids[i], err)
		}
		out = append(out, &j)
	}
	return out, nil
}

// wrapErr names the step of a Redis error; nil stays nil.
func wrapErr(step string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("redisstate: outbox: %s: %w", step, err)
}

// Requeue puts a dead letter back at the end of its lane's stream.
func (s *OutboxStore) Requeue(ctx context.Context, job *outbox.Job) error {
	job.Ref = ""
	doc, err := json.Marshal(job)
	if err != nil {
		return err
	}
	ok, err := requeueScript.Run(ctx, s.rdb, []string{s.dead(), s.job(job.ID), s.stream(s.shard(job.Lane))}, job.ID, doc).Int()
	if err != nil {
		return fmt.Errorf("redisstate: outbox: requeueing: %w", err)
	}
	if ok == 0 {
		return outbox.ErrJobNotFound
	}
	return nil
}

// Drop forgets a dead letter.
func (s *OutboxStore) Drop(ctx context.Context, id string) error {
	ok, err := dropScript.Run(ctx, s.rdb, []string{s.dead(), s.job(id)}, id).Int()
	if err != nil {
		return fmt.Errorf("redisstate: outbox: dropping: %w", err)
	}
	if ok == 0 {
		return outbox.ErrJobNotFound
	}
	return nil
}
