package camlab

import "syscall"

const syscallTERM = syscall.SIGTERM
