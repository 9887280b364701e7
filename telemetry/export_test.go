package telemetry

import (
	"context"
	"time"
)

// RecordDuration records d as Middleware does after a request to the
// context's tenant answered with code: the tests give the SDK's histogram
// and the one Metrics keeps itself the same observations.
func (m *Metrics) RecordDuration(ctx context.Context, code int, d time.Duration) {
	m.recordDuration(ctx, m.tenants.of(ctx), statusClass(code), d)
}
