package blobstore_test

import "mime"

func parseCD(v string) (string, map[string]string, error) { return mime.ParseMediaType(v) }
