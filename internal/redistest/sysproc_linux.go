package redistest

import "syscall"

// sysProcAttr kills redis-server when the thread that started it dies, so a
// test binary that crashes or times out leaves no server behind. The thread
// is kept alive for the life of the process (see launch).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
