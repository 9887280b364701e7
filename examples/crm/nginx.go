package main

import (
	"fmt"

	"github.com/tenantwall/tenantwall/blobstore"
)

// downloadOptions are the download handlers' options: streamed through
// Go by default, or, with -accel-redirect, answered with X-Accel-Redirect
// for nginx to send the bytes from its internal location (nginx.conf),
// after the handler has checked the tenant and set the headers.
func (a *app) downloadOptions() []blobstore.DownloadOption {
	opts := []blobstore.DownloadOption{blobstore.WithDownloadLogger(a.log)}
	if a.cfg.accel != "" {
		opts = append(opts, blobstore.WithAccelRedirect(a.cfg.accel))
	}
	return opts
}

// checkAccelRedirect refuses, at start-up, a location blobstore would
// refuse when the routes are built.
func checkAccelRedirect(location string) error {
	if location == "" {
		return nil
	}
	// Handler only applies its options: a zero Store is enough to ask.
	if _, err := new(blobstore.Store).Handler(nil, blobstore.WithAccelRedirect(location)); err != nil {
		return fmt.Errorf("-accel-redirect: %w", err)
	}
	return nil
}
