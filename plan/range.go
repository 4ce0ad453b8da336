package plan

import (
	"errors"

	"github.com/ferry-migrate/ferry/scan"
)

// setRange limits a scan to a range partition.
func setRange(o *scan.Options, p Partition) error {
	_ = o
	_ = p
	return errors.New("range partitions need scan.Options.Range (not merged yet)")
}
