package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisClusterEnv names a Redis Cluster to test against instead of
// starting one: comma-separated host:port of its nodes. Tests share it:
// random tenant IDs and prefixes, never a flush.
const RedisClusterEnv = "TENANTWALL_REDIS_CLUSTER_ADDRS"

// RedisCluster is a Redis Cluster for a test: three primaries without
// replicas, each a redis-server of the test's own on free loopback ports
// (client and cluster-bus) in a temporary directory, without persistence,
// joined by redis-cli --cluster create; or the cluster RedisClusterEnv
// names. It is killed when the test ends.
type RedisCluster struct {
	addrs []string
}

// StartRedisCluster starts a RedisCluster and returns once every slot is
// served (cluster_state:ok on every node). Without redis-server or
// redis-cli on PATH the test is skipped, or failed when services are
// required. Starting one takes about a second: tests should share it
// between subtests.
func StartRedisCluster(t testing.TB) *RedisCluster {
	t.Helper()
	if env := os.Getenv(RedisClusterEnv); env != "" {
		c := &RedisCluster{addrs: strings.Split(env, ",")}
		c.waitOK(t)
		return c
	}
	server, err := exec.LookPath("redis-server")
	if err != nil {
		Unavailable(t, "redis-server (on PATH; on Debian: apt-get install redis-server)", err)
	}
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		Unavailable(t, "redis-cli (on PATH; on Debian: apt-get install redis-tools)", err)
	}
	// Free ports are only free a moment ago: another test may bind one
	// first, and a node then exits at once. Start again on new ports.
	var last error
	for range 3 {
		c, err := startCluster(t, server, cli)
		if err == nil {
			c.waitOK(t)
			return c
		}
		last = err
	}
	t.Fatalf("Redis Cluster did not start: %v", last)
	return nil
}

// startCluster starts three nodes on new free ports and joins them. It
// returns an error when a node did not come up (its port was taken);
// the nodes are killed when the test ends, or at once on error.
func startCluster(t testing.TB, server, cli string) (*RedisCluster, error) {
	dir := t.TempDir()
	c := &RedisCluster{}
	var procs []*exec.Cmd
	var dones []chan struct{}
	kill := func() {
		for i, p := range procs {
			_ = p.Process.Kill()
			<-dones[i]
		}
	}
	ok := false
	defer func() {
		if !ok {
			kill()
		}
	}()
	var logs []string
	for i := range 3 {
		port, bus := FreePort(t), FreePort(t)
		nodeDir := filepath.Join(dir, "node"+strconv.Itoa(i))
		if err := os.Mkdir(nodeDir, 0o700); err != nil {
			return nil, err
		}
		logFile := filepath.Join(nodeDir, "redis.log")
		// The bus port is set explicitly: the default, port+10000, may be
		// taken or beyond 65535.
		cmd := exec.Command(server, "--port", strconv.Itoa(port), "--cluster-port", strconv.Itoa(bus),
			"--bind", "127.0.0.1", "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "5000", "--save", "", "--appendonly", "no", "--dir", nodeDir,
			"--logfile", logFile, "--daemonize", "no")
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			return nil, fmt.Errorf("redis-server: %w", err)
		}
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		procs, dones, logs = append(procs, cmd), append(dones, done), append(logs, logFile)
		c.addrs = append(c.addrs, "127.0.0.1:"+strconv.Itoa(port))
	}
	for i, addr := range c.addrs {
		n := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
		err := waitReady("redis-server on "+addr, 10*time.Second, dones[i], pingable(n), func() string {
			b, _ := os.ReadFile(logs[i])
			return string(b)
		})
		n.Close()
		if err != nil {
			return nil, err
		}
	}
	args := append([]string{"--cluster", "create"}, c.addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("redis-cli %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	ok = true
	t.Cleanup(kill)
	return c, nil
}

// waitOK waits until every node reports cluster_state:ok.
func (c *RedisCluster) waitOK(t testing.TB) {
	t.Helper()
	for _, addr := range c.addrs {
		n := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
		var last string
		ok := Poll(30*time.Second, 20*time.Millisecond, func() bool {
			info, err := n.ClusterInfo(context.Background()).Result()
			last = fmt.Sprint(info, err)
			return err == nil && strings.Contains(info, "cluster_state:ok")
		})
		n.Close()
		if !ok {
			Unavailable(t, "Redis Cluster node "+addr, fmt.Errorf("not ready: %s", last))
		}
	}
}

// Addrs are the nodes' host:port.
func (c *RedisCluster) Addrs() []string { return append([]string(nil), c.addrs...) }

// Client returns a cluster client, closed when the test ends.
func (c *RedisCluster) Client(t testing.TB) *redis.ClusterClient {
	t.Helper()
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.addrs})
	t.Cleanup(func() { cc.Close() })
	return cc
}
