// Package jobs carries the tenant through background jobs on River
// (github.com/riverqueue/river): a job is inserted with the tenant of the
// inserting context, and worked with that tenant back in its context, so
// that every tenantwall package scopes the job's work exactly as it
// scopes a request's.
//
// Install the Envelope as middleware of every River client that inserts
// or works tenant jobs, on PostgreSQL (riverpgxv5) or SQLite
// (riversqlite):
//
//	env, err := jobs.New(store, jobs.WithPlatformKinds(digestTick{}.Kind()))
//	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
//		Middleware: []rivertype.Middleware{env},
//		Workers:    workers, …})
//
// Insert a job in the transaction that writes the tenant's data
// (Client.InsertTx), from a context that carries the tenant: the job then
// exists only if the data does. Inside a worker, use the context River
// passes: it carries the tenant, so pgxscope.Scope.Tx and sqlscope.RLS.Tx
// run under the tenant's row level security and sqlscope.Filter binds it
// in SQLite, with no change to the worker's code.
//
// # Security
//
// The tenant is stored in the job's metadata under MetadataKey, written
// by the Envelope from the inserting context only; job args, which often
// hold what a tenant typed, are never read for it, and an insert whose
// metadata already names a tenant is refused (ErrMetadataTenant).
//
// Before a job runs, the tenant it names is looked up in the tenant.Store:
//
//   - no tenant in the metadata, or a value that is not a tenant ID (a
//     job inserted around the Envelope): cancelled, never run, reported to
//     the auditor as tenant.EventLookupFailure;
//   - a tenant that does not exist (deleted since): cancelled, never run;
//   - a suspended tenant: snoozed for DefaultSuspendedSnooze and checked
//     again then (River does not count a snooze as an attempt), or
//     cancelled with WithSuspendedSnooze(0); reported as
//     tenant.EventSuspended;
//   - the store failing: the attempt fails and River retries it later;
//   - a context that already carries a tenant when the job reaches the
//     envelope (a client started from a tenant's context, or middleware
//     placed before the envelope that sets one): cancelled, never run.
//
// "Cancelled" is River's state for a job that will never run again; the
// job's errors record why. A job never runs without its tenant in the
// context, and River makes a fresh context for every job, so nothing of
// one job's tenant reaches the next job a worker runs. A worker client
// installed without the Envelope runs jobs with no tenant in their
// context, and every tenantwall package then fails closed
// (tenant.ErrNoTenant).
//
// Unique jobs (River's UniqueOpts: ByArgs, ByPeriod, …) are unique per
// tenant: the Envelope folds the tenant ID into River's unique key, so
// two tenants inserting the same args get a job each, and one tenant
// inserting them twice gets one. The same makes a per-tenant lock: with
// UniqueOpts{ByArgs: true, ByState: available, pending, retryable,
// running and scheduled} at most one job of a kind and args is waiting,
// retrying or running per tenant, while other tenants' run alongside (an insert meanwhile
// returns the existing job, UniqueSkippedAsDuplicate).
//
// Platform work, such as the periodic job that fans out per-tenant work
// (FanOut), has no tenant: only the kinds named by WithPlatformKinds may
// be inserted and run without one, they run with tenant.WithPlatformScope,
// and they are refused from a tenant's context (ErrPlatformJob). A
// tenant's job, and each tenant's step of a fan-out, never carries the
// platform scope, even when the client was started under it
// (tenant.WithoutPlatformScope): River builds every job's context from the
// one given to Client.Start.
//
// River's own tables (river_job, …) are not tenant tables: they hold
// every tenant's jobs, and the role River connects as reads them all.
// Show a tenant its jobs through Envelope.List, never Client.JobList:
//
//	res, err := env.List(ctx, client.JobList, river.NewJobListParams().States(rivertype.JobStateRunning))
//
// List adds the tenant's condition to the caller's params, and checks
// every job River returns against the context's tenant, read as the
// Envelope reads it before running the job. The query alone cannot be
// trusted: River joins Where predicates with a bare AND, so an OR outside
// parentheses in a caller's Where("kind = 'a' OR kind = 'b'") escapes the
// tenant's condition and selects other tenants' jobs of one of the kinds.
// When River returns a job of another tenant, or of none, List returns
// ErrForeignJob and no jobs, and reports the job to the auditor as
// tenant.EventCrossTenant. This guards the rows List returns, not what
// the query reads: a Where predicate runs as a role that reads every
// tenant's jobs, so a subquery in it can read other tenants' jobs, and
// the answer (the jobs, or ErrForeignJob) tells its author whether it
// matched. Never put tenant input in Where; let a tenant choose with
// States, Kinds, IDs and River's other typed refinements.
// Client.JobGet, JobCancel, JobRetry and
// JobDelete take any tenant's job ID: before acting on an ID a tenant
// sent, find it with List and params.IDs(id). DeleteParams selects a
// deleted tenant's jobs for JobDeleteMany; River puts each of its Where
// predicates in parentheses, so a refinement there only narrows.
//
// # Errors
//
// tenant.ErrNoTenant (insert or list without a tenant), ErrMetadataTenant,
// ErrPlatformJob, ErrNoJobTenant and ErrSuspended (the causes recorded on
// a cancelled job), ErrForeignJob (a listing River widened),
// ErrInvalidOption; test with errors.Is.
//
// # Testing
//
// The package's tests run the same suite on SQLite and on PostgreSQL,
// where River's tables are migrated into a database of the test's own and
// the jobs run as a role that is neither superuser, nor BYPASSRLS, nor
// owner of a table; it includes listings refined with an OR outside
// parentheses.
package jobs
