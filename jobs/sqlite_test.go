package jobs_test

import "testing"

func TestSQLite(t *testing.T) { runSuite(t, newSQLiteBedWith) }
