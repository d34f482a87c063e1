// Package outbox queues pushes and delivers them under the platforms'
// budgets, from memory or from a store shared by replicas
// (redisstate.NewOutboxStore).
//
// An Outbox takes the six helpers' arguments, checks them as the helpers
// do (middleware.Client.Check), picks the account at once and returns a
// job id; Run delivers, lane by lane (one target and account each, in
// order), merging text pushes that waited (WithCoalesceAfter) into as few
// messages as the platform's limits allow. It tells the truth about every
// job: JobSent with the number of targets reached, JobFailed when nothing
// was delivered, JobMaybeDelivered when a request may have reached the
// platform before its answer was lost. A maybe-delivered push is resent on
// its own only where the platform drops repeats (TIM, within its dedup
// window, with the same dedup keys); elsewhere it waits as a dead letter
// for a person. An Inspector lists, resends and drops dead letters with
// nothing but the store; outboxtest checks that a Store keeps the
// contract. See docs/outbox.md.
package outbox
