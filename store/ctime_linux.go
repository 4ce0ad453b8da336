package store

import (
	"io/fs"
	"syscall"
	"time"
)

// changeTime is a file's status change time (ctime).
func changeTime(st fs.FileInfo) (time.Time, bool) {
	s, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return time.Time{}, false
	}
	return time.Unix(s.Ctim.Sec, s.Ctim.Nsec), true
}
