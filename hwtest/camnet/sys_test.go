package camnet_test

import "syscall"

type syscallRawConn = syscall.RawConn
