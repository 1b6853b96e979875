package ingest

import (
	"net"
	"time"
)

type netConn = net.Conn

// dialer bounds how long a camera that does not answer can hold a
// connection attempt.
var dialer = &net.Dialer{Timeout: 3 * time.Second, KeepAlive: 15 * time.Second}
