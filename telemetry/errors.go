package telemetry

import "errors"

// ErrConfig reports an invalid option given to New, or an instrument the
// MeterProvider refused to create; the message names which.
var ErrConfig = errors.New("telemetry: invalid configuration")
