package redisquota_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"gocloud.dev/blob/memblob"

	"github.com/tenantwall/tenantwall/blobstore"
	"github.com/tenantwall/tenantwall/blobstore/redisquota"
)

func Example() {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"}) // connects on first use
	defer client.Close()
	l, err := redisquota.New(client, redisquota.WithLease(2*time.Minute))
	if err != nil {
		panic(err)
	}
	bucket := memblob.OpenBucket(nil)
	defer bucket.Close()
	_, err = blobstore.New(bucket, blobstore.WithLedger(l))
	fmt.Println("store:", err)

	_, err = redisquota.New(client, redisquota.WithLease(time.Millisecond))
	fmt.Println("lease of 1ms:", errors.Is(err, redisquota.ErrConfig))
	// Output:
	// store: <nil>
	// lease of 1ms: true
}
