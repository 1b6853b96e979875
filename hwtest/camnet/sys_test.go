package camnet_test

import (
	"encoding/json"
	"syscall"
)

type syscallRawConn = syscall.RawConn

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
