package cachekey

// The Guard's table of every Redis 7 command: where its keys are, or why
// it needs no check, or why it is refused. The key positions are Redis 7's
// own key specifications (COMMAND INFO), written in the same terms
// (begin_search index or keyword, find_keys range or keynum); the tests
// compare the table with the server's COMMAND INFO and COMMAND GETKEYS so
// that it cannot drift. A command that is not in the table is refused.

// keySpec is one Redis key specification: where a run of keys begins in a
// command's arguments (args[0] is the command name) and how far it goes.
type keySpec struct {
	// begin_search: the run begins at args[index], or, with a keyword,
	// after each occurrence of the keyword at or after args[from].
	index   int
	keyword string
	from    int

	// find_keys "range": lastKey >= 0 is the last key relative to the
	// first; lastKey < 0 counts from the end of the arguments (-1: the
	// last one), or with limit > 0 covers 1/limit of the arguments left.
	// Every step-th argument of the run is a key.
	lastKey int
	step    int
	limit   int

	// find_keys "keynum": the argument where the run begins holds the
	// number of keys, which follow it.
	keyNum bool

	// emptyNotKey: an empty string here names no key when a KEYS keyword
	// with an argument after it is among the options (MIGRATE's key
	// argument when its KEYS option is used). Without one, Redis takes ""
	// as the key.
	emptyNotKey bool
}

// migrateOptions is where MIGRATE's options, KEYS among them, begin.
const migrateOptions = 6

// key is one key at args[i].
func key(i int) keySpec { return keySpec{index: i, step: 1} }

// keys is a run from args[i] to lastKey (see keySpec) by step.
func keys(i, lastKey, step int) keySpec { return keySpec{index: i, lastKey: lastKey, step: step} }

// keynum is a key count at args[i] followed by that many keys.
func keynum(i int) keySpec { return keySpec{index: i, keyNum: true, step: 1} }

// keyword is a run after every occurrence of kw at or after args[from].
// Redis takes the first occurrence (XREAD, MIGRATE) or the last one
// (GEORADIUS … STORE, SORT … STORE); the Guard checks the run after each,
// so that neither reading can slip a key past it.
func keyword(kw string, from, lastKey, step, limit int) keySpec {
	return keySpec{keyword: kw, from: from, lastKey: lastKey, step: step, limit: limit}
}

// rule says how the Guard treats a command.
type rule uint8

const (
	// ruleKeys: every key its specs locate must be the tenant's.
	ruleKeys rule = iota + 1
	// ruleKeyless: touches no key and shows nothing of any tenant
	// (connection housekeeping, server metadata).
	ruleKeyless
	// ruleOptIn: touches no key but reaches beyond the tenant (pub/sub
	// channels are shared by all tenants; INFO describes the server).
	// Refused unless the application names it in WithKeylessCommands.
	ruleOptIn
	// ruleRefused: acts on the whole keyspace, administers the server or
	// breaks the pooled connection. Always refused.
	ruleRefused
	// ruleContainer: the subcommand, "name|sub", decides.
	ruleContainer
	// ruleScript (EVAL, EVAL_RO), ruleScriptSHA (EVALSHA, EVALSHA_RO),
	// ruleFunction (FCALL, FCALL_RO): refused unless the script or
	// function is registered as trusted; then its declared keys are
	// checked.
	ruleScript
	ruleScriptSHA
	ruleFunction
	// ruleScriptLoad (SCRIPT LOAD), ruleScriptExists (SCRIPT EXISTS):
	// only for trusted scripts.
	ruleScriptLoad
	ruleScriptExists
	// ruleSort: SORT and SORT_RO, whose BY and GET patterns name keys.
	ruleSort
	// ruleTracking: CLIENT TRACKING, without BCAST, PREFIX or REDIRECT,
	// which would report other tenants' keys or send reports elsewhere.
	ruleTracking
)

// command is one entry of the table.
type command struct {
	rule  rule
	specs []keySpec
}

func keyed(specs ...keySpec) command { return command{rule: ruleKeys, specs: specs} }

var (
	keyless   = command{rule: ruleKeyless}
	optIn     = command{rule: ruleOptIn}
	refused   = command{rule: ruleRefused}
	container = command{rule: ruleContainer}
)

// commands is the table, by lower-case name; a subcommand is
// "container|sub".
var commands = map[string]command{
	// Data commands, from their Redis 7 key specifications.
	"append":                keyed(key(1)),
	"bitcount":              keyed(key(1)),
	"bitfield":              keyed(key(1)),
	"bitfield_ro":           keyed(key(1)),
	"bitop":                 keyed(key(2), keys(3, -1, 1)),
	"bitpos":                keyed(key(1)),
	"blmove":                keyed(key(1), key(2)),
	"blmpop":                keyed(keynum(2)),
	"blpop":                 keyed(keys(1, -2, 1)),
	"brpop":                 keyed(keys(1, -2, 1)),
	"brpoplpush":            keyed(key(1), key(2)),
	"bzmpop":                keyed(keynum(2)),
	"bzpopmax":              keyed(keys(1, -2, 1)),
	"bzpopmin":              keyed(keys(1, -2, 1)),
	"copy":                  keyed(key(1), key(2)),
	"decr":                  keyed(key(1)),
	"decrby":                keyed(key(1)),
	"del":                   keyed(keys(1, -1, 1)),
	"dump":                  keyed(key(1)),
	"exists":                keyed(keys(1, -1, 1)),
	"expire":                keyed(key(1)),
	"expireat":              keyed(key(1)),
	"expiretime":            keyed(key(1)),
	"geoadd":                keyed(key(1)),
	"geodist":               keyed(key(1)),
	"geohash":               keyed(key(1)),
	"geopos":                keyed(key(1)),
	"georadius":             keyed(key(1), keyword("STORE", 6, 0, 1, 0), keyword("STOREDIST", 6, 0, 1, 0)),
	"georadius_ro":          keyed(key(1)),
	"georadiusbymember":     keyed(key(1), keyword("STORE", 5, 0, 1, 0), keyword("STOREDIST", 5, 0, 1, 0)),
	"georadiusbymember_ro":  keyed(key(1)),
	"geosearch":             keyed(key(1)),
	"geosearchstore":        keyed(key(1), key(2)),
	"get":                   keyed(key(1)),
	"getbit":                keyed(key(1)),
	"getdel":                keyed(key(1)),
	"getex":                 keyed(key(1)),
	"getrange":              keyed(key(1)),
	"getset":                keyed(key(1)),
	"hdel":                  keyed(key(1)),
	"hexists":               keyed(key(1)),
	"hget":                  keyed(key(1)),
	"hgetall":               keyed(key(1)),
	"hincrby":               keyed(key(1)),
	"hincrbyfloat":          keyed(key(1)),
	"hkeys":                 keyed(key(1)),
	"hlen":                  keyed(key(1)),
	"hmget":                 keyed(key(1)),
	"hmset":                 keyed(key(1)),
	"hrandfield":            keyed(key(1)),
	"hscan":                 keyed(key(1)),
	"hset":                  keyed(key(1)),
	"hsetnx":                keyed(key(1)),
	"hstrlen":               keyed(key(1)),
	"hvals":                 keyed(key(1)),
	"incr":                  keyed(key(1)),
	"incrby":                keyed(key(1)),
	"incrbyfloat":           keyed(key(1)),
	"lcs":                   keyed(keys(1, 1, 1)),
	"lindex":                keyed(key(1)),
	"linsert":               keyed(key(1)),
	"llen":                  keyed(key(1)),
	"lmove":                 keyed(key(1), key(2)),
	"lmpop":                 keyed(keynum(1)),
	"lpop":                  keyed(key(1)),
	"lpos":                  keyed(key(1)),
	"lpush":                 keyed(key(1)),
	"lpushx":                keyed(key(1)),
	"lrange":                keyed(key(1)),
	"lrem":                  keyed(key(1)),
	"lset":                  keyed(key(1)),
	"ltrim":                 keyed(key(1)),
	"memory|usage":          keyed(key(2)),
	"mget":                  keyed(keys(1, -1, 1)),
	"move":                  keyed(key(1)),
	"mset":                  keyed(keys(1, -1, 2)),
	"msetnx":                keyed(keys(1, -1, 2)),
	"object|encoding":       keyed(key(2)),
	"object|freq":           keyed(key(2)),
	"object|idletime":       keyed(key(2)),
	"object|refcount":       keyed(key(2)),
	"persist":               keyed(key(1)),
	"pexpire":               keyed(key(1)),
	"pexpireat":             keyed(key(1)),
	"pexpiretime":           keyed(key(1)),
	"pfadd":                 keyed(key(1)),
	"pfcount":               keyed(keys(1, -1, 1)),
	"pfmerge":               keyed(key(1), keys(2, -1, 1)),
	"psetex":                keyed(key(1)),
	"pttl":                  keyed(key(1)),
	"rename":                keyed(key(1), key(2)),
	"renamenx":              keyed(key(1), key(2)),
	"restore":               keyed(key(1)),
	"rpop":                  keyed(key(1)),
	"rpoplpush":             keyed(key(1), key(2)),
	"rpush":                 keyed(key(1)),
	"rpushx":                keyed(key(1)),
	"sadd":                  keyed(key(1)),
	"scard":                 keyed(key(1)),
	"sdiff":                 keyed(keys(1, -1, 1)),
	"sdiffstore":            keyed(key(1), keys(2, -1, 1)),
	"set":                   keyed(key(1)),
	"setbit":                keyed(key(1)),
	"setex":                 keyed(key(1)),
	"setnx":                 keyed(key(1)),
	"setrange":              keyed(key(1)),
	"sinter":                keyed(keys(1, -1, 1)),
	"sintercard":            keyed(keynum(1)),
	"sinterstore":           keyed(key(1), keys(2, -1, 1)),
	"sismember":             keyed(key(1)),
	"smembers":              keyed(key(1)),
	"smismember":            keyed(key(1)),
	"smove":                 keyed(key(1), key(2)),
	"spop":                  keyed(key(1)),
	"srandmember":           keyed(key(1)),
	"srem":                  keyed(key(1)),
	"sscan":                 keyed(key(1)),
	"strlen":                keyed(key(1)),
	"substr":                keyed(key(1)),
	"sunion":                keyed(keys(1, -1, 1)),
	"sunionstore":           keyed(key(1), keys(2, -1, 1)),
	"touch":                 keyed(keys(1, -1, 1)),
	"ttl":                   keyed(key(1)),
	"type":                  keyed(key(1)),
	"unlink":                keyed(keys(1, -1, 1)),
	"watch":                 keyed(keys(1, -1, 1)),
	"xack":                  keyed(key(1)),
	"xadd":                  keyed(key(1)),
	"xautoclaim":            keyed(key(1)),
	"xclaim":                keyed(key(1)),
	"xdel":                  keyed(key(1)),
	"xgroup|create":         keyed(key(2)),
	"xgroup|createconsumer": keyed(key(2)),
	"xgroup|delconsumer":    keyed(key(2)),
	"xgroup|destroy":        keyed(key(2)),
	"xgroup|setid":          keyed(key(2)),
	"xinfo|consumers":       keyed(key(2)),
	"xinfo|groups":          keyed(key(2)),
	"xinfo|stream":          keyed(key(2)),
	"xlen":                  keyed(key(1)),
	"xpending":              keyed(key(1)),
	"xrange":                keyed(key(1)),
	"xread":                 keyed(keyword("STREAMS", 1, -1, 1, 2)),
	"xreadgroup":            keyed(keyword("STREAMS", 4, -1, 1, 2)),
	"xrevrange":             keyed(key(1)),
	"xsetid":                keyed(key(1)),
	"xtrim":                 keyed(key(1)),
	"zadd":                  keyed(key(1)),
	"zcard":                 keyed(key(1)),
	"zcount":                keyed(key(1)),
	"zdiff":                 keyed(keynum(1)),
	"zdiffstore":            keyed(key(1), keynum(2)),
	"zincrby":               keyed(key(1)),
	"zinter":                keyed(keynum(1)),
	"zintercard":            keyed(keynum(1)),
	"zinterstore":           keyed(key(1), keynum(2)),
	"zlexcount":             keyed(key(1)),
	"zmpop":                 keyed(keynum(1)),
	"zmscore":               keyed(key(1)),
	"zpopmax":               keyed(key(1)),
	"zpopmin":               keyed(key(1)),
	"zrandmember":           keyed(key(1)),
	"zrange":                keyed(key(1)),
	"zrangebylex":           keyed(key(1)),
	"zrangebyscore":         keyed(key(1)),
	"zrangestore":           keyed(key(1), key(2)),
	"zrank":                 keyed(key(1)),
	"zrem":                  keyed(key(1)),
	"zremrangebylex":        keyed(key(1)),
	"zremrangebyrank":       keyed(key(1)),
	"zremrangebyscore":      keyed(key(1)),
	"zrevrange":             keyed(key(1)),
	"zrevrangebylex":        keyed(key(1)),
	"zrevrangebyscore":      keyed(key(1)),
	"zrevrank":              keyed(key(1)),
	"zscan":                 keyed(key(1)),
	"zscore":                keyed(key(1)),
	"zunion":                keyed(keynum(1)),
	"zunionstore":           keyed(key(1), keynum(2)),

	// Key positions Redis cannot state in a key specification.
	// MIGRATE: the key at args[3], or "" and the keys after KEYS (which
	// may not precede the options, args[6] on).
	"migrate": keyed(keySpec{index: 3, step: 1, emptyNotKey: true}, keyword("KEYS", migrateOptions, -1, 1, 0)),
	// SORT: the sorted key, the STORE destination and every BY or GET
	// pattern (see ruleSort).
	"sort":    {rule: ruleSort, specs: []keySpec{key(1), keyword("STORE", 2, 0, 1, 0)}},
	"sort_ro": {rule: ruleSort, specs: []keySpec{key(1), keyword("STORE", 2, 0, 1, 0)}},

	// Scripts and functions: their code can reach any key, so only
	// registered ones run, with their declared keys checked.
	"eval":            {rule: ruleScript, specs: []keySpec{keynum(2)}},
	"eval_ro":         {rule: ruleScript, specs: []keySpec{keynum(2)}},
	"evalsha":         {rule: ruleScriptSHA, specs: []keySpec{keynum(2)}},
	"evalsha_ro":      {rule: ruleScriptSHA, specs: []keySpec{keynum(2)}},
	"fcall":           {rule: ruleFunction, specs: []keySpec{keynum(2)}},
	"fcall_ro":        {rule: ruleFunction, specs: []keySpec{keynum(2)}},
	"script":          container,
	"script|load":     {rule: ruleScriptLoad},
	"script|exists":   {rule: ruleScriptExists},
	"script|help":     keyless,
	"script|debug":    refused,
	"script|flush":    refused,
	"script|kill":     refused,
	"function":        container,
	"function|help":   keyless,
	"function|delete": refused, "function|dump": refused, "function|flush": refused,
	"function|kill": refused, "function|list": refused, "function|load": refused,
	"function|restore": refused, "function|stats": refused,

	// Connection housekeeping (go-redis sends HELLO, AUTH, CLIENT SETNAME,
	// CLIENT SETINFO, CLIENT MAINT_NOTIFICATIONS, CLIENT TRACKING and
	// READONLY through its hooks when it opens a connection), transactions
	// and server metadata.
	"asking": keyless, "auth": keyless, "hello": keyless, "ping": keyless, "echo": keyless,
	"quit": keyless, "readonly": keyless, "readwrite": keyless, "time": keyless, "lolwut": keyless,
	"multi": keyless, "exec": keyless, "discard": keyless, "unwatch": keyless, "wait": keyless,
	"client":                     container,
	"client|caching":             keyless,
	"client|getname":             keyless,
	"client|getredir":            keyless,
	"client|help":                keyless,
	"client|id":                  keyless,
	"client|info":                keyless,
	"client|maint_notifications": keyless,
	"client|setinfo":             keyless,
	"client|setname":             keyless,
	"client|tracking":            {rule: ruleTracking},
	"client|trackinginfo":        keyless,
	"client|kill":                refused,
	"client|list":                refused,
	"client|no-evict":            refused,
	"client|pause":               refused,
	"client|reply":               refused,
	"client|unblock":             refused,
	"client|unpause":             refused,
	"command":                    container,
	"command|count":              keyless, "command|docs": keyless, "command|getkeys": keyless,
	"command|getkeysandflags": keyless, "command|help": keyless, "command|info": keyless, "command|list": keyless,
	"object":        container,
	"object|help":   keyless,
	"memory":        container,
	"memory|help":   keyless,
	"memory|doctor": refused, "memory|malloc-stats": refused, "memory|purge": refused, "memory|stats": refused,
	"xgroup":      container,
	"xgroup|help": keyless,
	"xinfo":       container,
	"xinfo|help":  keyless,

	// Outside the tenant, but keyless: the application may allow them.
	"publish": optIn, "spublish": optIn, "info": optIn, "lastsave": optIn, "role": optIn,

	// The whole keyspace or database.
	"keys": refused, "scan": refused, "randomkey": refused, "dbsize": refused,
	"flushdb": refused, "flushall": refused, "swapdb": refused, "select": refused,
	// Pub/sub subscriptions (go-redis's PubSub does not pass its hooks;
	// through Do they would also take over a pooled connection).
	"subscribe": refused, "unsubscribe": refused, "psubscribe": refused, "punsubscribe": refused,
	"ssubscribe": refused, "sunsubscribe": refused,
	"pubsub":          container,
	"pubsub|help":     keyless,
	"pubsub|channels": refused, "pubsub|numpat": refused, "pubsub|numsub": refused,
	"pubsub|shardchannels": refused, "pubsub|shardnumsub": refused,
	// Server administration, replication, debugging and monitoring.
	"monitor": refused, "debug": refused, "shutdown": refused, "save": refused, "bgsave": refused,
	"bgrewriteaof": refused, "failover": refused, "replicaof": refused, "slaveof": refused,
	"sync": refused, "psync": refused, "replconf": refused, "reset": refused,
	"pfdebug": refused, "pfselftest": refused, "restore-asking": refused,
	"acl":      container,
	"acl|help": keyless,
	"acl|cat":  refused, "acl|deluser": refused, "acl|dryrun": refused, "acl|genpass": refused,
	"acl|getuser": refused, "acl|list": refused, "acl|load": refused, "acl|log": refused,
	"acl|save": refused, "acl|setuser": refused, "acl|users": refused, "acl|whoami": refused,
	"cluster":          container,
	"cluster|help":     keyless,
	"cluster|addslots": refused, "cluster|addslotsrange": refused, "cluster|bumpepoch": refused,
	"cluster|count-failure-reports": refused, "cluster|countkeysinslot": refused, "cluster|delslots": refused,
	"cluster|delslotsrange": refused, "cluster|failover": refused, "cluster|flushslots": refused,
	"cluster|forget": refused, "cluster|getkeysinslot": refused, "cluster|info": refused,
	"cluster|keyslot": refused, "cluster|links": refused, "cluster|meet": refused, "cluster|myid": refused,
	"cluster|nodes": refused, "cluster|replicas": refused, "cluster|replicate": refused,
	"cluster|reset": refused, "cluster|saveconfig": refused, "cluster|set-config-epoch": refused,
	"cluster|setslot": refused, "cluster|shards": refused, "cluster|slaves": refused, "cluster|slots": refused,
	"config":      container,
	"config|help": keyless,
	"config|get":  refused, "config|resetstat": refused, "config|rewrite": refused, "config|set": refused,
	"latency":        container,
	"latency|help":   keyless,
	"latency|doctor": refused, "latency|graph": refused, "latency|histogram": refused,
	"latency|history": refused, "latency|latest": refused, "latency|reset": refused,
	"module":      container,
	"module|help": keyless,
	"module|list": refused, "module|load": refused, "module|loadex": refused, "module|unload": refused,
	"slowlog":      container,
	"slowlog|help": keyless,
	"slowlog|get":  refused, "slowlog|len": refused, "slowlog|reset": refused,
}
