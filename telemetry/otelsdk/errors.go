package otelsdk

import "errors"

// ErrBound is returned (through telemetry.New, wrapped in
// telemetry.ErrConfig) when a Producer is given to a second Metrics: two
// would export the same series twice.
var ErrBound = errors.New("otelsdk: the producer already exports a Metrics")
