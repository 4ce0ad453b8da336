package store

import (
	"io/fs"
	"os"
	"syscall"
)

// openRead opens path for reading as os.Open does, but hands the file to
// os.NewFile instead of the runtime's poller: os.Open tries to register
// every file with epoll, which a regular file refuses, at the cost of five
// system calls per open (two fcntl to set O_NONBLOCK, a failing epoll_ctl,
// two fcntl to clear it) that scan pays for every small object of a
// directory origin. os.NewFile checks the descriptor
// with one fcntl and reads it with plain blocking reads, as os.Open ends up
// doing for a regular file anyway.
func openRead(path string) (*os.File, error) {
	for {
		fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: path, Err: err}
		}
		return os.NewFile(uintptr(fd), path), nil
	}
}
