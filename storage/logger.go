package storage

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"
	"github.com/sirupsen/logrus"
)

// redisLogger forwards go-redis's own messages (failed dials, pool
// trouble) to the pool's logger instead of a bare stderr logger.
type redisLogger struct{ log logrus.FieldLogger }

func (l redisLogger) Printf(_ context.Context, format string, v ...any) {
	l.log.Warn("redis client: " + fmt.Sprintf(format, v...))
}

// RouteRedisLogs sends go-redis's process-wide log output to log. Call it
// once at start-up; go-redis has a single global logger.
func RouteRedisLogs(log logrus.FieldLogger) { redis.SetLogger(redisLogger{log}) }
